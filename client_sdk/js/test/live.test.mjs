// The SDK against the real Python server, started on a free port for this file.

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { existsSync } from "node:fs";
import { join as joinPath } from "node:path";
import { CloseCode, EntityKind, ErrorCode, GangClient, altWebSocket, pathPosition } from "../src/index.js";
import { REPO, eventually, startProxy, startPyBot, startServer } from "./support.mjs";

let server;
const clients = [];

before(async () => {
  server = await startServer({ LOG_LEVEL: "info" }); // joins and refusals, printed when a join fails
});

after(async () => {
  for (const c of clients) if (!c.closed) c.disconnect();
  await server?.stop();
});

async function join(name, opts = {}) {
  const c = new GangClient({ url: server.url, name, WebSocket, ...opts });
  clients.push(c);
  try {
    await c.connect();
    await eventually(() => c.me !== null, 10000, `${name}'s first snapshot`);
  } catch (e) {
    // What the client got and what the server said (joins, refusals) explain a failure.
    console.log(`${name}: state ${c.state}, stats ${JSON.stringify(c.stats)}\nserver log:\n${server.log()}`);
    throw e;
  }
  return c;
}

const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

/** Send one raw hello on a fresh socket: resolves with "welcome" or the close code it got. */
function helloOutcome(url, hello) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error("neither welcome nor close within 10 s"));
    }, 10000);
    ws.on("open", () => ws.send(JSON.stringify(hello)));
    ws.on("message", (data, isBinary) => {
      if (!isBinary && JSON.parse(data.toString()).op === "welcome") {
        clearTimeout(timer);
        ws.terminate();
        resolve("welcome");
      }
    });
    ws.on("close", (code) => {
      clearTimeout(timer);
      resolve(code);
    });
    ws.on("error", () => {});
  });
}

let refusal = null;
/**
 * Does the server under test refuse a resume while the token's connection is open (4012,
 * SPEC §3.3)? Asked once, with a throwaway player; a server without the rule welcomes it.
 */
function serverRefusesOpenResume() {
  refusal ??= (async () => {
    const p = await join("js-probe-4012");
    return (await helloOutcome(server.url, { op: "hello", v: 1, name: "js-probe-4012", resume: p.resumeToken })) === CloseCode.RESUME_REFUSED;
  })();
  return refusal;
}
const NO_4012 =
  "the server under test welcomes a resume while the token's connection is still open: 4012 RESUME_REFUSED " +
  "(SPEC §3.3) is not implemented by it yet. The SDK's retry policy is tested against a scripted server in resume_refused.test.mjs";

/** Walk `c` in a straight line at `speed` m/s for `ms`, 20 inputs a second. */
async function walk(c, dx, dy, ms, speed = 5) {
  const w = c.mirror.local;
  const t0 = Date.now();
  let pos = w;
  const norm = Math.hypot(dx, dy);
  while (Date.now() - t0 < ms) {
    const d = (speed * (Date.now() - t0)) / 1000;
    pos = [w[0] + (dx / norm) * d, w[1] + (dy / norm) * d, w[2], 0];
    c.move(...pos);
    await new Promise((r) => setTimeout(r, 50));
  }
  return pos;
}

describe("handshake", () => {
  test("welcome, a FULL snapshot with our own player, NPCs with paths, latency by ping", async () => {
    const c = await join("js-hello");
    const w = c.welcome;
    assert.equal(w.v, 1);
    assert.equal(w.name, "js-hello");
    assert.equal(w.resumed, false);
    assert.match(w.player_id, /^[0-9a-f-]{36}$/);
    assert.ok(c.resumeToken);
    assert.equal(c.me.id, w.net_id);
    assert.equal(c.me.name, "js-hello");
    assert.ok(Math.abs(c.me.x - w.x) < 0.07 && Math.abs(c.me.y - w.y) < 0.07, "own echo at the spawn point");
    await eventually(() => c.npcs().length > 0, 5000, "NPCs in view");
    const npc = c.npcs()[0];
    assert.equal(npc.kind, EntityKind.NPC);
    const p = c.positionOf(npc);
    assert.ok(p.every(Number.isFinite));
    const rtt = await c.ping();
    assert.ok(rtt > 0 && rtt < 5, `rtt ${rtt}`);
    assert.ok(Math.abs(c.latency.offset) < 1, "same machine: clocks agree within a second");
    assert.ok(c.stats.frames > 0 && c.stats.invalid === 0);
    // The server sends a frame at least every second, so the estimated tick moves on.
    const t0 = c.serverTick();
    await eventually(() => c.serverTick() > t0 + 30, 3000, "server tick estimate to advance");
  });
});

