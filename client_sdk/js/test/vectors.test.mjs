// Every case of protocol/vectors/*.json replayed byte for byte (SPEC §18): decode every valid
// case to exactly its `decoded`, re-encode every canonical case to exactly its bytes, reject
// every invalid case with its code.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import * as sdk from "../src/index.js";
import { VECTORS } from "./support.mjs";

const load = (name) => JSON.parse(readFileSync(join(VECTORS, name), "utf8"));
const hex = (u8) => Buffer.from(u8).toString("hex");
const bytes = (h) => new Uint8Array(Buffer.from(h, "hex"));

/** SDK decoded frame -> the vectors' JSON shape (unknown ENTER bodies as hex). */
function asVector(frame) {
  return { ...frame, enters: frame.enters.map((e) => ("body" in e ? { ...e, body: hex(e.body) } : e)) };
}
function fromVector(decoded) {
  return { ...decoded, enters: decoded.enters.map((e) => ("body" in e ? { ...e, body: bytes(e.body) } : e)) };
}

test("every vector file is replayed by this suite", () => {
  const files = readdirSync(VECTORS).filter((f) => f.endsWith(".json")).sort();
  assert.deepEqual(files, [
    "control_messages.json", "input_frames.json", "npc_paths.json", "quantisation.json", "state_frames.json",
  ]);
});

describe("state_frames.json", () => {
  for (const c of load("state_frames.json")) {
    test(c.name, () => {
      if (c.error) {
        assert.throws(() => sdk.decodeState(bytes(c.hex)), (e) => e instanceof sdk.ProtocolError && e.code === c.error_code && e.codeName === c.error);
        return;
      }
      const f = sdk.decodeState(bytes(c.hex));
      assert.deepEqual(asVector(f), c.decoded);
      assert.equal(bytes(c.hex).length, c.size);
      const again = hex(sdk.encodeState(fromVector(c.decoded)));
      if (c.canonical) assert.equal(again, c.hex);
      else assert.deepEqual(asVector(sdk.decodeState(bytes(again))).enters.length, c.decoded.enters.length);
    });
  }
});

describe("input_frames.json", () => {
  for (const c of load("input_frames.json")) {
    test(c.name, () => {
      if (c.error) {
        assert.throws(() => sdk.decodeInput(bytes(c.hex)), (e) => e.code === c.error_code && e.codeName === c.error);
        return;
      }
      assert.deepEqual(sdk.decodeInput(bytes(c.hex)), c.decoded);
      if (c.canonical) assert.equal(hex(sdk.encodeInput(c.decoded)), c.hex);
    });
  }
  test("the encoder refuses what the server would answer with NON_FINITE", () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      assert.throws(() => sdk.encodeInput({ seq: 1, ack: 0, x: bad, y: 0, z: 0, heading: 0 }), (e) => e.code === 8);
      assert.throws(() => sdk.encodeInput({ seq: 1, ack: 0, x: 0, y: 0, z: 0, heading: bad }), (e) => e.code === 8);
    }
  });
});

describe("quantisation.json", () => {
  for (const c of load("quantisation.json")) {
    test(c.name, () => {
      if (c.kind === "position") {
        const q = sdk.quantisePosition(c.bounds, c.input.x, c.input.y, c.input.z);
        assert.deepEqual({ qx: q[0], qy: q[1], qz: q[2] }, c.decoded);
        const b = Buffer.alloc(6);
        q.forEach((v, i) => b.writeUInt16LE(v, 2 * i));
        assert.equal(b.toString("hex"), c.hex);
        const d = sdk.dequantisePosition(c.bounds, ...q);
        assert.deepEqual({ x: d[0], y: d[1], z: d[2] }, c.dequantised);
      } else if (c.kind === "heading") {
        const q = sdk.quantiseHeading(c.input.degrees);
        assert.deepEqual({ q }, c.decoded);
        assert.equal(hex([q]), c.hex);
        assert.equal(sdk.dequantiseHeading(q), c.dequantised.degrees);
      } else {
        assert.equal(c.kind, "speed");
        const q = sdk.speedToWire(c.input.mps);
        assert.deepEqual({ q }, c.decoded);
        assert.equal(hex([q]), c.hex);
        assert.equal(sdk.speedFromWire(q), c.dequantised.mps);
      }
    });
  }
});

