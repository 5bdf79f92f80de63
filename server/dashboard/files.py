"""`GET /dashboard/...`: the dashboard's static files and the JavaScript SDK's bundles.

Every file is read once, at the first request, into memory (about 150 KB): a request never
touches the disk, and only files that exist at that moment can be served, so no path a client
writes (`..`, encoded slashes) can reach anything else. Anything but GET or HEAD is 405.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from server.net.plain import PlainRequest, PlainResponse

PREFIX = "/dashboard"
STATIC = Path(__file__).resolve().parent / "static"
# The SDK's committed bundles (client_sdk/js/dist), served under /dashboard/sdk/.
SDK_DIST = Path(__file__).resolve().parents[2] / "client_sdk" / "js" / "dist"

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
# The page loads only its own files and talks only to this server (its /auth, /admin and /ws).
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    (
        "Content-Security-Policy",
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)

_files: dict[str, tuple[bytes, str]] | None = None


def _content_type(path: Path) -> str:
    return TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "text/plain"


def _load() -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    for base, url in ((STATIC, PREFIX), (SDK_DIST, PREFIX + "/sdk")):
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file():
                rel = path.relative_to(base).as_posix()
                files[f"{url}/{rel}"] = (path.read_bytes(), _content_type(path))
    index = files.get(PREFIX + "/index.html")
    if index is not None:
        files[PREFIX] = files[PREFIX + "/"] = index
    return files


def files() -> dict[str, tuple[bytes, str]]:
    global _files
    if _files is None:
        _files = _load()
    return _files


async def serve(request: PlainRequest) -> PlainResponse:
    if request.method not in ("GET", "HEAD"):
        return PlainResponse.json(
            405,
            {"error": "method_not_allowed", "message": "the dashboard is read with GET"},
            (("Allow", "GET, HEAD"),),
        )
    found = files().get(request.path)
    if found is None:
        return PlainResponse(404, b"not found\n", "text/plain; charset=utf-8")
    body, ctype = found
    return PlainResponse(200, b"" if request.method == "HEAD" else body, ctype, SECURITY_HEADERS)