describe("mirror agreement with the Python reference client", () => {
  test("same entities, same NPC paths, NPC positions equal to the bit", async () => {
    const c = await join("js-mirror");
    const py = startPyBot(server.url, "py-mirror");
    try {
      const hello = await py.waitLine((l) => l.ev === "welcome", 20000, "python bot welcome");
      await eventually(() => c.entities.has(hello.net_id), 10000, "JS to see the python bot");
      let compared = 0;
      await eventually(() => {
        const view = py.lines.findLast((l) => l.ev === "view" && l.entities[String(c.netId)]);
        if (!view) return false;
        // Compare every NPC and the two players; other tests' players may come and go.
        for (const [id, d] of Object.entries(view.entities)) {
          const e = c.entities.get(Number(id));
          if (d[0] === "n") {
            if (!e || e.kind !== EntityKind.NPC) return false;
            const p = e.path;
            if (JSON.stringify(["n", e.model, p.qx, p.qy, p.qz, p.wx, p.wy, p.speed, p.start_tick]) !== JSON.stringify(d)) return false;
            const at = pathPosition(p, view.tick, c.welcome.tick_rate, c.welcome.world);
            assert.deepEqual(at, view.npc_at[id], `NPC ${id} at tick ${view.tick}`);
          }
        }
        const jsNpcs = c.npcs().map((n) => n.id).sort();
        const pyNpcs = Object.entries(view.entities).filter(([, d]) => d[0] === "n").map(([id]) => Number(id)).sort();
        if (JSON.stringify(jsNpcs) !== JSON.stringify(pyNpcs)) return false;
        const me = view.entities[String(c.netId)];
        const m = c.me;
        assert.deepEqual(me, ["p", m.qx, m.qy, m.qz, m.qheading, "js-mirror"]);
        const him = c.entities.get(hello.net_id);
        assert.deepEqual(["p", him.qx, him.qy, him.qz, him.qheading, him.name], view.entities[String(hello.net_id)]);
        compared = pyNpcs.length;
        return true;
      }, 15000, "the JS mirror to agree with the Python one");
      assert.ok(compared > 0, "compared at least one NPC");
    } finally {
      await py.stop();
    }
  });
});

