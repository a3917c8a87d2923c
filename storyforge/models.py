"""The story domain as pydantic data: what flows between stages, what the cache stores, what a run reports.

Nothing here does I/O or imports anything else from storyforge. Every field carries a description so the
JSON schema (and an LLM prompt built from it) explains itself. Models that hold a list a recipe can fan out
over (`for_each`) expose it through `fan_out()`.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema


class ExecutionProfile(StrEnum):
    """Which family of services a run uses."""

    debug_cpu = "debug_cpu"
    prod_gpu = "prod_gpu"
    auto = "auto"


class ShotType(StrEnum):
    """Film grammar for a shot; drives framing in image prompts and the storyboard card."""

    establishing = "establishing"
    wide = "wide"
    medium = "medium"
    close_up = "close_up"
    over_the_shoulder = "over_the_shoulder"
    insert = "insert"


class VoiceType(StrEnum):
    """Who speaks a narration clip."""

    narrator = "narrator"
    dialogue = "dialogue"  # quoted speech, in the speaker's voice


class Transition(StrEnum):
    """How one shot gives way to the next."""

    none = "none"  # the first shot
    cut = "cut"
    crossfade = "crossfade"
    fade_black = "fade_black"


class Motion(StrEnum):
    """Ken Burns movement over a still."""

    none = "none"
    zoom_in = "zoom_in"
    zoom_out = "zoom_out"
    pan_left = "pan_left"
    pan_right = "pan_right"
    pan_up = "pan_up"
    pan_down = "pan_down"


class ModelProvider(StrEnum):
    """Where a service's model comes from (recorded in fingerprints and manifests)."""

    rules = "rules"
    procedural = "procedural"
    transformers = "transformers"
    openai = "openai"
    llamacpp = "llamacpp"
    diffusers = "diffusers"
    coqui = "coqui"
    espeak = "espeak"
    piper = "piper"
    kokoro = "kokoro"
    audiocraft = "audiocraft"
    ffmpeg = "ffmpeg"
    moviepy = "moviepy"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Artifact(_Model):
    """A media file held in the content-addressed store. Only its digest and names are hashed, never its path."""

    sha256: str = Field("", description="Hex sha256 of the file's bytes; filled in by the engine when stored")
    name: str = Field(description="Readable path inside the run directory, e.g. 'shots/s01_03.png'")
    media_type: str = Field(description="MIME type, e.g. 'image/png', 'audio/wav', 'video/mp4'")
    path: Path | None = Field(None, exclude=True, description="Where the file lies now (never serialised)")


class StoryInput(_Model):
    """The raw story as the user gave it, already checked to be non-empty UTF-8 text."""

    text: str = Field(description="The story text as read from the file")
    source: str = Field(description="File name the text came from (not its full path: runs elsewhere must hit)")


class Character(_Model):
    """A named person in the story, with what they look like so every shot draws them the same way."""

    name: str = Field(description="Canonical name as used in the story")
    aliases: list[str] = Field(default_factory=list, description="Other names the story uses for them")
    description: str = Field("", description="Short visual description: age, hair, clothes")
    mentions: int = Field(0, description="How often the name occurs in the story")
    gender: str = Field("", description="'m' or 'f' as the story's pronouns show (he/she), '' when unclear")
    voice: SkipJsonSchema[str] = Field(
        "",
        description="Dialogue voice chosen for them (one of the TTS backend's), '' for the cast order's (not asked of the model)",
    )
    image: SkipJsonSchema[Artifact | None] = Field(
        None,
        description="A picture the user gave for them (cast.<name>.image): their portrait (not asked of the model)",
        exclude_if=lambda image: image is None,  # unset: a story dumps (and is keyed) as before the cast sheet
    )

    @property
    def id(self) -> str:
        """The name as a file and item name: lower case, runs of anything but letters and digits as '_'."""
        return character_id(self.name)


