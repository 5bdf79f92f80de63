"""The console's argument checker (server/admin/schema.py) agrees with a full JSON Schema
validator (jsonschema_rs, Draft 2020-12) on every command's schema: what the OpenAPI file
promises is exactly what the server accepts."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.admin.registry import load
from server.admin.schema import SchemaError, check

COMMANDS = load()

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.floats(allow_nan=False, allow_infinity=False, width=64)
    | st.sampled_from([0, 1, -1, 1.0, 684.0, 2**31, 100_000.5, -100, 101])
    | st.text(max_size=12)
    | st.sampled_from(["", "a", "ab", "ballas", "ab\n", "AB", "x" * 41, "players", "metrics"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["x", "y", "radius", "text", "memory_id"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)


# Values on the edges of the schemas' rules: lengths, bounds, slugs, integral floats.
EDGES = st.sampled_from(
    [
        *("ab\n", "a", "ab", "a" * 40, "a" * 41, "A_b", "ab c", 0, -1, 1.0, 2.5, True, None),
        *(100, 101, -100, -101, 1000, 1001, 100_000, 100_001, 2**31 - 1, 2**31, 86400, 86401),
        *(["metrics"], ["metrics", "events", "players", "metrics"], ["nope"], {"x": 1, "y": 2}),
        *({"x": 1, "y": 2, "radius": 3}, {"personality": "calm"}, {"type": "x", "content": "y"}),
    ]
)


def valid(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema accepts (the subset of JSON Schema the commands use)."""
    if "anyOf" in schema:
        base = {k: v for k, v in schema.items() if k != "anyOf"}
        return st.one_of(valid({**base, **alt}) for alt in schema["anyOf"])
    kinds = schema.get("type", "object")
    kinds = [kinds] if isinstance(kinds, str) else kinds
    out = []
    for kind in kinds:
        if "enum" in schema:
            out.append(st.sampled_from(schema["enum"]))
        elif kind == "string" and "pattern" in schema:
            out.append(st.from_regex(schema["pattern"].rstrip("$") + r"\Z"))
        elif kind == "string":
            out.append(
                st.text(min_size=schema.get("minLength", 0), max_size=schema.get("maxLength", 20))
            )
        elif kind in ("integer", "number"):
            lo, hi = schema.get("minimum", -(2**40)), schema.get("maximum", 2**40)
            ints = st.integers(min_value=int(lo), max_value=int(hi))
            out.append(ints if kind == "integer" else ints | st.floats(lo, hi))
        elif kind == "boolean":
            out.append(st.booleans())
        elif kind == "null":
            out.append(st.none())
        elif kind == "array":
            out.append(st.lists(valid(schema.get("items", {})), max_size=schema.get("maxItems", 3)))
        elif kind == "object":
            props = schema.get("properties", {})
            required = set(schema.get("required", ()))
            out.append(
                st.fixed_dictionaries(
                    {k: valid(v) for k, v in props.items() if k in required},
                    optional={k: valid(v) for k, v in props.items() if k not in required},
                )
            )
    return st.one_of(out)


def args_for(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Mostly valid arguments, one field now and then replaced by an edge value."""
    names = [*sorted(schema.get("properties", {})), "bogus"]

    @st.composite
    def mutated(draw: st.DrawFn) -> Any:
        value = draw(valid(schema))
        if isinstance(value, dict) and draw(st.booleans()):
            value = {**value, draw(st.sampled_from(names)): draw(st.one_of(EDGES, values))}
        return value

    return mutated() | values


def accepted(value: Any, schema: dict[str, Any]) -> bool:
    try:
        check(value, schema)
    except SchemaError:
        return False
    return True


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_checker_matches_json_schema(name: str) -> None:
    schema = COMMANDS[name].args
    reference = jsonschema_rs.Draft202012Validator(schema)

    @settings(
        max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(args_for(schema))
    def agree(value: Any) -> None:
        assert accepted(value, schema) == reference.is_valid(value), value

    agree()
