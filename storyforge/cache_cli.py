"""`storyforge-cache`: look into and tidy the cache.

  storyforge-cache ls                 entries per stage (items, blobs, bytes)
  storyforge-cache du                 bytes in blobs and in the index
  storyforge-cache explain RUN STAGE  why each item of STAGE in run directory RUN was computed: what changed in its
                                      key since the item was last computed ("param steps 20→30", "input shots changed")
  storyforge-cache verify             re-hash every blob; list the corrupt ones (they are recomputed on the next run)
  storyforge-cache gc [--keep RUN...] [--dry-run] [--min-age-s S]
                                      delete blobs that no index entry and no kept run's manifest refers to (blobs
                                      younger than an hour are spared: a running job may be about to index them)

The cache is STORYFORGE_CACHE_DIR (or --cache-dir), as for the CLI.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from storyforge.engine.cache import Cache


def _cache(args: argparse.Namespace) -> Cache:
    from storyforge.engine.pipeline import default_cache_dir

    root = Path(args.cache_dir or os.environ.get("STORYFORGE_CACHE_DIR") or default_cache_dir()).expanduser()
    if not (root / "index").is_dir():
        raise SystemExit(f"storyforge-cache: error: no cache at {root}. Fix: pass --cache-dir or set STORYFORGE_CACHE_DIR.")
    return Cache(root, mode="read_only")


def _records(cache: Cache) -> dict[str, dict]:
    return {k: r for k in cache.index.keys() if not k.startswith("latest:") and isinstance(r := cache.index.get(k), dict)}


def _blobs(cache: Cache) -> dict[str, int]:
    root = cache.root / "cas" / "sha256"
    return {p.parent.name + p.name: p.stat().st_size for p in root.glob("*/*") if p.is_file()} if root.is_dir() else {}


def _shas_in(value: Any) -> set[str]:
    """Every artifact sha256 inside an output's JSON."""
    if isinstance(value, dict):
        found = {value["sha256"]} if isinstance(value.get("sha256"), str) and value["sha256"] else set()
        return found.union(*(_shas_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_shas_in(v) for v in value)) if value else set()
    return set()


def _referenced(cache: Cache, record: dict) -> set[str]:
    refs = {record.get("output", ""), record.get("payload") or ""}
    data = cache.blobs.read_verified(record.get("output", ""))
    if data:
        refs |= _shas_in(json.loads(data))
    return refs - {""}


def cmd_ls(cache: Cache, args: argparse.Namespace) -> None:
    blobs = _blobs(cache)
    per: dict[str, list] = defaultdict(lambda: [0, 0])
    for record in _records(cache).values():
        stage = record.get("stage", "(before 0.1: unnamed)")
        per[stage][0] += 1
        per[stage][1] += sum(blobs.get(s, 0) for s in _referenced(cache, record))
    print(f"{'stage':<24}{'entries':>9}{'bytes':>14}")
    for stage, (n, size) in sorted(per.items()):
        print(f"{stage:<24}{n:>9}{size:>14,}")


def cmd_du(cache: Cache, args: argparse.Namespace) -> None:
    blobs = _blobs(cache)
    index = sum(p.stat().st_size for p in (cache.root / "index").rglob("*") if p.is_file())
    print(f"blobs  {len(blobs):>8} files {sum(blobs.values()):>14,} bytes\nindex  {index:>29,} bytes\nroot   {cache.root}")


