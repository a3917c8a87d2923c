"""Jobs in SQLite (WAL): one row per job with its request, resolved-config digest, status, per-stage progress
and owner (a hash of the API key, never the key). Safe to share between the request handlers and the workers
of one process; a restart re-queues jobs that were running."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storyforge.api.schemas import JobState

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    recipe TEXT NOT NULL,
    profile TEXT NOT NULL,
    request TEXT NOT NULL,
    config TEXT NOT NULL,
    stages TEXT NOT NULL DEFAULT '{}',
    stage_total INTEGER NOT NULL DEFAULT 1,
    error TEXT,
    cancel INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_digest ON jobs (digest);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created_at);
"""
# One live job per owner, story and config, however many server processes share the file (idempotent submission).
UNIQUE_LIVE = """CREATE UNIQUE INDEX IF NOT EXISTS jobs_live ON jobs (owner, digest)
WHERE status IN ('queued', 'running', 'succeeded')"""
ACTIVE = (JobState.queued.value, JobState.running.value)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobStore:
    GONE: Any = object()  # `create` found a twin that ended before it could be read

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self.path = path
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            columns = {r["name"] for r in self._db.execute("PRAGMA table_info(jobs)")}
            for column in ("claim", "parent", "root"):  # an older store: claims (issue 10), revisions (issue 11)
                if column not in columns:
                    self._db.execute(f"ALTER TABLE jobs ADD COLUMN {column} TEXT")
            self._db.execute("CREATE INDEX IF NOT EXISTS jobs_root ON jobs (root, created_at)")
            try:
                self._db.execute(UNIQUE_LIVE)
            except sqlite3.IntegrityError:  # a store written before the constraint: older twins keep their rows
                self._db.execute(
                    "UPDATE jobs SET digest = digest || ':' || id WHERE status IN ('queued','running','succeeded')"
                    " AND rowid NOT IN (SELECT MAX(rowid) FROM jobs WHERE status IN ('queued','running','succeeded')"
                    " GROUP BY owner, digest)"
                )
                self._db.execute(UNIQUE_LIVE)

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def requeue_stale(self, stale_s: float) -> int:
        """Running jobs whose worker has not been heard of for `stale_s` (a stopped or killed server) go back to the
        queue; they resume through the cache. Live workers beat every few seconds, so siblings' jobs stay theirs."""
        cutoff = (datetime.now(UTC) - timedelta(seconds=stale_s)).isoformat(timespec="milliseconds")
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET status=CASE WHEN cancel THEN 'cancelled' ELSE 'queued' END, claim=NULL, updated_at=?"
                " WHERE status='running' AND updated_at <= ?",
                (now(), cutoff),
            )
            return cur.rowcount

    def find_active_or_done(self, digest: str, owner: str) -> sqlite3.Row | None:
        """This owner's job for this story and config that is queued, running or succeeded (idempotent submission)."""
        rows = self._query(
            "SELECT * FROM jobs WHERE digest=? AND owner=? AND status IN ('queued','running','succeeded')"
            " ORDER BY created_at DESC LIMIT 1",
            (digest, owner),
        )
        return rows[0] if rows else None

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:16]

    def create(self, job_id: str, digest: str, owner: str, title: str, recipe: str, profile: str, request: dict,
               config: dict, stage_total: int, parent: str | None = None) -> sqlite3.Row | None:  # fmt: skip
        """Insert a queued job, complete (its story file is written first): a worker may claim it at once. A
        revision names its `parent` job; it joins the parent's history (its root). Returns None, or the live job with
        the same owner and digest when another request (in any server process) made it first."""
        stamp = now()
        try:
            self._insert(job_id, digest, owner, title, recipe, profile, request, config, stage_total, stamp, parent)
        except sqlite3.IntegrityError:
            return self.find_active_or_done(digest, owner) or self.GONE  # GONE: the twin ended meanwhile; try again
        return None

    def _insert(self, job_id: str, digest: str, owner: str, title: str, recipe: str, profile: str, request: dict,
                config: dict, stage_total: int, stamp: str, parent: str | None = None) -> None:  # fmt: skip
        with self._lock:
            root = job_id
            if parent is not None:
                found = self._db.execute("SELECT COALESCE(root, id) FROM jobs WHERE id=?", (parent,)).fetchone()
                root = found[0] if found else parent
            self._db.execute(
                "INSERT INTO jobs (id, digest, owner, status, title, recipe, profile, request, config, stage_total, created_at,"
                " updated_at, parent, root) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (job_id, digest, owner, JobState.queued.value, title, recipe, profile, json.dumps(request), json.dumps(config),
                 stage_total, stamp, stamp, parent, root),
            )  # fmt: skip

    def history(self, job_id: str, owner: str) -> list[sqlite3.Row]:
        """The job's whole history, oldest first: the job it was first made as, and every revision made from it or
        from one of its revisions (that this owner still has)."""
        return self._query(
            "SELECT * FROM jobs WHERE owner=? AND COALESCE(root, id)=(SELECT COALESCE(root, id) FROM jobs WHERE id=?)"
            " ORDER BY created_at, rowid",
            (owner, job_id),
        )

    def get(self, job_id: str) -> sqlite3.Row | None:
        rows = self._query("SELECT * FROM jobs WHERE id=?", (job_id,))
        return rows[0] if rows else None

    def page(self, owner: str, page: int, per_page: int) -> tuple[list[sqlite3.Row], int]:
        total = self._query("SELECT COUNT(*) FROM jobs WHERE owner=?", (owner,))[0][0]
        rows = self._query(
            "SELECT * FROM jobs WHERE owner=? ORDER BY created_at DESC LIMIT ? OFFSET ?", (owner, per_page, (page - 1) * per_page)
        )
        return rows, total

    def count(self, status: tuple[str, ...], owner: str | None = None) -> int:
        marks = ",".join("?" * len(status))
        sql, args = f"SELECT COUNT(*) FROM jobs WHERE status IN ({marks})", status
        if owner is not None:
            sql, args = sql + " AND owner=?", (*status, owner)
        return self._query(sql, args)[0][0]

    def claim_next(self) -> sqlite3.Row | None:
        """The oldest queued job, marked running (atomically)."""
        with self._lock:  # BEGIN IMMEDIATE: also safe between server processes sharing the file
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT * FROM jobs WHERE status='queued' ORDER BY created_at LIMIT 1").fetchone()
                if row is not None:
                    self._db.execute("UPDATE jobs SET status='running', error=NULL, claim=?, updated_at=? WHERE id=?",
                                     (uuid.uuid4().hex, now(), row["id"]))  # fmt: skip
                    row = self._db.execute("SELECT * FROM jobs WHERE id=?", (row["id"],)).fetchone()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return row

    def update(self, job_id: str, by: str | None = None, **fields: Any) -> bool:
        """Set fields (and updated_at). With `by` (a claim), only while the job is still that claim's: a worker whose
        job was given to another (re-queued while it was busy) cannot overwrite it. Returns whether a row changed."""
        if "stages" in fields:
            fields["stages"] = json.dumps(fields["stages"])
        fields["updated_at"] = now()
        sets = ", ".join(f"{k}=?" for k in fields)
        where, args = ("id=? AND claim=?", (job_id, by)) if by else ("id=?", (job_id,))
        with self._lock:
            return bool(self._db.execute(f"UPDATE jobs SET {sets} WHERE {where}", (*fields.values(), *args)).rowcount)

    def request_cancel(self, job_id: str) -> str:
        """Cancel: a queued job at once, a running one at its next finished item. Returns the new status."""
        with self._lock:  # each UPDATE checks the status it expects: safe against a claim in between
            stamp = now()
            if self._db.execute("UPDATE jobs SET status='cancelled', updated_at=? WHERE id=? AND status='queued'",
                                (stamp, job_id)).rowcount:  # fmt: skip
                return JobState.cancelled.value
            # a job being cancelled is no longer "the" job for its story: the same request now makes a new one
            self._db.execute("UPDATE jobs SET cancel=1, digest=digest || ':cancelled:' || id, updated_at=?"
                             " WHERE id=? AND status='running' AND cancel=0", (stamp, job_id))  # fmt: skip
            return self._db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()["status"]

    def requeue(self, job_id: str, by: str | None = None) -> None:
        """A running job back to the queue (its server is stopping; one whose cancel was asked ends cancelled); it
        resumes through the cache. With `by`, only while it is still that claim's."""
        where, args = ("id=? AND status='running' AND claim=?", (job_id, by)) if by else ("id=? AND status='running'", (job_id,))
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status=CASE WHEN cancel THEN 'cancelled' ELSE 'queued' END, claim=NULL, updated_at=?"
                f" WHERE {where}",
                (now(), *args),
            )

    def delete(self, job_id: str) -> str | None:
        """Remove a job that is not running (a queued one is removed before a worker can claim it). Returns None when
        removed, else the status that kept it."""
        with self._lock:
            if self._db.execute("DELETE FROM jobs WHERE id=? AND status != 'running'", (job_id,)).rowcount:
                return None
            row = self._db.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()
            return row["status"] if row else None

    def ended_before(self, cutoff: datetime) -> list[str]:
        """Ids of jobs that ended (succeeded, failed, cancelled) and were last touched before `cutoff`."""
        stamp = cutoff.isoformat(timespec="milliseconds")
        rows = self._query("SELECT id FROM jobs WHERE status IN ('succeeded','failed','cancelled') AND updated_at < ?", (stamp,))
        return [r["id"] for r in rows]

    def check(self, timeout_s: float = 1.0) -> None:
        """Raise sqlite3.Error unless the store can be written now (not locked for long, not read-only)."""
        probe = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
        finally:
            probe.close()

    def cancel_requested(self, job_id: str) -> bool:
        rows = self._query("SELECT cancel FROM jobs WHERE id=?", (job_id,))
        return not rows or bool(rows[0][0])  # a job whose row is gone stops too

    def close(self) -> None:
        with self._lock:
            self._db.close()
