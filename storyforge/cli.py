"""`storyforge [group=option ...] [key=value ...]`: compose the config with Hydra and run the recipe.

Before Hydra starts: `.env` is read, `profile=auto` is resolved by GPU detection, and the recipes are
registered. A bad input or config prints one line (`storyforge: error: ... Fix: ...`) and exits with 2; a
stage that fails exits with 1 and leaves every finished item in the cache, so the same command resumes; so does
Ctrl-C (exit 130), SIGTERM or SIGHUP, which stop the run's ffmpeg processes with it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from dotenv import load_dotenv
from omegaconf import DictConfig

from storyforge.errors import StageFailed, StoryforgeError

log = logging.getLogger("storyforge")
_REASON_VAR = "STORYFORGE_PROFILE_REASON"


def _fail(message: str, code: int) -> None:
    print(f"storyforge: error: {message}", file=sys.stderr)
    sys.exit(code)


def _job_failed(run_dir: Path, message: str) -> None:
    log.error("storyforge: error: %s", message)
    if not (run_dir / "error.log").exists():  # the run writes its own when it got that far
        (run_dir / "error.log").write_text(message + "\n", encoding="utf-8")


def _task(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from storyforge.engine.pipeline import run_pipeline
    from storyforge.licences import summary

    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    reason = os.environ.get(_REASON_VAR, "")  # set by main(); a launcher's job process inherits it
    log.info("profile: %s (%s)", cfg.get("profile_name"), reason)
    try:
        result = run_pipeline(cfg, run_dir, profile_reason=reason)
    except KeyboardInterrupt:  # Ctrl-C: the run was cancelled, its child processes killed
        _fail(f"interrupted. Finished items are cached: run the same command to resume (run directory {run_dir}).", 130)
    except (StoryforgeError, StageFailed) as exc:
        message = str(exc)
        if isinstance(exc, StageFailed):
            message = message.rstrip(".") + (
                ". Finished items are cached: fix the cause and run the same command to resume "
                f"(details in {run_dir / 'error.log'})"
            )
        if hydra_cfg.mode == RunMode.MULTIRUN:  # one failed job must not stop the sweep: the report counts it
            _job_failed(run_dir, message)
            return
        _fail(message, exc.exit_code)
    except Exception as exc:  # a bug or an unexpected library error: a traceback, but in a sweep only for this job
        if hydra_cfg.mode != RunMode.MULTIRUN:
            raise
        log.exception("storyforge: job failed")
        _job_failed(run_dir, f"{type(exc).__name__}: {exc}")
        return
    stages = result.manifest.stages.values()
    hits, total = sum(s.misses == 0 for s in stages), len(stages)
    items = sum(s.hits + s.misses for s in stages)
    log.info(
        "cache: %d/%d stages fully cached (%d of %d items hit) in %.2fs",
        hits,
        total,
        sum(s.hits for s in stages),
        items,
        result.manifest.seconds,
    )
    log.info("video: %s", result.video or "(this recipe makes no video)")
    log.info("%s", summary(result.manifest.licences))


def _interrupt(signum: int, _frame: object) -> None:
    """Ctrl-C, SIGTERM and SIGHUP stop a run: cancelled, its ffmpeg processes killed, work kept. A worker thread
    cut off mid-write (a WAV in a scratch directory being removed) is cleaned up as the process exits: that
    says nothing, the one line the CLI prints is the message."""
    sys.unraisablehook = lambda _unraisable: None
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    from storyforge import sweep

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)

    sweep.failed_jobs = None  # set by the sweep report's callback when this process runs a multirun
    load_dotenv(Path.cwd() / ".env", override=False)
    import hydra

    from storyforge.config import prepare
    from storyforge.resources import resource_dir

    try:
        argv, os.environ[_REASON_VAR] = prepare(sys.argv[1:])
        conf = resource_dir("conf")
    except StoryforgeError as exc:
        _fail(str(exc), exc.exit_code)
    sys.argv = [sys.argv[0], *argv]
    hydra.main(config_path=str(conf), config_name="config", version_base="1.3")(_task)()
    if sweep.failed_jobs:
        failed, total, report = sweep.failed_jobs
        _fail(f"{failed} of {total} sweep jobs failed (see {report}).", 1)


if __name__ == "__main__":
    main()
