// 4012 RESUME_REFUSED (SPEC §3.3, §13): a resume presented while the server still holds the old
// connection is refused, and the same token works once the server has noticed the drop. The
// client must retry it with backoff while the resume window lasts. A small scripted WebSocket
// server on 127.0.0.1 plays the server's part, so the policy is tested whatever the Python
// server under test implements (live.test.mjs checks it against the real one when it can).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import WebSocket, { WebSocketServer } from "ws";
import { CloseCode, ConnectionError, GangClient } from "../src/index.js";
import { VECTORS, eventually } from "./support.mjs";

const FULL = Buffer.from(
  JSON.parse(readFileSync(join(VECTORS, "state_frames.json"), "utf8")).find((c) => c.name === "full_snapshot").hex,
  "hex",
);
const WELCOME = JSON.parse(
  JSON.parse(readFileSync(join(VECTORS, "control_messages.json"), "utf8")).find((c) => c.name === "welcome").text,
);

/**
 * `plan(hello, n)` decides the n-th connection (1-based): a close code to refuse it with, or
 * an object of welcome fields to welcome it with. Every hello is recorded.
 */
let wss;
let url;
let plan = () => ({});
const hellos = [];
const sockets = new Set();

before(async () => {
  wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((r) => wss.once("listening", r));
  url = `ws://127.0.0.1:${wss.address().port}/ws`;
  wss.on("connection", (ws) => {
    sockets.add(ws);
    ws.on("close", () => sockets.delete(ws));
    ws.once("message", (data) => {
      const hello = JSON.parse(data.toString());
      hellos.push(hello);
      const decision = plan(hello, hellos.length);
      if (typeof decision === "number") ws.close(decision, "scripted refusal");
      else {
        const { after = null, ...fields } = decision;
        // One TCP write for the welcome and what follows it, so the client reads them together.
        ws._socket.cork();
        ws.send(JSON.stringify({ ...WELCOME, name: hello.name, resume_token: `tok-${hellos.length}`, ...fields }));
        if (after === "full") ws.send(FULL);
        if (after === "close") ws.close(CloseCode.KICKED, "scripted kick");
        ws._socket.uncork();
      }
    });
  });
});

after(async () => {
  for (const ws of sockets) ws.terminate();
  await new Promise((r) => wss.close(r));
});

function reset(p) {
  plan = p;
  hellos.length = 0;
}

const opts = (extra = {}) => ({ url, name: "Ana", WebSocket, backoffBaseMs: 20, backoffMaxMs: 80, pingIntervalMs: 0, deadAfterMs: 60000, ...extra });

test("connect() with a token the server refuses (4012) retries it with backoff until it resumes", async () => {
  reset((hello, n) => (n <= 3 ? CloseCode.RESUME_REFUSED : { resumed: true }));
  const c = new GangClient(opts({ resumeToken: "old-token" }));
  const retries = [];
  c.on("reconnecting", (e) => retries.push(e));
  const w = await c.connect();
  assert.equal(w.resumed, true);
  assert.equal(c.state, "open");
  assert.deepEqual(hellos.map((h) => h.resume), ["old-token", "old-token", "old-token", "old-token"]);
  assert.deepEqual(retries.map((r) => [r.attempt, r.resume]), [[2, true], [3, true], [4, true]]);
  assert.ok(retries.every((r) => r.delayMs > 0), "backoff between retries");
  assert.equal(c.resumeToken, "tok-4");
  c.disconnect();
});

test("connect() does not retry a 4012 with reconnect: false, nor other refusals", async () => {
  reset(() => CloseCode.RESUME_REFUSED);
  const c = new GangClient(opts({ resumeToken: "old-token", reconnect: false }));
  await assert.rejects(c.connect(), (e) => e instanceof ConnectionError && e.code === 4012 && e.codeName === "RESUME_REFUSED" && !e.fatal);
  assert.equal(hellos.length, 1);
  assert.equal(c.closed, true);

  reset(() => CloseCode.SERVER_FULL);
  const d = new GangClient(opts({ resumeToken: "old-token" }));
  await assert.rejects(d.connect(), (e) => e.code === CloseCode.SERVER_FULL && e.fatal);
  assert.equal(hellos.length, 1);
});

test("after a drop, refused resumes are retried with the same token; the next welcome resumes", async () => {
  reset((hello, n) => (n === 1 ? { resume_token: "first" } : n <= 4 ? CloseCode.RESUME_REFUSED : { resumed: true }));
  const c = new GangClient(opts());
  await c.connect();
  const reconnected = c.waitFor("reconnected", () => true, 10000);
  const disconnected = [];
  c.on("disconnected", (e) => disconnected.push(e));
  for (const ws of sockets) ws.terminate(); // a network loss: no close frame
  const r = await reconnected;
  assert.equal(r.resumed, true);
  assert.equal(r.attempt, 4);
  assert.deepEqual(hellos.map((h) => h.resume ?? null), [null, "first", "first", "first", "first"]);
  assert.equal(disconnected.length, 1, "refused attempts are not new disconnections");
  assert.equal(c.reconnects, 1);
  c.disconnect();
});

test("refusals past the resume window end the client with a ConnectionError", async () => {
  reset((hello, n) => (n === 1 ? { resume_window: 0.4 } : CloseCode.RESUME_REFUSED));
  const c = new GangClient(opts());
  await c.connect();
  const t0 = Date.now();
  for (const ws of sockets) ws.terminate();
  const err = await c.done;
  assert.ok(err instanceof ConnectionError, String(err));
  assert.match(err.message, /resume window/);
  assert.ok(hellos.length >= 3, `${hellos.length} hellos`);
  assert.ok(Date.now() - t0 < 5000, "gave up when the window ended");
  assert.equal(c.closed, true);
});

test("disconnect() during a 4012 backoff stops connect() at once", async () => {
  reset(() => CloseCode.RESUME_REFUSED);
  const c = new GangClient(opts({ resumeToken: "old-token", backoffBaseMs: 5000, backoffMaxMs: 5000 }));
  const pending = c.connect();
  await eventually(() => c._sleep !== null, 5000, "the first refusal's backoff");
  const t0 = Date.now();
  c.disconnect();
  await assert.rejects(pending, ConnectionError);
  assert.ok(Date.now() - t0 < 1000, "not after the 2.5-5 s backoff");
  assert.equal(c.closed, true);
  assert.equal(hellos.length, 1);
});

test("what arrives in the same read as the welcome (the first FULL, a close) is not lost", async () => {
  reset(() => ({ after: "full" }));
  const snapshots = [];
  const c = new GangClient(opts());
  c.on("snapshot", (e) => snapshots.push(e));
  await c.connect();
  assert.equal(c.stats.fullFrames, 1);
  assert.equal(snapshots.length, 1);
  assert.ok(c.entities.size > 0, "the FULL snapshot's entities are mirrored");
  c.disconnect();

  reset(() => ({ after: "close" }));
  const d = new GangClient(opts({ reconnect: false }));
  await d.connect();
  const err = await d.done;
  assert.equal(err.code, CloseCode.KICKED);
  assert.equal(d.closed, true);
});
