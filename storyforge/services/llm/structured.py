"""Structured output on servers that each take a different form of it, and grammars made from our schemas.

An OpenAI-compatible server may constrain an answer to a schema in one of several ways, or in none:
`json_schema` (OpenAI, llama.cpp's llama-server, vLLM, Ollama, LM Studio), `json_object` with a `schema`
(llama-cpp-python's server), vLLM's older `guided_json` / `guided_regex`, a GBNF `grammar` (llama.cpp), plain
`json_object`, or nothing but the prompt. `modes(fmt)` lists them strongest first; `refused()` tells a refusal of
the form (any 4xx or 5xx whose message names it) from a failed request; `ModeMemory` remembers, per server and
model, the form that worked, so the next run asks in it straight away.

Grammars: `gbnf(regex)` turns a regular expression into llama.cpp's GBNF through Python's own regex parser, so
one pattern serves every engine: outlines' pattern for a JSON schema (`json_regex`) or ours for TOON
(`toon_regex`), with string and list lengths capped so a small model cannot ramble forever.
"""

from __future__ import annotations

import functools
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

try:  # Python 3.11+: the regex parser behind `re`
    import re._constants as _c
    import re._parser as _parser
except ImportError:  # pragma: no cover - older Pythons
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _parser  # type: ignore[no-redef]

from storyforge.services.llm.toon_regex import toon_regex

# Strongest first. Each mode: what it adds to a chat request, and the words a refusal of it names.
JSON_MODES = ("json_schema", "json_object_schema", "grammar", "guided_json", "json_object", "prompt")
TOON_MODES = ("grammar", "guided_regex", "prompt")
_NAMES = {
    "json_schema": ("response_format", "json_schema", "schema", "json_object"),
    "json_object_schema": ("response_format", "json_object", "schema"),
    "grammar": ("grammar", "gbnf"),
    "guided_json": ("guided_json", "guided", "extra"),
    "guided_regex": ("guided_regex", "guided", "extra"),
    "json_object": ("response_format", "json_object"),
    "prompt": (),
}


SERVER_MAX_CHARS = 200  # the longest string cap sent to a server inside a JSON schema


CONSTRAINING = {"json_schema", "json_object_schema", "grammar", "guided_json", "guided_regex"}


def modes(fmt: str) -> tuple[str, ...]:
    return JSON_MODES if fmt == "json" else TOON_MODES


def capped_schema(schema: dict, max_chars: int | None, max_items: int | None) -> dict:
    """The JSON schema with every string capped at `max_chars` and every array at `max_items` (None: not)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: walk(v) for k, v in node.items()}
            if node.get("type") == "string" and max_chars:
                node.setdefault("maxLength", max_chars)
            if node.get("type") == "array" and max_items:
                node.setdefault("maxItems", max_items)
            return node
        return [walk(v) for v in node] if isinstance(node, list) else node

    return walk(schema)


def json_regex(schema: dict, max_chars: int, max_items: int) -> str:
    """outlines' regular expression for JSON that validates against `schema` (lengths capped)."""
    try:
        from outlines_core.json_schema import build_regex_from_schema
    except ImportError as exc:
        from storyforge.errors import ConfigError

        raise ConfigError("a grammar for JSON answers needs outlines-core.", "pip install 'storyforge[llamacpp]'.") from exc

    return build_regex_from_schema(json.dumps(capped_schema(schema, max_chars, max_items)))


def pattern(schema: dict, fmt: str, max_chars: int, max_items: int) -> str:
    return json_regex(schema, max_chars, max_items) if fmt == "json" else toon_regex(schema, max_chars, max_items)


@functools.lru_cache(maxsize=64)
def _grammar(spec: str, fmt: str, max_chars: int, max_items: int) -> str:
    return gbnf(pattern(json.loads(spec), fmt, max_chars, max_items))


def grammar(schema: dict, fmt: str, max_chars: int, max_items: int) -> str:
    """The GBNF grammar for answers to `schema` in `fmt`, made once per schema and caps (every call of a run
    asks for one of a handful of shapes)."""
    return _grammar(json.dumps(schema, sort_keys=True), fmt, max_chars, max_items)


def request_fields(mode: str, schema_name: str, schema: dict, fmt: str, max_chars: int, max_items: int) -> dict:
    """The chat-request fields that ask for `mode` (top-level fields, and `extra_body` for non-OpenAI ones)."""
    # Bounded answers keep a small model from rambling, but servers turn a schema into a grammar their own way:
    # llama-cpp-python nests one rule per character of maxLength and crashed on 1,200 (200 is safe).
    schema = capped_schema(schema, max_chars if max_chars <= SERVER_MAX_CHARS else None, max_items)
    if mode == "json_schema":
        return {"response_format": {"type": "json_schema", "json_schema": {"name": schema_name, "schema": schema}}}
    if mode == "json_object_schema":
        return {"response_format": {"type": "json_object", "schema": schema}}
    if mode == "json_object":
        return {"response_format": {"type": "json_object"}}
    if mode == "guided_json":
        return {"extra_body": {"guided_json": schema}}
    if mode == "guided_regex":
        return {"extra_body": {"guided_regex": pattern(schema, fmt, max_chars, max_items)}}
    if mode == "grammar":
        return {"extra_body": {"grammar": grammar(schema, fmt, max_chars, max_items)}}
    return {}