def character_id(name: str) -> str:
    """`Elizabeth Bennet` -> `elizabeth_bennet`: letters (with their marks) and digits of any script kept, any run
    of other characters one `_`. How `cast.<name>` and the cast sheet's files name a character."""
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else "_" for c in name.casefold())
    return re.sub(r"_+", "_", kept).strip("_") or "unnamed"


class Location(_Model):
    """A named place in the story."""

    name: str = Field(description="Name of the place as used in the story")
    description: str = Field("", description="Short visual description of the place")


class Section(_Model):
    """A block of the story between two explicit breaks (chapter heading, scene break, slugline)."""

    heading: str = Field("", description="The heading or slugline that opens the section, if any")
    paragraphs: list[str] = Field(description="The section's paragraphs, cleaned, in order")


class StoryBible(_Model):
    """Who and where the story is about, so every shot prompt draws them the same way."""

    characters: list[Character] = Field(default_factory=list, description="The cast, most mentioned first")
    locations: list[Location] = Field(default_factory=list, description="Named places")
    summary: str = Field("", description="A few sentences saying what happens")


class Summary(_Model):
    """A short summary of a stretch of text."""

    summary: str = Field(description="What happens, in a few sentences")


class Chunk(_Model):
    """A stretch of the story that fits the LLM's context budget, cut at section or paragraph boundaries."""

    index: int = Field(description="1-based position in the story")
    sections: list[Section] = Field(description="The sections (or parts of one) the chunk holds")
    tokens: int = Field(description="Length in the LLM's tokens (estimated where the backend has no tokenizer)")
    summary: str = Field("", description="The LLM's summary of the chunk, when the story was summarised")

    @property
    def text(self) -> str:
        return "\n\n\n".join("\n\n".join(([s.heading] if s.heading else []) + s.paragraphs) for s in self.sections)


class Story(_Model):
    """The cleaned story with its structure and its cast: the input of scene splitting."""

    title: str = Field(description="Title: from the front matter or a title line, else the file name")
    author: str = Field("", description="Author, when the text names one (a 'by' line, a licence header)")
    sources: list[str] = Field(default_factory=list, description="Source, copyright and edition lines (not narrated)")
    text: str = Field(description="What is read aloud: paragraphs unwrapped and cleaned, without headings or front matter")
    language: str = Field("en", description="ISO 639-1 code guessed from the script")
    sections: list[Section] = Field(description="Blocks between explicit breaks, in story order")
    characters: list[Character] = Field(default_factory=list, description="The cast, most mentioned first")
    locations: list[Location] = Field(default_factory=list, description="Named places")
    summary: str = Field("", description="A few sentences saying what happens")
    chunks: list[Chunk] = Field(default_factory=list, description="The text cut to the LLM's context budget")
    tokens: int = Field(0, description="Length of the whole text in the LLM's tokens")
    summarized: bool = Field(False, description="True when the cast and summary were built from chunk summaries")
    cues: dict[str, str] = Field(
        default_factory=dict, description="A play's speech paragraphs -> the speaker named in the cue above each"
    )
    narrator: str = Field(
        "", description="Who tells a first-person story: a cast name, 'I' when unnamed, '' for a story told in the third person"
    )

    def fan_out(self) -> list[Character]:
        """A stage that fans out over the story goes character by character (the cast sheet)."""
        return self.characters


class Scene(_Model):
    """A continuous stretch of story in one place and time."""

    index: int = Field(description="1-based position in the story")
    title: str = Field(description="Short title for the scene")
    text: str = Field(description="The scene's story text")
    summary: str = Field("", description="One or two sentences on what happens")
    characters: list[str] = Field(default_factory=list, description="Names of characters present")
    location: str = Field("", description="Where it happens")
    mood: str = Field("calm", description="One word for the mood, e.g. calm, tense, joyful")

    @property
    def id(self) -> str:
        return f"s{self.index:02d}"


