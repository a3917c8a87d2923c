"""Reading structured answers out of language-model text, in JSON or TOON (the `toon-format` library).

`schema_hint` tells the model what to answer in the chosen format; `parse_reply` strips code fences and prose
around the payload, tries the chosen format, then the other, and validates with pydantic. Whatever fails is
raised as `ReplyError` with a message short enough to send back to the model when re-asking.
"""

from __future__ import annotations

import json
import re
from typing import Literal

import toon_format
from pydantic import BaseModel, ValidationError

from storyforge.services.protocols import T

Format = Literal["json", "toon"]
_FENCE = re.compile(r"```[\w-]*\s*\n(.*?)```", re.S)


class ReplyError(ValueError):
    """The model's answer could not be read as the schema."""


def schema_hint(schema: type[BaseModel] | dict, fmt: Format) -> str:
    """Instructions that make the answer machine-readable in `fmt` (a model class or its JSON schema)."""
    spec = json.dumps(
        schema if isinstance(schema, dict) else schema.model_json_schema(), ensure_ascii=False, separators=(",", ":")
    )
    if fmt == "json":
        return f"Answer with one JSON object and nothing else. It must validate against this JSON schema:\n{spec}"
    example = toon_format.encode({"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "note": "text, with comma"})
    return (
        "Answer in TOON (Token-Oriented Object Notation) and nothing else: `key: value` lines, nesting by two-space "
        "indent, and arrays of objects as a header `key[N]{field,...}:` followed by N comma-separated rows "
        f"(quote values that contain commas). For example:\n{example}\n"
        f"The data must validate against this JSON schema:\n{spec}"
    )


def _payload(text: str) -> str:
    fenced = _FENCE.search(text)
    return (fenced.group(1) if fenced else text).strip()


def _json(text: str) -> object:
    start = text.find("{")  # every schema is an object
    if start < 0:
        raise ReplyError("no JSON object found")
    try:
        value, _ = json.JSONDecoder().raw_decode(text[start:])  # ignores prose after the object
    except json.JSONDecodeError as exc:
        raise ReplyError(f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    return value


def _toon(text: str) -> list[object]:
    """Every reading of the text as TOON, trimming up to 3 lines of prose before and after the payload, and, for
    the whole text only, a reading lenient about declared lengths (`[3]` over two items), a slip small models
    make (lenient reading of a trimmed text could accept an answer cut short). Longest reading first, strict
    before lenient: the caller takes the first that validates, so no row is dropped to make one fit."""
    lines = text.splitlines()
    found, first_error = [], None
    for start in range(min(len(lines), 4)):
        for end in range(len(lines), max(start, len(lines) - 4), -1):
            chunk = "\n".join(lines[start:end]).strip()
            if not chunk:
                continue
            try:
                value = toon_format.decode(chunk)
                if isinstance(value, dict):  # every schema is an object
                    found.append((len(chunk), 0, value))
            except (toon_format.ToonDecodeError, ValueError) as exc:
                first_error = first_error or exc
    try:
        value = toon_format.decode(text.strip(), strict=False)
        found += [(len(text.strip()), 1, value)] if isinstance(value, dict) else []
    except (toon_format.ToonDecodeError, ValueError):
        pass
    if not found:
        raise ReplyError(f"invalid TOON: {first_error}")
    return [value for _, _, value in sorted(found, key=lambda f: (-f[0], f[1]))]


def readable(text: str, fmt: Format, keys: set[str]) -> bool:
    """Whether the text reads as data in `fmt` with at least one of the schema's `keys`, valid or not (TOON
    reads "Sure! Here it is: ..." as a key and a value, so a reading must share a key with the schema)."""
    payload = _payload(text)
    try:
        readings = [_json(payload)] if fmt == "json" else _toon(payload)
    except ReplyError:
        return False
    return any(isinstance(r, dict) and keys & set(r) for r in readings)


def parse_reply(text: str, schema: type[T], fmt: Format = "json") -> T:
    """The answer as `schema`: chosen format first, then the other; every failure is reported."""
    payload = _payload(text)
    errors = []
    for name in (fmt, "toon" if fmt == "json" else "json"):
        try:
            readings = [_json(payload)] if name == "json" else _toon(payload)
        except ReplyError as exc:
            errors.append(f"{name}: {exc}")
            continue
        problems = ""
        for data in readings:  # the first reading that validates wins
            try:
                return schema.model_validate(data)
            except ValidationError as exc:
                problems = problems or "; ".join(
                    f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()[:5]
                )
        errors.append(f"{name}: does not match the schema ({problems})")
    raise ReplyError(" | ".join(errors))
