/* @ganggpt/client 0.1.0: GangGPT realtime protocol v1 client. Built from src/ by scripts/build.mjs; do not edit. */

// src/errors.js
var ErrorCode = Object.freeze({
  BAD_JSON: 1,
  UNKNOWN_OP: 2,
  BAD_FIELD: 3,
  BAD_FRAME: 4,
  NOT_READY: 5,
  IMPOSSIBLE_MOVE: 6,
  OUT_OF_BOUNDS: 7,
  NON_FINITE: 8,
  RATE_LIMITED: 9,
  UNKNOWN_ENTITY: 10,
  ALREADY_WELCOMED: 11,
  STALE_INPUT: 12,
  UNKNOWN_TYPE: 13,
  HANDLER_FAILED: 14,
  MISSION_REFUSED: 15,
  FACTION_REFUSED: 16,
  COMPANION_REFUSED: 17,
  CHAT_RATE_LIMITED: 18,
  CLIMB_TOO_FAST: 20,
  BELOW_FLOOR: 21,
  BAD_ACK: 22
});
var CloseCode = Object.freeze({
  NORMAL: 1e3,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  ABNORMAL_CLOSURE: 1006,
  INVALID_PAYLOAD: 1007,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  UNSUPPORTED_VERSION: 4001,
  HANDSHAKE_TIMEOUT: 4002,
  BAD_HELLO: 4003,
  AUTH_FAILED: 4004,
  SERVER_FULL: 4005,
  TOO_SLOW: 4006,
  FLOODING: 4007,
  TOO_MANY_ERRORS: 4008,
  REPLACED: 4010,
  KICKED: 4011,
  RESUME_REFUSED: 4012,
  FORBIDDEN: 4013
  // the admin console only: a valid token without any admin permission
});
var ERROR_NAMES = new Map(Object.entries(ErrorCode).map(([k, v]) => [v, k]));
var CLOSE_NAMES = new Map(Object.entries(CloseCode).map(([k, v]) => [v, k]));
function errorName(code) {
  return ERROR_NAMES.get(code) ?? String(code);
}
function closeName(code) {
  if (code === null || code === void 0) return "CONNECTION_LOST";
  return CLOSE_NAMES.get(code) ?? String(code);
}
var ProtocolError = class extends Error {
  constructor(message, { code = null, close = null } = {}) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.close = close;
    this.codeName = code !== null ? errorName(code) : closeName(close);
  }
};
var FATAL = /* @__PURE__ */ new Set([1002, 1007, 4001, 4003, 4004, 4005, 4006, 4007, 4008, 4010, 4011]);
var RETRY_4XXX = /* @__PURE__ */ new Set([CloseCode.HANDSHAKE_TIMEOUT, CloseCode.RESUME_REFUSED]);
function closeAction(code) {
  if (code === null || code === void 0) return "resume";
  if (FATAL.has(code)) return "fatal";
  if (code === CloseCode.NORMAL) return "stop";
  if (code >= 4e3 && code <= 4999 && !RETRY_4XXX.has(code)) return "fatal";
  return "resume";
}

// src/codec.js
var FrameType = Object.freeze({ STATE: 1, INPUT: 16 });
var StateFlag = Object.freeze({ FULL: 1 });
var EntityKind = Object.freeze({ PLAYER: 1, NPC: 2 });
var INPUT_SIZE = 25;
var STATE_HEADER_SIZE = 18;
var utf8Decoder = new TextDecoder("utf-8");
var utf8Encoder = new TextEncoder();
function badFrame(what) {
  return new ProtocolError(`bad STATE frame: ${what}`, { code: ErrorCode.BAD_FRAME });
}
function toBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (Array.isArray(data)) return Uint8Array.from(data);
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
    start_tick: dv.getUint32(p + 11, true)
  };
}
function decodeState(data) {
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
    moves: []
  };
  let o = STATE_HEADER_SIZE;
  const need = (n2, what) => {
    if (o + n2 > len) throw badFrame(`${what} runs past the end`);
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
        name: utf8Decoder.decode(u8.subarray(b + 9, b + 9 + nameLen))
      });
    } else if (kind === EntityKind.NPC) {
      if (blen < 17) throw badFrame("NPC body shorter than 17 bytes");
      f.enters.push({ id, kind, model: dv.getUint16(b, true), path: readPath(dv, b + 2) });
    } else {
      f.enters.push({ id, kind, body: u8.slice(b, b + blen) });
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
      heading: u8[o + 8]
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
function encodeState(f) {
  const enterBodies = f.enters.map((e) => {
    if (e.kind === EntityKind.PLAYER) {
      const name = utf8Encoder.encode(e.name);
      if (name.length > 255 - 9) throw new RangeError("player name too long for an ENTER body");
      const body = new Uint8Array(9 + name.length);
      const dv2 = new DataView(body.buffer);
      dv2.setUint16(0, e.qx, true);
      dv2.setUint16(2, e.qy, true);
      dv2.setUint16(4, e.qz, true);
      body[6] = e.heading;
      body[7] = e.health;
      body[8] = name.length;
      body.set(name, 9);
      return body;
    }
    if (e.kind === EntityKind.NPC) {
      const body = new Uint8Array(17);
      const dv2 = new DataView(body.buffer);
      dv2.setUint16(0, e.model, true);
      writePath(dv2, 2, e.path);
      return body;
    }
    return toBytes(e.body);
  });
  const size = STATE_HEADER_SIZE + 2 + 2 * f.leaves.length + 2 + enterBodies.reduce((s, b) => s + 4 + b.length, 0) + 2 + 17 * f.paths.length + 9 * f.moves.length;
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
function encodeInput({ seq, ack, x, y, z, heading }) {
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
function decodeInput(data) {
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
    heading: dv.getFloat32(21, true)
  };
  if (![f.x, f.y, f.z, f.heading].every(Number.isFinite)) {
    throw new ProtocolError("INPUT holds NaN or infinity", { code: ErrorCode.NON_FINITE });
  }
  return f;
}

// src/control.js
var PROTOCOL_VERSION = 1;
var SUPPORTED_VERSIONS = Object.freeze([1]);
var NAME_MAX = 32;
var TEXT_MAX = 256;
var TOKEN_MAX = 2048;
var RESUME_MAX = 256;
var CUSTOM_TYPE_MIN = 3;
var CUSTOM_TYPE_MAX = 64;
var WHO_MAX_IDS = 64;
var FACTION_ACTIONS = Object.freeze(["create", "join", "leave", "promote", "kick", "info"]);
var COMPANION_ACTIONS = Object.freeze(["summon", "dismiss", "recall", "info"]);
var COMPANION_KINDS = Object.freeze(["dog", "bodyguard", "driver", "hacker", "medic", "friend"]);
var FACTION_NAME = /^[a-z0-9_]{2,40}$/;
var DISPLAY_NAME_MAX = 64;
var PLAYER_ID_MAX = 64;
var COMPANION_ID_MAX = 64;
var MISSION_ACTIONS = Object.freeze(["request", "accept", "abandon", "complete", "list"]);
var MISSION_ID_MAX = 64;
var MISSION_THEME_MAX = 80;
var VERSION_MAX = 2 ** 31 - 1;
var HELLO_MAX_SIZE = 4096;
var CUSTOM_TYPE = /^[a-z0-9_]+(?:\.[a-z0-9_]+)+$/;
var CONTROL_CHAR = /[\u0000-\u001f]/;
var PRINTABLE_ASCII = /^[\u0021-\u007e]*$/;
var CLIENT_FIELDS = Object.freeze({
  hello: ["v", "name", "token", "resume", "spectate"],
  ping: ["id", "t"],
  chat: ["text"],
  talk: ["npc", "text"],
  leave: [],
  custom: ["type", "data"],
  who: ["ids"],
  faction: ["action", "name", "display_name", "player"],
  companion: ["action", "id", "name", "kind"],
  mission: ["action", "id", "npc", "theme"]
});
var SERVER_FIELDS = Object.freeze({
  welcome: [
    [
      "v",
      "player_id",
      "net_id",
      "name",
      "server_name",
      "tick_rate",
      "send_rate",
      "tick",
      "server_time",
      "world",
      "aoi_radius",
      "aoi_cell_size",
      "resume_token",
      "resume_window",
      "max_message_size",
      "input_rate_limit",
      "resumed",
      "x",
      "y",
      "z",
      "heading"
    ],
    ["limits", "guest", "spectator"]
    // absent only from servers older than the fields (spectator: only in a spectator's)
  ],
  pong: [["id", "server_time"], ["t"]],
  error: [["code", "name", "message"], ["ref"]],
  reconnect: [["resume_token", "after_ms", "resume_window", "reason"], []],
  correct: [["x", "y", "z", "heading", "ref"], []],
  chat: [["from_id", "name", "text"], []],
  npc_say: [["npc", "to", "text"], ["reply_id", "replaced", "actions"]],
  custom: [["type", "data"], []],
  event: [["type", "data"], []],
  who: [["entities"], []],
  npc_say_part: [["npc", "to", "reply_id", "seq", "text"], []]
});
var codePoints = (s) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};
function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) n += 1;
    else if (c < 2048) n += 2;
    else if (c >= 55296 && c <= 56319 && i + 1 < s.length && (s.charCodeAt(i + 1) & 64512) === 56320) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