def refused(mode: str, status: int, message: str) -> bool:
    """Whether an error answer refuses the form `mode` asked in: a 4xx or 5xx (llama-cpp-python answers 500)
    whose message names it. A context overflow or a bad model name does not name it and stays an error."""
    text = message.lower()
    if mode == "prompt" or status < 400 or any(w in text for w in ("context", "maximum", "too long", "model not found")):
        return False
    return any(word in text for word in _NAMES[mode])


class ModeMemory:
    """`{server model format: mode}` in a JSON file (in the cache directory), read once, written on change."""

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, key: str) -> str | None:
        entry = self._read().get(key)
        return entry.get("mode") if isinstance(entry, dict) else None

    def put(self, key: str, mode: str) -> None:
        with self._lock:
            data = self._read()
            if (data.get(key) or {}).get("mode") == mode:
                return
            data[key] = {"mode": mode, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")
                scratch.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
                os.replace(scratch, self.path)
            except OSError:  # a read-only cache: negotiate again next run
                pass


# ---------------------------------------------------------------------------------------------------- GBNF


def gbnf(regex: str) -> str:
    """A GBNF grammar (llama.cpp) accepting exactly the strings `regex` matches in full. What a repetition
    repeats is a rule of its own: llama.cpp copies the rules inside a repeated group once per repetition and
    refuses a grammar where that passes 2,000 (a list of 12 items with two 160-character strings in each)."""
    builder = _Gbnf()
    root = builder.seq(_parser.parse(regex))
    return "".join([f"root ::= {root}\n", *(f"{name} ::= {body}\n" for body, name in builder.rules.items())])


_CATEGORIES = {
    _c.CATEGORY_DIGIT: "0-9",
    _c.CATEGORY_SPACE: " \\t\\n\\r\\x0B\\x0C",
    _c.CATEGORY_WORD: "a-zA-Z0-9_",
}
_NOT_CATEGORIES = {
    _c.CATEGORY_NOT_DIGIT: "0-9",
    _c.CATEGORY_NOT_SPACE: " \\t\\n\\r\\x0B\\x0C",
    _c.CATEGORY_NOT_WORD: "a-zA-Z0-9_",
}


def _char(code: int, in_class: bool) -> str:
    ch = chr(code)
    special = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in special:
        return special[ch]
    if in_class and ch in "]^-[":  # llama.cpp takes \] and \[ but not \^: hex for all four
        return f"\\x{code:02X}"
    if not in_class and ch == '"':
        return '\\"'
    if code < 0x20 or 0x7F <= code < 0xA0:
        return f"\\x{code:02X}"
    return ch


class _Gbnf:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {}  # body -> name

    def rule(self, body: str) -> str:
        if re.fullmatch(r"\[(?:[^\]\\]|\\.)*\]|\"(?:[^\"\\]|\\.)*\"|r[0-9]+", body):
            return body  # one character class, literal or rule: nothing inside to copy
        return self.rules.setdefault(body, f"r{len(self.rules) + 1}")

    def seq(self, items: Any) -> str:
        parts: list[str] = []
        literal = ""
        for op, arg in items:
            if op is _c.LITERAL:
                literal += _char(arg, in_class=False)
                continue
            if literal:
                parts.append(f'"{literal}"')
                literal = ""
            term = self.term(op, arg)
            if term:
                parts.append(term)
        if literal:
            parts.append(f'"{literal}"')
        return " ".join(parts) if parts else '""'

    def term(self, op: Any, arg: Any) -> str:
        if op is _c.NOT_LITERAL:
            return f"[^{_char(arg, True)}]"
        if op is _c.ANY:
            return "[^\\n]"
        if op is _c.IN:
            return self.klass(arg)
        if op is _c.CATEGORY:
            return self.klass([(op, arg)])
        if op is _c.SUBPATTERN:
            return f"({self.seq(arg[-1])})"
        if op is _c.BRANCH:
            return "(" + " | ".join(self.seq(alt) for alt in arg[1]) + ")"
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)):
            low, high, sub = arg
            inner = self.rule(self.seq(sub))
            if high is _c.MAXREPEAT:
                return inner + ("*" if low == 0 else "+" if low == 1 else f"{{{low},}}")
            if (low, high) == (0, 1):
                return inner + "?"
            return inner + (f"{{{low}}}" if low == high else f"{{{low},{high}}}")
        if op is _c.AT:  # ^ and $: the grammar always spans the whole answer
            return ""
        raise ValueError(f"regular-expression feature {op} has no GBNF form")

    def klass(self, items: Any) -> str:
        negate, body = False, ""
        for op, arg in items:
            if op is _c.NEGATE:
                negate = True
            elif op is _c.LITERAL:
                body += _char(arg, True)
            elif op is _c.RANGE:
                body += f"{_char(arg[0], True)}-{_char(arg[1], True)}"
            elif op is _c.CATEGORY and arg in _CATEGORIES:
                body += _CATEGORIES[arg]
            elif op is _c.CATEGORY and arg in _NOT_CATEGORIES and len(items) == 1:
                negate, body = True, _NOT_CATEGORIES[arg]
            else:
                raise ValueError(f"character-class feature {op} {arg} has no GBNF form")
        return f"[{'^' if negate else ''}{body}]"
