// JSON control messages (SPEC §4): canonical encoding of what a client sends, the server's own
// validation of it (so the SDK refuses locally what the server would refuse), and decoding of
// what the server sends.

import { CloseCode, ErrorCode, ProtocolError } from "./errors.js";

export const PROTOCOL_VERSION = 1;
export const SUPPORTED_VERSIONS = Object.freeze([1]);
export const NAME_MAX = 32; // code points, not UTF-16 units
export const TEXT_MAX = 256;
export const TOKEN_MAX = 2048; // printable ASCII characters: a JWT is base64url and dots
export const RESUME_MAX = 256;
export const CUSTOM_TYPE_MIN = 3;
export const CUSTOM_TYPE_MAX = 64;
export const WHO_MAX_IDS = 64;
// --- factions and companions (SPEC §4.2 `faction` / `companion`) ---
export const FACTION_ACTIONS = Object.freeze(["create", "join", "leave", "promote", "kick", "info"]);
export const COMPANION_ACTIONS = Object.freeze(["summon", "dismiss", "recall", "info"]);
export const COMPANION_KINDS = Object.freeze(["dog", "bodyguard", "driver", "hacker", "medic", "friend"]);
const FACTION_NAME = /^[a-z0-9_]{2,40}$/;
const DISPLAY_NAME_MAX = 64;
const PLAYER_ID_MAX = 64;
const COMPANION_ID_MAX = 64;
export const MISSION_ACTIONS = Object.freeze(["request", "accept", "abandon", "complete", "list"]);
export const MISSION_ID_MAX = 64;
export const MISSION_THEME_MAX = 80;
export const VERSION_MAX = 2 ** 31 - 1; // `v` fits a signed 32-bit integer in every client language
/** Bytes a hello may take whatever `welcome.max_message_size` is; every valid hello fits (SPEC §4.2). */
export const HELLO_MAX_SIZE = 4096;
const CUSTOM_TYPE = /^[a-z0-9_]+(?:\.[a-z0-9_]+)+$/;
const CONTROL_CHAR = /[\u0000-\u001f]/;
const PRINTABLE_ASCII = /^[\u0021-\u007e]*$/;

/** Fields of every client op, in canonical order (SPEC §4.2). */
export const CLIENT_FIELDS = Object.freeze({
  hello: ["v", "name", "token", "resume", "spectate"],
  ping: ["id", "t"],
  chat: ["text"],
  talk: ["npc", "text"],
  leave: [],
  custom: ["type", "data"],
  who: ["ids"],
  faction: ["action", "name", "display_name", "player"],
  companion: ["action", "id", "name", "kind"],
  mission: ["action", "id", "npc", "theme"],
});

