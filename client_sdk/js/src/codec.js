// Binary frames (SPEC §5): STATE (server -> client) and INPUT (client -> server).
// Decoded objects use the SPEC's field names, the same shapes as protocol/vectors/*.json.

import { ErrorCode, ProtocolError } from "./errors.js";

export const FrameType = Object.freeze({ STATE: 0x01, INPUT: 0x10 });
export const StateFlag = Object.freeze({ FULL: 0x01 });
export const EntityKind = Object.freeze({ PLAYER: 1, NPC: 2 });
export const INPUT_SIZE = 25;
export const STATE_HEADER_SIZE = 18;

const utf8Decoder = new TextDecoder("utf-8"); // replaces invalid UTF-8 with U+FFFD (SPEC §5.3)
const utf8Encoder = new TextEncoder();

function badFrame(what) {
  return new ProtocolError(`bad STATE frame: ${what}`, { code: ErrorCode.BAD_FRAME });
}

/** Any binary payload (ArrayBuffer, typed array, Node Buffer) -> Uint8Array view, no copy. */
export function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Uint8Array.from(data); // ws may hand over fragments as a list
  throw new TypeError("binary frame must be an ArrayBuffer or a typed array");
}

function readPath(dv, p) {
  return {
    qx: dv.getUint16(p, true),
    qy: dv.getUint16(p + 2, true),
    qz: dv.getUint16(p + 4, true),
    wx: dv.getUint16(p + 6, true),
    wy: dv.getUint16(p + 8, true),
    speed: dv.getUint8(p + 10),
    start_tick: dv.getUint32(p + 11, true),
  };
}

/**
 * Decode a STATE frame. Throws ProtocolError(BAD_FRAME) for every malformed case of SPEC §5.3
 * ("Decoding rules"); a client then discards the frame and keeps its state.
 */
export function decodeState(data) {
  const u8 = toBytes(data);
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const len = u8.byteLength;
  if (len < STATE_HEADER_SIZE) throw badFrame("shorter than the 18-byte header");
  if (u8[0] !== FrameType.STATE) throw badFrame("type byte is not 0x01");
  const flags = u8[1];
  const f = {
    flags,
    full: (flags & StateFlag.FULL) !== 0,
    seq: dv.getUint32(2, true),
    tick: dv.getUint32(6, true),
    server_time: dv.getFloat64(10, true),
    leaves: [],
    enters: [],
    paths: [],
    moves: [],
  };
  let o = STATE_HEADER_SIZE;
  const need = (n, what) => {
    if (o + n > len) throw badFrame(`${what} runs past the end`);
  };
  need(2, "LEAVE count");
  let n = dv.getUint16(o, true);
  o += 2;
  need(2 * n, "LEAVE section");
  for (let i = 0; i < n; i++, o += 2) f.leaves.push(dv.getUint16(o, true));
  need(2, "ENTER count");
  n = dv.getUint16(o, true);
  o += 2;
  for (let i = 0; i < n; i++) {
    need(4, "ENTER record head");
    const id = dv.getUint16(o, true);
    const kind = u8[o + 2];
    const blen = u8[o + 3];
    o += 4;
    need(blen, "ENTER record body");
    const b = o;
    o += blen;
    if (kind === EntityKind.PLAYER) {
      if (blen < 9) throw badFrame("PLAYER body shorter than 9 bytes");
      const nameLen = u8[b + 8];
      if (9 + nameLen > blen) throw badFrame("PLAYER name runs past its body");
      f.enters.push({
        id,
        kind,
        qx: dv.getUint16(b, true),
        qy: dv.getUint16(b + 2, true),
        qz: dv.getUint16(b + 4, true),
        heading: u8[b + 6],
        health: u8[b + 7],
        name: utf8Decoder.decode(u8.subarray(b + 9, b + 9 + nameLen)),
      });
    } else if (kind === EntityKind.NPC) {
      if (blen < 17) throw badFrame("NPC body shorter than 17 bytes");
      f.enters.push({ id, kind, model: dv.getUint16(b, true), path: readPath(dv, b + 2) });
    } else {
      f.enters.push({ id, kind, body: u8.slice(b, b + blen) }); // a newer server's kind
    }
  }
  need(2, "PATH count");
  n = dv.getUint16(o, true);
  o += 2;
  need(17 * n, "PATH section");
  for (let i = 0; i < n; i++, o += 17) f.paths.push({ id: dv.getUint16(o, true), path: readPath(dv, o + 2) });
  if ((len - o) % 9 !== 0) throw badFrame("MOVE section is not a multiple of 9 bytes");
  for (; o < len; o += 9) {
    f.moves.push({
      id: dv.getUint16(o, true),
      qx: dv.getUint16(o + 2, true),
      qy: dv.getUint16(o + 4, true),
      qz: dv.getUint16(o + 6, true),
      heading: u8[o + 8],
    });
  }
  return f;
}

