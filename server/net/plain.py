"""An HTTP request read whole (head and body) and its answer: what API handlers see.

Transport-neutral on purpose: handlers (server/auth/http.py, later the admin API) take a
`PlainRequest` and return a `PlainResponse`; how the bytes were read (server/net/api.py) and
written is not their business, so they are testable without a socket.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import orjson
from websockets.datastructures import Headers
from websockets.http11 import Response


@dataclass(frozen=True, slots=True)
class PlainRequest:
    method: str  # upper case, as sent
    path: str  # without the query string
    query: str
    headers: Mapping[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes
    client_ip: str

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True, slots=True)
class PlainResponse:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def json(
        cls, status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()
    ) -> PlainResponse:
        return cls(status, orjson.dumps(data), "application/json", headers)

    def serialize(self) -> bytes:
        """The bytes on the wire; the connection is closed after every answer."""
        try:
            reason = HTTPStatus(self.status).phrase
        except ValueError:
            reason = "Unknown"
        headers = Headers(
            [
                ("Date", email.utils.formatdate(usegmt=True)),
                ("Connection", "close"),
                ("Content-Length", str(len(self.body))),
                ("Content-Type", self.content_type),
                ("Cache-Control", "no-store"),
                *self.headers,
            ]
        )
        return Response(self.status, reason, headers, self.body).serialize()