describe("npc_paths.json", () => {
  for (const c of load("npc_paths.json")) {
    test(c.name, () => {
      // The 15-byte path is the tail of a PATH record: decode it through a one-record frame.
      const frame = sdk.decodeState(bytes("01000100000000000000000000000000000000000000" + "0100" + "0100" + c.hex + ""));
      const path = frame.paths[0].path;
      assert.deepEqual(path, c.decoded);
      const enc = sdk.encodeState({ ...frame, paths: [{ id: 1, path: c.decoded }] });
      assert.equal(hex(enc).slice(-30), c.hex);
      const start = sdk.pathPosition(path, path.start_tick, c.tick_rate, c.bounds);
      assert.deepEqual({ x: start[0], y: start[1], z: start[2] }, c.start);
      assert.deepEqual(
        { x: sdk.dequantise(path.wx, c.bounds.min_x, c.bounds.max_x), y: sdk.dequantise(path.wy, c.bounds.min_y, c.bounds.max_y) },
        c.waypoint,
      );
      for (const s of c.samples) {
        const [x, y, z] = sdk.pathPosition(path, s.tick, c.tick_rate, c.bounds);
        assert.deepEqual({ tick: s.tick, x, y, z }, s, `tick ${s.tick}`); // bit for bit
      }
      assert.equal(sdk.pathArrivalTick(path, c.tick_rate, c.bounds), c.arrival_tick);
      assert.ok(Math.abs(sdk.pathHeading(path, c.bounds) - c.heading) < 1e-9, `heading ${sdk.pathHeading(path, c.bounds)}`);
    });
  }
});