/** Server ops this SDK knows: [required fields, optional fields], canonical order (SPEC §4.3). */
export const SERVER_FIELDS = Object.freeze({
  welcome: [
    [
      "v", "player_id", "net_id", "name", "server_name", "tick_rate", "send_rate", "tick",
      "server_time", "world", "aoi_radius", "aoi_cell_size", "resume_token", "resume_window",
      "max_message_size", "input_rate_limit", "resumed", "x", "y", "z", "heading",
    ],
    ["limits", "guest", "spectator"], // absent only from servers older than the fields (spectator: only in a spectator's)
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
  npc_say_part: [["npc", "to", "reply_id", "seq", "text"], []],
});

const codePoints = (s) => {
  let n = 0;
  for (const _ of s) n++;
  return n;
};

/** Bytes of `s` as UTF-8, without TextEncoder (alt:V's client runtime has none). */
export function utf8Length(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4; // a surrogate pair is one 4-byte code point
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
  if (v === undefined || v === null) {
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
  if ((v === undefined || v === null) && optional) return null;
  if (typeof v !== "number") throw badField(`'${key}' must be a number`);
  if (!Number.isFinite(v)) throw new ProtocolError(`'${key}' must be finite`, { code: ErrorCode.NON_FINITE });
  return v;
}

/** A valid `custom` type (namespace.name, lower-case), or ProtocolError(BAD_FIELD). */
export function checkCustomType(type) {
  if (typeof type !== "string" || type.length < CUSTOM_TYPE_MIN || type.length > CUSTOM_TYPE_MAX || !CUSTOM_TYPE.test(type)) {
    throw badField(
      `'type' must be ${CUSTOM_TYPE_MIN} to ${CUSTOM_TYPE_MAX} characters of [a-z0-9_] in at least two dot-separated parts (namespace.name)`,
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

let utf8 = null;

/**
 * A message's bytes -> text. Not valid UTF-8 is refused like invalid JSON (SPEC §4.1), never
 * repaired with U+FFFD: the server would see different text than the sender wrote.
 */
function textOf(data) {
  if (typeof data === "string") return data;
  utf8 ??= new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    return utf8.decode(data);
  } catch {
    throw new ProtocolError("not valid UTF-8", { code: ErrorCode.BAD_JSON });
  }
}

/**
 * Text (or UTF-8 bytes) -> JSON object, or ProtocolError(BAD_JSON). A duplicate key takes its
 * last value, as the server does (SPEC §4.1). `1e999` parses to Infinity in JS: refused.
 */
export function parseObject(data) {
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

/** Validate a hello the way the server does; failures carry the close code (SPEC §3.1). */
export function validateHello(obj) {
  const v = obj.v;
  if (!isInt(v) || v < 0 || v > VERSION_MAX) {
    throw new ProtocolError(`bad hello: 'v' must be an integer from 0 to ${VERSION_MAX}`, { close: CloseCode.BAD_HELLO });
  }
  if (!SUPPORTED_VERSIONS.includes(v)) {
    throw new ProtocolError(`protocol version ${v} not supported; supported: ${SUPPORTED_VERSIONS.join(",")}`, {
      close: CloseCode.UNSUPPORTED_VERSION,
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

/**
 * Validate a client message object as the server would after `welcome` (SPEC §4.1-4.2).
 * Returns the message with every field (null for absent optionals); throws ProtocolError.
 */
export function validateClient(obj) {
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
      const npc = action === "request" || (obj.npc !== undefined && obj.npc !== null) ? checkInt(obj, "npc", 0, 65535) : null;
      return { op: "mission", action, id, npc, theme: checkStr(obj, "theme", 1, MISSION_THEME_MAX, true) };
    }
    default:
      throw new ProtocolError(`unknown op ${JSON.stringify(obj.op) ?? "undefined"}`, { code: ErrorCode.UNKNOWN_OP });
  }
}

/**
 * What the server makes of a client's text message (a string, or its UTF-8 bytes): the decoded
 * message, or the ProtocolError it answers with (`code`) or closes with (`close`). `first` is
 * the connection's first message.
 * Note: JSON.parse cannot tell `1.0` from `1`, so a float-typed integer is accepted here.
 */
export function decodeClient(data, { first = false } = {}) {
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

/**
 * A client message -> canonical JSON text (fields in SPEC order, nulls left out, compact).
 * Validates first, so the SDK never sends what the server would reject.
 */
export function encodeClient(msg) {
  const m = msg.op === "hello" ? validateHello(msg) : validateClient(msg);
  const fields = CLIENT_FIELDS[m.op];
  let out = `{"op":${JSON.stringify(m.op)}`;
  for (const k of fields) {
    const v = m[k];
    if (v !== null && v !== undefined) out += `,${JSON.stringify(k)}:${JSON.stringify(v)}`;
  }
  return out + "}";
}

/**
 * A server text message -> {op, ...known fields} with null for absent optionals (unknown
 * fields dropped). Unknown ops throw ProtocolError(UNKNOWN_OP): callers ignore those (the
 * raw object is still available from `parseObject`); a missing field throws BAD_FIELD.
 */
export function decodeServer(text) {
  return decodeServerObject(parseObject(text));
}

export function decodeServerObject(obj) {
  const op = obj.op;
  const spec = typeof op === "string" && Object.hasOwn(SERVER_FIELDS, op) ? SERVER_FIELDS[op] : null;
  if (spec === null) throw new ProtocolError(`unknown op ${JSON.stringify(op) ?? "undefined"}`, { code: ErrorCode.UNKNOWN_OP });
  const [required, optional] = spec;
  const out = { op };
  for (const k of required) {
    if (obj[k] === undefined || obj[k] === null) throw badField(`${op}: missing field '${k}'`);
    out[k] = obj[k];
  }
  for (const k of optional) out[k] = obj[k] ?? null;
  if (op === "welcome") {
    const w = out.world;
    const keys = ["min_x", "min_y", "min_z", "max_x", "max_y", "max_z"];
    if (!isPlainObject(w) || !keys.every((k) => typeof w[k] === "number")) throw badField("welcome: bad 'world'");
    // Limits are for information (SPEC §4.3): a malformed one is dropped, not a failed welcome.
    if (!isPlainObject(out.limits)) out.limits = null;
    // `guest` (SPEC §3.1, §4.3): true for a guest, false for an account, null when unknown.
    if (typeof out.guest !== "boolean") out.guest = null;
  } else if (op === "custom" || op === "event") {
    // SPEC §4.3: `type` a string, `data` an object; anything else cannot be handed to the app.
    if (typeof out.type !== "string") throw badField(`${op}: 'type' must be a string`);
    if (!isPlainObject(out.data)) throw badField(`${op}: 'data' must be a JSON object`);
  }
  return out;
}
