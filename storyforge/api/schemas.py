"""What clients send and get back. Clients choose from a small allowlist of options; they never send
`_target_`, file paths or Hydra overrides (unknown fields are 422)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storyforge.models import Transition


class JobOptions(BaseModel):
    """The options a client may set; each maps to one config override."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["en", "hi"] | None = Field(None, description="Story language; default: from the script")
    aspect: Literal["720p", "1080p", "vertical", "square"] | None = Field(None, description="Output frame")
    voice: Literal["tone", "espeak", "piper", "coqui"] | None = Field(None, description="Narration backend")
    output_format: Literal["json", "toon"] | None = Field(None, description="Format the LLM answers in")
    transitions: Transition | None = Field(None, description="Transition between scenes (cut, crossfade, fade_black)")

    def overrides(self) -> list[str]:
        out = []
        if self.language:
            out.append(f"stages.story.language={self.language}")
        if self.aspect:
            out.append(f"render={self.aspect}")
        if self.voice:
            out.append(f"audio/tts={self.voice}")
        if self.output_format:
            out.append(f"llm.output_format={self.output_format}")
        if self.transitions:
            out.append(f"stages.compose.between_scenes={self.transitions.value}")
        return out


class JobRequest(BaseModel):
    """A story to turn into a video (JSON body; a file upload sends the same fields as form fields)."""

    model_config = ConfigDict(extra="forbid")

    story: str = Field(min_length=1, description="The story text (UTF-8)")
    title: str | None = Field(None, max_length=200, description="Shown in job lists; the story's first line otherwise")
    recipe: str = Field("short_story", pattern=r"^[a-z0-9_]+$", description="A recipe in recipes/")
    profile: Literal["debug_cpu", "prod_gpu", "auto"] = Field("auto", description="Execution profile")
    options: JobOptions = Field(default_factory=JobOptions)

    @field_validator("title")
    @classmethod
    def one_line(cls, value: str | None) -> str | None:
        if value is not None and any(unicodedata.category(c) in ("Cc", "Cf") for c in value):
            raise ValueError("the title has control or formatting characters; send one plain line")
        return value

    @field_validator("story", "title")
    @classmethod
    def encodable(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError("the text has characters that are not valid Unicode (lone surrogates)") from exc
        return value


class JobState(StrEnum):
    """Where a job is: waiting, being made, or ended one of three ways."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class StageProgress(BaseModel):
    items: int = 0
    done: int = 0
    hits: int = 0
    misses: int = 0
    finished: bool = False
    seconds: float | None = None


class JobStatus(BaseModel):
    id: str
    status: JobState
    progress: int = Field(description="0-100, from stage events")
    title: str
    recipe: str
    profile: str
    created_at: datetime
    updated_at: datetime
    stages: dict[str, StageProgress] = Field(default_factory=dict)
    error: str | None = None
    video: str | None = Field(None, description="URL of the MP4 once the job succeeded")
    artifacts: list[str] = Field(default_factory=list, description="Names readable at /v1/jobs/{id}/artifacts/{name}")


class JobPage(BaseModel):
    jobs: list[JobStatus]
    page: int
    per_page: int
    total: int
