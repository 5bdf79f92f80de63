"""A loopback OpenAI-compatible provider for the AI benchmark (`bench ai`).

It answers `POST /v1/chat/completions` like a slow model: after `delay` seconds, the reply
streams word by word (server-sent events, as the `openai` SDK expects with `stream: true`),
or as one JSON body when not streamed (mission generation). A share `fail` of the requests
gets an HTTP 500 at once instead (the provider is down), and a share `actions` of the
replies carries a `follow_player` tool call, so the server's action checks are part of the
load. Counts what it did (`stats`).

Why in the harness process and not in the server's: the server must be measured as it runs
against a remote model, paying for its own HTTP client and nothing else.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections import Counter
from typing import Any

import orjson

try:
    from aiohttp import web
except ImportError as missing:  # pragma: no cover - in the `dev` extra
    raise SystemExit(
        'bench ai needs aiohttp for its loopback model: pip install "ganggpt-server[dev]"'
        " (or pip install aiohttp)"
    ) from missing

LINES = (
    "Can't say I've seen much today. The cops were around earlier, though.",
    "Quiet for now. Give it an hour and the whole block will be talking.",
    "You ask a lot of questions. Buy something or move along.",
    "Word is the Ballas moved a shipment last night. Don't say you heard it from me.",
)


class LoopbackProvider:
    def __init__(
        self,
        *,
        delay: float = 2.0,
        fail: float = 0.0,
        actions: float = 0.0,
        word_gap: float = 0.02,
        seed: int = 1,
    ) -> None:
        self.delay = delay
        self.fail = fail
        self.actions = actions
        self.word_gap = word_gap
        self.rng = random.Random(seed)
        self.stats: Counter[str] = Counter()
        self.port = 0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def start(self) -> None:
        # A reply the server stopped reading (a cancelled talk, the run ending) is normal here:
        # aiohttp would log each one as a traceback on the bench's terminal.
        logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = orjson.loads(await request.read() or b"{}")
        self.stats["requests"] += 1
        if self.rng.random() < self.fail:
            self.stats["failed"] += 1
            return web.json_response(
                {"error": {"message": "provider down (bench)", "type": "server_error"}},
                status=500,
            )
        await asyncio.sleep(self.delay)
        text = self.rng.choice(LINES)
        offered = {t.get("function", {}).get("name") for t in body.get("tools") or ()}
        act = "follow_player" in offered and self.rng.random() < self.actions
        if act:
            self.stats["tool_calls"] += 1
        if body.get("stream"):
            self.stats["streamed"] += 1
            try:
                return await self._sse(request, body, text, act)
            except ConnectionResetError:
                # The server gave up on the reply (a talk cancelled, or the run ending): as a
                # real provider would, stop writing; nothing to report.
                self.stats["abandoned"] += 1
                return web.Response(status=499)
        self.stats["completed"] += 1
        message: dict[str, Any] = {"role": "assistant", "content": text}
        return web.json_response(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "bench"),
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 300, "completion_tokens": 30, "total_tokens": 330},
            }
        )

    async def _sse(
        self, request: web.Request, body: dict[str, Any], text: str, act: bool
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        base = {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "bench"),
        }

        async def send(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> None:
            chunk: dict[str, Any] = {**base, "choices": choices}
            if usage is not None:
                chunk["usage"] = usage
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")

        await send([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
        for i, word in enumerate(text.split(" ")):
            await send([{"index": 0, "delta": {"content": word if i == 0 else " " + word}}])
            if self.word_gap:
                await asyncio.sleep(self.word_gap)
        if act:
            call = {
                "index": 0,
                "id": "call_0",
                "type": "function",
                "function": {"name": "follow_player", "arguments": "{}"},
            }
            await send([{"index": 0, "delta": {"tool_calls": [call]}}])
        await send([{"index": 0, "delta": {}, "finish_reason": "tool_calls" if act else "stop"}])
        if (body.get("stream_options") or {}).get("include_usage"):
            await send([], {"prompt_tokens": 300, "completion_tokens": 30, "total_tokens": 330})
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
