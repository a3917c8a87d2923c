"""The content-addressed cache: blobs by sha256 in a store, and an index from cache key to a small JSON record.

- `canonical_json` / `digest` define what "the same" means for keys and outputs (sorted keys, compact, no NaN).
- `BlobStore` keeps files at `<dir>/cas/sha256/ab/cdef...`, written to a temp file while hashing, then
  `os.replace`d into place and made read-only, so a reader never sees a half-written blob.
- `Index` is `diskcache` with `JSONDisk` and eviction off: no pickles on disk.
- `Cache` puts them together with the modes `read_write | read_only | refresh | off`. A record whose blob is
  missing or does not hash to its name is a miss, never an error.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diskcache

KEY_SCHEMA = "storyforge/key/1"
MODES = ("read_write", "read_only", "refresh", "off")


def canonical_json(value: Any) -> bytes:
    """The one serialisation that is hashed: sorted keys, compact separators, UTF-8, NaN refused."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def digest(value: Any) -> str:
    """sha256 of the canonical JSON of a JSON-able value."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class BlobStore:
    """Immutable files named by their sha256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, sha: str) -> Path:
        return self.root / "cas" / "sha256" / sha[:2] / sha[2:]

    def scratch_dir(self) -> Path:
        """A private folder on the store's filesystem, so finished files move in with an atomic rename."""
        return Path(tempfile.mkdtemp(dir=self.tmp))

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.verify(sha):  # absent, or corrupt: (re)write it
            fd, tmp = tempfile.mkstemp(dir=self.tmp)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            self._commit(Path(tmp), sha)
        else:
            self._touch(sha)
        return sha

    def _touch(self, sha: str) -> None:
        """Mark a re-used blob as fresh, so `storyforge-cache gc` spares it until its index entry is written."""
        try:
            os.utime(self.path(sha))
        except OSError:
            pass

    def put_file(self, src: Path) -> str:
        """Move a finished file into the store (copy when it lives on another filesystem)."""
        sha = file_sha256(src)
        if self.verify(sha):
            src.unlink(missing_ok=True)
            self._touch(sha)
            return sha
        fd, tmp = tempfile.mkstemp(dir=self.tmp)
        os.close(fd)
        try:
            os.replace(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        self._commit(Path(tmp), sha)
        return sha

    def _commit(self, tmp: Path, sha: str) -> None:
        os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        dest = self.path(sha)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)

    def read_verified(self, sha: str) -> bytes | None:
        """The blob's bytes, or None when it is missing or corrupt."""
        try:
            data = self.path(sha).read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == sha else None

    def verify(self, sha: str) -> bool:
        try:
            return file_sha256(self.path(sha)) == sha
        except OSError:
            return False


class Index:
    """Cache key -> JSON record. A small interface so a file-per-key index can replace diskcache later."""

    def __init__(self, root: Path) -> None:
        self._db = diskcache.Cache(str(root / "index"), disk=diskcache.JSONDisk, eviction_policy="none")

    def get(self, key: str) -> dict | None:
        try:
            return self._db.get(key)
        except (ValueError, TypeError):  # an unreadable record is a miss
            return None

    def set(self, key: str, record: dict) -> None:
        self._db.set(key, record)

    def keys(self) -> list[str]:
        return list(self._db.iterkeys())

    def close(self) -> None:
        self._db.close()


@dataclass
class Cache:
    """Blobs plus index, with a mode. `refresh` names stages that recompute even when a record exists."""

    root: Path
    mode: str = "read_write"
    refresh: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.root = Path(self.root).expanduser()
        self.blobs = BlobStore(self.root)
        self.index = Index(self.root)

    def reads(self, stage: str) -> bool:
        return self.mode in ("read_write", "read_only") and stage not in self.refresh

    def writes(self) -> bool:
        return self.mode in ("read_write", "refresh")

    def close(self) -> None:
        self.index.close()