describe("control_messages.json", () => {
  // JSON.parse turns `1.0` into the integer 1: a JS value cannot carry the difference, so the
  // SDK cannot reject this row when decoding; it never produces it either (checked below).
  const FLOAT_INTEGER_ROWS = new Set(["hello_v_float"]);
  for (const c of load("control_messages.json")) {
    test(`${c.sender} ${c.name}`, () => {
      assert.ok(("text" in c) !== ("hex" in c), "a row has its message as text or as hex, not both");
      if ("hex" in c) {
        // Bytes that are not valid UTF-8 (vectors/README.md): rejected like invalid JSON.
        assert.equal(c.sender, "client");
        assert.equal(c.decoded, undefined);
        const raw = bytes(c.hex);
        assert.throws(() => new TextDecoder("utf-8", { fatal: true }).decode(raw), TypeError, "the row is not valid UTF-8");
        const expect = c.close_code !== undefined ? (e) => e.close === c.close_code : (e) => e.code === c.error_code && e.codeName === c.error;
        assert.throws(() => sdk.decodeClient(raw, { first: c.context === "first" }), expect);
        assert.throws(() => sdk.decodeClient(raw.buffer, { first: c.context === "first" }), expect);
        return;
      }
      if (c.sender === "client") {
        const first = c.context === "first";
        if (c.decoded) {
          assert.deepEqual(sdk.decodeClient(c.text, { first }), c.decoded);
          // The same message as UTF-8 bytes, as a WebSocket library may hand it over.
          assert.deepEqual(sdk.decodeClient(new TextEncoder().encode(c.text), { first }), c.decoded);
          if (first) assert.ok(Buffer.byteLength(c.text) <= sdk.HELLO_MAX_SIZE, "every valid hello fits HELLO_MAX_SIZE");
          // The SDK's encoder writes the canonical form: the same text for canonical rows,
          // and for the others (explicit nulls, unknown fields) the canonical form of `decoded`.
          const out = sdk.encodeClient(c.canonical ? c.decoded : JSON.parse(c.text));
          if (c.canonical) assert.equal(out, c.text);
          else assert.equal(out, sdk.encodeClient(c.decoded));
          return;
        }
        if (FLOAT_INTEGER_ROWS.has(c.name)) {
          assert.equal(sdk.encodeClient({ op: "hello", v: 1.0, name: "Ana" }), '{"op":"hello","v":1,"name":"Ana"}');
          return;
        }
        const expect = c.close_code !== undefined ? (e) => e.close === c.close_code : (e) => e.code === c.error_code && e.codeName === c.error;
        assert.throws(() => sdk.decodeClient(c.text, { first }), expect);
        // The SDK refuses to send it: encoding the same object fails the same way.
        let obj = null;
        try {
          obj = JSON.parse(c.text);
        } catch {
          return; // not JSON: the encoder only ever writes JSON
        }
        if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return;
        if (first && obj.op !== "hello") return; // encodeClient writes any op; the hello-first rule is the connection's
        if (!first && obj.op === "hello") return; // the SDK only ever sends hello first; a later one is the server's rule
        if (c.name === "json_overflow") return; // JSON.stringify(Infinity) is not what the row holds
        assert.throws(() => sdk.encodeClient(obj), expect);
        return;
      }
      // server -> client
      if (c.decoded) {
        assert.deepEqual(sdk.decodeServer(c.text), c.decoded);
        return;
      }
      assert.throws(() => sdk.decodeServer(c.text), (e) => e.code === c.error_code && e.codeName === c.error);
    });
  }

  test("the SDK's error and close codes are the catalogue's (protocol/catalogue.py)", () => {
    const py = readFileSync(join(VECTORS, "..", "catalogue.py"), "utf8");
    const members = (cls) => {
      const body = py.split(`class ${cls}(IntEnum):`)[1].split(/\n(?=\S)/)[0];
      return Object.fromEntries([...body.matchAll(/^ {4}([A-Z_]+) = (\d+)/gm)].map((m) => [m[1], Number(m[2])]));
    };
    assert.deepEqual({ ...sdk.ErrorCode }, members("ErrorCode"));
    const close = members("CloseCode");
    for (const [name, code] of Object.entries(close)) assert.equal(sdk.CloseCode[name], code, name);
    for (const [name, code] of Object.entries(sdk.CloseCode)) if (code >= 4000) assert.equal(close[name], code, name);
  });

  test("close codes: retry 4002 and 4012 RESUME_REFUSED, stop on the other 4xxx (SPEC §13)", () => {
    assert.equal(sdk.closeAction(sdk.CloseCode.RESUME_REFUSED), "resume");
    assert.equal(sdk.closeAction(sdk.CloseCode.HANDSHAKE_TIMEOUT), "resume");
    assert.equal(sdk.closeName(4012), "RESUME_REFUSED");
    for (const code of [4001, 4003, 4004, 4005, 4006, 4007, 4008, 4010, 4011, 4013, 4999]) assert.equal(sdk.closeAction(code), "fatal", code);
    for (const code of [null, 1001, 1006, 1011, 1012, 1013]) assert.equal(sdk.closeAction(code), "resume", code);
    assert.equal(sdk.closeAction(1000), "stop");
    assert.equal(sdk.errorName(12), "STALE_INPUT");
    assert.equal(sdk.errorName(13), "UNKNOWN_TYPE");
    assert.equal(sdk.errorName(14), "HANDLER_FAILED");
    assert.equal(sdk.errorName(99), "99"); // codes newer than this SDK are still shown (SPEC §12)
  });

  test("game events: every one as `event`; mission and faction types (SPEC §4.3) also under their topic", () => {
    const m = new sdk.Mirror({ name: "Ana" });
    const typed = (type, data) => m.receive(JSON.stringify({ op: "event", type, data }), 1).filter((e) => e.type !== "message");
    const row = load("control_messages.json").find((c) => c.name === "event_money");
    assert.deepEqual(m.receive(row.text, 1).filter((e) => e.type !== "message"), [{ type: "event", eventType: "money", data: JSON.parse(row.text).data }]);
    const member = { net_id: 2, name: "Bob", faction: "ballas", rank: 1 };
    assert.deepEqual(typed("faction.member", member), [
      { type: "event", eventType: "faction.member", data: member },
      { type: "faction", eventType: "faction.member", data: member },
    ]);
    assert.deepEqual(typed("faction", { faction: null, rank: 0 }).map((e) => e.type), ["event", "faction"]);
    assert.deepEqual(typed("mission", { mission: "m1", status: "started" }).map((e) => e.type), ["event", "mission"]);
    // Only the dot namespace of SPEC's types counts; a type the SDK does not know is still an `event`.
    assert.deepEqual(typed("missionary", {}).map((e) => e.type), ["event"]);
    assert.deepEqual(typed("mission_board", {}).map((e) => e.type), ["event"]);
    assert.deepEqual(typed("weather.rain", {}).map((e) => e.type), ["event"]);
    assert.equal(m.stats.invalid, 0);
  });

  test("custom and event: `type` must be a string and `data` an object, else the message is invalid", () => {
    for (const op of ["custom", "event"]) {
      for (const bad of [{ type: 1, data: {} }, { type: "a.b", data: [1] }, { type: "a.b", data: "x" }, { type: "a.b" }]) {
        const text = JSON.stringify({ op, ...bad });
        assert.throws(() => sdk.decodeServer(text), (e) => e.code === sdk.ErrorCode.BAD_FIELD, text);
        const m = new sdk.Mirror({ name: "Ana" });
        const evs = m.receive(text, 1);
        assert.equal(evs[0].type, "invalid", text);
        assert.ok(!evs.some((e) => e.type === op || e.type === "event"), text);
        assert.equal(m.stats.invalid, 1);
      }
    }
  });

  test("welcome.limits: kept whole (keys a newer server adds too), null when absent or malformed", () => {
    const row = load("control_messages.json").find((c) => c.name === "welcome");
    const obj = JSON.parse(row.text);
    assert.equal(Object.keys(obj.limits).length, 21);
    assert.deepEqual(sdk.decodeServerObject(obj).limits, obj.limits);
    const newer = { ...obj, limits: { ...obj.limits, some_new_limit: 7 } };
    assert.equal(sdk.decodeServerObject(newer).limits.some_new_limit, 7);
    const { limits, ...older } = obj;
    assert.equal(sdk.decodeServerObject(older).limits, null);
    assert.equal(sdk.decodeServerObject({ ...obj, limits: [1] }).limits, null);
  });

  test("a who answer: objects of unknown kinds are ignored, a malformed one is invalid", () => {
    const m = new sdk.Mirror({ name: "Ana" });
    const ents = [{ id: 1, kind: "npc", name: "Carl", role: "cop", faction: "lspd" }, { id: 2, kind: "vehicle", name: "Bus" }, { id: 3, kind: "player", name: "Bo" }];
    const [ev] = m.receive(JSON.stringify({ op: "who", entities: ents }), 1);
    assert.deepEqual(ev, { type: "who", entities: [ents[0], ents[2]] });
    const [bad] = m.receive('{"op":"who","entities":[1]}', 1);
    assert.equal(bad.type, "invalid");
    assert.equal(m.stats.invalid, 1);
  });

  test("a correct with ref 0 (a teleport by the server) moves the local player like any correct", () => {
    const m = new sdk.Mirror({ name: "Ana" });
    const [ev] = m.receive('{"op":"correct","x":1.5,"y":2.5,"z":3.0,"heading":180.0,"ref":0}', 1);
    assert.deepEqual(ev, { type: "correct", x: 1.5, y: 2.5, z: 3, heading: 180, ref: 0 });
    assert.deepEqual(m.local, [1.5, 2.5, 3, 180]);
  });

  test("a server op this SDK does not know reaches the app as a generic message, not an error", () => {
    const row = load("control_messages.json").find((c) => c.name === "server_unknown_op");
    const m = new sdk.Mirror({ name: "Ana" });
    const events = m.receive(row.text, 1);
    assert.deepEqual(events, [{ type: "message", message: JSON.parse(row.text), known: false }]);
    assert.equal(m.stats.ignored, 1);
    assert.equal(m.stats.invalid, 0);
  });
});
