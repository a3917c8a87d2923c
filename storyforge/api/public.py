"""What a client may see of a job: its own results, never the server's paths, installed packages, commit or the
operator's settings. The full manifest and logs stay on disk for the operator; these views are what the API serves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

# manifest keys about the server, not the video
PRIVATE_KEYS = {"packages", "git_commit"}
# config keys that hold the operator's setup (where files live, which servers, which machines)
PRIVATE_CONFIG = {"cache", "output", "story", "executor", "base_url", "api_key", "api_key_env", "host", "address",
                  "url", "dir", "path", "local_dir", "model_dir", "root"}  # fmt: skip
_ABSOLUTE = re.compile(r"(?<![\w/.])(?:/[\w.@+-]+)+/?")  # a POSIX absolute path inside a text
_URL = re.compile(r"\bhttps?://[^\s'\"<>)]+")


def redact_paths(text: str) -> str:
    """Server addresses as `<server>`, absolute paths by their last part."""
    text = _URL.sub("<server>", text)
    return _ABSOLUTE.sub(lambda m: "…/" + m[0].rstrip("/").rsplit("/", 1)[-1], text)


class Redactor:
    """Rewrites a text for a client: the job's own files by their artifact names, other paths by their last part,
    server addresses as `<server>`."""

    def __init__(self, data_dir: Path, job_id: str) -> None:
        self.run_dirs = {str(p) for p in _spellings(data_dir / "jobs" / job_id)}
        self.data_dirs = {str(p) for p in _spellings(data_dir)}

    def text(self, value: str) -> str:
        for run_dir in sorted(self.run_dirs, key=len, reverse=True):
            value = value.replace(run_dir + "/", "").replace(run_dir, ".")
        for data_dir in sorted(self.data_dirs, key=len, reverse=True):
            value = value.replace(data_dir + "/", "<data>/").replace(data_dir, "<data>")
        return redact_paths(value)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value

    def config(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.config(v) for k, v in value.items() if k not in PRIVATE_CONFIG}
        if isinstance(value, list):
            return [self.config(v) for v in value]
        return self.value(value)

    def manifest(self, manifest: dict) -> dict:
        public = {k: v for k, v in manifest.items() if k not in PRIVATE_KEYS}
        if isinstance(public.get("config"), dict):
            public["config"] = self.config(public["config"])
        return self.value(public)


def _spellings(path: Path) -> set[Path]:
    spellings = {path.absolute()}
    try:
        spellings.add(path.resolve())
    except OSError:
        pass
    return spellings