class SceneList(_Model):
    """The story split into scenes."""

    scenes: list[Scene] = Field(min_length=1, description="Scenes in story order")
    checks: SkipJsonSchema[dict] = Field(default_factory=dict, description="Coverage and repairs (not asked of the model)")

    def fan_out(self) -> list[Scene]:
        return self.scenes


class Utterance(_Model):
    """A stretch of a shot's narration in one voice: the narrator's, or a character's quoted speech."""

    text: str = Field(description="What is said, quotation marks included")
    voice: VoiceType = Field(VoiceType.narrator, description="narrator, or dialogue for quoted speech")
    speaker: str = Field("", description="Who speaks quoted speech (a cast name), '' for the narrator or when unknown")
    reason: str = Field(
        "", description="Why that speaker: 'tag' (named beside the quote), 'alternation' (untagged exchange), 'unknown'"
    )


class Shot(_Model):
    """One camera setup: a picture on screen while its narration plays."""

    scene_index: int = Field(description="1-based index of the scene this shot belongs to")
    index: int = Field(description="1-based position within its scene")
    shot_type: ShotType = Field(description="Framing of the shot")
    camera: str = Field("static", description="Camera movement, e.g. 'slow push in', 'pan left', 'static'")
    description: str = Field(description="What the picture shows, for the image model or storyboard")
    narration: str = Field(description="Story text read aloud over this shot")
    duration_s: float = Field(description="Planned length in seconds; once narrated, the shot lasts as long as its speech")
    characters: list[str] = Field(default_factory=list, description="Names of characters visible")
    hold_s: float = Field(0.0, ge=0, description="Seconds of silent picture after the narration, for a beat (usually 0)")
    speech: SkipJsonSchema[list[Utterance]] = Field(
        default_factory=list, description="Who speaks which part of the narration, from the scene's text (not asked of the model)"
    )
    take: SkipJsonSchema[int] = Field(0, ge=0, description="Re-rolls of the picture: each take draws from a new seed")
    transition: SkipJsonSchema[Transition | None] = Field(
        None, description="How this shot replaces the one before; None: the recipe's (not asked of the model)"
    )

    @property
    def id(self) -> str:
        return f"s{self.scene_index:02d}_{self.index:02d}"


class ShotEdit(_Model):
    """What a person may change in one planned shot (stages.shots.edits.<shot id>, or a revision in the API).
    Fields left out keep the plan's value."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)  # voice=392 from the command line

    description: str | None = Field(None, min_length=1, max_length=2000, description="What the picture shows")
    narration: str | None = Field(None, max_length=5000, description="Story text read aloud over the shot")
    shot_type: ShotType | None = Field(None, description="Framing of the shot")
    camera: str | None = Field(None, max_length=200, description="Camera movement, e.g. 'slow push in', 'static'")
    duration_s: float | None = Field(
        None, gt=0, le=60, description="Planned length in seconds (a shot's speech, when it has any, decides)"
    )
    characters: list[Annotated[str, Field(max_length=200)]] | None = Field(
        None, max_length=20, description="Names of characters visible"
    )
    take: int | None = Field(None, ge=0, le=1_000_000, description="Re-roll the picture: a new take draws a new seed")
    transition: Literal["cut", "crossfade", "fade_black"] | None = Field(
        None, description="How this shot replaces the one before"
    )

    def changes(self) -> dict:
        """The fields this edit sets."""
        return self.model_dump(mode="json", exclude_unset=True, exclude_none=True)

    def removals(self) -> set[str]:
        """The fields sent as null: an earlier edit of them is dropped (a revision returns them to the plan)."""
        return {k for k in self.model_fields_set if getattr(self, k) is None}


class CharacterEdit(_Model):
    """What a person may change in one character of the cast (stages.cast.edits.<name>): every shot that shows
    them is redrawn, every line they speak re-voiced."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)  # voice=392 from the command line

    description: str | None = Field(None, min_length=1, max_length=1000, description="Short visual description")
    voice: str | None = Field(None, max_length=100, description="One of the TTS backend's dialogue voices")

    def changes(self) -> dict:
        return self.model_dump(mode="json", exclude_unset=True, exclude_none=True)

    def removals(self) -> set[str]:
        return {k for k in self.model_fields_set if getattr(self, k) is None}