function badField(message) {
  return new ProtocolError(message, { code: ErrorCode.BAD_FIELD });
}
function isInt(v) {
  return typeof v === "number" && Number.isInteger(v);
}
function checkInt(obj, key, lo, hi) {
  const v = obj[key];
  if (!isInt(v) || v < lo || v > hi) throw badField(`'${key}' must be an integer from ${lo} to ${hi}`);
  return v;
}
function checkStr(obj, key, lo, hi, optional = false) {
  const v = obj[key];
  if (v === void 0 || v === null) {
    if (optional) return null;
  }
  if (typeof v !== "string") throw badField(`'${key}' must be a string of ${lo} to ${hi} characters`);
  const n = codePoints(v);
  if (n < lo || n > hi) throw badField(`'${key}' must be a string of ${lo} to ${hi} characters`);
  if (CONTROL_CHAR.test(v)) throw badField(`'${key}' must not contain control characters`);
  return v;
}
function checkNumber(obj, key, optional = false) {
  const v = obj[key];
  if ((v === void 0 || v === null) && optional) return null;
  if (typeof v !== "number") throw badField(`'${key}' must be a number`);
  if (!Number.isFinite(v)) throw new ProtocolError(`'${key}' must be finite`, { code: ErrorCode.NON_FINITE });
  return v;
}
function checkCustomType(type) {
  if (typeof type !== "string" || type.length < CUSTOM_TYPE_MIN || type.length > CUSTOM_TYPE_MAX || !CUSTOM_TYPE.test(type)) {
    throw badField(
      `'type' must be ${CUSTOM_TYPE_MIN} to ${CUSTOM_TYPE_MAX} characters of [a-z0-9_] in at least two dot-separated parts (namespace.name)`
    );
  }
  return type;
}
function isPlainObject(v) {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
function hasNonFinite(v) {
  if (typeof v === "number") return !Number.isFinite(v);
  if (Array.isArray(v)) return v.some(hasNonFinite);
  if (isPlainObject(v)) return Object.values(v).some(hasNonFinite);
  return false;
}
var utf8 = null;
function textOf(data) {
  if (typeof data === "string") return data;
  utf8 ?? (utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }));
  try {
    return utf8.decode(data);
  } catch {
    throw new ProtocolError("not valid UTF-8", { code: ErrorCode.BAD_JSON });
  }
}
function parseObject(data) {
  const text = textOf(data);
  let obj;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new ProtocolError(`not valid JSON: ${e.message}`, { code: ErrorCode.BAD_JSON });
  }
  if (!isPlainObject(obj)) throw new ProtocolError("a message must be a JSON object", { code: ErrorCode.BAD_JSON });
  if (hasNonFinite(obj)) throw new ProtocolError("a number overflows a double", { code: ErrorCode.BAD_JSON });
  return obj;
}
function validateHello(obj) {
  const v = obj.v;
  if (!isInt(v) || v < 0 || v > VERSION_MAX) {
    throw new ProtocolError(`bad hello: 'v' must be an integer from 0 to ${VERSION_MAX}`, { close: CloseCode.BAD_HELLO });
  }
  if (!SUPPORTED_VERSIONS.includes(v)) {
    throw new ProtocolError(`protocol version ${v} not supported; supported: ${SUPPORTED_VERSIONS.join(",")}`, {
      close: CloseCode.UNSUPPORTED_VERSION
    });
  }
  try {
    const name = checkStr(obj, "name", 1, NAME_MAX);
    const token = checkStr(obj, "token", 1, TOKEN_MAX, true);
    if (token !== null && !PRINTABLE_ASCII.test(token)) throw badField("'token' must be printable ASCII without spaces");
    const resume = checkStr(obj, "resume", 1, RESUME_MAX, true);
    const spectate = obj.spectate ?? null;
    if (spectate !== null && typeof spectate !== "boolean") throw badField("'spectate' must be true or false");
    return { op: "hello", v, name, token, resume, spectate: spectate || null };
  } catch (e) {
    throw new ProtocolError(`bad hello: ${e.message}`, { close: CloseCode.BAD_HELLO });
  }
}
function validateClient(obj) {
  if (!isPlainObject(obj)) throw new ProtocolError("a message must be a JSON object", { code: ErrorCode.BAD_JSON });
  switch (obj.op) {
    case "ping":
      return { op: "ping", id: checkInt(obj, "id", 0, 2 ** 53), t: checkNumber(obj, "t", true) };
    case "chat":
      return { op: "chat", text: checkStr(obj, "text", 1, TEXT_MAX) };
    case "talk":
      return { op: "talk", npc: checkInt(obj, "npc", 0, 65535), text: checkStr(obj, "text", 1, TEXT_MAX) };
    case "leave":
      return { op: "leave" };
    case "hello":
      try {
        return validateHello(obj);
      } catch (e) {
        throw new ProtocolError(`already welcomed (${e.message})`, { code: ErrorCode.ALREADY_WELCOMED });
      }
    case "custom": {
      const data = obj.data ?? {};
      if (!isPlainObject(data)) throw badField("'data' must be a JSON object");
      return { op: "custom", type: checkCustomType(obj.type), data };
    }
    case "who": {
      const ids = obj.ids;
      if (!Array.isArray(ids) || ids.length < 1 || ids.length > WHO_MAX_IDS || !ids.every((i) => isInt(i) && i >= 0 && i <= 65535)) {
        throw badField(`'ids' must be a list of 1 to ${WHO_MAX_IDS} integers from 0 to 65535`);
      }
      return { op: "who", ids };
    }
    case "faction": {
      const action = obj.action;
      if (!FACTION_ACTIONS.includes(action)) throw badField(`'action' must be one of ${FACTION_ACTIONS.join(", ")}`);
      let name = obj.name ?? null;
      if (name !== null || action === "create" || action === "join") {
        if (typeof name !== "string" || !FACTION_NAME.test(name)) throw badField("'name' must be 2 to 40 characters of [a-z0-9_]");
      }
      const displayName = checkStr(obj, "display_name", 1, DISPLAY_NAME_MAX, true);
      const player = checkStr(obj, "player", 1, PLAYER_ID_MAX, action !== "promote" && action !== "kick");
      return { op: "faction", action, name, display_name: displayName, player };
    }
    case "companion": {
      const action = obj.action;
      if (!COMPANION_ACTIONS.includes(action)) throw badField(`'action' must be one of ${COMPANION_ACTIONS.join(", ")}`);
      const id = checkStr(obj, "id", 1, COMPANION_ID_MAX, true);
      const name = checkStr(obj, "name", 1, NAME_MAX, true);
      const kind = obj.kind ?? null;
      if (kind !== null && !COMPANION_KINDS.includes(kind)) throw badField(`'kind' must be one of ${COMPANION_KINDS.join(", ")}`);
      return { op: "companion", action, id, name, kind };
    }
    case "mission": {
      const action = obj.action;
      if (!MISSION_ACTIONS.includes(action)) throw badField(`'action' must be one of ${MISSION_ACTIONS.join(", ")}`);
      const id = checkStr(obj, "id", 1, MISSION_ID_MAX, action === "request" || action === "list");
      const npc = action === "request" || obj.npc !== void 0 && obj.npc !== null ? checkInt(obj, "npc", 0, 65535) : null;
      return { op: "mission", action, id, npc, theme: checkStr(obj, "theme", 1, MISSION_THEME_MAX, true) };
    }
    default:
      throw new ProtocolError(`unknown op ${JSON.stringify(obj.op) ?? "undefined"}`, { code: ErrorCode.UNKNOWN_OP });
  }
}
function decodeClient(data, { first = false } = {}) {
  if (first) {
    let obj;
    try {
      obj = parseObject(data);
    } catch (e) {
      throw new ProtocolError(`bad hello: ${e.message}`, { close: CloseCode.BAD_HELLO });
    }
    if (obj.op !== "hello") throw new ProtocolError("the first message must be a hello", { close: CloseCode.BAD_HELLO });
    return validateHello(obj);
  }
  return validateClient(parseObject(data));
}
function encodeClient(msg) {
  const m = msg.op === "hello" ? validateHello(msg) : validateClient(msg);
  const fields = CLIENT_FIELDS[m.op];
  let out = `{"op":${JSON.stringify(m.op)}`;
  for (const k of fields) {
    const v = m[k];
    if (v !== null && v !== void 0) out += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
  }
  return out + "}";
}
function decodeServer(text) {
  return decodeServerObject(parseObject(text));
}
function decodeServerObject(obj) {
  const op = obj.op;
  const spec = typeof op === "string" && Object.hasOwn(SERVER_FIELDS, op) ? SERVER_FIELDS[op] : null;
  if (spec === null) throw new ProtocolError(`unknown op ${JSON.stringify(op) ?? "undefined"}`, { code: ErrorCode.UNKNOWN_OP });
  const [required, optional] = spec;
  const out = { op };
  for (const k of required) {
    if (obj[k] === void 0 || obj[k] === null) throw badField(`${op}: missing field '${k}'`);
    out[k] = obj[k];
  }
  for (const k of optional) out[k] = obj[k] ?? null;
  if (op === "welcome") {
    const w = out.world;
    const keys = ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z"];
    if (!isPlainObject(w) || !keys.every((k) => typeof w[k] === "number")) throw badField("welcome: bad 'world'");
    if (!isPlainObject(out.limits)) out.limits = null;
    if (typeof out.guest !== "boolean") out.guest = null;
  } else if (op === "custom" || op === "event") {
    if (typeof out.type !== "string") throw badField(`${op}: 'type' must be a string`);
    if (!isPlainObject(out.data)) throw badField(`${op}: 'data' must be a JSON object`);
  }
  return out;
}

