"""Who may open a connection or a WebSocket at all: per-address limits and the Origin check.

Why here and not in the game: these run before a request is even parsed (the connection count,
at accept) or before the upgrade (the handshake rate, the Origin), so a client that floods
connections or handshakes costs a counter and a short HTTP answer, never a hello, a join or a
database read. Each refusal is counted in `ganggpt_connections_refused_total{reason}`
(`ip_connections`, `handshake_rate`, `origin`) and answered with its HTTP status (SPEC §2).

Addresses in IP_LIMITS_EXEMPT (loopback by default) are not limited: behind a local reverse
proxy every client shares the proxy's address, and the load tools run from one address.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from urllib.parse import urlsplit

from config.settings import Config, exempt_networks
from server.auth.throttle import SlidingWindow


class Admission:
    __slots__ = ("_exempt", "_handshakes", "_open", "allow_any_origin", "max_open", "origins")

    def __init__(self, config: Config) -> None:
        self.max_open = config.max_connections_per_ip
        self._open: dict[str, int] = {}
        self._handshakes = (
            SlidingWindow(config.handshakes_per_ip, config.handshake_rate_window)
            if config.handshakes_per_ip
            else None
        )
        networks = tuple(exempt_networks(config.ip_limits_exempt))

        @lru_cache(maxsize=4096)
        def exempt(ip: str) -> bool:
            try:
                addr = ipaddress.ip_address(ip.split("%", 1)[0])
            except ValueError:
                return False  # not an IP (a Unix socket): limited like any one address
            if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
                addr = addr.ipv4_mapped
            return any(addr in n for n in networks)

        self._exempt = exempt
        origins = config.origins
        self.allow_any_origin = "*" in origins
        self.origins = origins

    # --- open connections per address ---

    def connect(self, ip: str) -> bool:
        """Count a new connection from `ip`; False (and not counted) if it is one too many."""
        if not self.max_open or self._exempt(ip):
            return True
        n = self._open.get(ip, 0)
        if n >= self.max_open:
            return False
        self._open[ip] = n + 1
        return True

    def disconnect(self, ip: str) -> None:
        n = self._open.get(ip)
        if n is None:
            return
        if n <= 1:
            del self._open[ip]
        else:
            self._open[ip] = n - 1

    def open_from(self, ip: str) -> int:
        return self._open.get(ip, 0)

    # --- WebSocket handshakes per address ---

    def handshake(self, ip: str) -> float:
        """0 if `ip` may upgrade now (and it is counted), else seconds until it may."""
        window = self._handshakes
        if window is None or self._exempt(ip):
            return 0.0
        wait = window.retry_after(ip)
        if not wait:
            window.hit(ip)
        return wait

    # --- Origin ---

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """A request without Origin is not from a browser page: allowed. A page served by this
        server (Origin's host:port = the Host header) is allowed; else CORS_ORIGINS decides."""
        if origin is None or self.allow_any_origin:
            return True
        value = origin.strip().rstrip("/").lower()
        if value in self.origins:
            return True
        if value == "null" or not host:
            return False
        default = 443 if value.startswith("https://") else 80
        mine = _host_port(value, default)
        return mine is not None and mine == _host_port("//" + host.strip().lower(), default)


def _host_port(url: str, default: int) -> str | None:
    """`host:port` of a URL (port defaulted by scheme); None if it is not one."""
    parts = urlsplit(url)
    try:
        port = parts.port or default
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return f"{parts.hostname}:{port}"
