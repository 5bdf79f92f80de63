"""`/dashboard` over real sockets: the static page, the SDK bundle beside it, the vendored chart
library with its licence, 405 for other methods, nothing outside the static files."""

from __future__ import annotations

from tests.server.conftest import ServerFactory
from tests.server.test_accounts_http import call, raw


async def test_the_dashboard_page_and_its_modules_are_served(start: ServerFactory) -> None:
    srv = await start()
    for path in ("/dashboard", "/dashboard/", "/dashboard/index.html"):
        reader = await raw(srv, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head, _, body = reader.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"text/html" in head and b"Content-Security-Policy" in head
        assert b'<script type="module" src="/dashboard/app.js">' in body
    for path, ctype in (
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/sdk/ganggpt.mjs", "text/javascript"),
        ("/dashboard/vendor/uplot/uPlot.iife.min.js", "text/javascript"),
        ("/dashboard/vendor/uplot/LICENSE", "text/plain"),
        ("/dashboard/style.css", "text/css"),
    ):
        reader = await raw(srv, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        head, _, body = reader.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), (path, head)
        assert ctype.encode() in head and body, path


async def test_only_get_and_only_its_files(start: ServerFactory) -> None:
    srv = await start()
    status, body, headers = await call(srv, "POST", "/dashboard/index.html", {})
    assert body["error"] == "method_not_allowed"
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    status, _, _ = await call(srv, "DELETE", "/dashboard")
    assert status == 405
    for path in (
        "/dashboard/../pyproject.toml",
        "/dashboard/%2e%2e/files.py",
        "/dashboard/files.py",
        "/dashboard/sdk/../src/index.js",
        "/dashboard/nope.js",
    ):
        reader = await raw(srv, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert reader.startswith(b"HTTP/1.1 404"), (path, reader[:80])
