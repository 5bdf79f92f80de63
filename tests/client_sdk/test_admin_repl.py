"""`ganggpt-admin` end to end: the console script in a pty (pexpect), against a live server
started here, with two SDK bots as the players it acts on.

The pty half runs in a worker thread (pexpect blocks) while the server and the bots keep
running in the test's event loop.
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pexpect
import pytest

from client_sdk import FatalCloseError, connect
from client_sdk.admin import AdminSession
from config import load_config
from server.app import Server, start_server
from server.persistence.memory import MemoryPersistence
from tests.client_sdk.fake_admin import PASSWORD, FakeAdmin, serve

pytestmark = pytest.mark.timeout(120)

PW = "correct horse battery"
ADMIN = "root"
CONFIG = {
    "server_host": "127.0.0.1",
    "server_port": 0,
    "npc_count": 10,
    "log_level": "warning",
    "sqlite_path": "",
    "jwt_secret": secrets.token_hex(32),
    "bcrypt_rounds": 10,  # config's floor: the cheapest real cost
}
STEP = 30  # seconds any one expected output may take on a loaded box


def admin_command() -> list[str]:
    script = Path(sys.executable).with_name("ganggpt-admin")
    assert script.exists(), "the ganggpt-admin console script is not installed (pyproject)"
    return [str(script)]


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GANGGPT_ADMIN")}
    env.update(
        HOME=str(tmp_path),
        TERM="xterm-256color",
        NO_COLOR="1",  # plain text to match; colour is the renderer's business
        PROMPT_TOOLKIT_NO_CPR="1",  # no cursor-position query the pty would never answer
        COLUMNS="200",
        LINES="50",
        **extra,
    )
    return env


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    srv = await start_server(load_config(**CONFIG), MemoryPersistence())
    yield srv
    await srv.close(drain=False)


async def http(srv: Server, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session,
        session.post(f"http://127.0.0.1:{srv.port}{path}", json=body) as r,
    ):
        return r.status, orjson.loads(await r.read())


async def account(srv: Server, name: str, role: str | None = None) -> dict[str, Any]:
    """Register `name`; give it `role`; log in. The login answer (tokens)."""
    status, body = await http(
        srv,
        "/auth/register",
        {"username": name, "email": f"{name.lower()}@example.com", "password": PW},
    )
    assert status == 201, body
    if role is not None:
        assert srv.state.accounts is not None
        await srv.state.accounts.set_role(body["id"], role)
    status, tokens = await http(srv, "/auth/login", {"username": name, "password": PW})
    assert status == 200, tokens
    return tokens


def drive(port: int, tmp_path: Path, transcript: io.StringIO) -> int | None:
    """The operator's session, typed into the REPL through a pty. Its exit status."""
    history = tmp_path / "history"
    child = pexpect.spawn(
        admin_command()[0],
        ["--url", f"ws://127.0.0.1:{port}", "--username", ADMIN, "--history", str(history)],
        env=child_env(tmp_path),
        encoding="utf-8",
        timeout=STEP,
        dimensions=(50, 200),
    )
    child.logfile_read = transcript
    try:
        child.expect("password: ")
        child.sendline(PW)
        child.expect(f"connected as {ADMIN}")
        prompt = re.escape(f"{ADMIN}@127.0.0.1:{port}") + ">"  # the space is a cursor move
        child.expect(prompt)

        child.sendline("players")
        child.expect(r"2 player\(s\)[^└]*└")  # the whole table, to its bottom corner
        assert "Ana" in child.after and "Vicky" in child.after
        child.expect(prompt)

        child.sendline("kick Ana afk too long")
        child.expect(r"ok players\.kick kicked=true")
        child.expect(prompt)

        # Tab completes the live name from players.list: "Vic" alone names nobody.
        child.send("ban Vic")
        child.send("\t")
        child.expect("ky")  # the screen update draws only the completed suffix
        child.send(" 2h aimbot, caught on replay\r")
        child.expect(r"ok players\.ban ban_id=")
        child.expect(prompt)

        child.sendline("frobnicate")
        child.expect("error: unknown command 'frobnicate'")
        child.expect(prompt)

        child.sendline("audit 10")
        child.expect(r"audit: \d+ row\(s\)")
        child.expect(prompt)

        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    return child.exitstatus


