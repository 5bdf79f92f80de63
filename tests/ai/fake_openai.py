"""An OpenAI-compatible HTTP server on loopback that each test scripts.

Why a real server and not a mocked client: the tests must exercise the real `openai` SDK (its
retries, Retry-After handling, SSE parsing, Azure URL building and pydantic parsing), so the
only fake is what answers on the socket. Each test pushes the replies it wants, in order; the
server records every request it got (path, query, headers, JSON body) for assertions.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Reply:
    """One scripted answer. `text`/`tool_calls` are rendered as JSON or as SSE chunks,
    whichever the request asked for (`stream: true`)."""

    status: int = 200
    text: str | None = ""
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    prompt_tokens: int = 40
    completion_tokens: int = 12
    error_body: dict[str, Any] | None = None
    embedding: list[float] | None = None


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


def error(status: int, retry_after: float | None = None) -> Reply:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return Reply(
        status=status,
        text=None,
        headers=headers,
        error_body={"error": {"message": f"scripted {status}", "type": "server_error"}},
    )


class FakeOpenAI:
    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.default: Reply | None = Reply(text="Default reply.")
        self.requests: list[Seen] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._ids = itertools.count(1)

    # --- scripting -----------------------------------------------------------------------

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    def chat_requests(self) -> list[Seen]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    # --- server --------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read() or b"{}")
        self.requests.append(
            Seen(request.path, dict(request.query), dict(request.headers), body, time.monotonic())
        )
        reply = self.script.popleft() if self.script else self.default
        if reply is None:
            return web.json_response({"error": {"message": "no script"}}, status=500)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return web.json_response(
                reply.error_body or {"error": {"message": "x"}},
                status=reply.status,
                headers=reply.headers,
            )
        if request.path.endswith("/embeddings"):
            inputs = body.get("input", [])
            items = inputs if isinstance(inputs, list) else [inputs]
            data = [
                {"object": "embedding", "index": i, "embedding": reply.embedding or [0.1, 0.2]}
                for i, _ in enumerate(items)
            ]
            return web.json_response(
                {
                    "object": "list",
                    "data": data,
                    "model": body.get("model", "m"),
                    "usage": {"prompt_tokens": 3, "total_tokens": 3},
                }
            )
        if body.get("stream"):
            return await self._sse(request, body, reply)
        return web.json_response(self._completion(body, reply), headers=reply.headers)

    def _tool_calls(self, reply: Reply) -> list[dict[str, Any]]:
        out = []
        for i, (name, args) in enumerate(reply.tool_calls):
            raw = args if isinstance(args, str) else orjson.dumps(args).decode()
            out.append(
                {
                    "id": f"call_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": raw},
                }
            )
        return out

    def _completion(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        calls = self._tool_calls(reply)
        if calls:
            message["tool_calls"] = calls
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "m"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }

    async def _sse(
        self, request: web.Request, body: dict[str, Any], reply: Reply
    ) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **reply.headers})
        await resp.prepare(request)
        cid = f"chatcmpl-{next(self._ids)}"
        base = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "m"),
        }

        async def send(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> None:
            chunk = {**base, "choices": choices}
            if usage is not None:
                chunk["usage"] = usage
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)

        await send([{"index": 0, "delta": {"role": "assistant", "content": ""}}])
        # Word by word, so sentence assembly on the client side is really exercised.
        words = (reply.text or "").split(" ")
        for i, w in enumerate(words):
            piece = w if i == 0 else " " + w
            if piece:
                await send([{"index": 0, "delta": {"content": piece}}])
        for i, call in enumerate(self._tool_calls(reply)):
            await send(
                [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": i,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {
                                        "name": call["function"]["name"],
                                        "arguments": call["function"]["arguments"],
                                    },
                                }
                            ]
                        },
                    }
                ]
            )
        finish = "tool_calls" if reply.tool_calls else "stop"
        await send([{"index": 0, "delta": {}, "finish_reason": finish}])
        if (body.get("stream_options") or {}).get("include_usage"):
            await send(
                [],
                {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                },
            )
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
