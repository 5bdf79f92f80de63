// Test support: the real Python server as a child process on a free port, a TCP proxy that can
// cut connections like a network failure, a Python bot, and bounded polling.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const JS_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const REPO = resolve(JS_ROOT, "..", "..");
export const VECTORS = join(REPO, "protocol", "vectors");
export const PYTHON = process.env.GANGGPT_PYTHON ?? join(REPO, ".venv", "bin", "python");

/** Poll `check` (sync or async) until it returns a truthy value; fail after `timeoutMs`. */
export async function eventually(check, timeoutMs, what, everyMs = 25) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

/**
 * `python -m server run` in a child process on a free port with a throw-away data directory,
 * a small world (every entity within everyone's view) and no persistence. Python and the
 * repository's .venv are required: without them the test fails, naming what is missing.
 */
export async function startServer(settings = {}) {
  if (!existsSync(PYTHON)) {
    throw new Error(`no Python at ${PYTHON}: run 'make .venv/.installed-stamp' (or set GANGGPT_PYTHON)`);
  }
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "ganggpt-js-"));
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: process.env.HOME ?? dir,
    LANG: "C.UTF-8",
    PYTHONUNBUFFERED: "1",
    GANGGPT_ENV_FILE: join(dir, "absent.env"), // never a developer's .env
    SERVER_HOST: "127.0.0.1",
    SERVER_PORT: String(port),
    LOG_LEVEL: "warning",
    PERSISTENCE: "off",
    SQLITE_PATH: join(dir, "game.db"),
    JOURNAL_PATH: join(dir, "journal"),
    NPC_COUNT: "12",
    SPAWN_AREA_SIZE: "120",
    ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [k.toUpperCase(), String(v)])),
  };
  const proc = spawn(PYTHON, ["-m", "server", "run"], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const keep = (chunk) => {
    log = (log + chunk.toString()).slice(-20000);
  };
  proc.stdout.on("data", keep);
  proc.stderr.on("data", keep);
  let exited = null;
  proc.on("exit", (code, signal) => (exited = code ?? signal));
  const server = {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    proc,
    log: () => log,
    async stop() {
      if (exited === null) {
        const gone = new Promise((r) => proc.once("exit", r));
        proc.kill("SIGKILL");
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await eventually(async () => {
      if (exited !== null) throw new Error(`server exited with ${exited}:\n${log}`);
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health`);
        await r.arrayBuffer();
        return r.status === 200;
      } catch {
        return false;
      }
    }, 30000, `the server on port ${port} to serve /health`, 50);
  } catch (e) {
    await server.stop();
    throw e;
  }
  return server;
}

/**
 * A TCP proxy in front of the server whose `cut()` destroys every open connection without a
 * close frame, as a network failure does (the server keeps the player for resume). `lose()`
 * drops only the client's side, as a network loss the server has not noticed yet; `release()`
 * then closes the server's side.
 */
export async function startProxy(targetPort) {
  const sockets = new Set();
  const pairs = new Set();
  const held = new Set();
  const srv = net.createServer((client) => {
    const upstream = net.connect(targetPort, "127.0.0.1");
    const pair = { client, upstream };
    pairs.add(pair);
    for (const [s, other] of [[client, upstream], [upstream, client]]) {
      sockets.add(s);
      s.on("close", () => {
        sockets.delete(s);
        pairs.delete(pair);
        if (!held.has(other)) other.destroy();
      });
      s.on("error", () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  return {
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    get open() {
      return sockets.size;
    },
    cut() {
      for (const s of sockets) s.destroy();
    },
    /** Stop forwarding server -> client on the open connections, closing nothing. */
    freeze() {
      for (const { client, upstream } of pairs) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    lose() {
      for (const { client, upstream } of pairs) {
        held.add(upstream);
        upstream.unpipe(client);
        upstream.on("data", () => {}); // keep reading, so the server sees a healthy peer
        client.destroy();
      }
    },
    release() {
      for (const s of held) s.destroy();
      held.clear();
    },
    close() {
      held.clear();
      for (const s of sockets) s.destroy();
      return new Promise((r) => srv.close(r));
    },
  };
}

/**
 * The Python SDK's client (client_sdk) as a bot in a child process; see py_bot.py. Its stdout
 * is one JSON object per line; `lines` holds them all, `waitLine` polls for one.
 */
export function startPyBot(url, name, args = []) {
  const script = join(JS_ROOT, "test", "py_bot.py");
  const proc = spawn(PYTHON, [script, url, name, ...args], {
    cwd: REPO,
    env: { ...process.env, PYTHONPATH: REPO, PYTHONUNBUFFERED: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const bot = { proc, lines: [], stderr: "", exited: null };
  let buf = "";
  proc.stdout.on("data", (chunk) => {
    buf += chunk.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) bot.lines.push(JSON.parse(line));
    }
  });
  proc.stderr.on("data", (c) => (bot.stderr = (bot.stderr + c.toString()).slice(-5000)));
  proc.on("exit", (code) => (bot.exited = code));
  bot.waitLine = (pred, timeoutMs, what) =>
    eventually(() => {
      if (bot.exited !== null) throw new Error(`python bot exited with ${bot.exited}: ${bot.stderr}`);
      for (let k = bot.lines.length - 1; k >= 0; k--) if (pred(bot.lines[k])) return bot.lines[k];
      return null;
    }, timeoutMs, what);
  bot.send = (cmd) => proc.stdin.write(JSON.stringify(cmd) + "\n");
  bot.stop = async () => {
    if (bot.exited === null) {
      const gone = new Promise((r) => proc.once("exit", r));
      proc.stdin.end();
      const t = setTimeout(() => proc.kill("SIGKILL"), 5000);
      await gone;
      clearTimeout(t);
    }
  };
  return bot;
}