class ScenePlan(_Model):
    """The shots planned for one scene."""

    scene_index: int = Field(description="1-based index of the planned scene")
    shots: list[Shot] = Field(min_length=1, description="Shots in order")
    checks: SkipJsonSchema[dict] = Field(default_factory=dict, description="Coverage and repairs (not asked of the model)")

    def fan_out(self) -> list[Shot]:
        return self.shots


CameraMove = Literal["static", "slow push in", "pull out", "slow pan left", "slow pan right", "tilt up", "tilt down", "tracking"]


class ShotNote(_Model):
    """What a model adds to one shot whose narration is already the story's own words (`llm.role=annotate`)."""

    shot: int = Field(ge=1, description="The shot's number in the list")
    picture: str = Field(
        min_length=12, description="What the picture shows: who, where, doing what, the light; one sentence of your own"
    )
    shot_type: ShotType = Field(description="Framing")
    camera: CameraMove = Field(description="Camera movement")
    mood: str = Field(description="One or two words, e.g. 'tense', 'warm and quiet'")


class ShotNotes(_Model):
    """A model's notes on every shot of a scene, in order."""

    shots: list[ShotNote] = Field(description="One note per shot")


class Look(_Model):
    """What one character or place looks like."""

    name: str = Field(description="The name exactly as listed")
    look: str = Field(
        min_length=8, description="What they look like: age, hair, clothes, build (for a place: its look); one sentence"
    )


class Looks(_Model):
    """A model's descriptions of the characters and places the rules found (`llm.role=annotate`)."""

    characters: list[Look] = Field(description="One entry per listed character")
    places: list[Look] = Field(default_factory=list, description="One entry per listed place")


class ShotList(_Model):
    """Every shot of the story, in story order."""

    shots: list[Shot] = Field(description="Shots in story order")

    def fan_out(self) -> list[Shot]:
        return self.shots


class ShotVisual(_Model):
    """The picture (still or clip) rendered for one shot."""

    shot_id: str = Field(description="Id of the shot, e.g. 's01_03'")
    media: Artifact = Field(description="A PNG still or an MP4 clip")
    is_clip: bool = Field(False, description="True when media is a moving clip rather than a still")
    conditioned_on: list[str] = Field(
        default_factory=list,
        description="Characters whose cast-sheet portraits the picture was drawn from (identity)",
        exclude_if=lambda names: not names,  # none: dumps (and keys downstream) as before the cast sheet
    )


class Portrait(_Model):
    """One character's reference pictures on the cast sheet: what identity conditioning draws them from."""

    name: str = Field(description="The character's name, as in story.json")
    front: Artifact = Field(description="Head and shoulders, front view (PNG)")
    full_body: Artifact | None = Field(None, description="Head to toe, when the cast stage draws full-body views")
    source: Literal["drawn", "user"] = Field("drawn", description="drawn by the keyframe model, or the user's own picture")


class CharacterIdentity(_Model):
    """How alike one character looks across the shots that show them, measured with an image encoder."""

    name: str = Field(description="The character's name")
    shots: list[str] = Field(description="Ids of the shots that show them")
    similarity: float | None = Field(
        None, description="Mean pairwise cosine similarity of the pictures' embeddings (None: fewer than two shots)"
    )
    to_portrait: float | None = Field(None, description="Mean cosine similarity of each picture to their portrait")


class IdentityFigures(_Model):
    """Identity figures per character; empty when the video backend has no image encoder to measure with."""

    encoder: str = Field("", description="The image encoder the figures come from; '' when none was available")
    conditioned: bool = Field(False, description="True when the pictures were drawn with identity conditioning")
    characters: list[CharacterIdentity] = Field(default_factory=list, description="One entry per character shown")


