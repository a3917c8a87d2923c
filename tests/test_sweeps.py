"""Experiments: multirun sweeps share one cache and end with a report; `storyforge-cache` explains misses,
verifies blobs and collects garbage; every run's manifest carries quality figures."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from storyforge.cache_cli import main as cache_main
from tests.conftest import FIXTURES, SMALL, cli

STORY = f"story={FIXTURES / 'two_scenes.txt'}"


def sweep_dir(root: Path) -> Path:
    found = sorted(root.glob("multirun/*/*/sweep.csv"))
    assert found, f"no sweep report under {root}"
    return found[-1].parent


def manifests(sweep: Path) -> list[dict]:
    return [json.loads((sweep / str(i) / "manifest.json").read_text()) for i in range(len(list(sweep.glob("*/manifest.json"))))]


def test_a_sweep_differing_downstream_computes_upstream_once_and_reports(tmp_path):
    proc = cli("-m", "profile=debug_cpu", STORY, *SMALL, "stages.compose.within_scene=cut,crossfade",
               f"cache.dir={tmp_path / 'cache'}", f"output.root={tmp_path / 'out'}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweep = sweep_dir(tmp_path / "out")
    first, second = manifests(sweep)
    downstream = ("compose", "segments", "mix", "film")  # what a transition changes
    assert all(s["misses"] == 0 for name, s in second["stages"].items() if name not in downstream)  # upstream: once
    assert second["stages"]["compose"]["misses"] == 1 and first["stages"]["story"]["misses"] == 1
    rows = list(csv.DictReader((sweep / "sweep.csv").open()))
    assert [r["overrides"].split("within_scene=")[1].split()[0] for r in rows] == ["cut", "crossfade"]
    assert {"loudness_lufs", "subtitle_offset_s", "story_narrated", "names_in_prompts", "compose_misses"} <= set(rows[0])
    page = (sweep / "sweep.html").read_text()
    assert page.count("<video") == 2 and "shots/s01_01.png" in page and (sweep / "sweep.md").is_file()


def test_the_slurm_launcher_path_runs_locally_with_one_cache_and_the_report(tmp_path):
    """hydra/launcher=submitit_local: the submitit launcher's own code path (pickled jobs in separate processes,
    results collected back) without a SLURM cluster; submitit_slurm differs only in how jobs are started."""
    proc = cli("-m", "hydra/launcher=submitit_local", "profile=debug_cpu", STORY, *SMALL,
               "stages.compose.within_scene=cut,crossfade", f"cache.dir={tmp_path / 'cache'}",
               f"output.root={tmp_path / 'out'}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweep = sweep_dir(tmp_path / "out")
    jobs = manifests(sweep)
    assert [m["status"] for m in jobs] == ["succeeded", "succeeded"]
    assert all(m["profile_reason"] == "chosen on the command line" for m in jobs)  # inherited by the job processes
    assert sum(m["stages"]["story"]["misses"] for m in jobs) >= 1 and (sweep / "sweep.html").is_file()


def test_a_failed_job_does_not_stop_the_sweep_and_the_exit_code_says_so(tmp_path):
    missing = tmp_path / "no-such-story.txt"
    proc = cli("-m", "profile=debug_cpu", f"story={missing},{FIXTURES / 'one_scene.txt'}", *SMALL,
               f"cache.dir={tmp_path / 'cache'}", f"output.root={tmp_path / 'out'}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 1 and "1 of 2 sweep jobs failed" in proc.stderr and "Traceback" not in proc.stderr
    sweep = sweep_dir(tmp_path / "out")
    rows = list(csv.DictReader((sweep / "sweep.csv").open()))
    assert [r["status"] for r in rows] == ["failed", "succeeded"] and str(missing) in rows[0]["error"]
    assert (sweep / "1" / "final.mp4").is_file()  # the good job ran to the end
    assert json.loads((sweep / "1" / "manifest.json").read_text())["profile_reason"] == "chosen on the command line"


def test_the_committed_sweep_recipe_runs_both_prompt_sets(tmp_path):
    proc = cli("recipe=compare_prompts", "profile=debug_cpu", STORY, *SMALL, f"cache.dir={tmp_path / 'cache'}",
               f"output.root={tmp_path / 'out'}", cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweep = sweep_dir(tmp_path / "out")
    rows = list(csv.DictReader((sweep / "sweep.csv").open()))
    assert len(rows) == 2 and "prompts=v1" in rows[0]["overrides"] and "prompts=v2" in rows[1]["overrides"]
    second = manifests(sweep)[1]
    assert second["stages"]["story"]["misses"] == 1  # its prompts changed
    assert second["stages"]["narration"]["misses"] == 0 and second["stages"]["music"]["misses"] == 0  # same inputs


def test_quality_figures_are_in_every_manifest(run):
    result = run(STORY)
    quality = result.manifest.quality
    assert abs(quality["loudness_lufs"] + 16) <= 1.0 and quality["subtitle_offset_s"] <= 0.1
    assert quality["story_narrated"] > 0.99 and quality["names_in_prompts"] == 1.0
    assert quality["scenes"] == 2 and quality["video_s"] > 5
    # Measured from the music stem, not read from the config: never deeper than the configured 15 dB (the floor is
    # not ducked), and the compressor leaves the quiet placeholder beeps' music over the floor and lets it back up
    # between beeps and in the pauses after commas and sentences: 10.5 dB measured (a steady tone ducks to 14.5,
    # espeak speech to 13.7).
    assert 9.5 <= quality["duck_depth_db"] <= 14.0
    assert (result.run_dir / "ducking.wav").is_file() and "ducking.wav" in result.manifest.outputs


def test_the_measured_ducking_depth_follows_the_setting(run):
    shallow = run(STORY, "compositor.duck_depth_db=6").manifest.quality["duck_depth_db"]
    deep = run(STORY, "compositor.duck_depth_db=20").manifest.quality["duck_depth_db"]
    # measured 4.9 and 12.5: a shallow floor dominates the ducked music; a deep one sinks below what the compressor
    # leaves of the beeps' music (which comes back in the voice's pauses), so the figure falls short of the setting
    # as the setting grows
    assert 4.5 <= shallow <= 6.0 and 12.0 <= deep <= 19.0 and deep - shallow >= 7.0


def test_cache_explain_names_the_cause_of_a_miss(run, cache_dir, capsys):
    run(STORY, "stages.plan.shot_words=12")
    second = run(STORY, "stages.plan.shot_words=20", "render.fps=10")
    cache_main(["--cache-dir", str(cache_dir), "explain", str(second.run_dir), "plan"])
    assert "param shot_words 12→20" in capsys.readouterr().out
    cache_main(["--cache-dir", str(cache_dir), "explain", str(second.run_dir), "compose"])
    said = capsys.readouterr().out
    assert "param fps 12→10" in said and "input shots changed" in said
    cache_main(["--cache-dir", str(cache_dir), "explain", str(second.run_dir), "story"])
    assert capsys.readouterr().out.strip() == "story: hit"


def test_cache_ls_du_verify_and_gc(run, cache_dir, capsys, tmp_path):
    result = run(STORY)
    for command in (["ls"], ["du"], ["verify"]):
        cache_main(["--cache-dir", str(cache_dir), *command])
    said = capsys.readouterr().out
    assert "compose" in said and "blobs" in said and "0 corrupt" in said
    stray = cache_dir / "cas" / "sha256" / "00" / ("0" * 62)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left over")
    cache_main(["--cache-dir", str(cache_dir), "gc", "--keep", str(result.run_dir)])
    assert "deleted 0 of" in capsys.readouterr().out and stray.exists()  # young blobs are spared
    cache_main(["--cache-dir", str(cache_dir), "gc", "--min-age-s", "0"])
    assert "deleted 1 of" in capsys.readouterr().out and not stray.exists()
    assert run(STORY).manifest.stages["compose"].hits == 1  # nothing in use was collected