describe("players see each other", () => {
  test("two JS clients see each other move", async () => {
    const a = await join("js-walker-a");
    const b = await join("js-walker-b");
    await eventually(() => a.entities.has(b.netId) && b.entities.has(a.netId), 5000, "both in view");
    const updates = [];
    b.on("updated", (e) => e.entity.id === a.netId && updates.push(e.entity));
    const [pa, pb] = await Promise.all([walk(a, 1, 0, 1500), walk(b, 0, 1, 1500)]);
    await eventually(() => {
      const seenA = b.entities.get(a.netId);
      const seenB = a.entities.get(b.netId);
      return seenA && seenB && dist([seenA.x, seenA.y], pa) < 0.2 && dist([seenB.x, seenB.y], pb) < 0.2;
    }, 5000, "each to see the other's last position");
    assert.ok(updates.length >= 5, `B saw ${updates.length} updates of A`);
  });

  test("one JS bot and one Python bot see each other move", async () => {
    const c = await join("js-and-py");
    const py = startPyBot(server.url, "py-walker", ["--walk", "8"]);
    try {
      const hello = await py.waitLine((l) => l.ev === "welcome", 20000, "python bot welcome");
      await eventually(() => c.entities.has(hello.net_id), 10000, "JS to see the python bot");
      const seen = [];
      c.on("updated", (e) => e.entity.id === hello.net_id && seen.push([e.entity.x, e.entity.y]));
      const walking = walk(c, -1, 0, 2500, 4);
      // The Python bot walks a circle of radius 8 m: the JS bot sees it cover metres.
      await eventually(() => seen.length > 5 && dist(seen[0], seen.at(-1)) > 2, 10000, "JS to see the python bot move");
      const end = await walking;
      const q = (v) => Math.round(((v + 4000) * 65535) / 8000);
      // The Python bot sees the JS bot near where it walked to (quantised, within two steps).
      await py.waitLine((l) => {
        const d = l.ev === "view" && l.entities[String(c.netId)];
        return d && Math.abs(d[1] - q(end[0])) <= 2 && Math.abs(d[2] - q(end[1])) <= 2;
      }, 10000, "python to see the JS bot at the end of its walk");
      const xs = new Set(py.lines.filter((l) => l.ev === "view" && l.entities[String(c.netId)]).map((l) => l.entities[String(c.netId)][1]));
      assert.ok(xs.size > 5, `python saw ${xs.size} distinct x positions of the JS bot`);
    } finally {
      await py.stop();
    }
  });

  test("enter and leave: a joining player enters, a leaving one leaves", async () => {
    const a = await join("js-watcher");
    const entered = a.waitFor("entered", (e) => e.entity.name === "js-comer", 10000);
    const b = await join("js-comer");
    const ev = await entered;
    assert.equal(ev.entity.id, b.netId);
    assert.equal(ev.entity.kind, EntityKind.PLAYER);
    const left = a.waitFor("left", (e) => e.id === b.netId, 10000);
    await b.leave();
    assert.equal(b.closed, true);
    assert.equal(b.error, null);
    assert.equal((await left).entity.name, "js-comer");
    assert.equal(a.entities.has(b.netId), false);
  });
});

describe("errors", () => {
  test("bad messages get their error codes and the connection stays open", async () => {
    const c = await join("js-errors");
    const codes = [];
    c.on("error", (e) => codes.push(e.code));
    c.sendRaw("{not json");
    await c.waitFor("error", (e) => e.code === ErrorCode.BAD_JSON, 5000);
    c.sendRaw(JSON.stringify({ op: "dance" }));
    await c.waitFor("error", (e) => e.code === ErrorCode.UNKNOWN_OP, 5000);
    c.sendRaw(JSON.stringify({ op: "chat", text: "" }));
    await c.waitFor("error", (e) => e.code === ErrorCode.BAD_FIELD, 5000);
    c.sendRaw(new Uint8Array([0x10, 1, 2, 3]));
    await c.waitFor("error", (e) => e.code === ErrorCode.BAD_FRAME, 5000);
    c.talk(65000, "anyone there?");
    await c.waitFor("error", (e) => e.code === ErrorCode.UNKNOWN_ENTITY, 5000);
    // An impossible move: error 6, then `correct`; the client continues from there.
    const [x, y, z] = c.mirror.local;
    const corrected = c.waitFor("correct", () => true, 5000);
    c.move(x + 1500, y, z, 0);
    const cor = await corrected;
    assert.ok(codes.includes(ErrorCode.IMPOSSIBLE_MOVE));
    assert.ok(Math.abs(cor.x - x) < 1 && Math.abs(cor.y - y) < 1);
    assert.deepEqual(c.mirror.local, [cor.x, cor.y, cor.z, cor.heading]);
    assert.equal(c.connected, true);
    assert.ok((await c.ping()) > 0);
    // And the SDK refuses locally what the server would refuse.
    assert.throws(() => c.chat("x".repeat(257)), (e) => e.code === ErrorCode.BAD_FIELD);
    assert.throws(() => c.chat("two\nlines"), (e) => e.code === ErrorCode.BAD_FIELD);
    assert.throws(() => c.move(NaN, 0, 0, 0), (e) => e.code === ErrorCode.NON_FINITE);
    assert.throws(() => c.sendCustom("NoNamespace", {}), (e) => e.code === ErrorCode.BAD_FIELD);
    assert.throws(() => c.who([]), (e) => e.code === ErrorCode.BAD_FIELD);
    assert.throws(() => c.who(new Array(65).fill(1)), (e) => e.code === ErrorCode.BAD_FIELD);
    // Over welcome.max_message_size the server would close with 1009: refused here instead.
    const big = "é".repeat(c.welcome.max_message_size / 2);
    assert.throws(() => c.sendCustom("jssdk.big", { big }), (e) => e.close === CloseCode.MESSAGE_TOO_BIG);
    assert.equal(c.connected, true);
    assert.throws(() => new GangClient({ url: server.url, name: "x".repeat(33), WebSocket }), (e) => e.close === 4003);
  });
});