async def test_operator_lists_kicks_bans_and_the_audit_log_has_it(
    server: Server, tmp_path: Path
) -> None:
    admin_id = (await account(server, ADMIN, role="admin"))["sub"]
    players = []
    for name in ("Ana", "Vicky"):
        tokens = await account(server, name)
        bot = await connect(server.url, name=name, token=tokens["access_token"], reconnect_for=0)
        players.append(bot)
    ana, vicky = players

    transcript = io.StringIO()
    try:
        status = await asyncio.to_thread(drive, server.port, tmp_path, transcript)
    except (pexpect.TIMEOUT, pexpect.EOF) as err:
        raise AssertionError(
            f"REPL stalled: {type(err).__name__}\n{transcript.getvalue()}"
        ) from None
    assert status == 0, transcript.getvalue()

    # The bots were thrown out with 4011, and the ban holds against a new login.
    for bot in (ana, vicky):
        err = await bot.wait_closed(timeout=10)
        assert isinstance(err, FatalCloseError) and err.code == 4011, err
    status, body = await http(server, "/auth/login", {"username": "Vicky", "password": PW})
    assert (status, body["error"]) == (403, "banned"), body
    status, _ = await http(server, "/auth/login", {"username": "Ana", "password": PW})
    assert status == 200  # a kick is not a ban

    # The audit rows, read back as JSON by the same tool in script mode.
    proc = await asyncio.create_subprocess_exec(
        *admin_command(),
        "--url",
        f"ws://127.0.0.1:{server.port}",
        "-u",
        ADMIN,
        "--json",
        "-c",
        "audit 50",
        env=child_env(tmp_path, GANGGPT_ADMIN_PASSWORD=PW),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err_out = await asyncio.wait_for(proc.communicate(), STEP)
    assert proc.returncode == 0, err_out.decode()
    rows = orjson.loads(out)["rows"]
    actions = {(r["action"], r["result"]) for r in rows}
    assert ("players.kick", "ok") in actions and ("players.ban", "ok") in actions, rows
    ban = next(r for r in rows if r["action"] == "players.ban")
    assert ban["args"]["reason"] == "aimbot, caught on replay" and ban["args"]["duration_s"] == 7200
    assert all(ADMIN in str(r["actor"]) or admin_id in str(r["actor"]) for r in rows), rows

    # Live pushes (the default `events` topic) were printed between the prompts.
    assert re.search(r"events:\w+ .*players\.ban", transcript.getvalue()), transcript.getvalue()

    # Nothing secret was ever printed; the history holds commands, not the password.
    shown = transcript.getvalue() + out.decode() + err_out.decode()
    assert PW not in shown
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.", shown), "a JWT was printed"
    history = (tmp_path / "history").read_text()
    assert "kick Ana afk too long" in history and PW not in history


async def script(
    srv: Server, tmp_path: Path, user: str, stdin: bytes, *extra: str
) -> tuple[int | None, str, str]:
    """Run ganggpt-admin non-interactively with `stdin` piped in: (status, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *admin_command(),
        "--url",
        f"ws://127.0.0.1:{srv.port}",
        "-u",
        user,
        *extra,
        env=child_env(tmp_path, GANGGPT_ADMIN_PASSWORD=PW),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), STEP)
    return proc.returncode, out.decode(), err.decode()


async def test_scripts_read_stdin_and_roles_are_respected(server: Server, tmp_path: Path) -> None:
    await account(server, "mod", role="moderator")
    await account(server, "pleb")
    tokens = await account(server, "Ana")
    async with connect(server.url, name="Ana", token=tokens["access_token"]):
        status, out, err = await script(
            server, tmp_path, "mod", b"players\n# a comment\nban Ana 1h nope\nwarn Ana calm down\n"
        )
        assert status == 1, (out, err)  # one command failed
        assert "1 player(s)" in out and "Ana" in out
        assert "players.ban: forbidden" in err  # a moderator cannot ban...
        assert "ok players.warn" in out  # ...but can warn

        status, out, err = await script(server, tmp_path, "pleb", b"players\n")
        assert status == 2 and "may not use the admin console" in err, (out, err)


async def test_the_token_is_refreshed_on_a_real_server(tmp_path: Path) -> None:
    srv = await start_server(load_config(**CONFIG, access_token_ttl=10), MemoryPersistence())
    try:
        await account(srv, ADMIN, role="admin")
        async with AdminSession(f"ws://127.0.0.1:{srv.port}", ADMIN, PW) as admin:
            loop = asyncio.get_running_loop()
            end = loop.time() + 30
            while admin.refreshes < 1:  # due after 3/4 of the token's 10 s
                assert loop.time() < end, "the token was never refreshed"
                await asyncio.sleep(0.1)
            assert "players" in await admin.call("players.list")
    finally:
        await srv.close(drain=False)


async def test_ctrl_c_abandons_a_command_and_a_revoked_session_ends_the_repl(
    tmp_path: Path,
) -> None:
    fake = FakeAdmin()
    runner, url = await serve(fake)

    def operate(transcript: io.StringIO) -> int | None:
        child = pexpect.spawn(
            admin_command()[0],
            ["--url", url, "-u", "root", "--history", str(tmp_path / "h"), "--watch", "none"],
            env=child_env(tmp_path, GANGGPT_ADMIN_PASSWORD=PASSWORD),
            encoding="utf-8",
            timeout=STEP,
            dimensions=(50, 200),
        )
        child.logfile_read = transcript
        try:
            prompt = re.escape(f"root@{url.split('://')[1]}") + ">"
            child.expect(prompt)
            child.sendline("raw hang {}")  # the stand-in never answers this one
            # Sent means the prompt is done and the terminal is back in cooked mode, where
            # Ctrl-C is a SIGINT (typed earlier it would be the next prompt's keystroke).
            deadline = time.monotonic() + STEP
            while "hang" not in fake.received:
                assert time.monotonic() < deadline, "the command never reached the server"
                time.sleep(0.02)
            child.sendcontrol("c")
            child.expect("interrupted")
            child.sendline('raw echo {"still": "here"}')
            child.expect("here")
            fake.refresh = "revoked elsewhere"
            asyncio.run_coroutine_threadsafe(fake.drop(4004, "revoked"), loop).result(STEP)
            child.expect("ended the login session")
            child.sendline("players")
            child.expect("leaving")
            child.expect(pexpect.EOF)
        finally:
            child.close(force=True)
        return child.exitstatus

    loop = asyncio.get_running_loop()
    transcript = io.StringIO()
    try:
        status = await asyncio.to_thread(operate, transcript)
    except (pexpect.TIMEOUT, pexpect.EOF) as err:
        raise AssertionError(
            f"REPL stalled: {type(err).__name__}\n{transcript.getvalue()}"
        ) from None
    finally:
        await runner.cleanup()
    assert status == 0, transcript.getvalue()


def test_help_and_version(tmp_path: Path) -> None:
    env = child_env(tmp_path)
    out = pexpect.run(
        " ".join([*admin_command(), "--help"]), env=env, encoding="utf-8", timeout=STEP
    )
    assert "--url" in out and "--username" in out and "GANGGPT_ADMIN_PASSWORD" in out
    out, status = pexpect.run(
        " ".join([*admin_command(), "--version"]),
        env=env,
        encoding="utf-8",
        timeout=STEP,
        withexitstatus=True,
    )
    assert status == 0 and re.fullmatch(r"ganggpt-admin \d+\.\d+\.\d+\S*\s*", out), out


def test_a_refused_login_is_said_plainly(tmp_path: Path) -> None:
    """Nothing listens on the port: the tool says so and exits 2 without a traceback."""
    port = _free_port()
    out, status = pexpect.run(
        " ".join([*admin_command(), "--url", f"ws://127.0.0.1:{port}", "-u", "x", "-c", "players"]),
        env=child_env(tmp_path, GANGGPT_ADMIN_PASSWORD="pw"),
        encoding="utf-8",
        timeout=STEP,
        withexitstatus=True,
    )
    assert status == 2 and "cannot reach" in out and "Traceback" not in out, out


def test_without_a_terminal_the_password_must_come_from_the_environment(tmp_path: Path) -> None:
    """A script's first line is never taken for the password."""
    r = subprocess.run(
        [*admin_command(), "-u", "root", "--url", f"ws://127.0.0.1:{_free_port()}"],
        input=b"players\n",
        capture_output=True,
        env=child_env(tmp_path),
        timeout=STEP,
        start_new_session=True,  # no controlling terminal, as under cron or CI
    )
    assert r.returncode == 2 and b"GANGGPT_ADMIN_PASSWORD" in r.stderr, r


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
