"""`MeasureIdentity`: how alike each character looks from shot to shot, measured, with and without identity
conditioning alike.

Per character: the mean pairwise cosine similarity of the image embeddings of the pictures that show them
(whole keyframes; a clip by its first frame, the keyframe it was animated from), and the mean similarity of each
of those pictures to their cast-sheet portrait. The embeddings come from the video service's own image encoder
(the IP-Adapter's CLIP encoder for diffusers), so no extra weights are needed; a backend without one (the
storyboard) gives no figures. Cached like any stage: it reruns only when a picture or a portrait changes. The
run's quality figures (storyforge/quality.py) and the sweep report carry the result.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from storyforge.engine.contract import RunContext, Stage
from storyforge.models import CharacterIdentity, IdentityFigures, Portrait, ShotList, ShotVisual


class MeasureIdentity(Stage):
    uses = ("video",)
    export = "identity.json"

    reads = {"shots": {"shots": {"__all__": {"scene_index", "index", "characters"}}}}

    def key_extra(self) -> dict:
        """The image encoder the figures come from (the service may leave it out of its fingerprint)."""
        embedder = getattr(self.video, "embedder", None)
        return {"embedder": embedder()} if embedder else {}

    async def run(
        self, ctx: RunContext, shots: ShotList, visuals: list[ShotVisual], portraits: list[Portrait]
    ) -> IdentityFigures:
        conditioned = bool(getattr(self.video, "conditions_on_cast", False))
        embedder = getattr(self.video, "embedder", None)
        pictures = {v.shot_id: v.media.path for v in visuals}
        fronts = {p.name: p.front.path for p in portraits}
        showing = {name: [s.id for s in shots.shots if name in s.characters and s.id in pictures] for name in fronts}
        showing = {name: ids for name, ids in showing.items() if ids}
        wanted = sorted({i for ids in showing.values() for i in ids})
        paths: list[Path] = [pictures[i] for i in wanted] + [fronts[name] for name in showing]
        embeds = await self.video.embed(paths) if paths else None
        if not embeds:
            return IdentityFigures(conditioned=conditioned)
        by_shot = dict(zip(wanted, embeds[: len(wanted)], strict=True))
        by_name = dict(zip(showing, embeds[len(wanted) :], strict=True))
        figures = []
        for name, ids in showing.items():
            vectors = [by_shot[i] for i in ids]
            pairs = [cosine(a, b) for a, b in itertools.combinations(vectors, 2)]
            to_portrait = [cosine(v, by_name[name]) for v in vectors]
            figures.append(CharacterIdentity(
                name=name, shots=ids, similarity=round(sum(pairs) / len(pairs), 4) if pairs else None,
                to_portrait=round(sum(to_portrait) / len(to_portrait), 4),
            ))  # fmt: skip
        return IdentityFigures(encoder=embedder() if embedder else "", conditioned=conditioned, characters=figures)

    def report(self, output: IdentityFigures) -> dict:
        return {c.name: c.similarity for c in output.characters}


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
    return dot / norm if norm else 0.0
