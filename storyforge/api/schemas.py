"""What clients send and get back. Clients choose from a small allowlist of options; they never send
`_target_`, file paths or Hydra overrides (unknown fields are 422)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from storyforge.models import CharacterEdit, ShotEdit, Transition


class JobOptions(BaseModel):
    """The options a client may set; each maps to one config override."""

    model_config = ConfigDict(extra="forbid")

    language: Literal["en", "hi"] | None = Field(None, description="Story language; default: from the script")
    aspect: Literal["720p", "1080p", "vertical", "square"] | None = Field(None, description="Output frame")
    voice: Literal["tone", "espeak", "piper", "kokoro", "coqui"] | None = Field(None, description="Narration backend")
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


def job_overrides(recipe: str, profile: str, options: JobOptions) -> list[str]:
    """The config overrides a job request stands for (before the server's own)."""
    return [f"recipe={recipe}", f"profile={profile}", *options.overrides()]


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
        if value is not None and any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
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
    duration_s: float | None = Field(None, description="Length of the video in seconds, once it is made")
    thumbnail: str | None = Field(None, description="URL of the first shot's picture, once it is drawn")
    parent: str | None = Field(None, description="The job this one is a revision of (POST /v1/jobs/{id}/revisions)")
    artifacts: list[str] = Field(default_factory=list, description="Names readable at /v1/jobs/{id}/artifacts/{name}")


class JobPage(BaseModel):
    jobs: list[JobStatus]
    page: int
    per_page: int
    total: int


ShotId = Annotated[str, Field(pattern=r"^s\d{2,}_\d{2,}$", max_length=16)]
CharacterName = Annotated[str, Field(min_length=1, max_length=200)]


class RevisionRequest(BaseModel):
    """Edits to a job's shots and cast: a new job (a revision) that renders only what they touch. Edits add to the
    parent's own (a revision of a revision keeps both); a field left out keeps the parent's value."""

    model_config = ConfigDict(extra="forbid")

    shots: dict[ShotId, ShotEdit] = Field(default_factory=dict, max_length=2000,
                                          description="Shot id (s01_02) -> the fields to change")  # fmt: skip
    cast: dict[CharacterName, CharacterEdit] = Field(default_factory=dict, max_length=200,
                                                     description="Character name -> description and/or voice")  # fmt: skip
    title: str | None = Field(None, max_length=200, description="The revision's title; the parent's otherwise")

    _one_line = field_validator("title")(JobRequest.one_line.__func__)


class Edits(BaseModel):
    """All the edits a job was made with (its own and its parents'), as `stages.shots.edits` and `stages.cast.edits`."""

    shots: dict[str, dict] = Field(default_factory=dict, description="Shot id -> the fields set")
    cast: dict[str, dict] = Field(default_factory=dict, description="Character name -> the fields set")


class Revision(BaseModel):
    """One job of a history: what it was made from and what its request changed."""

    id: str
    parent: str | None = Field(None, description="The job it revised; None for the first")
    status: JobState
    title: str
    created_at: datetime
    changes: Edits = Field(description="What this revision's request changed (the first job: nothing)")


class RevisionList(BaseModel):
    job: str = Field(description="The job asked about")
    edits: Edits = Field(description="Every edit the job was made with")
    revisions: list[Revision] = Field(description="Its whole history, oldest first: the first job and every revision")


class ShotChange(BaseModel):
    id: str = Field(description="Shot id, e.g. s01_02")
    picture: bool = Field(description="Its picture differs")
    voice: bool = Field(description="Its narration audio differs")
    fields: list[str] = Field(description="Fields of the shot that differ (description, camera, ...)")


class Comparison(BaseModel):
    a: str
    b: str
    shots: list[ShotChange] = Field(description="The shots that differ, in story order")


class CastMember(BaseModel):
    name: str
    description: str
    voice: str = Field(description="The dialogue voice chosen for them, '' for the cast order's")
    shots: list[str] = Field(description="Shots that show them")
    portrait: str | None = Field(None, description="Their cast-sheet portrait (an artifact URL), once it is drawn")


class Cast(BaseModel):
    characters: list[CastMember]
    voices: list[str] = Field(description="The dialogue voices this job's TTS backend has; empty: one voice reads all")
