"""Whatever an authenticated console sends, each command gets exactly one documented answer
and nothing else happens to the server: generated commands (valid names with generated
arguments, wrong shapes, unknown names) over one live socket."""

from __future__ import annotations

import random
from typing import Any

import orjson

from server.admin.registry import ERROR_CODES, load
from tests.admin.support import account, open_admin
from tests.server.conftest import ServerFactory
from tests.server.test_accounts_http import AUTH
from tests.server.test_auth_join import join

SCALARS: list[Any] = [None, True, 0, -1, 7, 2**53, 1e308, -0.5, "", "x", "Trevor", "ü" * 300]


def junk(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth > 2 or r < 0.5:
        return rng.choice(SCALARS)
    if r < 0.75:
        return [junk(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["player", "npc", "x", "y", "z", "text", "reason", "topics", "n", "limit", "zz"]
    return {rng.choice(keys): junk(rng, depth + 1) for _ in range(rng.randrange(5))}


STRINGS = ["Trevor", "trevor", "ballas", "vagos", "npc:0:3", "metrics", "events", "a reason"]


def plausible(schema: dict[str, Any], rng: random.Random) -> Any:
    """A value the schema probably accepts (so the handlers, not the checker, answer)."""
    if "enum" in schema:
        return rng.choice(schema["enum"])
    kinds = schema.get("type", "object")
    kind = rng.choice([kinds] if isinstance(kinds, str) else kinds)
    lo, hi = schema.get("minimum", 0), schema.get("maximum", 1000)
    if kind == "string":
        return rng.choice(STRINGS)
    if kind == "integer":
        return rng.choice([int(lo), int(hi), int(min(max(rng.randrange(0, 200), lo), hi))])
    if kind == "number":
        return rng.uniform(max(lo, -500.0), min(hi, 500.0))
    if kind == "array":
        return [plausible(schema.get("items", {}), rng) for _ in range(rng.randrange(3))]
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return {
            k: plausible(v, rng) for k, v in props.items() if k in required or rng.random() < 0.3
        }
    return None


async def test_generated_commands_get_one_documented_answer_each(start: ServerFactory) -> None:
    srv = await start(**AUTH, input_rate_limit=1000)  # the socket's own limit is not tested here
    assert srv.state.admin is not None
    srv.state.admin.request_restart = lambda: None  # a generated restart must not end the test
    srv.state.admin.rate_per_second = 10_000
    _, ptoken = await account(srv, "Trevor")
    p = await join(srv, "Trevor", ptoken)
    _, token = await account(srv, "Root", "owner")
    a = await open_admin(srv, token)
    names = [*sorted(load()), "nope", "players.", ""]
    rng = random.Random(7)  # the args schemas shape the stream: re-picked when they change
    sent: set[int] = set()
    log: dict[int, dict[str, Any]] = {}
    codes: dict[str, int] = {}
    for i in range(1, 301):
        msg: dict[str, Any] = {"op": "cmd", "id": i, "cmd": rng.choice(names)}
        command = load().get(msg["cmd"])
        if command is not None and rng.random() < 0.6:
            msg["args"] = plausible(command.args, rng)
        elif rng.random() < 0.9:
            msg["args"] = junk(rng)
        await a.ws.send(orjson.dumps(msg).decode())
        sent.add(i)
        log[i] = msg
        if len(sent) >= 8:  # stay under the in-flight cap: this is not a flood test
            for ref in list(sent):
                try:
                    got = await a.result(ref)
                except TimeoutError:
                    raise AssertionError(f"no answer to {log[ref]}") from None
                code = "ok" if got["ok"] else got["error"]["code"]
                assert code in ERROR_CODES or code == "ok", got
                assert code != "rate_limited", got
                codes[code] = codes.get(code, 0) + 1
                sent.discard(ref)
    for ref in sent:
        got = await a.result(ref)
        code = "ok" if got["ok"] else got["error"]["code"]
        assert code in ERROR_CODES or code == "ok", got
        codes[code] = codes.get(code, 0) + 1
    # Not all refused at the door: the generator reaches the handlers and their answers.
    assert {"ok", "bad_args", "unknown_command", "not_found", "failed"} <= set(codes), codes
    assert codes["ok"] >= 50, codes
    # Shapes that are not commands: answered with id null, the session stays.
    for bad in ([1, 2], {"op": "cmd"}, {"op": "cmd", "id": "7"}, {"op": "x", "id": 1}, "s"):
        await a.ws.send(orjson.dumps(bad).decode())
        got = await a.read()
        assert got["op"] == "result" and got["id"] is None, got
    assert (await a.cmd("help"))["ok"]
    reg = srv.state.metrics.registry
    assert not reg.get_sample_value("ganggpt_connection_errors_total")
    counted = reg.get_sample_value(
        "ganggpt_admin_commands_total", {"command": "unknown", "result": "unknown_command"}
    )
    assert counted == codes["unknown_command"]
    assert reg.get_sample_value("ganggpt_admin_sessions") == 1
    await p.ws.close()
    await a.ws.close()
