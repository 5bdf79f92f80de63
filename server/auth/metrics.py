"""Account and token metrics, registered on the server's registry (`Metrics.registry`)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

HASH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)


class AuthMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry if registry is not None else CollectorRegistry()
        self.hash_seconds = Histogram(
            "ganggpt_auth_bcrypt_seconds",
            "bcrypt hash/verify time including the wait for a hashing thread.",
            ["op"],
            buckets=HASH_BUCKETS,
            registry=r,
        )
        self.hash_waiting = Gauge(
            "ganggpt_auth_bcrypt_waiting", "Password checks queued or running.", registry=r
        )
        self.hasher_busy = Counter(
            "ganggpt_auth_bcrypt_busy_total",
            "Password checks refused because BCRYPT_QUEUE was full.",
            registry=r,
        )
        self.logins = Counter(
            "ganggpt_auth_logins_total",
            "Login attempts by result (ok, bad_credentials, throttled, banned, busy).",
            ["result"],
            registry=r,
        )
        self.registrations = Counter(
            "ganggpt_auth_registrations_total",
            "Registration attempts by result.",
            ["result"],
            registry=r,
        )
        self.token_rejections = Counter(
            "ganggpt_auth_token_rejections_total",
            "Access or refresh tokens refused, by reason.",
            ["kind", "reason"],
            registry=r,
        )
        self.refreshes = Counter(
            "ganggpt_auth_refreshes_total", "Refresh tokens rotated.", registry=r
        )
        self.sessions_revoked = Counter(
            "ganggpt_auth_sessions_revoked_total",
            "Login sessions ended, by reason (logout, ban, reuse, replaced, limit).",
            ["reason"],
            registry=r,
        )
