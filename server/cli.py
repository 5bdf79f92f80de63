"""`ganggpt` command line: run the server and operate its data."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from config import ConfigError, load_config
from config.secrets import redact


def package_version() -> str:
    try:
        return version("ganggpt-server")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _config(args: argparse.Namespace) -> Any:
    overrides: dict[str, Any] = {}
    for key in ("server_host", "server_port", "npc_count", "max_players", "log_level"):
        v = getattr(args, key, None)
        if v is not None:
            overrides[key] = v
    return load_config(**overrides)


def _cmd_run(args: argparse.Namespace) -> int:
    from config.checks import startup_warnings
    from server.app import StartError, run
    from server.logs import setup_logging, stop_logging

    cfg = _config(args)
    setup_logging(cfg.log_level, cfg.log_format, cfg.secrets())
    log = logging.getLogger("ganggpt.config")
    for warning in startup_warnings(cfg):
        log.warning("%s", warning)
    try:
        run(cfg)
    except StartError as e:
        stop_logging()  # what was logged comes first, then the reason, alone on its line
        sys.stderr.write(f"ganggpt: {redact(str(e), cfg.secrets())}\n")
        return 1
    finally:
        stop_logging()
    return 0


def _cmd_healthcheck(args: argparse.Namespace) -> int:
    """Exit 0 when this machine's server answers /health with 200: for container health
    checks, which then follow SERVER_PORT instead of hard-coding it."""
    import urllib.error
    import urllib.request

    cfg = _config(args)
    # /health is on its own listener with METRICS_PORT (the default with ENV=production),
    # else on the game port, over TLS when the server has a certificate.
    host, port = cfg.metrics_bind if cfg.metrics_separate else (cfg.server_host, cfg.server_port)
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    scheme = "https" if cfg.tls and not cfg.metrics_separate else "http"
    url = f"{scheme}://{host}:{port}/health"
    context = None
    if scheme == "https":
        import ssl

        context = ssl.create_default_context()
        context.check_hostname = False  # our own port on this machine: the name may differ
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=args.timeout, context=context) as r:
            ok = r.status == 200
    except urllib.error.HTTPError as e:
        ok = False
        sys.stderr.write(f"ganggpt healthcheck: {url} answered {e.code}\n")
    except OSError as e:
        sys.stderr.write(f"ganggpt healthcheck: {url}: {e}\n")
        return 1
    return 0 if ok else 1


def _cmd_config(args: argparse.Namespace) -> int:
    import orjson

    from config.checks import startup_warnings

    cfg = _config(args)
    for warning in startup_warnings(cfg):  # what `ganggpt run` would warn about
        sys.stderr.write(f"ganggpt config: warning: {warning}\n")
    sys.stdout.write(orjson.dumps(cfg.public_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganggpt",
        description="GangGPT Server: realtime game state for AI-driven GTA V roleplay. "
        "Settings come from environment variables and .env (see config/.env.example).",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="serve WebSocket clients, /health and /metrics on SERVER_PORT")
    run.add_argument("--host", dest="server_host", help="listen address (SERVER_HOST)")
    run.add_argument(
        "--port", dest="server_port", type=int, help="port (SERVER_PORT, default 22005)"
    )
    run.add_argument(
        "--npcs", dest="npc_count", type=int, help="NPCs walking the world (NPC_COUNT)"
    )
    run.add_argument("--max-players", dest="max_players", type=int, help="MAX_PLAYERS")
    run.add_argument("--log-level", dest="log_level", help="LOG_LEVEL: debug, info, warning, error")
    run.set_defaults(func=_cmd_run)
    cfg = sub.add_parser(
        "config", help="print the effective configuration (secrets masked) and exit"
    )
    cfg.set_defaults(func=_cmd_config)
    hc = sub.add_parser(
        "healthcheck",
        help="exit 0 if the server on this machine answers /health with 200 (on METRICS_PORT"
        " when /health has its own port, else SERVER_PORT)"
        " (for container health checks)",
    )
    hc.add_argument("--timeout", type=float, default=3.0, help="seconds to wait (default 3)")
    hc.set_defaults(func=_cmd_healthcheck)
    role = sub.add_parser(
        "role",
        help="give an account a role (player, premium, moderator, admin, owner): how the first"
        " administrator of the admin console is made; audited as actor `cli`",
    )
    role.add_argument("username", help="the account's username")
    role.add_argument("role", help="the role to give")
    role.set_defaults(func=_cmd_role)
    _add_data_commands(sub)
    return p


def _cmd_role(args: argparse.Namespace) -> int:
    import orjson

    from server.admin.grant import GrantError, run_set_role

    cfg = _config(args)
    try:
        out = run_set_role(cfg, args.username, args.role)
    except GrantError as e:
        sys.stderr.write(f"ganggpt role: {e}\n")
        return 1
    except Exception as e:  # unreachable database...: a message, not a traceback
        sys.stderr.write(f"ganggpt role: {type(e).__name__}: {e}\n")
        return 1
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc: int = args.func(args)
        return rc
    except ConfigError as e:
        sys.stderr.write(f"ganggpt: {e}\n")  # secrets already masked by config
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())


# --- data commands (persistence): migrate, backup, restore ---
def _data_command(args: argparse.Namespace) -> int:
    import orjson

    from server.persistence.commands import (
        CommandError,
        run_backup,
        run_copy,
        run_migrate,
        run_restore,
    )

    cfg = _config(args)
    try:
        if args.command == "migrate":
            applied = run_migrate(cfg)
            out: Any = {"applied": applied}
        elif args.command == "backup":
            out = run_backup(cfg, args.dest)
        elif args.command == "copy":
            out = run_copy(cfg, args.source, args.target, force=args.force)
        else:
            out = run_restore(cfg, args.src, force=args.force)
    except (CommandError, ConfigError) as e:
        sys.stderr.write(f"ganggpt {args.command}: {e}\n")
        return 1
    except Exception as e:  # unreachable database, bad URL...: a message, not a traceback
        sys.stderr.write(f"ganggpt {args.command}: {type(e).__name__}: {e}\n")
        return 1
    sys.stdout.write(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _add_data_commands(sub: Any) -> None:
    mig = sub.add_parser(
        "migrate",
        help="apply pending schema migrations to DATABASE_URL (or SQLITE_PATH) and exit;"
        " the server also does this at start",
    )
    mig.set_defaults(func=_data_command)
    bk = sub.add_parser(
        "backup",
        help="write a backup of the database (pg_dump or SQLite online backup), the Redis keys"
        " under REDIS_PREFIX and any pending journal into a new directory; safe while running",
    )
    bk.add_argument("dest", help="directory to create (must not exist or be empty)")
    bk.set_defaults(func=_data_command)
    rs = sub.add_parser(
        "restore",
        help="replace the database and Redis keys with a backup made by `ganggpt backup`;"
        " refused while a server holds the database (stop it first)",
    )
    rs.add_argument("src", help="backup directory")
    rs.add_argument(
        "--force",
        action="store_true",
        help="restore even while a server holds the database (it will keep writing its own"
        " state over the restored one)",
    )
    rs.set_defaults(func=_data_command)
    cp = sub.add_parser(
        "copy",
        help="copy a whole world into another, empty database (e.g. SQLite to PostgreSQL);"
        " both must be free of running servers",
        description="Copy every table of one GangGPT database into another, empty one,"
        " converting types between SQLite and PostgreSQL. Example: ganggpt copy --from"
        " sqlite:///data/ganggpt.db --to postgresql://ganggpt:PASSWORD@db:5432/ganggpt",
    )
    cp.add_argument(
        "--from",
        dest="source",
        required=True,
        help="source: sqlite:///relative/path, sqlite:////absolute/path or postgresql://...",
    )
    cp.add_argument("--to", dest="target", required=True, help="target (empty): same forms")
    cp.add_argument(
        "--force",
        action="store_true",
        help="copy even while a server holds either database, or the source journal is not empty",
    )
    cp.set_defaults(func=_data_command)
