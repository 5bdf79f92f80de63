"""`AdminService`: the one entry point both admin surfaces call (WebSocket and HTTP).

`authenticate(token)` turns an access JWT into a `Principal` (or a refusal with the close code
and HTTP status to answer), `run(principal, name, args)` runs one command: permission check,
argument check, handler, then — for a command that changes anything — the audit row, durable
(`repos.audit.append`) before the result is returned to be sent. A refused attempt at a
state-changing command is audited too (`result: "denied"`).

It also keeps what the console watches: the event log (`events.EventLog`, a bounded ring fed by
the game's event bus and by admin actions), the subscribed sessions and their pushes (metrics
at 1 Hz while anyone listens), and the scheduled restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge

from protocol.catalogue import CloseCode
from server.admin.events import EventLog, watch_game
from server.admin.metrics_view import MetricsView
from server.admin.registry import AdminError, Command, Ctx, Principal, load
from server.admin.schema import SchemaError, check
from server.auth.permissions import Grants
from server.auth.tokens import AccessClaims, Rejected
from server.game.events import AdminAction
from server.persistence.models import AuditEntry

if TYPE_CHECKING:
    from server.admin.session import AdminClient, AdminSession
    from server.game.player import Player
    from server.state import ServerState

log = logging.getLogger("ganggpt.admin")

TOPICS = ("metrics", "events", "players")
RECHECK_EVERY = 15.0  # seconds between checks that open sessions' accounts still qualify
EVENT_LOG_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Refused:
    """The token cannot open the console: `close` for the socket, `status` for HTTP."""

    close: CloseCode
    status: int
    code: str
    message: str


def no_violations(player: Player) -> dict[str, Any]:
    """The anti-cheat's hook (`AdminService.violations`): a player's score and recent
    violations. Until an anti-cheat installs its own, everyone is clean."""
    return {"score": 0, "count": 0, "last": None}


class AdminService:
    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.commands: dict[str, Command] = load()
        self.log = EventLog(EVENT_LOG_SIZE)
        self.sessions: set[AdminSession] = set()
        self.metrics = MetricsView(state)
        # Hooks other slices install: violations per player (anti-cheat), the drain that a
        # restart ends with (the app), mission generation (gameplay).
        self.violations: Callable[[Player], dict[str, Any]] = no_violations
        self.request_restart: Callable[[], None] | None = None
        self.generate_mission: Callable[[Player], Any] | None = None
        # Faction relationships set through the gameplay service, so members and NPCs hear of
        # it like any other shift; without it the console writes storage directly.
        self.set_relation: Callable[[str, str, int], Awaitable[Any]] | None = None
        self.restart_task: asyncio.Task[None] | None = None
        self.restart_at: float | None = None
        self._metrics_task: asyncio.Task[None] | None = None
        self._recheck_task: asyncio.Task[None] | None = None
        self.recheck_every = RECHECK_EVERY
        self._rate: dict[str, tuple[int, int]] = {}  # sub -> (second, commands in it)
        # Commands per principal per second, on both surfaces together (ADMIN_COMMAND_RATE).
        self.rate_per_second = state.config.admin_command_rate
        self._loop_thread = threading.get_ident()
        self._unwatch = watch_game(self)
        registry = state.metrics.registry
        self.commands_run = Counter(
            "ganggpt_admin_commands_total",
            "Admin commands answered, by command (`unknown` for names not registered) and"
            " result (`ok` or the error code).",
            ["command", "result"],
            registry=registry,
        )
        self.open_sessions = Gauge(
            "ganggpt_admin_sessions", "Open /admin console sessions.", registry=registry
        )

    # --- who ---

    async def authenticate(self, token: object) -> Principal | Refused:
        accounts = self.state.accounts
        if accounts is None:
            return Refused(CloseCode.AUTH_FAILED, 401, "token_refused", "accounts are off")
        got = await accounts.authenticate(token)
        if isinstance(got, Rejected):
            return Refused(CloseCode.AUTH_FAILED, 401, "token_refused", f"token {got.reason}")
        assert isinstance(got, AccessClaims)
        account = await accounts.store.by_id(got.sub)
        if account is None or account.banned(accounts.now()):
            return Refused(CloseCode.AUTH_FAILED, 401, "token_refused", "account not usable")
        grants = accounts.grants(got)
        if not grants.can_open_admin():
            return Refused(
                CloseCode.FORBIDDEN, 403, "forbidden", "this account has no admin permission"
            )
        return Principal(
            sub=got.sub,
            username=account.username,
            role=account.role,
            sid=got.sid,
            grants=grants,
            permissions=tuple(got.permissions),
        )

    def allowed(self, principal: Principal, *, http: bool = False) -> list[str]:
        return sorted(
            c.name
            for c in self.commands.values()
            if principal.may(c.permission) and not (http and c.ws_only)
        )

    # --- running commands ---

    def _within_rate(self, principal: Principal) -> bool:
        second = int(time.monotonic())
        was, n = self._rate.get(principal.sub, (second, 0))
        n = n + 1 if was == second else 1
        if len(self._rate) > 10_000:
            self._rate.clear()
        self._rate[principal.sub] = (second, n)
        return n <= self.rate_per_second

    async def run(
        self,
        principal: Principal,
        name: str,
        args: Any,
        *,
        session: AdminSession | None = None,
        http: bool = False,
    ) -> dict[str, Any]:
        label = name if isinstance(name, str) and name in self.commands else "unknown"
        try:
            data = await self._run(principal, name, args, session, http)
        except AdminError as err:
            self.commands_run.labels(label, err.code).inc()
            raise
        self.commands_run.labels(label, "ok").inc()
        return data

    async def _run(
        self,
        principal: Principal,
        name: str,
        args: Any,
        session: AdminSession | None,
        http: bool,
    ) -> dict[str, Any]:
        cmd = self.commands.get(name) if isinstance(name, str) else None
        if cmd is None or (http and cmd.ws_only):
            raise AdminError("unknown_command", f"no admin command {str(name)[:60]!r}")
        if not self._within_rate(principal):
            raise AdminError("rate_limited", f"over {self.rate_per_second} commands a second")
        if args is None:
            args = {}
        ctx = Ctx(self.state, self, principal, session, audit_id=str(uuid.uuid4()))
        audited = cmd.audited(args)
        if not principal.may(cmd.permission):
            if audited:
                await self._audit(ctx, cmd, args if isinstance(args, dict) else {}, "denied")
            raise AdminError("forbidden", f"{name} needs the {cmd.permission} permission")
        try:
            check(args, cmd.args)
        except SchemaError as err:
            raise AdminError("bad_args", str(err)) from None
        try:
            data = await cmd.handler(ctx, args)
        except AdminError as err:
            if audited:
                await self._audit(ctx, cmd, args, f"error: {err.code}")
            raise
        except Exception as err:
            log.warning("admin %s by %s failed: %r", name, principal.username, err)
            if audited:
                await self._audit(ctx, cmd, args, "error: failed")
            raise AdminError("failed", f"{type(err).__name__}: {err}"[:300]) from None
        if audited:
            await self._audit(ctx, cmd, args, "ok")
            log.info("admin %s by %s on %s", name, principal.username, ctx.target or "-")
            self.record(
                "admin",
                actor=principal.username,
                action=name,
                target=ctx.target,
                args=args,
            )
            self.state.game.bus.publish(
                AdminAction(actor=principal.sub, action=name, target=ctx.target, detail=args)
            )
        return data

    async def _audit(self, ctx: Ctx, cmd: Command, args: dict[str, Any], result: str) -> None:
        entry = AuditEntry(
            actor=ctx.principal.username,
            action=cmd.name,
            target=ctx.target,
            details={"args": args, "sub": ctx.principal.sub, "role": ctx.principal.role},
            result=result,
            entry_id=ctx.audit_id,
        )
        try:
            await self.state.persistence.repos.audit.append(entry)
        except Exception as err:
            log.error("admin %s: audit row not written: %r", cmd.name, err)
            if result == "ok":  # done, yet it must not be acknowledged unaudited
                raise AdminError(
                    "failed", "the action was applied but its audit row could not be written"
                ) from None

    # --- what the console watches ---

    def report_violation(self, player: Player, detail: dict[str, Any]) -> None:
        """For the anti-cheat: a violation of `player` goes to the event log and to the
        `players` push (`change: "violations"`, with the score `violations(player)` now gives)."""
        who = {"player_id": player.player_id, "net_id": player.nid, "name": player.name}
        self.record("violation", **who, detail=detail)
        score = self.violations(player).get("score", 0)
        self.publish("players", {"change": "violations", **who, "violations": score})

    def record(self, kind: str, /, **fields: Any) -> None:
        """One event for `logs.tail` and the `events` push."""
        event = self.log.add(kind, fields)
        self.publish("events", event)

    def publish(self, topic: str, data: dict[str, Any]) -> None:
        for s in tuple(self.sessions):
            if topic in s.topics:
                s.push(topic, data)

    def subscribed(self, session: AdminSession) -> None:
        """A session's topics changed: run the metrics pusher while anyone wants it."""
        wanted = any("metrics" in s.topics for s in self.sessions)
        if wanted and self._metrics_task is None:
            self._metrics_task = asyncio.get_running_loop().create_task(
                self._push_metrics(), name="ganggpt-admin-metrics"
            )
        elif not wanted and self._metrics_task is not None:
            self._metrics_task.cancel()
            self._metrics_task = None

    async def _push_metrics(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.publish("metrics", self.metrics.sample())
            except Exception as err:  # a metrics bug must not end the pushes for good
                log.warning("admin metrics push failed: %r", err)

    def session(self, client: AdminClient) -> AdminSession:
        """A console session for a connection upgraded on /admin."""
        from server.admin.session import AdminSession

        return AdminSession(self, client)

    def opened(self, session: AdminSession) -> None:
        self.sessions.add(session)
        self.open_sessions.set(len(self.sessions))
        if self._recheck_task is None:
            self._recheck_task = asyncio.get_running_loop().create_task(
                self._rechecking(), name="ganggpt-admin-recheck"
            )

    async def _rechecking(self) -> None:
        try:
            while self.sessions:
                await asyncio.sleep(self.recheck_every)
                try:
                    await self.recheck()
                except Exception as err:  # the database away: try again next time
                    log.warning("admin session recheck failed: %r", err)
        finally:
            self._recheck_task = None

    async def recheck(self) -> None:
        """Open console sessions follow their account: banned, deleted or without any admin
        permission now -> close 4004; a narrower role narrows the session at once (a wider one
        waits for a new login, as the token says)."""
        accounts = self.state.accounts
        if accounts is None:
            return
        for s in tuple(self.sessions):
            p = s.principal
            if p is None:
                continue
            account = await accounts.store.by_id(p.sub)
            if account is None or account.banned(accounts.now()):
                s.close(CloseCode.AUTH_FAILED, "account banned or gone")
                continue
            try:
                now = accounts.roles.grants_for(account.role, account.tier)
            except ValueError:
                now = Grants(frozenset())
            grants = Grants(p.grants.granted & now.granted)
            if not grants.can_open_admin():
                s.close(CloseCode.AUTH_FAILED, "admin permission withdrawn")
            elif grants != p.grants:
                s.principal = dataclasses.replace(p, role=account.role, grants=grants)

    def closed(self, session: AdminSession) -> None:
        self.sessions.discard(session)
        self.open_sessions.set(len(self.sessions))
        self.subscribed(session)

    def sessions_ended(self, account_id: str, sids: list[str], reason: str) -> None:
        """Login sessions ended (logout, ban...): their console sessions close with 4004."""
        if threading.get_ident() != self._loop_thread:
            return  # wire() routes calls from other threads onto the loop
        ended = set(sids)
        for s in tuple(self.sessions):
            p = s.principal
            if p is not None and p.sub == account_id and p.sid in ended:
                s.close(CloseCode.AUTH_FAILED, f"login session ended ({reason})")

    async def stop(self) -> None:
        self._unwatch()
        for task in (self._metrics_task, self.restart_task, self._recheck_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._metrics_task = self.restart_task = self._recheck_task = None


def wire(state: ServerState) -> AdminService:
    """Build the admin service and hook it to the accounts' ended sessions (on the loop)."""
    admin = AdminService(state)
    state.admin = admin
    accounts = state.accounts
    if accounts is not None:
        before = accounts.on_sessions_ended
        loop = asyncio.get_running_loop()

        def ended(account_id: str, sids: list[str], reason: str) -> None:
            if before is not None:
                before(account_id, sids, reason)
            if threading.get_ident() == admin._loop_thread:
                admin.sessions_ended(account_id, sids, reason)
            else:
                loop.call_soon_threadsafe(admin.sessions_ended, account_id, list(sids), reason)

        accounts.on_sessions_ended = ended
    return admin