function writePath(dv, p, path) {
  dv.setUint16(p, path.qx, true);
  dv.setUint16(p + 2, path.qy, true);
  dv.setUint16(p + 4, path.qz, true);
  dv.setUint16(p + 6, path.wx, true);
  dv.setUint16(p + 8, path.wy, true);
  dv.setUint8(p + 10, path.speed);
  dv.setUint32(p + 11, path.start_tick, true);
}

/**
 * Encode a STATE frame (the decoded shape). Clients never send one; this is for test servers,
 * replays and tools. `flags` wins over `full` when both are given.
 */
export function encodeState(f) {
  const enterBodies = f.enters.map((e) => {
    if (e.kind === EntityKind.PLAYER) {
      const name = utf8Encoder.encode(e.name);
      if (name.length > 255 - 9) throw new RangeError("player name too long for an ENTER body");
      const body = new Uint8Array(9 + name.length);
      const dv = new DataView(body.buffer);
      dv.setUint16(0, e.qx, true);
      dv.setUint16(2, e.qy, true);
      dv.setUint16(4, e.qz, true);
      body[6] = e.heading;
      body[7] = e.health;
      body[8] = name.length;
      body.set(name, 9);
      return body;
    }
    if (e.kind === EntityKind.NPC) {
      const body = new Uint8Array(17);
      const dv = new DataView(body.buffer);
      dv.setUint16(0, e.model, true);
      writePath(dv, 2, e.path);
      return body;
    }
    return toBytes(e.body);
  });
  const size =
    STATE_HEADER_SIZE + 2 + 2 * f.leaves.length + 2 + enterBodies.reduce((s, b) => s + 4 + b.length, 0) +
    2 + 17 * f.paths.length + 9 * f.moves.length;
  const u8 = new Uint8Array(size);
  const dv = new DataView(u8.buffer);
  u8[0] = FrameType.STATE;
  u8[1] = f.flags ?? (f.full ? StateFlag.FULL : 0);
  dv.setUint32(2, f.seq, true);
  dv.setUint32(6, f.tick, true);
  dv.setFloat64(10, f.server_time, true);
  let o = STATE_HEADER_SIZE;
  dv.setUint16(o, f.leaves.length, true);
  o += 2;
  for (const id of f.leaves) {
    dv.setUint16(o, id, true);
    o += 2;
  }
  dv.setUint16(o, f.enters.length, true);
  o += 2;
  f.enters.forEach((e, i) => {
    const body = enterBodies[i];
    dv.setUint16(o, e.id, true);
    u8[o + 2] = e.kind;
    u8[o + 3] = body.length;
    u8.set(body, o + 4);
    o += 4 + body.length;
  });
  dv.setUint16(o, f.paths.length, true);
  o += 2;
  for (const p of f.paths) {
    dv.setUint16(o, p.id, true);
    writePath(dv, o + 2, p.path);
    o += 17;
  }
  for (const m of f.moves) {
    dv.setUint16(o, m.id, true);
    dv.setUint16(o + 2, m.qx, true);
    dv.setUint16(o + 4, m.qy, true);
    dv.setUint16(o + 6, m.qz, true);
    u8[o + 8] = m.heading;
    o += 9;
  }
  return u8;
}

/**
 * Encode an INPUT frame: 25 bytes, position and heading as float32 (SPEC §5.2).
 * Non-finite numbers throw here instead of earning a NON_FINITE error from the server.
 */
export function encodeInput({ seq, ack, x, y, z, heading }) {
  for (const [k, v] of [["x", x], ["y", y], ["z", z], ["heading", heading]]) {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new ProtocolError(`INPUT ${k} must be a finite number`, { code: ErrorCode.NON_FINITE });
    }
  }
  const u8 = new Uint8Array(INPUT_SIZE);
  const dv = new DataView(u8.buffer);
  u8[0] = FrameType.INPUT;
  dv.setUint32(1, seq, true);
  dv.setUint32(5, ack, true);
  dv.setFloat32(9, x, true);
  dv.setFloat32(13, y, true);
  dv.setFloat32(17, z, true);
  dv.setFloat32(21, heading, true);
  return u8;
}

/** Decode an INPUT frame as the server does (type, then length, then finiteness). */
export function decodeInput(data) {
  const u8 = toBytes(data);
  if (u8.byteLength === 0 || u8[0] !== FrameType.INPUT) {
    throw new ProtocolError("not an INPUT frame", { code: ErrorCode.BAD_FRAME });
  }
  if (u8.byteLength !== INPUT_SIZE) {
    throw new ProtocolError(`INPUT must be ${INPUT_SIZE} bytes`, { code: ErrorCode.BAD_FRAME });
  }
  const dv = new DataView(u8.buffer, u8.byteOffset, u8.byteLength);
  const f = {
    seq: dv.getUint32(1, true),
    ack: dv.getUint32(5, true),
    x: dv.getFloat32(9, true),
    y: dv.getFloat32(13, true),
    z: dv.getFloat32(17, true),
    heading: dv.getFloat32(21, true),
  };
  if (![f.x, f.y, f.z, f.heading].every(Number.isFinite)) {
    throw new ProtocolError("INPUT holds NaN or infinity", { code: ErrorCode.NON_FINITE });
  }
  return f;
}