class WordTiming(_Model):
    """When one word of a narration is heard, as the voice that spoke it says."""

    word: str = Field(description="The word as written (a whitespace-separated token of the text)")
    start_s: float = Field(description="Starts at, seconds from the clip's start")
    end_s: float = Field(description="Ends at, seconds from the clip's start")


class SpokenLine(Utterance):
    """One utterance as spoken in a narration clip, with where it sits in the clip's audio."""

    start_s: float = Field(0.0, description="Starts at, seconds from the clip's start")
    end_s: float = Field(0.0, description="Ends at, seconds from the clip's start")


class NarrationClip(_Model):
    """Spoken narration for one shot."""

    shot_id: str = Field(description="Id of the shot it is spoken over")
    text: str = Field(description="What is said")
    voice: VoiceType = Field(VoiceType.narrator, description="Who speaks")
    audio: Artifact = Field(description="WAV file")
    duration_s: float = Field(description="Measured length of the audio in seconds")
    backend: str = Field("", description="TTS backend that spoke it")
    voices: list[str] = Field(default_factory=list, description="Voices used, narrator's first")
    speakers: list[str] = Field(default_factory=list, description="Characters whose quoted lines have their own voice")
    lines: list[SpokenLine] = Field(default_factory=list, description="The clip line by line: who speaks, why, and when")
    pauses: list[float] = Field(
        default_factory=list, description="Middles of the pauses in the speech, seconds from the clip's start"
    )
    words: list[WordTiming] = Field(
        default_factory=list,
        description="Each word of the text and when it is heard, where the voice says (empty where it cannot)",
        exclude_if=lambda words: not words,  # none: dumps (and keys downstream) as before word timings
    )


class MusicTrack(_Model):
    """A music bed for the whole video."""

    audio: Artifact = Field(description="WAV file")
    duration_s: float = Field(description="Length of the audio in seconds")
    loopable: bool = Field(True, description="True when the end joins the start without a click")
    mood: str = Field("calm", description="Mood the track was made for")
    beds: dict[str, Artifact] = Field(default_factory=dict, description="Per-scene scoring: a bed per mood")
    scene_moods: dict[int, str] = Field(default_factory=dict, description="Per-scene scoring: scene index -> mood")


class TimelineEntry(_Model):
    """When one shot plays and when its narration sits inside it."""

    shot_id: str = Field(description="Id of the shot")
    scene_index: int = Field(description="1-based scene index")
    start_s: float = Field(description="When the shot starts to appear (its transition in begins)")
    duration_s: float = Field(description="How long the shot is on screen, transitions at both ends included")
    transition_in: Transition = Field(Transition.none, description="How this shot replaces the previous one")
    transition_s: float = Field(0.0, description="Length of the transition in, overlapping the previous shot")
    motion: Motion = Field(Motion.none, description="Ken Burns movement over a still")
    zoom: float = Field(1.0, description="Largest zoom factor reached by the movement")
    narration_start_s: float = Field(description="When its narration starts, in video time")
    narration_offset_s: float = Field(0.0, description="When its narration starts, from the shot's start")
    narration_duration_s: float = Field(description="Length of its narration audio")
    text: str = Field(description="Narration text (for subtitles)")
    pauses: list[float] = Field(default_factory=list, description="Pauses in the narration, seconds from its start")
    words: list[WordTiming] = Field(
        default_factory=list,
        description="Each word of `text` and when it is heard, seconds from the narration's start (where the voice says)",
        exclude_if=lambda words: not words,
    )


class SubtitleCue(_Model):
    """One subtitle on screen."""

    start_s: float = Field(description="Appears at, in video time")
    end_s: float = Field(description="Disappears at, in video time")
    text: str = Field(description="At most two lines of text")


