"""A regular expression for TOON answers to a JSON schema, so a local model's TOON can be constrained (by
outlines) as its JSON is. It matches what the `toon-format` library writes for such data, with every string
quoted: arrays of primitives inline (`tags[2]: "a","b"`), arrays of flat objects as tables
(`places[2]{name,description}:` and one row per item), other arrays of objects as `- ` list items, with 1 to `max_items`
items. The pattern does not tie the declared length `[N]` to the number of items: counting would multiply the
automaton's states (StoryBible: 177 s to index instead of 37 s for its JSON on this machine), so the parser
reads TOON strictly first and then leniently about lengths.
"""

from __future__ import annotations

import re
from typing import Any

_INT = r"-?(?:0|[1-9][0-9]{0,6})"
_NUMBER = rf"{_INT}(?:\.[0-9]{{1,4}})?"


def toon_regex(schema: dict, max_chars: int = 200, max_items: int = 8, lists_for_text: bool = True) -> str:
    """The pattern for a whole answer: the schema's object at the top level. With `lists_for_text`, a list of
    flat objects that hold free text is asked as `- key: value` items rather than the library's table: with the
    field name before each text, SmolLM2 wrote its own picture for 20 of 21 shots of the example story; in table
    rows it copied the narration or the title into 14 to 18 of them."""
    return _Builder(schema.get("$defs", {}), max_chars, max_items, lists_for_text).fields(schema, first="", rest="")


class _Builder:
    def __init__(self, defs: dict, max_chars: int, max_items: int, lists_for_text: bool = True) -> None:
        self.defs, self.max_chars, self.max_items = defs, max_chars, max_items
        self.lists_for_text = lists_for_text

    def resolve(self, node: dict) -> dict:
        if "$ref" in node:
            return self.resolve(self.defs[node["$ref"].rsplit("/", 1)[-1]])
        options = [o for o in node.get("anyOf", []) if o.get("type") != "null"]
        return self.resolve(options[0]) if len(options) == 1 else node

    def kind(self, node: dict) -> str:
        node = self.resolve(node)
        if node.get("type") == "array":
            return "array"
        if node.get("type") == "object" or "properties" in node:
            return "object"
        return "primitive"

    def primitive(self, node: dict) -> str:
        node = self.resolve(node)
        if "enum" in node:
            return "(?:" + "|".join(self.literal(v) for v in node["enum"]) + ")"
        if node.get("type") == "integer" and node.get("minimum", -1) >= 0:  # a count or a number in a list
            return r"[1-9][0-9]{0,6}" if node["minimum"] >= 1 else r"(?:0|[1-9][0-9]{0,6})"
        return {
            "integer": _INT,
            "number": _NUMBER,
            "boolean": "(?:true|false)",
        }.get(
            node.get("type", "string"),
            rf'"(?:[^"\\\n]|\\["\\nrt]){{{min(node.get("minLength", 0), self.max_chars)},{self.max_chars}}}"',
        )

    @staticmethod
    def literal(value: Any) -> str:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        bare = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", text) and text not in ("true", "false", "null")
        return re.escape(text if bare or not isinstance(value, str) else '"' + text.replace('"', '\\"') + '"')

    def fields(self, node: dict, first: str, rest: str) -> str:
        """The object's `key: value` lines in schema order; the first line starts with `first`, the others
        with `rest` (they differ for a `- ` list item)."""
        node = self.resolve(node)
        lines = [self.field(name, sub, rest) for name, sub in node.get("properties", {}).items()]
        return re.escape(first) + rf"\n{re.escape(rest)}".join(lines)

    def field(self, name: str, node: dict, pad: str) -> str:
        key = re.escape(name)
        kind = self.kind(node)
        if kind == "primitive":
            return f"{key}: {self.primitive(node)}"
        if kind == "object":
            inner = pad + "  "
            return f"{key}:\\n" + self.fields(node, first=inner, rest=inner)
        array = self.resolve(node)
        most = max(1, min(array.get("maxItems", self.max_items), self.max_items))
        least = max(1, min(array.get("minItems", 1), most))
        items = self.array(key, self.resolve(array.get("items", {})), pad, least, most)
        if array.get("maxItems") == 0:
            return f"{key}: \\[\\]"
        return items if array.get("minItems", 0) > 0 else f"(?:{key}: \\[\\]|{items})"

    def array(self, key: str, item: dict, pad: str, least: int = 1, most: int = 0) -> str:
        """`least` to `most` (else max_items) items after a `[N]` header."""
        most = most or self.max_items
        more = f"{{{least - 1},{most - 1}}}"
        count = rf"\[{most}\]" if least == most else r"\[[1-9][0-9]?\]"  # a known count is declared right
        if self.kind(item) == "primitive":
            value = self.primitive(item)
            return rf"{key}{count}: {value}(?:,{value}){more}"
        props = self.resolve(item).get("properties", {})
        free_text = any(
            self.resolve(p).get("type", "string") == "string" and "enum" not in self.resolve(p) for p in props.values()
        )
        if all(self.kind(p) == "primitive" for p in props.values()) and not (self.lists_for_text and free_text):  # a table
            header = rf"{key}{count}\{{" + ",".join(re.escape(p) for p in props) + r"\}:"
            row = rf"\n{re.escape(pad + '  ')}" + ",".join(self.primitive(p) for p in props.values())
            return f"{header}{row}(?:{row}){more}"
        entry = r"\n" + self.fields(item, first=pad + "  - ", rest=pad + "    ")
        return f"{key}{count}:{entry}(?:{entry}){more}"
