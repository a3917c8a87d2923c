"""Reading real books: each text of a corpus (tests/corpus: public-domain texts as people have them, with a
hand-written `<name>.expect.json` beside each) through profile=debug_cpu with espeak voices, up to the edit
(the timeline; segments, mix and film do not change what is read, so they are left out).

Per text and overall it prints:
- narration coverage (share of the story's words, from `body_starts` to `body_ends` less `not_narrated`, that
  the shots narrate, in order) and precision (share of narrated words that are story words): targets >= 0.99
  and 1.0. Words are compared case-folded and without hyphens, so "to-morrow" and "tomorrow" are one word;
- chapters: share of the expected chapter headings (heading and subtitle as one) found among the story's
  section headings: target 100%;
- characters: precision and recall of the cast against the expected people (a found character matches an
  expected one when any of their names agree): targets >= 0.9;
- attribution: share of the expected quoted lines whose recorded speaker (NarrationClip.lines) is right:
  target >= 0.85;
- dead air: seconds a minute of film where nobody speaks beyond the lead-in, tail and transitions the edit
  allows (the gaps between one shot's speech and the next): target <= 1.0.

    python benchmarks/reading.py [--corpus tests/corpus] [--only NAME ...] [--tts espeak] [--keep DIR] [OVERRIDE ...]
"""

from __future__ import annotations

import argparse
import difflib
import itertools
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import regex as re

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {
    "coverage": 0.99,
    "precision": 1.0,
    "chapters": 1.0,
    "char_p": 0.9,
    "char_r": 0.9,
    "attribution": 0.85,
    "dead_air": 1.0,
}
FAST = ["render.width=320", "render.height=180", "render.fps=12", "~stages.segments", "~stages.mix", "~stages.film"]


_MARKER = re.compile(r"\[(?:Illustration|Footnote)(?:[^\[\]]|\[[^\[\]]*\])*\]", re.I)


def norm_words(text: str) -> list[str]:
    """Words compared case-folded, with hyphens (also at line ends) taken out and markup gone."""
    text = _MARKER.sub(" ", text)
    text = re.sub(r"(\w)-[ \t]*\n[ \t]*(\w)", r"\1\2", text)
    text = re.sub(r"(?<=\w)-(?=\w)", "", text)
    return [w.casefold() for w in re.findall(r"\w+(?:['’]\w+)*", text.replace("_", " "))]


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def reference(raw: str, expect: dict) -> list[str]:
    """The words that should be narrated: from body_starts to body_ends, less the not_narrated strings."""
    flat = squash(re.sub(r"(\w)-[ \t]*\n[ \t]*(\w)", r"\1-\2", raw))
    start = flat.find(squash(expect["body_starts"]))
    end_snippet = squash(expect["body_ends"])
    end = flat.rfind(end_snippet)
    if start < 0 or end < 0:
        sys.exit(f"{expect['_name']}: body_starts/body_ends not found in the text")
    body = _MARKER.sub(" ", flat[start : end + len(end_snippet)])  # markers first: they nest ("[… [_Copyright_]]")
    for skip in sorted(expect.get("not_narrated", []), key=len, reverse=True):
        body = body.replace(squash(skip), " ")
    for slug in expect.get("sluglines", []):
        body = body.replace(squash(slug), " ")
    return norm_words(body)


def matched(a: list[str], b: list[str]) -> int:
    return sum(block.size for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks())


def forms(person: dict) -> set[str]:
    out = set()
    for name in [person["name"], *person.get("aliases", [])]:
        name = name.casefold().strip()
        out.add(name)
        out.add(re.sub(r"^(the|o|mr\.?|mrs\.?|miss|dr\.?|la|le|sa|son|his|her)\s+", "", name))
    return out


def score(raw: str, expect: dict, result) -> dict:
    story = result.outputs["story"].value
    shots = result.outputs["shots"].value.shots
    clips = result.outputs["narration"].value
    edit = result.outputs["compose"].value
    ref = reference(raw, expect)
    said = [w for s in shots for w in norm_words(s.narration)]
    hits = matched(ref, said)
    out = {"coverage": hits / max(1, len(ref)), "precision": hits / max(1, len(said))}

    headings = [" ".join(norm_words(s.heading)) for s in story.sections if s.heading]
    want = [" ".join(norm_words(c)) for c in expect.get("chapters", [])]
    out["chapters"] = sum(c in headings for c in want) / len(want) if want else None

    expected = expect.get("characters", [])
    found = [{"name": c.name, "aliases": c.aliases} for c in story.characters]
    if expected:
        good = [f for f in found if any(forms(f) & forms(e) for e in expected)]
        out["char_p"] = len(good) / len(found) if found else 0.0
        out["char_r"] = sum(any(forms(f) & forms(e) for f in found) for e in expected) / len(expected)
        out["_cast"] = [c.name for c in story.characters]
    else:
        out["char_p"] = out["char_r"] = None

    lines = [(norm_words(line.text), line.speaker, line.voice) for clip in clips for line in clip.lines]
    right = total = 0
    wrong = []
    for item in expect.get("dialogue", []):
        quote = norm_words(item["quote"])
        total += 1
        speaker = next((s for ws, s, v in lines if v == "dialogue" and _contains(ws, quote)), None)
        person = next((e for e in expected if item["speaker"] in [e["name"], *e.get("aliases", [])]), {"name": item["speaker"]})
        ours = next((c for c in story.characters if c.name == speaker), None)
        if ours is None and speaker:  # someone the cast does not name, as the tag describes them ("said Madame")
            ours = type("Described", (), {"name": speaker, "aliases": []})()
        ok = ours is not None and bool(forms({"name": ours.name, "aliases": ours.aliases}) & forms(person))
        right += ok
        if not ok:
            wrong.append(f"{item['quote'][:30]!r}: {speaker!r} (want {item['speaker']})")
    out["attribution"] = right / total if total else None
    out["_wrong"] = wrong

    entries = edit.timeline.entries
    p = result.manifest.config["stages"]["compose"]
    lead, tail = float(p.get("lead_in_s", 0.3)), float(p.get("tail_s", 0.5))
    dead = 0.0
    for a, b in itertools.pairwise(entries):
        gap = b.narration_start_s - (a.narration_start_s + a.narration_duration_s)
        dead += max(0.0, gap - tail - max(lead, b.transition_s) - 2 / edit.timeline.fps)
    if entries:
        last = entries[-1]
        dead += max(
            0.0,
            last.start_s + last.duration_s - (last.narration_start_s + last.narration_duration_s) - tail - 1 / edit.timeline.fps,
        )
    out["dead_air"] = dead / max(edit.timeline.duration_s / 60, 1e-9)
    out["minutes"] = edit.timeline.duration_s / 60
    out["title_ok"] = norm_words(story.title) == norm_words(expect["title"]) if expect.get("title") else None
    out["author_ok"] = norm_words(story.author) == norm_words(expect["author"]) if expect.get("author") else None
    return out