describe("resume", () => {
  test("after a network drop the client reconnects and resumes the same player", async () => {
    const proxy = await startProxy(server.port);
    try {
      const c = new GangClient({ url: proxy.url, name: "js-resumer", WebSocket, backoffBaseMs: 100 });
      clients.push(c);
      await c.connect();
      await eventually(() => c.me !== null, 10000, "first snapshot");
      const pid = c.playerId;
      const token = c.resumeToken;
      const watcher = await join("js-resume-watch");
      await eventually(() => watcher.entities.has(c.netId), 5000, "watcher sees the resumer");
      const events = [];
      for (const t of ["disconnected", "reconnecting", "reconnected", "snapshot"]) c.on(t, (e) => events.push([t, e]));
      const reconnected = c.waitFor("reconnected", () => true, 20000);
      proxy.cut();
      const ev = await reconnected;
      assert.equal(ev.resumed, true);
      assert.equal(c.playerId, pid);
      assert.notEqual(c.resumeToken, token, "a resume token is good once; the new welcome has a new one");
      const dis = events.find(([t]) => t === "disconnected")[1];
      assert.equal(dis.willRetry, true);
      assert.equal(dis.codeName, "CONNECTION_LOST");
      await eventually(() => events.some(([t]) => t === "snapshot") && c.me !== null, 5000, "a FULL snapshot on the new connection");
      // The session works on: inputs move the player, others see it.
      const end = await walk(c, 1, 1, 1000);
      await eventually(() => {
        const e = watcher.entities.get(c.netId);
        return e && dist([e.x, e.y], end) < 0.2;
      }, 5000, "the watcher to see the resumed player move");
      assert.equal(c.reconnects, 1);
    } finally {
      await proxy.close();
    }
  });

  test("a resume refused with 4012 (the server has not noticed the drop yet) is retried with the same token", async (t) => {
    if (!(await serverRefusesOpenResume())) {
      t.skip(NO_4012);
      return;
    }
    const proxy = await startProxy(server.port);
    try {
      const c = new GangClient({ url: proxy.url, name: "js-refused", WebSocket, backoffBaseMs: 100, backoffMaxMs: 400 });
      clients.push(c);
      await c.connect();
      await eventually(() => c.me !== null, 10000, "first snapshot");
      const pid = c.playerId;
      const token = c.resumeToken;
      const retries = [];
      c.on("reconnecting", (e) => retries.push(e));
      const dropped = c.waitFor("disconnected", () => true, 5000);
      proxy.lose(); // the client's side is gone; the server's stays open
      assert.equal((await dropped).willRetry, true);
      // What each retry meets: the server refuses the token while its connection is open.
      assert.equal(await helloOutcome(server.url, { op: "hello", v: 1, name: "js-refused", resume: token }), CloseCode.RESUME_REFUSED);
      await eventually(() => retries.length >= 2, 20000, "refused resumes to be retried");
      assert.equal(c.state, "reconnecting");
      assert.ok(retries.every((r) => r.resume), "every retry carries the resume token");
      const back = c.waitFor("reconnected", () => true, 10000);
      proxy.release(); // the server notices: the same token now resumes
      const r = await back;
      assert.equal(r.resumed, true);
      assert.equal(c.playerId, pid);
      assert.notEqual(c.resumeToken, token);
    } finally {
      await proxy.close();
    }
  });

  test("connect() with the token of a session still open (a page reload) waits for it, then resumes", async (t) => {
    if (!(await serverRefusesOpenResume())) {
      t.skip(NO_4012);
      return;
    }
    const a = await join("js-reload");
    const b = new GangClient({ url: server.url, name: "js-reload", WebSocket, resumeToken: a.resumeToken, backoffBaseMs: 100, backoffMaxMs: 400 });
    clients.push(b);
    const retries = [];
    b.on("reconnecting", (e) => retries.push(e));
    const welcomed = b.connect();
    await eventually(() => retries.length >= 2, 20000, "B's refused resume to be retried");
    assert.equal(b.state, "connecting");
    assert.equal(a.connected, true, "a refused resume leaves the open connection alone");
    await a.ping();
    a.disconnect(); // the old page goes; the server keeps the player for resume
    const w = await welcomed;
    assert.equal(w.resumed, true);
    assert.equal(b.playerId, a.playerId);
    await eventually(() => b.me !== null, 10000, "B's snapshot");
  });

  test("connect() with reconnect off does not retry a refused resume", async (t) => {
    if (!(await serverRefusesOpenResume())) {
      t.skip(NO_4012);
      return;
    }
    const a = await join("js-noretry");
    const b = new GangClient({ url: server.url, name: "js-noretry", WebSocket, resumeToken: a.resumeToken, reconnect: false });
    clients.push(b);
    await assert.rejects(b.connect(), (e) => e.code === CloseCode.RESUME_REFUSED && e.codeName === "RESUME_REFUSED" && !e.fatal);
    assert.equal(b.closed, true);
    assert.equal(a.connected, true);
  });

  test("a silent server (no frames) is treated as a drop", async () => {
    const proxy = await startProxy(server.port);
    try {
      const c = new GangClient({ url: proxy.url, name: "js-silence", WebSocket, deadAfterMs: 1500, backoffBaseMs: 100 });
      clients.push(c);
      await c.connect();
      await eventually(() => c.me !== null, 10000, "first snapshot");
      const dropped = c.waitFor("disconnected", () => true, 10000);
      proxy.freeze(); // nothing reaches the client any more, and no close either
      const d = await dropped;
      assert.equal(d.willRetry, true);
      assert.match(d.reason, /no message for 1500 ms/);
      const r = await c.waitFor("reconnected", () => true, 20000);
      assert.equal(r.resumed, true);
    } finally {
      await proxy.close();
    }
  });
});