class Timeline(_Model):
    """What plays when, computed before any media work so it is testable without ffmpeg."""

    entries: list[TimelineEntry] = Field(description="Shots in play order")
    cues: list[SubtitleCue] = Field(default_factory=list, description="Subtitle cues in order")
    duration_s: float = Field(description="Total length of the video")
    width: int = Field(description="Frame width in pixels")
    height: int = Field(description="Frame height in pixels")
    fps: int = Field(description="Frames per second")
    captions: Literal["sentence", "words"] = Field(
        "sentence",
        description="How cues are timed: at the text's share of the speech and its pauses, or at the words' own times",
        exclude_if=lambda mode: mode == "sentence",
    )
    highlight: bool = Field(
        False, description="Burned-in cues show the word being spoken highlighted", exclude_if=lambda on: not on
    )


class PieceSource(_Model):
    """One shot's picture as a piece shows it: which frames of the shot's slot, and how it moves over them."""

    media: Artifact = Field(description="The shot's still (PNG) or clip (MP4); only its digest enters cache keys")
    is_clip: bool = Field(False, description="True when media is a moving clip")
    motion: Motion = Field(Motion.none, description="Ken Burns movement over a still")
    zoom: float = Field(1.0, description="Largest zoom factor reached by the movement")
    slot_frames: int = Field(description="Length of the shot's whole slot in frames: the movement spans it")
    first_frame: int = Field(description="First frame of the slot this piece shows (0-based)")


class Piece(_Model):
    """A stretch of the film rendered on its own and joined to its neighbours by stream copy: the body of one
    shot, or the transition between two shots rendered from the edges of both. Its fields are what it shows,
    not where it sits in the film, so a shot that only moves in time keeps its cached piece."""

    id: str = Field(description="'s01_02' for a shot's body, 's01_02-s01_03' for the transition into s01_03")
    transition: Transition = Field(Transition.none, description="none for a body; crossfade or fade_black for a join")
    frames: int = Field(description="Length in frames")
    sources: list[PieceSource] = Field(description="The shot (a body), or the outgoing and incoming shots (a join)")
    width: int = Field(description="Frame width in pixels")
    height: int = Field(description="Frame height in pixels")
    fps: int = Field(description="Frames per second")
    cues: list[SubtitleCue] = Field(default_factory=list, description="Subtitles burned in, in piece time (burn-in only)")

    @property
    def shots(self) -> list[str]:
        return self.id.split("-")


class Edit(_Model):
    """The film planned as data: the timeline, its subtitles, and the pieces that make its picture."""

    timeline: Timeline = Field(description="What plays when")
    subtitles: Artifact = Field(description="SRT subtitles")
    webvtt: Artifact = Field(description="WebVTT subtitles")
    pieces: list[Piece] = Field(description="Shot bodies and transitions in play order")
    burned_in: bool = Field(False, description="Subtitles are drawn into the picture (the film then has no soft track)")

    def fan_out(self) -> list[Piece]:
        return self.pieces


class Segment(_Model):
    """One piece rendered: H.264 at the render size and fps, a closed GOP, ready to be joined by stream copy."""

    piece: str = Field(description="Id of the piece it renders")
    media: Artifact = Field(description="MP4 with one video stream")
    frames: int = Field(description="Frames it holds")


class Soundtrack(_Model):
    """The film's sound: narration on its shots over the ducked music bed, at the loudness target."""

    audio: Artifact = Field(description="The mix, AAC in an M4A, ready to be muxed by stream copy")
    duration_s: float = Field(description="Length in seconds (the timeline's)")
    measured_lufs: float = Field(description="Integrated loudness of the mix before it was brought to the target")
    loudness_lufs: float = Field(description="Integrated loudness of the sound as delivered (gain and limiter applied)")
    extras: list[Artifact] = Field(default_factory=list, description="The music stem (ducking.wav), the per-scene score")


class Video(_Model):
    """The finished video with its subtitles."""

    mp4: Artifact = Field(description="The MP4 (H.264 video, AAC audio)")
    subtitles: Artifact = Field(description="SRT subtitles")
    webvtt: Artifact | None = Field(None, description="WebVTT subtitles")
    extras: list[Artifact] = Field(default_factory=list, description="Files for debugging, e.g. the ffmpeg filter graph")
    timeline: Timeline = Field(description="The timeline it was made from")
    duration_s: float = Field(description="Duration of the MP4 as measured after encoding")
    loudness_lufs: float | None = Field(None, description="Integrated loudness of its sound, measured as it was mixed")


