"""A Hydra callback that writes one report at the end of a multirun: `sweep.csv`, `sweep.md` and `sweep.html` in
the sweep directory, a row per job with its overrides, per-stage seconds, hits and misses, token counts and the
quality figures from its manifest (identity similarity with a column per character); the HTML shows each job's
cast sheet and storyboard and plays its video."""

from __future__ import annotations

import csv
import html
import json
import logging
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("storyforge")
failed_jobs: tuple[int, int, Path] | None = None  # (failed, jobs, report) of this process's last multirun


def job_row(job_dir: Path) -> dict[str, Any]:
    """One job's figures, from its manifest and Hydra's record of its overrides. A job that failed before its
    run started (a bad story path, a config error) has no manifest: its row says so, with its error."""
    overrides_file = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
    manifest_file, error_file = job_dir / "manifest.json", job_dir / "error.log"
    if not manifest_file.is_file():
        error = error_file.read_text(encoding="utf-8").strip().splitlines()[-1:] if error_file.is_file() else []
        return {"job": job_dir.name, "overrides": " ".join(overrides or []), "status": "failed",
                "error": error[0] if error else "no manifest (the job did not finish)"}  # fmt: skip
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    calls = manifest.get("llm_calls", [])
    row: dict[str, Any] = {
        "job": job_dir.name,
        "overrides": " ".join(overrides or []),
        "status": manifest["status"],
        "error": manifest.get("error") or "",
        "seconds": manifest["seconds"],
        "prompt_tokens": sum(c.get("prompt_tokens", 0) for c in calls),
        "completion_tokens": sum(c.get("completion_tokens", 0) for c in calls),
        # may a video made so be used commercially: yes | no | unknown, and the licences behind it
        "commercial_use": {True: "yes", False: "no", None: "unknown"}[manifest.get("commercial_use")],
        "licences": "; ".join(
            f"{x['service']}: {x['name'] or x['model']} ({x['licence']})" for x in manifest.get("licences", [])
        ),
        **{k: v for k, v in manifest.get("quality", {}).items() if not isinstance(v, dict)},
    }
    for name, figures in (manifest.get("quality", {}).get("identity_by_character") or {}).items():
        row[f"identity:{name}"] = figures.get("similarity")  # a column per character: how alike they look
    for name, stage in manifest["stages"].items():
        row |= {f"{name}_s": stage["seconds"], f"{name}_hits": stage["hits"], f"{name}_misses": stage["misses"]}
    return row


def write_report(sweep_dir: Path) -> list[dict[str, Any]]:
    found = {p.parent for p in sweep_dir.glob("*/manifest.json")} | {
        p.parent.parent for p in sweep_dir.glob("*/.hydra/overrides.yaml")
    }
    jobs = sorted(found, key=lambda p: (len(p.name), p.name))
    rows = [job_row(job) for job in jobs]
    if not rows:
        return rows
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with (sweep_dir / "sweep.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    short = [c for c in columns if not c.endswith(("_hits", "_misses"))]
    lines = ["| " + " | ".join(short) + " |", "|" + "---|" * len(short)]
    lines += ["| " + " | ".join(str(row.get(c, "")).replace("|", "\\|").replace("\n", " ") for c in short) + " |" for row in rows]
    (sweep_dir / "sweep.md").write_text("# Sweep\n\n" + "\n".join(lines) + "\n", encoding="utf-8")
    (sweep_dir / "sweep.html").write_text(_html(sweep_dir, jobs, rows, columns), encoding="utf-8")
    return rows


def _html(sweep_dir: Path, jobs: list[Path], rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in columns) + "</tr>" for r in rows)
    cards = []
    for job, row in zip(jobs, rows, strict=True):
        thumbs = "".join(f'<img src="{job.name}/shots/{p.name}" title="{p.stem}">' for p in sorted((job / "shots").glob("*.png")))
        cast = "".join(
            f'<img class="cast" src="{job.name}/cast/{p.name}" title="{p.stem}">' for p in sorted((job / "cast").glob("*.png"))
        )
        video = f'<video src="{job.name}/final.mp4" controls preload="metadata"></video>' if (job / "final.mp4").is_file() else ""
        cards.append(f"<section><h2>job {job.name}: {html.escape(row['overrides'] or '(defaults)')}</h2>{video}"
                     f'<div class="thumbs">{cast}</div><div class="thumbs">{thumbs}</div></section>')  # fmt: skip
    style = ("body{font:14px system-ui;margin:1.5rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:2px 6px}video{width:480px}.thumbs img{width:120px;margin:2px}.thumbs img.cast{width:auto;height:120px}")  # fmt: skip
    return (f"<!doctype html><meta charset=utf-8><title>sweep {html.escape(sweep_dir.name)}</title><style>{style}</style>"
            f"<h1>Sweep {html.escape(str(sweep_dir))}</h1><table><tr>{head}</tr>{body}</table>{''.join(cards)}")  # fmt: skip


class SweepReport(Callback):
    """Registered in conf/config.yaml under hydra.callbacks; runs once, after the last job of a multirun."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        global failed_jobs
        rows = write_report(sweep_dir)
        if rows:
            log.info("sweep report: %s (%d jobs)", sweep_dir / "sweep.html", len(rows))
        failed = sum(r["status"] != "succeeded" for r in rows)
        failed_jobs = (failed, len(rows), sweep_dir / "sweep.md") if failed else None
