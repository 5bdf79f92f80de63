"""Which settings are secret, and the one way every output masks them.

Why one module: `ganggpt config`, the log formatter, `/health` and error messages all print
text that may carry a password (a DATABASE_URL in a driver's error, a key in a traceback). Each
of them masks through the functions here, so a new secret setting is added in one place.

Two kinds of secret: settings that are wholly secret (keys, JWT_SECRET), and URLs whose
userinfo password or secret query parameters (`?password=...`) are. `redact` removes the raw
values themselves from any text, whatever printed them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

MASK = "***"

# Settings whose whole value is a secret.
SECRET_FIELDS = frozenset(
    {
        "redis_password",
        "azure_openai_key",
        "openai_api_key",
        "jwt_secret",
        "encryption_key",
        "encryption_keys_old",
    }
)
# Settings holding a URL that may carry credentials.
URL_FIELDS = frozenset(
    {"database_url", "database_read_url", "redis_url", "openai_base_url", "azure_openai_endpoint"}
)
# Query parameters that carry credentials in the URLs above (libpq, redis-py, API gateways).
_SECRET_PARAMS = ("password", "passwd", "pass", "secret", "key", "token", "sig")

# Shorter values are not redacted from free text: a 3-letter secret would turn every word that
# contains it into *** and make the log unreadable, while giving nothing away.
MIN_REDACT_LEN = 4


def _secret_param(name: str) -> bool:
    n = name.lower().replace("-", "_")
    return any(p in n for p in _SECRET_PARAMS)


def mask_url(url: str) -> str:
    """`url` with the userinfo password and secret query values replaced by ***.

    The user name, host, port and database stay: an operator needs them to see where the
    server points."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, colon, _pw = userinfo.partition(":")
            netloc = f"{user}:{MASK}@{hostport}" if colon else f"{user}@{hostport}"
        query = parts.query
        if query:
            query = "&".join(
                f"{k}={MASK}" if _secret_param(k) else f"{k}={v}"
                for k, v in parse_qsl(query, keep_blank_values=True)
            )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        # Not a URL we can take apart: show nothing of it rather than risk the password.
        return MASK


def url_secrets(url: str) -> list[str]:
    """The secret pieces of a URL, raw and percent-decoded (either may appear in text)."""
    out: list[str] = []
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    if ":" in userinfo:
        out.append(userinfo.partition(":")[2])
    for k, v in parse_qsl(parts.query, keep_blank_values=True):
        if _secret_param(k):
            out.append(v)
    out += [unquote(s) for s in out]
    return out


def mask_value(field: str, value: Any) -> Any:
    """What may be shown of setting `field` holding `value`."""
    if value in (None, ""):
        return value
    if field in SECRET_FIELDS:
        return MASK
    if field in URL_FIELDS and isinstance(value, str):
        return mask_url(value)
    return value


def mask_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: mask_value(k, v) for k, v in values.items()}


def secret_values(values: Mapping[str, Any]) -> tuple[str, ...]:
    """Every raw secret in these settings, longest first (so a secret that contains another
    is replaced whole)."""
    found: set[str] = set()
    for k, v in values.items():
        if not isinstance(v, str) or not v:
            continue
        if k in SECRET_FIELDS:
            found.add(v)
        elif k in URL_FIELDS:
            found.update(url_secrets(v))
    return tuple(sorted((s for s in found if len(s) >= MIN_REDACT_LEN), key=len, reverse=True))


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced by ***."""
    for s in secrets:
        if s in text:
            text = text.replace(s, MASK)
    return text


def redact_obj(obj: Any, secrets: tuple[str, ...]) -> Any:
    """A JSON-like structure with every string redacted (for /health and other bodies)."""
    if not secrets:
        return obj
    if isinstance(obj, str):
        return redact(obj, secrets)
    if isinstance(obj, dict):
        return {k: redact_obj(v, secrets) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [redact_obj(v, secrets) for v in obj]
    return obj