describe("NPCs and new ops", () => {
  test("talk to an NPC: the answer arrives as npc_say", async () => {
    const c = await join("js-talker");
    await eventually(() => c.npcs().length > 0, 5000, "an NPC in view");
    const npc = c.npcs()[0];
    const generic = c.waitFor("npc", (e) => e.message.npc === npc.id, 15000);
    const say = await c.ask(npc, "Where is the bank?", 15000);
    assert.equal(say.npc, npc.id);
    assert.equal(say.to, c.netId);
    assert.ok(say.text.length > 0);
    await generic;
  });

  test("missions and factions: a request answered by a mission event, joining a faction by a faction event", async () => {
    const c = await join("js-worker");
    await eventually(() => c.npcs().length > 0, 5000, "an NPC in view");
    const npc = c.npcs()[0];
    const offered = c.waitFor("mission", (e) => e.eventType === "mission" && e.data.status === "offered", 30000);
    c.mission("request", { npc });
    const offer = (await offered).data;
    assert.equal(typeof offer.id, "string");
    assert.ok(offer.title.length > 0);
    assert.ok(offer.objectives.length > 0);
    const accepted = c.waitFor("mission", (e) => e.data.id === offer.id && e.data.status === "accepted", 15000);
    c.mission("accept", { id: offer.id });
    await accepted;
    // Claiming it before its objectives are done is refused with the reason first (SPEC §12).
    const refused = c.waitFor("error", (e) => e.name === "MISSION_REFUSED", 15000);
    c.mission("complete", { id: offer.id });
    const err = await refused;
    assert.match(err.message, /^incomplete:/);
    // The world's factions exist from the start: join one, hear it as a `faction` event.
    const joined = c.waitFor("faction", (e) => e.eventType === "faction" && e.data.faction === "vagos", 15000);
    c.faction("join", { name: "vagos" });
    assert.equal((await joined).data.change, "joined");
  });

  test("who: names, roles and factions of NPCs and players in view; other ids left out", async () => {
    const c = await join("js-who");
    await eventually(() => c.npcs().length > 0, 5000, "an NPC in view");
    const npcIds = c.npcs().slice(0, 3).map((n) => n.id);
    const absent = [...Array(65536).keys()].reverse().find((id) => !c.entities.has(id));
    const entities = await c.who([...npcIds, c.netId, absent, npcIds[0]]);
    const byId = new Map(entities.map((e) => [e.id, e]));
    assert.deepEqual([...byId.keys()].sort((x, y) => x - y), [...npcIds, c.netId].sort((x, y) => x - y));
    assert.equal(entities.length, byId.size, "a repeated id is described once");
    for (const id of npcIds) {
      const e = byId.get(id);
      assert.equal(e.kind, "npc");
      assert.ok(e.name.length > 0 && [...e.name].length <= 64, e.name);
      assert.match(e.role, /^[a-z0-9_]+$/);
      assert.match(e.faction, /^[a-z0-9_]+$/);
      assert.deepEqual(c.identities.get(id), e);
    }
    assert.deepEqual(byId.get(c.netId), { id: c.netId, kind: "player", name: "js-who" });
    // Two requests in flight get their own answers.
    const [one, two] = await Promise.all([c.who([npcIds[0]]), c.who([c.netId])]);
    assert.deepEqual(one.map((e) => e.id), [npcIds[0]]);
    assert.deepEqual(two.map((e) => e.id), [c.netId]);
  });
});