class ItemRecord(_Model):
    """How one unit of work (a whole stage, or one for_each item) went in a run."""

    item: str = Field(description="Item id ('' for a stage that does not fan out)")
    key: str = Field(description="Cache key (sha256 of the key payload)")
    hit: bool = Field(description="True when the output came from the cache")
    seconds: float = Field(description="Wall time spent on this item in this run")
    output: str = Field(description="sha256 of the output's canonical JSON")
    artifacts: dict[str, str] = Field(default_factory=dict, description="Artifact name -> sha256")
    notes: dict = Field(default_factory=dict, description="What the stage reports about this output (Stage.report)")
    worker: str | None = Field(
        None, description="Where it was computed: 'local', or '<host>:<pid>' of a Ray actor; None for a cache hit"
    )


class ModelLicence(_Model):
    """The licence of one model a service loaded, as recorded in a run's manifest."""

    service: str = Field(description="The service that loads it (llm, video, tts, music)")
    model: str = Field(description="The model as configured: a hub id, a folder, or an installed package")
    name: str = Field(description="The model's family, as README's table names it ('' when unknown)")
    licence: str = Field(description="Its licence")
    commercial_use: bool | None = Field(description="Whether a video made with it may be used commercially; None: unknown")
    source: str = Field(description="Where the licence is stated ('declared' when the user said so)")
    note: str = Field("", description="Conditions on commercial use, when there are some")


class StageRecord(_Model):
    """How one stage went in a run."""

    target: str = Field(description="The stage's _target_")
    version: str = Field(description="The stage's version")
    seconds: float = Field(description="Wall time from the stage's start to its end")
    hits: int = Field(description="Items served from the cache")
    misses: int = Field(description="Items computed")
    items: list[ItemRecord] = Field(description="Per-item detail, in story order")
    peak_gpu_mb: float | None = Field(
        None,
        description="Peak CUDA memory allocated while the stage ran (shared with stages running beside it); None without CUDA",
    )
    licences: list[ModelLicence] = Field(
        default_factory=list, description="The licences of the models its services load (none: procedural media)"
    )


class RunManifest(_Model):
    """Enough to reproduce a run and to explain every cache hit or miss."""

    storyforge_version: str = Field(description="Version of storyforge that ran")
    profile: str = Field(description="Resolved execution profile")
    profile_reason: str = Field("", description="Why this profile was chosen")
    started_at: str = Field(description="UTC start time (ISO 8601); never part of any cache key")
    seconds: float = Field(description="Wall time of the whole run")
    git_commit: str | None = Field(None, description="Commit of the storyforge checkout, when there is one")
    packages: dict[str, str] = Field(description="Versions of the packages that shape outputs")
    config: dict = Field(description="Resolved configuration, secrets removed")
    stages: dict[str, StageRecord] = Field(description="Per-stage records, in recipe order")
    outputs: dict[str, str] = Field(default_factory=dict, description="Readable output name -> sha256")
    quality: dict = Field(default_factory=dict, description="Quality figures (storyforge/quality.py)")
    licences: list[ModelLicence] = Field(
        default_factory=list, description="Every model the run's stages used, with its licence (README, Licences)"
    )
    commercial_use: bool | None = Field(
        None, description="Whether every model used allows commercial use: false if one does not, null if unknown"
    )
    llm_calls: list[dict] = Field(
        default_factory=list, description="Per LLM call made in this run: task, attempt, format, tokens, seconds"
    )
    status: str = Field(
        "succeeded", description="'succeeded', 'failed', or what the stopping exception says ('cancelled', 'interrupted')"
    )
    error: str | None = Field(None, description="The error that ended a failed run")
