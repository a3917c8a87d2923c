"""`storyforge-serve` as a separate process, the way an operator starts it: for tests and the fault benchmark."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

SERVE = [sys.executable, "-c", "from storyforge.api.main import serve; serve()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {timeout}s")


class Server:
    """One `storyforge-serve` (with `workers` processes) on a free port, over `data` (cache, store, jobs)."""

    def __init__(self, data: Path, key: str, env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.data, self.key, self.port = data, key, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        data.mkdir(parents=True, exist_ok=True)
        self.log_path = data / f"server-{self.port}.log"
        self._log = self.log_path.open("w")
        # tests poll fast (ten times a second): no rate limit unless the test sets one; and the servers of a module
        # share one store, where a slow machine's jobs from an earlier test may still be queued: no per-key limit
        full = {**os.environ, "STORYFORGE_API_KEYS": key, "STORYFORGE_CACHE_DIR": str(data), "STORYFORGE_RATE_LIMIT": "0",
                "STORYFORGE_JOBS_PER_KEY": "1000", **(env or {})}  # fmt: skip
        self.proc = subprocess.Popen(
            [*SERVE, "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            env=full, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.http = httpx.Client(base_url=self.base, headers={"X-API-Key": key}, timeout=60)
        wait_http(f"{self.base}/healthz")

    def job(self, job_id: str) -> dict:
        return self.http.get(f"/v1/jobs/{job_id}").json()

    def wait_for(self, job_id: str, until, timeout: float = 300, every: float = 0.1) -> dict:
        """Poll the job until `until(job)` holds; returns it."""
        deadline = time.monotonic() + timeout
        while not until(job := self.job(job_id)):
            assert time.monotonic() < deadline, job
            assert job["status"] not in ("failed",), job
            time.sleep(every)
        return job

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> float:
        """Signal the server's main process (SIGTERM: a graceful stop; SIGKILL: `kill -9`) and wait for it to exit;
        returns the seconds that took."""
        started = time.monotonic()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.http.close()
        self._log.close()
        return time.monotonic() - started

    def close(self) -> None:
        """Tear down whatever is left (uvicorn's worker processes too)."""
        self.stop()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def stored_status(data: Path, job_id: str) -> str:
    """A job's status as the store holds it (read straight from the file, as the next server will)."""
    with sqlite3.connect(data / "jobs.sqlite") as db:
        return db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()[0]


def processes_using(data: Path, python: bool = False) -> list[str]:
    """Live processes a server over `data` started (ffmpeg, espeak-ng, …), found by the STORYFORGE_CACHE_DIR they
    inherit from it, so an orphan re-parented to PID 1 is found too; the server's own Python processes (its main
    process and uvicorn's worker processes) only with `python`."""
    found = []
    marker = f"STORYFORGE_CACHE_DIR={data}".encode()
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        proc = Path("/proc") / pid
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().split(") ", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ and state != "Z" and (python or not cmdline.startswith(sys.executable)):
            found.append(f"{pid}: {cmdline[:200]}")
    return found
