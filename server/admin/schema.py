"""The subset of JSON Schema the admin commands' arguments are written in, and its checker.

Why our own checker: the same schema dicts go verbatim into the OpenAPI file (`openapi.py`),
so they must be JSON Schema; but the console needs only objects of scalars, a few nested
objects and arrays, and error messages naming the field. Supported keywords: `type` (a name
or a list of names), `properties`, `required`, `additionalProperties: false`, `minLength`,
`maxLength`, `pattern`, `minimum`, `maximum`, `items`, `maxItems`, `enum`, `anyOf`.
"""

from __future__ import annotations

import functools
import math
import re
from typing import Any

Schema = dict[str, Any]

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


class SchemaError(ValueError):
    """The arguments do not match the schema; the message names the field."""


def _is(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False  # JSON true is not 1
    if isinstance(value, float) and not math.isfinite(value):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()  # JSON Schema: 684.0 is an integer (handlers call int())
    return isinstance(value, _TYPES[name])


@functools.cache
def _regex(pattern: str) -> re.Pattern[str]:
    # ECMA-262 `$` (JSON Schema's regexes) matches only at the very end; Python's also before
    # a final newline, which would let "name\n" through a slug pattern.
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def check(value: Any, schema: Schema, where: str = "args") -> None:
    """Raise SchemaError if `value` does not match `schema`."""
    kind = schema.get("type")
    if kind is not None:
        names = [kind] if isinstance(kind, str) else list(kind)
        if not any(_is(value, n) for n in names):
            raise SchemaError(f"`{where}` must be {' or '.join(names)}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(f"`{where}` must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            raise SchemaError(f"`{where}` must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaError(f"`{where}` must have at most {schema['maxLength']} characters")
        if "pattern" in schema and not _regex(schema["pattern"]).search(value):
            raise SchemaError(f"`{where}` must match {schema['pattern']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(f"`{where}` must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(f"`{where}` must be at most {schema['maximum']}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaError(f"`{where}` must have at most {schema['maxItems']} items")
        items = schema.get("items")
        if items is not None:
            for i, item in enumerate(value):
                check(item, items, f"{where}[{i}]")
    if "anyOf" in schema:
        problems = []
        for alt in schema["anyOf"]:
            try:
                check(value, alt, where)
                break
            except SchemaError as err:
                problems.append(str(err))
        else:
            raise SchemaError(" or ".join(problems))
    if isinstance(value, dict):
        props: dict[str, Schema] = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                raise SchemaError(f"`{where}.{name}` is required")
        if schema.get("additionalProperties") is False:
            extra = sorted(set(value) - set(props))
            if extra:
                raise SchemaError(f"`{where}` has unknown field(s): {', '.join(extra)}")
        for name, sub in props.items():
            if name in value:
                check(value[name], sub, f"{where}.{name}")


def obj(props: dict[str, Schema] | None = None, required: tuple[str, ...] = ()) -> Schema:
    """An object schema with exactly these fields."""
    out: Schema = {"type": "object", "properties": props or {}, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def text(max_len: int = 500, min_len: int = 1) -> Schema:
    return {"type": "string", "minLength": min_len, "maxLength": max_len}


COORD: Schema = {"type": "number", "minimum": -100_000, "maximum": 100_000}
PLAYER: Schema = {
    "type": ["string", "integer"],
    "minLength": 1,
    "maxLength": 100,
    "minimum": 0,
    "maximum": 2**31 - 1,
    "description": "player_id, or net_id, or display name (resolved in that order)",
}
NPC: Schema = {
    "type": ["string", "integer"],
    "minLength": 1,
    "maxLength": 100,
    "minimum": 0,
    "maximum": 2**31 - 1,
    "description": "net_id, or npc_id (the NPC's stable key)",
}
LIMIT: Schema = {"type": "integer", "minimum": 1, "maximum": 1000}
