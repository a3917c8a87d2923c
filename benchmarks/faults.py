"""The service under faults: a campaign against real `storyforge-serve` processes sharing one data directory,
counting every request sent, every 5xx answered, and every accepted job that was lost (not ended as succeeded,
or as cancelled by the campaign, once the last server has finished the queue).

Faults: wrong-key floods, hostile bodies (deep JSON, NUL, blank, binary, bad multipart, huge declared size,
broken JSON), 16 identical concurrent submissions across 2 server processes, cancel during composition, SIGTERM
during composition, kill -9 during composition, a disk under the free-space threshold.

    python benchmarks/faults.py [--story FILE] [--width 640 --height 360 --fps 12] [--rounds 3] [--flood 200]

Prints a table (fault, requests, 5xx other than a 503 with Retry-After, jobs lost, and the 503s with Retry-After
the faults called for) and the cancel and stop times.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.support.serve import Server, processes_using, stored_status  # noqa: E402

KEY = "k-campaign"


class Tally:
    """Requests and 5xx per fault, through one event hook on every client."""

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}
        self.fault = ""
        self._lock = threading.Lock()

    def hook(self, response: httpx.Response) -> None:
        self.count(response.status_code, "Retry-After" in response.headers)

    def count(self, status: int, retry_after: bool) -> None:
        """A 503 with Retry-After is the server saying its environment is short (wanted on a full disk); any
        other 5xx is a failure."""
        with self._lock:
            row = self.rows.setdefault(self.fault, [0, 0, 0, 0])
            row[0] += 1
            row[1] += status >= 500 and not (status == 503 and retry_after)
            row[3] += status == 503 and retry_after

    def lost(self, n: int) -> None:
        self.rows.setdefault(self.fault, [0, 0, 0, 0])[2] += n

    def raw(self, server: Server, request_line: str, headers: dict[str, str], body: bytes) -> int:
        """A request httpx will not send (a body shorter than its declared length), over a plain socket."""
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": "127.0.0.1", "X-API-Key": KEY, **headers}.items())
            sock.sendall(f"{request_line} HTTP/1.1\r\n{head}\r\n".encode() + body)
            answer = sock.recv(4096)
        status = int(answer.split(b" ", 2)[1])
        self.count(status, b"retry-after" in answer.lower())
        return status

    def client(self, server: Server, key: str = KEY) -> httpx.Client:
        return httpx.Client(base_url=server.base, headers={"X-API-Key": key}, timeout=60,
                            event_hooks={"response": [self.hook]})  # fmt: skip


def composing(job: dict) -> bool:
    """In the middle of composition (or already ended: a small story may pass it between two polls)."""
    segments = job["stages"].get("segments", {})
    ended = job["status"] not in ("queued", "running")
    return ended or (job["status"] == "running" and segments.get("done", 0) >= 1 and not segments.get("finished"))


def poll(http: httpx.Client, job_id: str, until, timeout: float = 600, every: float = 0.1) -> dict:
    deadline = time.monotonic() + timeout
    while not until(job := http.get(f"/v1/jobs/{job_id}").json()):
        if time.monotonic() > deadline or job["status"] == "failed":
            return job
        time.sleep(every)
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--story", type=Path, default=ROOT / "storyforge/assets/mock/example_story.txt")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 16 identical submissions")
    parser.add_argument("--flood", type=int, default=200, help="wrong-key requests")
    args = parser.parse_args()
    story = (
        args.story.read_text(encoding="utf-8") if args.story.is_file() else (ROOT / "assets/mock/example_story.txt").read_text()
    )
    overrides = f"profile=debug_cpu render.width={args.width} render.height={args.height} render.fps={args.fps}"
    env = {"STORYFORGE_SERVER_OVERRIDES": overrides, "STORYFORGE_STALE_S": "3", "STORYFORGE_JOBS_PER_KEY": "100"}
    tally, accepted, cancelled = Tally(), set(), set()
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="storyforge-faults-") as tmp:
        data = Path(tmp)

        tally.fault = "wrong-key flood"
        server = Server(data, KEY, env)
        with tally.client(server, "wrong") as wrong:
            started = time.monotonic()
            codes = [wrong.get("/v1/jobs").status_code for _ in range(args.flood)]
            timings["wrong keys answered 401 (of the flood)"] = codes.count(401)
            timings["wrong-key flood: seconds"] = time.monotonic() - started
        server.close()  # this address now waits minutes for its next key: go on with a fresh server

        tally.fault = "hostile bodies"
        server = Server(data, KEY, env)
        with tally.client(server) as http:
            deep = '{"story": ' + "[" * 5000 + "]" * 5000 + "}"
            json_type = {"Content-Type": "application/json"}
            for kwargs in (
                {"content": deep, "headers": json_type}, {"content": '{"story": "x"', "headers": json_type},
                {"json": {"story": "a\x00b"}}, {"json": {"story": "  \n "}}, {"json": {"story": ["list"]}},
                {"json": {"story": "Once.", "_target_": "os.system"}}, {"json": {"story": "Once.", "profile": "prod_gpu"}},
                {"json": {"story": "Once.", "options": {"voice": "coqui"}}}, {"json": {"story": "Once.", "recipe": "../x"}},
                {"files": {"file": ("a.bin", bytes(range(256)) * 64)}},
                {"files": [("file", ("a.txt", b"One.")), ("file", ("b.txt", b"Two."))]},
                {"files": {"file": ("a.txt", b"Once.")}, "data": {"options": "[1]"}},
                {"content": b"--b\r\nbroken", "headers": {"Content-Type": "multipart/form-data; boundary=b"}},
            ):  # fmt: skip
                try:
                    http.post("/v1/jobs", **kwargs)
                except httpx.HTTPError:
                    pass  # a declared length the body does not have: the server may close the connection
            tally.raw(server, "POST /v1/jobs", {"Content-Type": "application/json", "Content-Length": str(10**10)}, b"{")
            for path in ("/v1/jobs/../../etc/passwd", "/v1/jobs/%2e%2e/x", "/v1/jobs/0123456789abcdef/artifacts/..%2fx"):
                http.get(path)
            http.request("OPTIONS", "/v1/jobs")
            http.request("TRACE", "/v1/jobs")

        tally.fault = "cancel during composition"
        with tally.client(server) as http:
            job = http.post("/v1/jobs", json={"story": story}).json()
            accepted.add(job["id"])
            poll(http, job["id"], composing)
            asked = time.monotonic()
            http.post(f"/v1/jobs/{job['id']}/cancel")
            final = poll(http, job["id"], lambda j: j["status"] not in ("queued", "running"), timeout=30, every=0.02)
            timings["cancel -> cancelled (s)"] = time.monotonic() - asked
            time.sleep(0.2)
            timings["processes left after cancel"] = len(processes_using(data))
            if final["status"] == "cancelled":
                cancelled.add(job["id"])

        tally.fault = "SIGTERM during composition"
        with tally.client(server) as http:
            job = http.post("/v1/jobs", json={"story": story, "title": "stopped"}).json()
            accepted.add(job["id"])
            poll(http, job["id"], composing)
        timings["SIGTERM -> exited (s)"] = server.stop(signal.SIGTERM)
        server.close()
        timings["status at stop (queued wanted)"] = stored_status(data, job["id"])
        timings["processes left after SIGTERM"] = len(processes_using(data))

        tally.fault = "kill -9 during composition"
        other = {**env, "STORYFORGE_SERVER_OVERRIDES": overrides + " render.fps=" + str(args.fps + 1)}  # cold segments
        server = Server(data, KEY, other)
        with tally.client(server) as http:
            job = http.post("/v1/jobs", json={"story": story}).json()
            accepted.add(job["id"])
            poll(http, job["id"], composing)
        server.stop(signal.SIGKILL)
        server.close()
        time.sleep(1.0)
        timings["processes left 1 s after kill -9"] = len(processes_using(data))

        tally.fault = "16 identical submissions x 2 processes"
        server = Server(data, KEY, env, workers=2)
        duplicates = refused = 0
        for round_ in range(args.rounds):
            barrier = threading.Barrier(16)
            body = {"story": story, "title": f"round {round_}"}

            def submit(_: int, body=body, barrier=barrier) -> httpx.Response:
                with tally.client(server) as http:
                    barrier.wait()
                    return http.post("/v1/jobs", json=body)

            with ThreadPoolExecutor(16) as pool:
                answers = [a for a in pool.map(submit, range(16))]
            ids = {a.json()["id"] for a in answers if a.status_code in (200, 202)}
            duplicates += max(0, len(ids) - 1)
            refused += len(ids) == 0
            accepted.update(ids)
        timings["duplicate jobs made"] = duplicates
        timings["rounds refused"] = refused

        tally.fault = "disk under the free-space threshold"
        full = Server(data / "full", KEY, {"STORYFORGE_MIN_FREE_MB": str(10**9)})
        with tally.client(full) as http:
            timings["readyz on a full disk"] = http.get("/readyz").status_code
            timings["submit on a full disk"] = http.post("/v1/jobs", json={"story": story}).status_code
        full.close()

        tally.fault = "finishing the queue after restarts"
        with tally.client(server) as http:
            lost = 0
            for job_id in sorted(accepted):
                final = poll(http, job_id, lambda j: j["status"] not in ("queued", "running"), every=0.5)
                if not (final["status"] == "succeeded" or (final["status"] == "cancelled" and job_id in cancelled)):
                    lost += 1
                    print(f"lost: {job_id} {final['status']} {final.get('error')}")
            tally.lost(lost)
        server.close()

    print(f"{'fault':42} {'requests':>9} {'5xx':>5} {'jobs lost':>10} {'503 + Retry-After':>18}")
    for fault, (requests, errors, lost, busy) in tally.rows.items():
        print(f"{fault:42} {requests:9d} {errors:5d} {lost:10d} {busy:18d}")
    total = [sum(r[i] for r in tally.rows.values()) for i in range(4)]
    print(f"{'total':42} {total[0]:9d} {total[1]:5d} {total[2]:10d} {total[3]:18d}")
    for name, value in timings.items():
        print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    main()