def _contains(words: list[str], quote: list[str]) -> bool:
    if not quote:
        return False
    n = len(quote)
    return any(words[i : i + n] == quote for i in range(len(words) - n + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=ROOT / "tests" / "corpus")
    parser.add_argument("--only", nargs="*", default=[], help="names (file stems) to run")
    parser.add_argument("--tts", default="espeak", help="audio/tts backend (espeak measures real speech rates)")
    parser.add_argument("--keep", type=Path, help="keep the run directories and cache here")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()

    from storyforge.config import compose
    from storyforge.engine.pipeline import run_pipeline

    if args.tts == "espeak" and not shutil.which("espeak-ng"):
        sys.exit("espeak-ng is not installed (apt-get install espeak-ng), or pass --tts tone")
    work = args.keep or Path(tempfile.mkdtemp(prefix="sf-reading-"))
    texts = sorted(p for p in args.corpus.glob("*.txt") if (p.with_suffix(".expect.json")).is_file())
    texts = [p for p in texts if not args.only or p.stem in args.only]
    rows = []
    for path in texts:
        expect = json.loads(path.with_suffix(".expect.json").read_text(encoding="utf-8")) | {"_name": path.stem}
        cfg, _ = compose(
            ["profile=debug_cpu", f"audio/tts={args.tts}", f"story={path}", f"cache.dir={work / 'cache'}", *FAST, *args.overrides]
        )
        started = time.perf_counter()
        result = run_pipeline(cfg, work / path.stem)
        row = score(path.read_text(encoding="utf-8"), expect, result)
        row["name"], row["language"], row["seconds"] = path.stem, expect.get("language", "?"), time.perf_counter() - started
        rows.append(row)
        print(_line(row), flush=True)
        for problem in row["_wrong"][:6]:
            print(f"      attribution: {problem}")
    print()
    overall = {}
    for key in ("coverage", "precision", "chapters", "char_p", "char_r", "attribution", "dead_air"):
        values = [r[key] for r in rows if r.get(key) is not None]
        overall[key] = sum(values) / len(values) if values else None
    worst = {
        k: (min if k != "dead_air" else max)(r[k] for r in rows if r.get(k) is not None)
        for k in overall
        if overall[k] is not None
    }
    print(
        _line(
            {
                "name": "overall (mean)",
                "language": "",
                **overall,
                "minutes": sum(r["minutes"] for r in rows),
                "seconds": sum(r["seconds"] for r in rows),
            }
        )
    )
    print(_line({"name": "overall (worst)", "language": "", **worst, "minutes": 0, "seconds": 0}))
    print()
    for key, target in TARGETS.items():
        if overall.get(key) is None:
            continue
        met = overall[key] <= target if key == "dead_air" else overall[key] >= target - 1e-9
        print(
            f"{key:12s} mean {overall[key]:.3f}  target {'<=' if key == 'dead_air' else '>='} {target}: {'met' if met else 'MISSED'}"
        )
    titles = [r["title_ok"] for r in rows if r["title_ok"] is not None]
    authors = [r["author_ok"] for r in rows if r["author_ok"] is not None]
    print(f"titles right: {sum(titles)} of {len(titles)}; authors right: {sum(authors)} of {len(authors)}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _line(r: dict) -> str:
    def f(key: str) -> str:
        v = r.get(key)
        return "   -  " if v is None else f"{v:6.3f}"

    head = f"{r['name'][:34]:34s} {r.get('language', ''):2s}"
    return (
        f"{head} coverage {f('coverage')} precision {f('precision')} chapters {f('chapters')} cast P {f('char_p')} "
        f"R {f('char_r')} attribution {f('attribution')} dead air s/min {f('dead_air')} ({r['minutes']:.1f} min, {r['seconds']:.0f} s)"
    )


if __name__ == "__main__":
    main()