// `custom` (SPEC §4.2, §4.3) against a server running the example taxi mode
// (server/game/modes/taxi.py): its messages come back as `custom` events, an unknown type is
// answered UNKNOWN_TYPE, and a finished ride pays the driver with an `event` of type money.
describe("custom messages and game events (taxi mode)", () => {
  let taxiServer = null;
  before(async () => {
    assert.ok(existsSync(joinPath(REPO, "server", "game", "modes", "taxi.py")), "the example taxi mode is missing");
    // A taxi is fast and the test should not take minutes (the Python taxi test does the same).
    taxiServer = await startServer({ GAME_MODULES: "server.game.modes.taxi", PLAYER_MAX_SPEED: 200 });
  });
  after(async () => {
    await taxiServer?.stop();
  });

  async function driver(name) {
    const c = new GangClient({ url: taxiServer.url, name, WebSocket });
    clients.push(c);
    await c.connect();
    await eventually(() => c.me !== null, 10000, `${name}'s first snapshot`);
    return c;
  }

  /** Drive straight at ~40 m/s (2 m per 50 ms) until within half of `within` metres. */
  async function driveTo(c, x, y, within) {
    let [px, py, pz] = c.mirror.local;
    const end = Date.now() + 30000;
    while (Math.hypot(x - px, y - py) > within * 0.5) {
      assert.ok(Date.now() < end, `did not arrive at ${x}, ${y}`);
      const d = Math.hypot(x - px, y - py);
      const step = Math.min(2, d);
      px += ((x - px) / d) * step;
      py += ((y - py) / d) * step;
      c.move(px, py, pz, (((Math.atan2(x - px, y - py) * 180) / Math.PI) % 360 + 360) % 360);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  test("a taxi ride: custom messages both ways, then the fare as a money event", async () => {
    const c = await driver("js-taxi");
    const raw = [];
    const games = [];
    const errors = [];
    c.on("message", (m) => ["custom", "event"].includes(m.message.op) && raw.push(m.message));
    c.on("event", (e) => games.push(e));
    c.on("error", (e) => errors.push(e));
    await new Promise((r) => setTimeout(r, 300)); // the first INPUT is judged against a quarter second of budget

    const fareNext = c.waitFor("custom", (e) => e.customType === "taxi.fare", 10000);
    c.sendCustom("taxi.start", {});
    const fare = await fareNext;
    assert.deepEqual(Object.keys(fare.data).sort(), ["npc", "radius", "x", "y"]);
    assert.deepEqual(raw[0], { op: "custom", type: "taxi.fare", data: fare.data });
    await eventually(() => c.entities.get(fare.data.npc)?.kind === EntityKind.NPC, 10000, "the passenger in view");

    const rideNext = c.waitFor("custom", (e) => e.customType === "taxi.ride", 40000);
    await driveTo(c, fare.data.x, fare.data.y, fare.data.radius);
    const ride = await rideNext;
    assert.equal(ride.data.npc, fare.data.npc);

    const paidNext = c.waitFor("custom", (e) => e.customType === "taxi.paid", 40000);
    const moneyNext = c.waitFor("event", (e) => e.eventType === "money", 40000);
    await driveTo(c, ride.data.x, ride.data.y, ride.data.radius);
    const paid = await paidNext;
    const money = await moneyNext;
    assert.ok(paid.data.fare > 50, `fare ${paid.data.fare}`);
    assert.deepEqual(money, { type: "event", eventType: "money", data: { money: paid.data.fare, delta: paid.data.fare, reason: "taxi fare" } });
    assert.deepEqual(games, [money], "one game event, no mission/faction ones");
    assert.deepEqual(errors, []);
    assert.equal(c.stats.invalid, 0);
  });

  test("an unknown custom type is answered UNKNOWN_TYPE and the connection stays open", async () => {
    const c = await driver("js-custom-unknown");
    const err = c.waitFor("error", () => true, 10000);
    c.sendCustom("taxi.fly_to_the_moon", {});
    const e = await err;
    assert.equal(e.code, ErrorCode.UNKNOWN_TYPE);
    assert.equal(e.name, "UNKNOWN_TYPE");
    // Still playing: a known type is answered.
    const fare = c.waitFor("custom", (m) => m.customType === "taxi.fare", 10000);
    c.sendCustom("taxi.start", {});
    await fare;
    const cancelled = c.waitFor("custom", (m) => m.customType === "taxi.cancelled", 10000);
    c.sendCustom("taxi.cancel", {});
    await cancelled;
    assert.equal(c.state, "open");
  });
});

describe("WebSocket adapters", () => {
  test("alt:V: alt.WebSocketClient passing binary frames as strings still mirrors the world", async () => {
    // A stand-in for alt.WebSocketClient with its API and its habit of handing every message
    // over as a string (here one char per byte, the case the adapter can decode).
    class FakeAltWebSocketClient {
      constructor(url) {
        this.url = url;
        this.handlers = {};
      }
      on(name, fn) {
        this.handlers[name] = fn;
      }
      start() {
        const ws = (this.ws = new WebSocket(this.url));
        ws.on("open", () => this.handlers.open?.());
        ws.on("message", (data, isBinary) => this.handlers.message?.(isBinary ? data.toString("latin1") : data.toString()));
        ws.on("close", (code, reason) => this.handlers.close?.(code, reason.toString()));
        ws.on("error", (e) => this.handlers.error?.(e.message));
      }
      stop() {
        this.ws.terminate();
      }
      send(m) {
        this.ws.send(m);
        return true;
      }
    }
    const c = new GangClient({ url: server.url, name: "js-altv", WebSocket: altWebSocket({ WebSocketClient: FakeAltWebSocketClient }) });
    clients.push(c);
    await c.connect();
    await eventually(() => c.me !== null && c.npcs().length > 0, 10000, "alt:V client's snapshot");
    assert.equal(c.stats.invalid, 0);
    const ref = await join("js-altv-ref");
    await eventually(() => {
      const a = c.npcs().map((n) => JSON.stringify(n)).sort().join();
      const b = ref.npcs().map((n) => JSON.stringify(n)).sort().join();
      return a === b;
    }, 10000, "alt:V client and reference client to agree on NPCs");
    const end = await walk(c, 0, -1, 800);
    await eventually(() => {
      const e = ref.entities.get(c.netId);
      return e && dist([e.x, e.y], end) < 0.2;
    }, 5000, "the alt:V client's INPUT frames to move it");
  });

  test("the runtime's global WebSocket is used when there is one (Node 22+, browsers)", async (t) => {
    if (typeof globalThis.WebSocket !== "function") {
      t.skip(`Node ${process.version} has no global WebSocket; the ws package stands in`);
      return;
    }
    const c = new GangClient({ url: server.url, name: "js-global-ws" });
    clients.push(c);
    await c.connect();
    await eventually(() => c.me !== null, 10000, "snapshot over the global WebSocket");
  });
});
