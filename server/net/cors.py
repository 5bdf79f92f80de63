"""CORS for the account endpoints (`/auth/...`), so a game page on another origin can log in.

The origins are the WebSocket upgrade's (CORS_ORIGINS, `Admission.origin_allowed`): a page that
may open the game socket may also get its token. A preflight (OPTIONS with Origin and
Access-Control-Request-Method) is answered here; an allowed origin's actual request gets its
answer with Access-Control-Allow-Origin, whatever the status, so the page can read the error
too. Another origin's preflight is refused 403 (and counted with the upgrades refused for their
origin); its actual requests are answered without the headers, which the browser then keeps
from the page. No cookies are involved (tokens travel in bodies and `Authorization`), so
credentials are never allowed.
"""

from __future__ import annotations

from dataclasses import replace

from server.net.plain import PlainRequest, PlainResponse
from server.state import ServerState

ALLOW_HEADERS = "Authorization, Content-Type"
# Not CORS-safelisted, yet what a page needs to read: when to retry, why a token was refused.
EXPOSE_HEADERS = "Retry-After, WWW-Authenticate"
MAX_AGE = "600"  # seconds a browser may reuse a preflight answer


def allowed_origin(state: ServerState, request: PlainRequest) -> str | None:
    """The request's Origin when it is one whose pages may use the API, else None."""
    origin = request.headers.get("origin")
    if origin is None or not state.admission.origin_allowed(origin, request.headers.get("host")):
        return None
    return origin


def is_preflight(request: PlainRequest) -> bool:
    return (
        request.method == "OPTIONS"
        and "origin" in request.headers
        and "access-control-request-method" in request.headers
    )


def preflight(state: ServerState, request: PlainRequest, method: str | None) -> PlainResponse:
    """The answer to a preflight for an endpoint that takes `method` (None: no such path)."""
    origin = allowed_origin(state, request)
    if origin is None:
        state.metrics.connections_refused.labels(reason="origin").inc()
        return PlainResponse.json(
            403, {"error": "origin", "message": "this page's origin may not use the API"}
        )
    if method is None:
        return with_cors(
            PlainResponse.json(404, {"error": "not_found", "message": "no such endpoint"}), origin
        )
    # 200 rather than 204: every plain answer carries Content-Length, which a 204 may not.
    return PlainResponse(
        200,
        content_type="text/plain",
        headers=(
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", method),
            ("Access-Control-Allow-Headers", ALLOW_HEADERS),
            ("Access-Control-Max-Age", MAX_AGE),
            ("Vary", "Origin"),
        ),
    )


def with_cors(response: PlainResponse, origin: str | None) -> PlainResponse:
    """`response` readable by a page of `origin` (unchanged when None)."""
    if origin is None:
        return response
    return replace(
        response,
        headers=(
            *response.headers,
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Expose-Headers", EXPOSE_HEADERS),
            ("Vary", "Origin"),
        ),
    )
