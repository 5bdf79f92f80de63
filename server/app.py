"""Starting, running and draining a server.

`start_server` is what tests and tools embed; `run` is what `ganggpt run` / `make run` use
(uvloop, signal handlers, graceful drain on SIGTERM/SIGINT).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import random
import signal
import ssl
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

from prometheus_client import CollectorRegistry

from config import Config
from config.checks import startup_facts
from protocol import control
from protocol.catalogue import CloseCode
from server.admin.service import wire as wire_admin
from server.auth.metrics import AuthMetrics
from server.auth.service import AccountService
from server.game.identity import wire_accounts
from server.metrics import Metrics
from server.net.connection import Connection
from server.net.ops import start_ops
from server.persistence.api import GamePersistence
from server.state import ServerState
from server.sweeper import Sweeper
from server.tick import TickLoop

log = logging.getLogger("ganggpt")


class StartError(Exception):
    """The server could not start (port taken, address not available...): one line for the
    operator, no traceback."""


def default_persistence(
    config: Config, registry: CollectorRegistry | None = None
) -> GamePersistence:
    """The configured persistence: PostgreSQL or embedded SQLite, Redis or in-process cache."""
    if config.persistence == "off":
        from server.persistence.memory import MemoryPersistence

        return MemoryPersistence()
    from server.persistence.service import open_persistence

    return open_persistence(config, registry)


def build_accounts(
    config: Config, persistence: GamePersistence, registry: CollectorRegistry
) -> AccountService:
    """Accounts over the persistence's auth repositories, metrics on the server's registry."""
    return AccountService.from_config(
        config,
        store=persistence.repos.auth_accounts,
        refresh_store=persistence.repos.auth_sessions,
        metrics=AuthMetrics(registry),
    )


class Server:
    def __init__(
        self,
        state: ServerState,
        tcp: asyncio.Server,
        tick: TickLoop,
        sweeper: Sweeper,
        ops: asyncio.Server | None = None,
    ) -> None:
        self.state = state
        self.tcp = tcp
        self.ops = ops  # the /health and /metrics listener, when it has its own port
        self.tick = tick
        self.sweeper = sweeper
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = asyncio.Event()
        self._closing: asyncio.Task[None] | None = None
        self.unwatch_gc: Callable[[], None] = lambda: None

    @property
    def port(self) -> int:
        port: int = self.tcp.sockets[0].getsockname()[1]
        return port

    @property
    def ops_port(self) -> int:
        """The port serving /health and /metrics (the game port unless they have their own)."""
        if self.ops is None:
            return self.port
        port: int = self.ops.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """A URL a client on this machine can connect to (loopback when bound to all
        interfaces); what is really bound is `bound`."""
        host = self.state.config.server_host
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        host = "[::1]" if host == "::" else host
        scheme = "wss" if self.state.config.tls else "ws"
        return f"{scheme}://{_host_port(host, self.port)}/ws"

    @property
    def bound(self) -> list[str]:
        """host:port of every listening socket, as the kernel reports it."""
        out = []
        for sock in self.tcp.sockets:
            name = sock.getsockname()
            out.append(_host_port(str(name[0]), int(name[1])))
        return out

    async def drain(self) -> None:
        """Tell every client to come back (with a resume token), then close them with 1012."""
        st = self.state
        st.draining = True
        self.tcp.close()
        players = list(st.players.values())
        if players:
            await asyncio.gather(
                *(st.game.join.save_session(p) for p in players), return_exceptions=True
            )
        for p in players:
            p.client.send(
                control.Reconnect(
                    resume_token=p.resume_token,
                    after_ms=random.randint(250, 2000),
                    resume_window=st.config.resume_window,
                    reason="server restarting",
                )
            )
            p.client.close(
                CloseCode.SERVICE_RESTART, "server restarting; reconnect with your resume token"
            )
        for c in list(st.connections):
            if not c.closing:
                c.close(CloseCode.SERVICE_RESTART, "server restarting")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + st.config.drain_timeout
        while st.connections and loop.time() < deadline:
            await asyncio.sleep(0.05)
        for c in list(st.connections):
            c.abort()
        log.info("drained %d players", len(players))

    def restart(self) -> None:
        """Drain and stop (the admin console's `server.restart`); the process supervisor
        starts the server again. `serve` returns once this is done."""
        if self._closing is None:
            log.warning("restart requested from the admin console: draining")
            self._closing = asyncio.get_running_loop().create_task(self._close(drain=True))

    async def close(self, drain: bool = True) -> None:
        """Close once; a second call (or one during an admin restart) waits for the first."""
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close(drain))
        await asyncio.shield(self._closing)

    async def _close(self, drain: bool) -> None:
        if self.closed.is_set():
            return
        if drain:
            await self.drain()
        else:
            self.tcp.close()
            for c in list(self.state.connections):
                c.abort()
        self.tick.stop()
        self.sweeper.running = False
        # A stage that hangs must not keep the process from exiting (a supervisor restarts
        # it): bounded, and named in the log; storage below is not bounded (acknowledged data).
        if self.state.admin is not None:
            await _bounded(self.state.admin.stop(), "admin console")
        await _bounded(self.state.game.stop(), "game")
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        with contextlib.suppress(Exception):
            self.sweeper.snapshot(0.0)
        self.unwatch_gc()
        if self.ops is not None:
            self.ops.close()
        await self.state.persistence.close()
        if self.state.accounts is not None:
            self.state.accounts.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.tcp.wait_closed(), 2.0)
        self.closed.set()


STOP_STAGE_TIMEOUT = 15.0  # seconds a shutdown stage may take before it is given up


async def _bounded(stage: Coroutine[Any, Any, None], name: str) -> None:
    try:
        await asyncio.wait_for(stage, STOP_STAGE_TIMEOUT)
    except TimeoutError:
        log.error("shutdown: %s did not stop within %.0f s; going on", name, STOP_STAGE_TIMEOUT)
    except Exception:
        log.exception("shutdown: %s failed to stop; going on", name)


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def watch_gc(metrics: Metrics) -> Callable[[], None]:
    """Time every garbage-collector pause into `ganggpt_gc_pause_seconds`; returns an undo.

    A full collection walks every tracked object, and with thousands of connections that can
    hold the loop longer than a tick: this is how to see it happen."""
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            metrics.gc_seconds.labels(generation=str(info["generation"])).observe(
                time.perf_counter() - started[0]
            )

    gc.callbacks.append(callback)
    return lambda: gc.callbacks.remove(callback)


def tls_context(config: Config) -> ssl.SSLContext | None:
    """The server port's TLS settings (TLS_CERT_FILE, TLS_KEY_FILE), or None for plain TCP.
    TLS 1.2 at least; the library's default ciphers (forward secrecy, AEAD first)."""
    if not config.tls:
        return None
    assert config.tls_cert_file and config.tls_key_file
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    try:
        ctx.load_cert_chain(config.tls_cert_file, config.tls_key_file)
    except (OSError, ssl.SSLError) as err:
        # The message names the files' settings, never the key's contents.
        raise StartError(
            f"TLS_CERT_FILE / TLS_KEY_FILE: cannot load the certificate and key:"
            f" {getattr(err, 'reason', None) or getattr(err, 'strerror', None) or err}"
        ) from None
    return ctx


async def start_server(config: Config, persistence: GamePersistence | None = None) -> Server:
    """Bind, start persistence, then accept and tick; returns once clients can connect.

    The port is bound before persistence starts (and accepting waits until it has): a port
    already in use then fails at once with `StartError`, before any storage thread exists
    that could keep the process from exiting. Anything that fails later closes what was
    opened."""
    tls = tls_context(config)
    metrics = Metrics()
    if persistence is None:
        persistence = default_persistence(config, metrics.registry)
    state = ServerState.create(config, persistence, metrics)
    state.world.commands.register_metrics(metrics.registry)
    state.accounts = build_accounts(config, persistence, metrics.registry)
    wire_accounts(state)  # hellos identified by token (or as guests); ended sessions close
    admin = wire_admin(state)  # /admin and /admin/api; its sessions close when logins end
    # The console reads the anti-cheat's scores and offers generated missions through hooks,
    # so server/admin needs no import of the game's internals.
    game = state.game
    admin.violations = game.movement.anticheat.report
    game.movement.anticheat.on_violation = admin.report_violation
    admin.generate_mission = game.missions.generate_for
    admin.set_relation = game.factions.service.set_relationship
    loop = asyncio.get_running_loop()
    try:
        tcp = await loop.create_server(
            lambda: Connection(state),
            config.server_host,
            config.server_port,
            backlog=4096,
            reuse_address=True,
            start_serving=False,
            ssl=tls,
            ssl_handshake_timeout=config.handshake_timeout if tls else None,
        )
    except OSError as err:
        where = _host_port(config.server_host or "*", config.server_port)
        raise StartError(
            f"cannot listen on {where}: {err.strerror or err}"
            " (SERVER_HOST / SERVER_PORT; is another server running?)"
        ) from None
    ops: asyncio.Server | None = None
    try:
        if config.metrics_separate:
            try:
                ops = await start_ops(state)
            except OSError as err:
                host, port = config.metrics_bind
                raise StartError(
                    f"cannot listen on {_host_port(host or '*', port)} for /health and /metrics:"
                    f" {err.strerror or err} (METRICS_HOST / METRICS_PORT)"
                ) from None
        state.game.start()  # loads GAME_MODULES: a broken one stops the start
        await persistence.start()
        state.game.storage_ready()
        await tcp.start_serving()
    except BaseException:
        tcp.close()
        if ops is not None:
            ops.close()
        state.accounts.close()
        with contextlib.suppress(Exception):
            await state.game.stop()
        with contextlib.suppress(Exception):
            await persistence.close()
        raise
    tick = TickLoop(state)
    sweeper = Sweeper(state)
    server = Server(state, tcp, tick, sweeper, ops)
    admin.request_restart = server.restart
    server.tasks = [loop.create_task(tick.run()), loop.create_task(sweeper.run())]
    server.unwatch_gc = watch_gc(metrics)
    for fact in startup_facts(config):
        log.info("%s", fact)
    scheme = "wss" if tls else "ws"
    if ops is not None:
        bound = [_host_port(str(s.getsockname()[0]), s.getsockname()[1]) for s in ops.sockets]
        log.info("/health and /metrics on http://%s", ", http://".join(bound))
    log.info(
        "%s listening on %s (tick %d Hz, patches %d Hz, %d NPCs, max %d players)",
        config.server_name,
        ", ".join(f"{scheme}://{b}/ws" for b in server.bound),
        config.tickrate,
        config.send_rate,
        config.npc_count,
        config.max_players,
    )
    return server


def settle_runtime(server: Server | None = None) -> None:
    """Process-wide settings for a latency-bound server, applied once everything is loaded.

    - `gc.freeze()`: the ~50,000 objects of startup (modules, numpy, the world) are never
      garbage, yet every full collection would walk them again; frozen, a full collection
      with 1,000 players connected drops from ~20 ms to ~6 ms (measured).
    - automatic collection off, the tick loop collecting right after a tick instead.
    - a 1 ms GIL switch interval: the storage, journal and logging threads can otherwise keep
      the loop waiting up to the default 5 ms before the tick gets the interpreter back."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.001)
    if server is not None:
        # The collector then runs between ticks (TickLoop.collect_garbage), never inside one.
        gc.disable()
        server.tick.gc_after_tick = True


async def serve(config: Config) -> None:
    server = await start_server(config)
    settle_runtime(server)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopped = loop.create_task(stop.wait())
    restarted = loop.create_task(server.closed.wait())
    await asyncio.wait((stopped, restarted), return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    restarted.cancel()
    log.info("shutting down: draining clients")
    await server.close(drain=True)
    log.info("stopped")


def run(config: Config) -> None:
    import uvloop

    uvloop.run(serve(config))
