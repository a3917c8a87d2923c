"""Workers: each takes the oldest queued job, runs it through the same engine as the CLI (so finished stages
are cache hits when a job is resumed or re-submitted), and writes progress, status and a log for the API.

Cancellation and shutdown take effect within a fraction of a second: the engine asks the reporter a few times a
second (`Reporter.tick`) and the run is cancelled there, its ffmpeg processes killed; what finished before stays
cached. A job whose worker stops goes back to the queue.
"""

from __future__ import annotations

import contextvars
import json
import logging
import shutil
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from omegaconf import OmegaConf

from storyforge.api.schemas import JobState
from storyforge.api.store import JobStore
from storyforge.engine.pipeline import run_pipeline
from storyforge.engine.progress import Reporter
from storyforge.errors import StageFailed, StoryforgeError, first_error

log = logging.getLogger("storyforge")
CURRENT_JOB: contextvars.ContextVar[str] = contextvars.ContextVar("storyforge_job", default="")


class JobCancelled(Exception):
    """The client cancelled the job."""

    run_status = "cancelled"  # what the run's manifest says (storyforge/engine/pipeline.py)


class WorkerStopping(Exception):
    """The server is stopping; the job goes back to the queue."""

    run_status = "interrupted"


def progress_of(stages: dict, total: int) -> int:
    """0-100: each stage of the recipe is an equal share, a fan-out stage filled item by item."""
    done = sum(1.0 if s["finished"] else (s["done"] / s["items"] if s["items"] else 0.0) for s in stages.values())
    return min(100, int(100 * done / max(1, total)))


class Worker:
    def __init__(self, store: JobStore, jobs_dir: Path, slots: int = 1, poll_s: float = 0.2, stale_s: float = 60.0,
                 retention_s: float = 0.0) -> None:  # fmt: skip
        self.store, self.jobs_dir, self.slots, self.poll_s, self.stale_s = store, jobs_dir, slots, poll_s, stale_s
        self.retention_s = retention_s  # ended jobs older than this are deleted with their files (0: kept)
        self._next_purge = 0.0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._running: dict[str, str] = {}  # id -> claim of the jobs this worker's threads are running
        self._lock = threading.Lock()

    def start(self) -> None:
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._loop, name=f"storyforge-worker-{i}", daemon=True) for i in range(self.slots)
        ]
        for thread in self._threads:
            thread.start()

    def begin_stop(self) -> None:
        """Take no more jobs; running ones stop within a fraction of a second and go back to the queue."""
        self._stop.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking jobs. A running job stops within a fraction of a second (its child processes killed) and goes
        back to the queue; one whose thread is still busy after `timeout_s` (a model call that cannot be
        interrupted) is put back in the queue all the same, so no job is left `running` by a stopped server."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = dict(self._running)
        for job_id, claim in left.items():
            self.store.requeue(job_id, claim)
            log.warning("job %s re-queued while its worker was still busy", job_id)

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = None
            try:
                if requeued := self.store.requeue_stale(self.stale_s):
                    log.info("re-queued %d job(s) whose worker stopped", requeued)
                self.purge()
                job = self.store.claim_next()
                if job is None:
                    self._stop.wait(self.poll_s)
                    continue
                self.run(job)
            except Exception as exc:
                log.exception("worker error%s", f" on job {job['id']}" if job else "")
                if job is not None:
                    self.store.update(job["id"], job["claim"], status=JobState.failed.value,
                                      error=f"{type(exc).__name__}: {exc}"[:2000])  # fmt: skip
                self._stop.wait(1.0)

    def purge(self, every_s: float = 60.0) -> int:
        """Delete jobs that ended over `retention_s` ago, with their files (at most once a minute)."""
        if self.retention_s <= 0 or time.monotonic() < self._next_purge:
            return 0
        self._next_purge = time.monotonic() + every_s
        cutoff = datetime.now(UTC) - timedelta(seconds=self.retention_s)
        removed = 0
        for job_id in self.store.ended_before(cutoff):
            if self.store.delete(job_id) is None:
                shutil.rmtree(self.jobs_dir / job_id, ignore_errors=True)
                removed += 1
        if removed:
            log.info(
                "deleted %d job(s) that ended over %.4g days ago (STORYFORGE_RETENTION_DAYS)", removed, self.retention_s / 86400
            )
        return removed

    def run(self, job) -> None:
        job_id, claim = job["id"], job["claim"]  # every write below is this claim's only
        run_dir = self.jobs_dir / job_id
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "error.log").unlink(missing_ok=True)  # a resumed job: the stop that interrupted it is not its error
        stages: dict[str, dict] = json.loads(job["stages"] or "{}")

        def on_event(event: dict) -> None:
            if event["event"] == "tick":  # a few times a second, also in the middle of a long unit
                try:
                    stop_if_asked()
                except sqlite3.Error as exc:  # a busy store must not fail the run: the next tick asks again
                    log.debug("could not read job %s's cancel flag: %s", job_id, exc)
                return
            name = event["stage"]
            stage = stages.setdefault(name, {"items": 0, "done": 0, "hits": 0, "misses": 0, "finished": False, "seconds": None})
            if event["event"] == "stage_started":
                stage.update(items=event["items"], done=0, hits=0, misses=0, finished=False)
            elif event["event"] == "item_done":
                stage["done"] += 1
                stage["hits" if event["hit"] else "misses"] += 1
            else:
                stage.update(finished=True, hits=event["hits"], misses=event["misses"], seconds=event["seconds"])
            self.store.update(job_id, claim, stages=stages)
            stop_if_asked()

        def stop_if_asked() -> None:
            if self.store.cancel_requested(job_id):
                raise JobCancelled()
            if self._stop.is_set():
                raise WorkerStopping()

        handler = logging.FileHandler(run_dir / "job.log", encoding="utf-8")
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(message)s", "%H:%M:%S"))
        handler.addFilter(lambda record: CURRENT_JOB.get() == job_id)  # only this job's lines, with several workers
        token = CURRENT_JOB.set(job_id)  # anyio copies the context into the engine's tasks and threads
        log.addHandler(handler)
        beating = threading.Event()

        def heartbeat() -> None:  # tells other server processes this job is alive (see JobStore.requeue_stale)
            while not beating.wait(min(5.0, self.stale_s / 4 or 5.0)):
                self.store.update(job_id, claim)

        threading.Thread(target=heartbeat, daemon=True, name=f"heartbeat-{job_id}").start()
        with self._lock:
            self._running[job_id] = claim
        try:
            cfg = OmegaConf.create(json.loads(job["config"]))
            run_pipeline(cfg, run_dir, Reporter(on_event=on_event, bars=False), profile_reason="chosen by the API request")
            self.store.update(job_id, claim, status=JobState.succeeded.value, stages=stages, error=None)
        except BaseException as exc:
            first = first_error(exc)
            if isinstance(first, JobCancelled):
                self.store.update(job_id, claim, status=JobState.cancelled.value)
            elif isinstance(first, WorkerStopping):
                self.store.requeue(job_id, claim)
            else:
                message = str(first) if isinstance(first, (StoryforgeError, StageFailed)) else f"{type(first).__name__}: {first}"
                log.error("job %s failed: %s", job_id, message)
                self.store.update(job_id, claim, status=JobState.failed.value, error=message[:2000])
                if not isinstance(first, Exception):
                    raise
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            beating.set()
            log.removeHandler(handler)
            handler.close()
            CURRENT_JOB.reset(token)