// src/emitter.js
var Emitter = class {
  constructor() {
    this._listeners = /* @__PURE__ */ new Map();
  }
  /** Listen to `type`; returns a function that removes the listener. */
  on(type, fn) {
    let set = this._listeners.get(type);
    if (!set) this._listeners.set(type, set = /* @__PURE__ */ new Set());
    set.add(fn);
    return () => this.off(type, fn);
  }
  once(type, fn) {
    const off = this.on(type, (ev) => {
      off();
      fn(ev);
    });
    return off;
  }
  off(type, fn) {
    this._listeners.get(type)?.delete(fn);
  }
  /** Resolve with the next `type` event that satisfies `pred`; reject after `timeoutMs`. */
  waitFor(type, pred = () => true, timeoutMs = 1e4) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for '${type}'`));
      }, timeoutMs);
      const off = this.on(type, (ev) => {
        if (!pred(ev)) return;
        clearTimeout(timer);
        off();
        resolve(ev);
      });
    });
  }
  emit(type, ev) {
    const set = this._listeners.get(type);
    if (!set || set.size === 0) return;
    for (const fn of [...set]) {
      try {
        fn(ev);
      } catch (err) {
        setTimeout(() => {
          throw err;
        }, 0);
      }
    }
  }
  listenerCount(type) {
    return this._listeners.get(type)?.size ?? 0;
  }
};

// src/quant.js
var QMAX = 65535;
function roundHalfEven(x) {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
function pyMod(x, m) {
  let r = x % m;
  if (r !== 0 && r < 0 !== m < 0) r += m;
  return r;
}
function quantise(v, lo, hi) {
  if (v <= lo) return 0;
  if (v >= hi) return QMAX;
  return roundHalfEven((v - lo) * QMAX / (hi - lo));
}
function dequantise(q, lo, hi) {
  return lo + q * (hi - lo) / QMAX;
}
function quantisePosition(w, x, y, z) {
  return [quantise(x, w.min_x, w.max_x), quantise(y, w.min_y, w.max_y), quantise(z, w.min_z, w.max_z)];
}
function dequantisePosition(w, qx, qy, qz) {
  return [dequantise(qx, w.min_x, w.max_x), dequantise(qy, w.min_y, w.max_y), dequantise(qz, w.min_z, w.max_z)];
}
function quantiseHeading(deg) {
  return pyMod(roundHalfEven(pyMod(deg, 360) * 256 / 360), 256);
}
function dequantiseHeading(q) {
  return pyMod(q, 256) * 360 / 256;
}
function speedToWire(mps) {
  if (!Number.isFinite(mps) || mps <= 0) return 0;
  return Math.min(255, roundHalfEven(mps * 10));
}
function speedFromWire(q) {
  return q / 10;
}
function pathPosition(path, tick, tickRate, w) {
  const sx = dequantise(path.qx, w.min_x, w.max_x);
  const sy = dequantise(path.qy, w.min_y, w.max_y);
  const sz = dequantise(path.qz, w.min_z, w.max_z);
  const ex = dequantise(path.wx, w.min_x, w.max_x);
  const ey = dequantise(path.wy, w.min_y, w.max_y);
  const dx = ex - sx;
  const dy = ey - sy;
  const dist = Math.sqrt(dx * dx + dy * dy);
  if (dist === 0 || path.speed === 0) return [sx, sy, sz];
  const travelled = path.speed / 10 * Math.max(0, tick - path.start_tick) / tickRate;
  if (travelled >= dist) return [ex, ey, sz];
  const f = travelled / dist;
  return [sx + dx * f, sy + dy * f, sz];
}
function pathHeading(path, w) {
  const sx = dequantise(path.qx, w.min_x, w.max_x);
  const sy = dequantise(path.qy, w.min_y, w.max_y);
  const ex = dequantise(path.wx, w.min_x, w.max_x);
  const ey = dequantise(path.wy, w.min_y, w.max_y);
  return pyMod(Math.atan2(-(ex - sx), ey - sy) * (180 / Math.PI), 360);
}
function pathArrivalTick(path, tickRate, w) {
  if (path.speed === 0) return null;
  const ex = dequantise(path.wx, w.min_x, w.max_x);
  const ey = dequantise(path.wy, w.min_y, w.max_y);
  const there = (t2) => {
    const [x, y] = pathPosition(path, t2, tickRate, w);
    return x === ex && y === ey;
  };
  let t = path.start_tick;
  for (let step = 2 ** 20; step >= 1; step /= 2) {
    while (!there(t + step)) t += step;
  }
  return there(t) ? t : t + 1;
}

// src/mirror.js
var WHO_KINDS = /* @__PURE__ */ new Set(["npc", "player"]);
function newStats() {
  return {
    frames: 0,
    fullFrames: 0,
    bytes: 0,
    enters: 0,
    leaves: 0,
    paths: 0,
    moves: 0,
    unknownRecords: 0,
    ignored: 0,
    invalid: 0,
    errors: 0,
    inputsSent: 0,
    messages: 0
  };
}
function makePlayer(w, id, name, health, qx, qy, qz, qh) {
  const [x, y, z] = dequantisePosition(w, qx, qy, qz);
  return { id, kind: EntityKind.PLAYER, name, health, qx, qy, qz, qheading: qh, x, y, z, heading: dequantiseHeading(qh) };
}
function samePath(a, b) {
  return a.qx === b.qx && a.qy === b.qy && a.qz === b.qz && a.wx === b.wx && a.wy === b.wy && a.speed === b.speed && a.start_tick === b.start_tick;
}
function sameEntity(a, b) {
  if (a.kind !== b.kind) return false;
  if (a.kind === EntityKind.PLAYER) {
    return a.name === b.name && a.health === b.health && a.qx === b.qx && a.qy === b.qy && a.qz === b.qz && a.qheading === b.qheading;
  }
  return a.model === b.model && samePath(a.path, b.path);
}
var Mirror = class {
  constructor({ name, token = null, spectate = false } = {}) {
    this.name = name;
    this.token = token;
    this.spectate = Boolean(spectate);
    this.resumeToken = null;
    this.welcome = null;
    this.entities = /* @__PURE__ */ new Map();
    this.lastSeq = 0;
    this.lastTick = 0;
    this.lastServerTime = 0;
    this.lastReceivedAt = null;
    this.inputSeq = 0;
    this.pingSeq = 0;
    this.stats = newStats();
    this.local = null;
    encodeClient({ op: "hello", v: PROTOCOL_VERSION, name, token });
  }
  get netId() {
    return this.welcome ? this.welcome.net_id : null;
  }
  get playerId() {
    return this.welcome ? this.welcome.player_id : null;
  }
  /** This client's own entity as the server last echoed it, if visible. */
  get me() {
    if (!this.welcome) return null;
    const e = this.entities.get(this.welcome.net_id);
    return e && e.kind === EntityKind.PLAYER ? e : null;
  }
  // --- outgoing -----------------------------------------------------------------------------
  /** Hello for a new connection: sequence numbers restart on every connection (SPEC §3.3). */
  hello({ resume = true } = {}) {
    this.lastSeq = 0;
    this.inputSeq = 0;
    return encodeClient({
      op: "hello",
      v: PROTOCOL_VERSION,
      name: this.name,
      token: this.token,
      resume: resume ? this.resumeToken : null,
      spectate: this.spectate || null
    });
  }
  input(x, y, z, heading) {
    const frame = encodeInput({ seq: this.inputSeq + 1, ack: this.lastSeq, x, y, z, heading });
    this.inputSeq += 1;
    this.stats.inputsSent += 1;
    this.local = [x, y, z, heading];
    return frame;
  }
  ping(t = null) {
    this.pingSeq += 1;
    return [this.pingSeq, encodeClient({ op: "ping", id: this.pingSeq, t })];
  }
  leave() {
    this.resumeToken = null;
    return encodeClient({ op: "leave" });
  }
  connectionLost() {
    this.lastSeq = 0;
  }
  // --- incoming -----------------------------------------------------------------------------
  /** Apply one WebSocket message; never throws for bad server data. */
  receive(data, now = null) {
    if (typeof data === "string") return this._receiveText(data, now);
    return this._receiveBinary(toBytes(data), now);
  }
  _receiveText(text, now) {
    let raw;
    try {
      raw = parseObject(text);
    } catch (e) {
      this.stats.invalid += 1;
      return [{ type: "invalid", reason: e.message, size: text.length }];
    }
    this.stats.messages += 1;
    const events = [];
    let msg;
    try {
      msg = decodeServerObject(raw);
    } catch (e) {
      if (e instanceof ProtocolError && e.code === ErrorCode.UNKNOWN_OP) {
        this.stats.ignored += 1;
        events.push({ type: "message", message: raw, known: false });
        if (typeof raw.op === "string" && raw.op.startsWith("npc_")) events.push({ type: "npc", message: raw });
        return events;
      }
      this.stats.invalid += 1;
      return [{ type: "invalid", reason: e.message, size: text.length }, { type: "message", message: raw, known: false }];
    }
    events.push(...this._control(msg, now, text.length));
    events.push({ type: "message", message: raw, known: true });
    return events;
  }
  _control(msg, now, size) {
    switch (msg.op) {
      case "welcome":
        this.welcome = msg;
        this.resumeToken = msg.resume_token || null;
        this.lastTick = msg.tick;
        this.lastServerTime = msg.server_time;
        this.lastReceivedAt = now;
        this.local = [msg.x, msg.y, msg.z, msg.heading];
        return [{ type: "welcome", welcome: msg, resumed: msg.resumed === true }];
      case "pong": {
        const rtt = now !== null && msg.t !== null ? now - msg.t : null;
        return [{ type: "pong", id: msg.id, t: msg.t, server_time: msg.server_time, rtt, receivedAt: now }];
      }
      case "chat":
        return [{ type: "chat", from_id: msg.from_id, name: msg.name, text: msg.text }];
      case "npc_say": {
        const actions = Array.isArray(msg.actions) ? msg.actions.filter((a) => typeof a === "string") : [];
        const ev = { type: "npc_say", npc: msg.npc, to: msg.to, text: msg.text, reply_id: msg.reply_id, replaced: msg.replaced === true, actions };
        return [ev, { type: "npc", message: msg }];
      }
      case "npc_say_part": {
        const ev = { type: "npc_say_part", npc: msg.npc, to: msg.to, reply_id: msg.reply_id, seq: msg.seq, text: msg.text };
        return [ev, { type: "npc", message: msg }];
      }
      case "error":
        this.stats.errors += 1;
        return [{ type: "error", code: msg.code, name: msg.name, message: msg.message, ref: msg.ref }];
      case "correct":
        this.local = [msg.x, msg.y, msg.z, msg.heading];
        return [{ type: "correct", x: msg.x, y: msg.y, z: msg.z, heading: msg.heading, ref: msg.ref }];
      case "reconnect":
        this.resumeToken = msg.resume_token;
        return [{ type: "reconnect", resume_token: msg.resume_token, after_ms: msg.after_ms, resume_window: msg.resume_window, reason: msg.reason }];
      case "custom":
        return [{ type: "custom", customType: msg.type, data: msg.data }];
      case "event": {
        const ev = [{ type: "event", eventType: msg.type, data: msg.data }];
        const topic = msg.type.split(".", 1)[0];
        if (topic === "mission" || topic === "faction" || topic === "companion") ev.push({ type: topic, eventType: msg.type, data: msg.data });
        return ev;
      }
      case "who": {
        const ents = msg.entities;
        if (!Array.isArray(ents) || !ents.every((e) => typeof e === "object" && e !== null && !Array.isArray(e))) {
          this.stats.invalid += 1;
          return [{ type: "invalid", reason: "who.entities must be a list of objects", size }];
        }
        return [{ type: "who", entities: ents.filter((e) => WHO_KINDS.has(e.kind) && Number.isInteger(e.id)) }];
      }
      default:
        return [];
    }
  }
  _receiveBinary(u8, now) {
    if (u8.byteLength > 0 && u8[0] !== FrameType.STATE) {
      this.stats.ignored += 1;
      return [];
    }
    if (this.welcome === null) {
      this.stats.invalid += 1;
      return [{ type: "invalid", reason: "STATE frame before welcome", size: u8.byteLength }];
    }
    let frame;
    try {
      frame = decodeState(u8);
    } catch (e) {
      this.stats.invalid += 1;
      return [{ type: "invalid", reason: e.message, size: u8.byteLength }];
    }
    const events = this.apply(frame);
    this.stats.frames += 1;
    this.stats.bytes += u8.byteLength;
    this.lastReceivedAt = now;
    events.push({
      type: "state",
      seq: frame.seq,
      tick: frame.tick,
      server_time: frame.server_time,
      full: frame.full,
      size: u8.byteLength,
      receivedAt: now
    });
    return events;
  }
  /** Apply a decoded STATE frame: FULL, LEAVE, ENTER, PATH, MOVE, in that order. */
  apply(frame) {
    const w = this.welcome.world;
    const st = this.stats;
    const events = [];
    let ents = this.entities;
    const full = frame.full;
    let before = null;
    if (full) {
      st.fullFrames += 1;
      before = ents;
      ents = this.entities = /* @__PURE__ */ new Map();
    } else {
      for (const id of frame.leaves) {
        st.leaves += 1;
        const gone = ents.get(id);
        if (gone === void 0) {
          st.unknownRecords += 1;
        } else {
          ents.delete(id);
          events.push({ type: "left", id, entity: gone });
        }
      }
    }
    const pending = full ? [] : null;
    for (const e of frame.enters) {
      st.enters += 1;
      let ent;
      if (e.kind === EntityKind.PLAYER) ent = makePlayer(w, e.id, e.name, e.health, e.qx, e.qy, e.qz, e.heading);
      else if (e.kind === EntityKind.NPC) ent = { id: e.id, kind: EntityKind.NPC, model: e.model, path: e.path };
      else {
        st.unknownRecords += 1;
        continue;
      }
      const prev = ents.get(e.id);
      ents.set(e.id, ent);
      if (full) pending.push(e.id);
      else {
        if (prev !== void 0) events.push({ type: "left", id: e.id, entity: prev });
        events.push({ type: "entered", entity: ent });
      }
    }
    for (const p of frame.paths) {
      st.paths += 1;
      const old = ents.get(p.id);
      if (old === void 0 || old.kind !== EntityKind.NPC) {
        st.unknownRecords += 1;
        continue;
      }
      const upd = { id: p.id, kind: EntityKind.NPC, model: old.model, path: p.path };
      ents.set(p.id, upd);
      if (!full) events.push({ type: "updated", entity: upd, previous: old });
    }
    for (const m of frame.moves) {
      st.moves += 1;
      const old = ents.get(m.id);
      if (old === void 0) {
        st.unknownRecords += 1;
        continue;
      }
      let upd;
      if (old.kind === EntityKind.PLAYER) {
        if (old.qx === m.qx && old.qy === m.qy && old.qz === m.qz && old.qheading === m.heading) continue;
        upd = makePlayer(w, m.id, old.name, old.health, m.qx, m.qy, m.qz, m.heading);
      } else {
        const path = { qx: m.qx, qy: m.qy, qz: m.qz, wx: m.qx, wy: m.qy, speed: 0, start_tick: frame.tick };
        upd = { id: m.id, kind: EntityKind.NPC, model: old.model, path };
      }
      ents.set(m.id, upd);
      if (!full) events.push({ type: "updated", entity: upd, previous: old });
    }
    if (full) {
      for (const [id, gone] of before) if (!ents.has(id)) events.push({ type: "left", id, entity: gone });
      const seen = /* @__PURE__ */ new Set();
      for (const id of pending) {
        if (seen.has(id)) continue;
        seen.add(id);
        const ent = ents.get(id);
        const prev = before.get(id);
        if (prev === void 0) events.push({ type: "entered", entity: ent });
        else if (prev.kind !== ent.kind) {
          events.push({ type: "left", id, entity: prev });
          events.push({ type: "entered", entity: ent });
        } else if (!sameEntity(prev, ent)) events.push({ type: "updated", entity: ent, previous: prev });
      }
      events.push({ type: "snapshot", seq: frame.seq, tick: frame.tick, server_time: frame.server_time, count: ents.size });
    }
    this.lastSeq = frame.seq;
    this.lastTick = frame.tick;
    this.lastServerTime = frame.server_time;
    return events;
  }
  // --- derived views ------------------------------------------------------------------------
  /** Server tick now (SPEC §9.3), from the last frame's tick and the local time it arrived. */
  estimateTick(now) {
    if (this.welcome === null) return 0;
    if (this.lastReceivedAt === null || now === null || now === void 0) return this.lastTick;
    return this.lastTick + Math.max(0, now - this.lastReceivedAt) * this.welcome.tick_rate;
  }
  /** [x, y, z] of an NPC at server tick `tick` (default: the last frame's tick), SPEC §7. */
  npcPosition(npc, tick = null) {
    if (this.welcome === null) throw new Error("no welcome yet");
    return pathPosition(npc.path, tick === null ? this.lastTick : tick, this.welcome.tick_rate, this.welcome.world);
  }
  /** [x, y, z] of any entity: a player's last echoed position, an NPC's extrapolated one. */
  positionOf(entity, tick = null) {
    if (entity.kind === EntityKind.PLAYER) return [entity.x, entity.y, entity.z];
    return this.npcPosition(entity, tick);
  }
  players() {
    return [...this.entities.values()].filter((e) => e.kind === EntityKind.PLAYER);
  }
  npcs() {
    return [...this.entities.values()].filter((e) => e.kind === EntityKind.NPC);
  }
};

// src/client.js
var OUTBOX_MAX = 64;
var ConnectionError = class extends Error {
  constructor(message, code = null, reason = "") {
    super(message);
    this.name = "ConnectionError";
    this.code = code;
    this.codeName = closeName(code);
    this.reason = reason;
    this.fatal = code !== null && closeAction(code) === "fatal";
  }
};
function defaultClock() {
  if (typeof performance !== "undefined" && typeof performance.now === "function" && performance.timeOrigin) {
    return (performance.timeOrigin + performance.now()) / 1e3;
  }
  return Date.now() / 1e3;
}
var OPEN = 1;
var GangClient = class extends Emitter {
  /**
   * @param {object} opts see index.d.ts (ClientOptions)
   */
  constructor(opts) {
    super();
    const WS = opts.WebSocket ?? globalThis.WebSocket;
    if (typeof WS !== "function") {
      throw new TypeError(
        "no WebSocket: pass { WebSocket } (in Node < 22: `import WebSocket from 'ws'`; in alt:V: altWebSocket(alt))"
      );
    }
    if (typeof opts.url !== "string") throw new TypeError("url is required (ws://host:22005/ws)");
    this.url = opts.url;
    this._WS = WS;
    this.mirror = new Mirror({ name: opts.name, token: opts.token ?? null, spectate: opts.spectate ?? false });
    if (opts.resumeToken) {
      encodeClient({ op: "hello", v: PROTOCOL_VERSION, name: opts.name, resume: opts.resumeToken });
      this.mirror.resumeToken = opts.resumeToken;
    }
    this.options = {
      reconnect: opts.reconnect ?? true,
      rejoinAfterWindow: opts.rejoinAfterWindow ?? false,
      backoffBaseMs: opts.backoffBaseMs ?? 500,
      backoffMaxMs: opts.backoffMaxMs ?? 3e4,
      openTimeoutMs: opts.openTimeoutMs ?? 1e4,
      deadAfterMs: opts.deadAfterMs ?? 5e3,
      pingIntervalMs: opts.pingIntervalMs ?? 5e3,
      requestTimeoutMs: opts.requestTimeoutMs ?? 1e4
    };
    this.clock = opts.clock ?? defaultClock;
    this.state = "idle";
    this.reconnects = 0;
    this.latency = { rtt: null, offset: null, stateLatency: null };
    this.identities = /* @__PURE__ */ new Map();
    this.error = null;
    this._ws = null;
    this._closing = false;
    this._outbox = [];
    this._pendingMove = null;
    this._moveTimer = null;
    this._nextInputAt = 0;
    this._pings = /* @__PURE__ */ new Map();
    this._whos = [];
    this._timers = [];
    this._lastMessageAt = 0;
    this._afterMs = null;
    this._resumeWindow = 60;
    this._sleep = null;
    this._closed = new Promise((resolve) => this._resolveClosed = resolve);
  }
  // --- state ----------------------------------------------------------------------------------
  get entities() {
    return this.mirror.entities;
  }
  get welcome() {
    return this.mirror.welcome;
  }
  get netId() {
    return this.mirror.netId;
  }
  get playerId() {
    return this.mirror.playerId;
  }
  get me() {
    return this.mirror.me;
  }
  get stats() {
    return this.mirror.stats;
  }
  get resumeToken() {
    return this.mirror.resumeToken;
  }
  get connected() {
    return this.state === "open";
  }
  get closed() {
    return this.state === "closed";
  }
  /** Resolves when the client has ended for good, with the error (null on a clean end). */
  get done() {
    return this._closed;
  }
  /** Estimated server tick now (fractional), SPEC §9.3. */
  serverTick(now = this.clock()) {
    return this.mirror.estimateTick(now);
  }
  /** [x, y, z] of an entity at server tick `tick` (default: now); NPCs are extrapolated exactly. */
  positionOf(entity, tick = null) {
    return this.mirror.positionOf(entity, tick === null ? this.serverTick() : tick);
  }
  players() {
    return this.mirror.players();
  }
  npcs() {
    return this.mirror.npcs();
  }
  // --- lifecycle ------------------------------------------------------------------------------
  /**
   * Open the connection; resolves with `welcome`. Rejects with ConnectionError if refused.
   * The first connection does not retry (a wrong URL or a full server fails fast), with one
   * exception: a resume refused with 4012 RESUME_REFUSED because the server has not yet noticed
   * that our previous connection is gone (e.g. after a page reload). The same token works once
   * it has, so it is retried with backoff while the resume window lasts (SPEC §3.3), with a
   * `reconnecting` event before each retry; `reconnect: false` turns that off.
   */
  async connect() {
    if (this.state !== "idle") throw new Error(`connect() called in state ${this.state}`);
    this.state = "connecting";
    const resume = this.mirror.resumeToken !== null;
    let deadline = null;
    let delay = 0;
    for (let attempt = 1; ; attempt++) {
      if (attempt > 1) {
        await this._wait(delay);
        if (!this._closing) this.emit("reconnecting", { attempt, delayMs: delay, resume });
      }
      let err;
      try {
        if (this._closing) throw new ConnectionError("client closed while connecting", 4e3, "client disconnect");
        const { ws, events, early } = await this._attempt(resume);
        if (this._closing) {
          this._kill(ws, 4e3);
          throw new ConnectionError("client closed while connecting", 4e3, "client disconnect");
        }
        this._attach(ws, events, early);
        return this.mirror.welcome;
      } catch (e) {
        err = e;
      }
      deadline ?? (deadline = this.clock() + this._resumeWindow);
      const retry = resume && err.code === CloseCode.RESUME_REFUSED && this.options.reconnect && !this._closing;
      if (!retry || this.clock() >= deadline) {
        this._finish(err.code ?? null, err.reason ?? "", err);
        throw err;
      }
      delay = this._backoff(attempt, deadline);
    }
  }
  /** Quit for good: the server forgets the player (no resume). Resolves once closed. */
  async leave(timeoutMs = 5e3) {
    const ws = this._ws;
    this._closing = true;
    this._cancelSleep();
    if (ws && this.state === "open") {
      ws.send(this.mirror.leave());
      const closed = this._closed;
      const timer = setTimeout(() => this._kill(ws, 1e3), timeoutMs);
      await closed;
      clearTimeout(timer);
    } else {
      this.mirror.resumeToken = null;
      this._finish(null, "left", null);
    }
  }
  /** Close the socket but let the server keep the player for the resume window. */
  disconnect() {
    this._closing = true;
    this._cancelSleep();
    const ws = this._ws;
    this._ws = null;
    if (ws) this._kill(ws, 4e3, "client disconnect");
    this._finish(4e3, "client disconnect", null);
  }
  // --- actions --------------------------------------------------------------------------------
  /**
   * Say where this player is now (metres, heading in degrees). Never blocks; the latest call
   * wins and is sent at most `send_rate` times a second, acknowledging the last STATE frame.
   */
  move(x, y, z, heading) {
    for (const v of [x, y, z, heading]) {
      if (typeof v !== "number" || !Number.isFinite(v)) {
        throw new ProtocolError("position and heading must be finite numbers", { code: ErrorCode.NON_FINITE });
      }
    }
    this._pendingMove = [x, y, z, heading];
    if (this._moveTimer === null) this._flushMove();
  }
  chat(text) {
    this._sendText(encodeClient({ op: "chat", text }));
  }
  /** Speak to an NPC you can see; the answer arrives as `npc_say` (or streamed `npc_*`) events. */
  talk(npc, text) {
    const id = typeof npc === "object" && npc !== null ? npc.id : npc;
    this._sendText(encodeClient({ op: "talk", npc: id, text }));
  }
  /** Talk and resolve with the NPC's first `npc_say` to this player. */
  async ask(npc, text, timeoutMs = this.options.requestTimeoutMs) {
    const id = typeof npc === "object" && npc !== null ? npc.id : npc;
    const reply = this.waitFor("npc_say", (e) => e.npc === id && (this.netId === null || e.to === this.netId), timeoutMs);
    this.talk(id, text);
    return reply;
  }
  // --- factions and companions (SPEC §4.2): answered by `event`s (also emitted as `faction` /
  // `companion`), or an `error` FACTION_REFUSED / COMPANION_REFUSED whose message starts with the reason.
  /** `faction` request: action create | join | leave | promote | kick | info; fields {name, display_name, player}. */
  faction(action, fields = {}) {
    this._sendText(encodeClient({ ...fields, op: "faction", action }));
  }
  /** `companion` request: action summon | dismiss | recall | info; fields {id, name, kind}. */
  companion(action, fields = {}) {
    this._sendText(encodeClient({ ...fields, op: "companion", action }));
  }
  /**
   * A mission request (SPEC §4.2 `mission`): `action` request (with `npc`, optional `theme`),
   * accept / abandon / complete (with `id`) or list. Answers arrive as `event` events of type
   * `mission`, `mission.progress`, `mission.list` (and `money`); refusals as `error` 15.
   */
  mission(action, { id = null, npc = null, theme = null } = {}) {
    const giver = typeof npc === "object" && npc !== null ? npc.id : npc;
    this._sendText(encodeClient({ op: "mission", action, id, npc: giver, theme }));
  }
  /** A game mode's own message: `type` is "namespace.name", `data` a JSON object. */
  sendCustom(type, data = {}) {
    this._sendText(encodeClient({ op: "custom", type, data }));
  }
  /**
   * Ask the server who these entities are (1 to 64 net ids): resolves with one
   * {id, kind: "npc" | "player", name, role?, faction?} per id in view; ids out of view are left
   * out (SPEC §4.2). Rejects with a ProtocolError of code UNKNOWN_OP if the server does not
   * know `who`, and with a ConnectionError when not connected (an answer cannot outlive its
   * connection). Answers are cached in `identities` until the entity leaves.
   */
  who(ids) {
    const list = [...ids];
    const text = encodeClient({ op: "who", ids: list });
    if (this.state !== "open") return Promise.reject(new ConnectionError("who: not connected", this.error?.code ?? null));
    return new Promise((resolve, reject) => {
      const req = { resolve, reject, timer: null, ids: new Set(list) };
      req.timer = setTimeout(() => {
        this._whos = this._whos.filter((r) => r !== req);
        reject(new Error("who: no answer"));
      }, this.options.requestTimeoutMs);
      this._whos.push(req);
      try {
        this._sendText(text);
      } catch (e) {
        clearTimeout(req.timer);
        this._whos = this._whos.filter((r) => r !== req);
        reject(e);
      }
    });
  }
  /** Send a text or binary message as it is, without checks: for tools and protocol tests. */
  sendRaw(data) {
    const ws = this._ws;
    if (!ws || this.state !== "open") throw new ConnectionError("not connected");
    ws.send(data);
  }
  /** Round trip through the server's message handling, in seconds. */
  ping() {
    const t = this.clock();
    const [id, text] = this.mirror.ping(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pings.delete(id);
        reject(new Error("ping: no pong"));
      }, this.options.requestTimeoutMs);
      this._pings.set(id, { resolve, reject, timer });
      try {
        this._sendText(text);
      } catch (e) {
        clearTimeout(timer);
        this._pings.delete(id);
        reject(e);
      }
    });
  }
  // --- internals: sending -------------------------------------------------------------------
  _sendText(text) {
    if (this.state === "closed") throw new ConnectionError("client is closed", this.error?.code ?? null);
    const max = this.mirror.welcome?.max_message_size;
    if (typeof max === "number" && text.length > max / 3) {
      const size = utf8Length(text);
      if (size > max) {
        throw new ProtocolError(`message of ${size} bytes is over the server's max_message_size (${max})`, {
          close: CloseCode.MESSAGE_TOO_BIG
        });
      }
    }
    const ws = this._ws;
    if (ws && this.state === "open" && ws.readyState === OPEN) {
      ws.send(text);
      return;
    }
    if (this._outbox.length >= OUTBOX_MAX) throw new ConnectionError("not connected and the outbox is full");
    this._outbox.push(text);
  }
  _flushMove() {
    this._moveTimer = null;
    const pending = this._pendingMove;
    const ws = this._ws;
    if (pending === null || ws === null || this.state !== "open" || ws.readyState !== OPEN) return;
    const nowMs = this.clock() * 1e3;
    if (nowMs < this._nextInputAt) {
      this._moveTimer = setTimeout(() => this._flushMove(), this._nextInputAt - nowMs);
      return;
    }
    const rate = Math.max(1, this.mirror.welcome.send_rate);
    this._nextInputAt = nowMs + 1e3 / rate;
    this._pendingMove = null;
    ws.send(this.mirror.input(...pending));
  }
  // --- internals: connections ---------------------------------------------------------------
  /** One attempt: socket, hello, welcome. Resolves {ws, events}; rejects with ConnectionError. */
  _attempt(resume) {
    return new Promise((resolve, reject) => {
      let ws;
      try {
        ws = new this._WS(this.url);
      } catch (e) {
        reject(new ConnectionError(`cannot open ${this.url}: ${e.message}`));
        return;
      }
      try {
        ws.binaryType = "arraybuffer";
      } catch {
      }
      let settled = false;
      const fail = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this._kill(ws);
        reject(err);
      };
      const timer = setTimeout(() => fail(new ConnectionError("no welcome in time")), this.options.openTimeoutMs);
      ws.onopen = () => ws.send(this.mirror.hello({ resume }));
      ws.onmessage = (ev) => {
        if (settled) return;
        const events = this.mirror.receive(ev.data, this.clock());
        if (!events.some((e) => e.type === "welcome")) {
          fail(new ConnectionError(`expected welcome, got ${String(ev.data).slice(0, 200)}`));
          return;
        }
        settled = true;
        clearTimeout(timer);
        const early = { messages: [], close: null };
        ws.onmessage = (e) => early.messages.push(e.data);
        ws.onclose = (e) => early.close = e;
        resolve({ ws, events, early });
      };
      ws.onerror = () => {
      };
      ws.onclose = (ev) => {
        const code = ev.code === 1005 || ev.code === 1006 ? null : ev.code;
        fail(new ConnectionError(`server closed the connection: ${closeName(code)} ${ev.reason ?? ""}`.trim(), code, ev.reason ?? ""));
      };
    });
  }
  _attach(ws, events, early = { messages: [], close: null }) {
    this._ws = ws;
    this.state = "open";
    this._lastMessageAt = this.clock();
    this._nextInputAt = 0;
    this._resumeWindow = this.mirror.welcome.resume_window;
    ws.onmessage = (ev) => this._onMessage(ev.data);
    ws.onclose = (ev) => {
      if (this._ws !== ws) return;
      const code = ev.code === 1005 || ev.code === 1006 ? null : ev.code;
      this._onDrop(code, ev.reason ?? "");
    };
    ws.onerror = () => {
    };
    const watchdog = setInterval(() => {
      if (this._ws === ws && (this.clock() - this._lastMessageAt) * 1e3 > this.options.deadAfterMs) {
        this._kill(ws);
        this._onDrop(null, `no message for ${this.options.deadAfterMs} ms`);
      }
    }, Math.min(1e3, this.options.deadAfterMs));
    this._timers.push(() => clearInterval(watchdog));
    if (this.options.pingIntervalMs > 0) {
      const pinger = setInterval(() => {
        if (this._pings.size === 0 && this.state === "open") this.ping().catch(() => {
        });
      }, this.options.pingIntervalMs);
      this._timers.push(() => clearInterval(pinger));
    }
    this._dispatch(events);
    const outbox = this._outbox;
    this._outbox = [];
    for (const text of outbox) ws.send(text);
    if (this._pendingMove !== null && this._moveTimer === null) this._flushMove();
    for (const data of early.messages) if (this._ws === ws) this._onMessage(data);
    if (early.close !== null && this._ws === ws) ws.onclose(early.close);
  }
  _onMessage(data) {
    const now = this.clock();
    this._lastMessageAt = now;
    this._dispatch(this.mirror.receive(data, now));
  }
  _dispatch(events) {
    for (const ev of events) {
      switch (ev.type) {
        case "pong": {
          const p = this._pings.get(ev.id);
          if (ev.rtt !== null) {
            const offset = ev.server_time - (ev.t + ev.receivedAt) / 2;
            this.latency = { ...this.latency, rtt: ev.rtt, offset };
            this.emit("latency", { rtt: ev.rtt, offset });
          }
          if (p) {
            this._pings.delete(ev.id);
            clearTimeout(p.timer);
            p.resolve(ev.rtt);
          }
          break;
        }
        case "state":
          if (this.latency.offset !== null && ev.receivedAt !== null) {
            this.latency.stateLatency = ev.receivedAt - (ev.server_time - this.latency.offset);
          }
          break;
        case "who": {
          for (const e of ev.entities) this.identities.set(e.id, e);
          const i = this._whos.findIndex((r) => ev.entities.every((e) => r.ids.has(e.id)));
          if (i >= 0) {
            const [req] = this._whos.splice(i, 1);
            clearTimeout(req.timer);
            req.resolve(ev.entities);
          }
          break;
        }
        case "left":
          this.identities.delete(ev.id);
          break;
        case "error":
          if (ev.code === ErrorCode.UNKNOWN_OP && this._whos.length > 0) {
            const req = this._whos.shift();
            clearTimeout(req.timer);
            req.reject(new ProtocolError(`server does not know 'who': ${ev.message}`, { code: ev.code }));
          }
          break;
        case "reconnect":
          this._afterMs = ev.after_ms;
          this._resumeWindow = ev.resume_window;
          break;
        case "correct":
          this._pendingMove = null;
          break;
        default:
          break;
      }
      this.emit(ev.type, ev);
    }
  }
  _kill(ws, code = 4e3, reason = "") {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      if (typeof ws.terminate === "function" && code !== 1e3) ws.terminate();
      else ws.close(code, reason);
    } catch {
    }
    if (this._ws === ws && code === 1e3) this._onDrop(1e3, reason);
  }
  _stopTimers() {
    for (const stop of this._timers) stop();
    this._timers = [];
    if (this._moveTimer !== null) {
      clearTimeout(this._moveTimer);
      this._moveTimer = null;
    }
  }
  _onDrop(code, reason) {
    this._ws = null;
    this._stopTimers();
    this.mirror.connectionLost();
    for (const [id, p] of this._pings) {
      clearTimeout(p.timer);
      p.reject(new ConnectionError("connection lost", code, reason));
      this._pings.delete(id);
    }
    for (const r of this._whos) {
      clearTimeout(r.timer);
      r.reject(new ConnectionError("connection lost", code, reason));
    }
    this._whos = [];
    if (this._closing) {
      this._finish(code, reason, null);
      return;
    }
    const action = closeAction(code);
    const name = closeName(code);
    const retry = action === "resume" && this.options.reconnect;
    this.emit("disconnected", { code, codeName: name, reason, willRetry: retry });
    if (action === "stop") this._finish(code, reason, null);
    else if (!retry) this._finish(code, reason, new ConnectionError(`connection closed: ${name} ${reason}`.trim(), code, reason));
    else this._reconnectLoop(code, reason);
  }
  _cancelSleep() {
    if (this._sleep) {
      clearTimeout(this._sleep.timer);
      this._sleep.resolve();
      this._sleep = null;
    }
  }
  _wait(ms) {
    return new Promise((resolve) => {
      this._sleep = { resolve, timer: setTimeout(resolve, ms) };
    });
  }
  /** Capped exponential backoff with jitter; with a deadline, the last try lands inside it. */
  _backoff(attempt, deadline = null) {
    const o = this.options;
    const cap = Math.min(o.backoffMaxMs, o.backoffBaseMs * 2 ** Math.min(attempt - 1, 30));
    const delay = cap / 2 + Math.random() * cap / 2;
    if (deadline === null) return delay;
    const left = (deadline - this.clock()) * 1e3;
    return left > 0 ? Math.min(delay, Math.max(0, left - 50)) : delay;
  }
  /**
   * SPEC §3.3: reconnect at once (or after the drain notice's after_ms), then with exponential
   * backoff and jitter, with the resume token, for as long as the resume window lasts. A resume
   * refused with 4012 RESUME_REFUSED (the server has not yet noticed the drop) is retried the
   * same way, with the same token.
   */
  async _reconnectLoop(code, reason) {
    this.state = "reconnecting";
    const o = this.options;
    const deadline = this.clock() + this._resumeWindow;
    let delay = this._afterMs ?? (code === 1012 ? 1e3 + Math.random() * 1e3 : 0);
    this._afterMs = null;
    let last = null;
    for (let attempt = 1; ; attempt++) {
      if (delay > 0) await this._wait(delay);
      if (this._closing) {
        this._finish(code, reason, null);
        return;
      }
      const resume = this.mirror.resumeToken !== null && this.clock() < deadline;
      if (!resume && !o.rejoinAfterWindow) {
        this._finish(code, reason, new ConnectionError(`could not resume within the resume window (last: ${last?.message ?? "none"})`, code, reason));
        return;
      }
      this.emit("reconnecting", { attempt, delayMs: delay, resume });
      try {
        const { ws, events, early } = await this._attempt(resume);
        if (this._closing) {
          this._kill(ws, 4e3);
          this._finish(code, reason, null);
          return;
        }
        this.reconnects += 1;
        this._attach(ws, events, early);
        this.emit("reconnected", { attempt, resumed: this.mirror.welcome.resumed === true, welcome: this.mirror.welcome });
        return;
      } catch (e) {
        last = e;
        if (e.fatal) {
          this._finish(e.code, e.reason, e);
          return;
        }
      }
      delay = this._backoff(attempt, resume ? deadline : null);
    }
  }
  _finish(code, reason, error) {
    if (this.state === "closed") return;
    this.state = "closed";
    this.error = error;
    this._stopTimers();
    this._cancelSleep();
    const lost = error ?? new ConnectionError("client closed", code, reason);
    for (const p of this._pings.values()) {
      clearTimeout(p.timer);
      p.reject(lost);
    }
    this._pings.clear();
    for (const r of this._whos) {
      clearTimeout(r.timer);
      r.reject(lost);
    }
    this._whos = [];
    this.emit("closed", { code, codeName: closeName(code), reason, error });
    this._resolveClosed(error);
  }
};
async function connect(opts) {
  const c = new GangClient(opts);
  await c.connect();
  return c;
}