def describe(old: dict, new: dict) -> list[str]:
    """What differs between two key payloads, in words."""
    lines = []
    if old.get("version") != new.get("version"):
        lines.append(f"stage version {old.get('version')}→{new.get('version')}")
    for kind in ("params",):
        a, b = old.get(kind, {}), new.get(kind, {})
        lines += [f"param {k} {a.get(k)!r}→{b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    for use in sorted(set(old.get("services", {})) | set(new.get("services", {}))):
        a, b = old.get("services", {}).get(use, {}), new.get("services", {}).get(use, {})
        lines += [f"service {use}: {k} {a.get(k)!r}→{b.get(k)!r}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    a, b = old.get("prompts", {}), new.get("prompts", {})
    lines += [f"prompt {k} changed" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if old.get("seed") != new.get("seed"):
        lines.append(f"seed {old.get('seed')}→{new.get('seed')}")
    a, b = old.get("inputs", {}), new.get("inputs", {})
    lines += [f"input {k} changed" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    return lines or ["nothing in the key changed (the entry was missing or corrupt)"]


def explain(cache: Cache, run_dir: Path, stage: str) -> list[str]:
    manifest_path = run_dir / "manifest.json"
    if not manifest_path.is_file():
        raise SystemExit(f"storyforge-cache: error: {run_dir} has no manifest.json. Fix: pass a run directory.")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if stage not in manifest["stages"]:
        raise SystemExit(
            f"storyforge-cache: error: run {run_dir} has no stage {stage!r}; it has {', '.join(manifest['stages'])}."
        )
    out = []
    for item in manifest["stages"][stage]["items"]:
        name = f"{stage}{'[' + item['item'] + ']' if item['item'] else ''}"
        if item["hit"]:
            out.append(f"{name}: hit")
            continue
        record = cache.index.get(item["key"]) or {}
        previous = cache.index.get(record.get("previous") or "") or {}
        new, old = (cache.blobs.read_verified(r.get("payload") or "") for r in (record, previous))
        if not new:
            out.append(f"{name}: miss (no key payload recorded for this entry)")
        elif not old:
            out.append(f"{name}: miss: never computed before")
        else:
            out.append(f"{name}: miss: " + "; ".join(describe(json.loads(old), json.loads(new))))
    return out


def cmd_explain(cache: Cache, args: argparse.Namespace) -> None:
    print("\n".join(explain(cache, Path(args.run), args.stage)))


def cmd_verify(cache: Cache, args: argparse.Namespace) -> None:
    bad = [sha for sha in _blobs(cache) if not cache.blobs.verify(sha)]
    print(f"{len(_blobs(cache))} blobs checked, {len(bad)} corrupt" + "".join(f"\n  corrupt: {s}" for s in bad))
    if bad:
        sys.exit(1)


def cmd_gc(cache: Cache, args: argparse.Namespace) -> None:
    blobs = _blobs(cache)  # listed before the index is read: blobs written meanwhile are not in this list
    keep: set[str] = set()
    for record in _records(cache).values():
        keep |= _referenced(cache, record)
    for run in args.keep or []:
        manifest_path = Path(run) / "manifest.json"
        if not manifest_path.is_file():
            raise SystemExit(f"storyforge-cache: error: {run} has no manifest.json. Fix: pass run directories to --keep.")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        keep |= set(manifest.get("outputs", {}).values())
        keep |= {i["output"] for s in manifest["stages"].values() for i in s["items"]}
    young = time.time() - args.min_age_s  # a run may be about to index a blob it just wrote or re-used
    drop = [sha for sha in blobs if sha not in keep and cache.blobs.path(sha).stat().st_mtime < young]
    for sha in drop if not args.dry_run else []:
        path = cache.blobs.path(sha)
        path.chmod(0o644)
        path.unlink(missing_ok=True)
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {len(drop)} of {len(blobs)} blobs ({sum(blobs[s] for s in drop):,} bytes)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="storyforge-cache", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache-dir", help="default: STORYFORGE_CACHE_DIR, else the user's cache directory")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ls")
    sub.add_parser("du")
    explain_parser = sub.add_parser("explain")
    explain_parser.add_argument("run", help="a run directory (with manifest.json)")
    explain_parser.add_argument("stage", help="a stage name from the recipe")
    sub.add_parser("verify")
    gc = sub.add_parser("gc")
    gc.add_argument("--keep", nargs="*", help="run directories whose outputs must stay")
    gc.add_argument("--dry-run", action="store_true")
    gc.add_argument("--min-age-s", type=float, default=3600, help="spare blobs younger than this (default 1 h)")
    args = parser.parse_args(argv)
    cache = _cache(args)
    try:
        {"ls": cmd_ls, "du": cmd_du, "explain": cmd_explain, "verify": cmd_verify, "gc": cmd_gc}[args.command](cache, args)
    finally:
        cache.close()


if __name__ == "__main__":
    main()