// src/adapters.js
function altWebSocket(alt) {
  return class AltWebSocket {
    constructor(url) {
      this.url = url;
      this.readyState = 0;
      this.binaryType = "arraybuffer";
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      const c = new alt.WebSocketClient(url);
      this._c = c;
      try {
        c.autoReconnect = false;
      } catch {
      }
      c.on("open", () => {
        this.readyState = 1;
        this.onopen?.({});
      });
      c.on("message", (m) => this.onmessage?.({ data: altMessage(m) }));
      c.on("error", (e) => this.onerror?.({ message: String(e) }));
      c.on("close", (code, reason) => this._closed(code, reason));
      c.start();
    }
    send(data) {
      this._c.send(data);
    }
    close(code = 1e3, reason = "") {
      if (this.readyState >= 2) return;
      this.readyState = 2;
      this._c.stop();
      this._closed(code, reason);
    }
    _closed(code, reason) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onclose?.({ code: code ?? 1006, reason: reason ?? "", wasClean: code === 1e3 });
    }
  };
}
function altMessage(m) {
  if (typeof m !== "string") return m;
  if (m.length === 0 || m.charCodeAt(0) === 123) return m;
  const out = new Uint8Array(m.length);
  for (let i = 0; i < m.length; i++) out[i] = m.charCodeAt(i) & 255;
  return out;
}
export {
  CLIENT_FIELDS,
  COMPANION_ACTIONS,
  COMPANION_KINDS,
  CUSTOM_TYPE_MAX,
  CUSTOM_TYPE_MIN,
  CloseCode,
  ConnectionError,
  Emitter,
  EntityKind,
  ErrorCode,
  FACTION_ACTIONS,
  FrameType,
  GangClient,
  HELLO_MAX_SIZE,
  INPUT_SIZE,
  Mirror,
  NAME_MAX,
  PROTOCOL_VERSION,
  ProtocolError,
  QMAX,
  RESUME_MAX,
  SERVER_FIELDS,
  STATE_HEADER_SIZE,
  SUPPORTED_VERSIONS,
  StateFlag,
  TEXT_MAX,
  TOKEN_MAX,
  VERSION_MAX,
  WHO_MAX_IDS,
  altMessage,
  altWebSocket,
  checkCustomType,
  closeAction,
  closeName,
  connect,
  decodeClient,
  decodeInput,
  decodeServer,
  decodeServerObject,
  decodeState,
  dequantise,
  dequantiseHeading,
  dequantisePosition,
  encodeClient,
  encodeInput,
  encodeState,
  errorName,
  parseObject,
  pathArrivalTick,
  pathHeading,
  pathPosition,
  pyMod,
  quantise,
  quantiseHeading,
  quantisePosition,
  roundHalfEven,
  speedFromWire,
  speedToWire,
  toBytes,
  validateClient,
  validateHello
};
