// Codes from the protocol catalogue (SPEC §12, §13). Names are the wire's names.

export const ErrorCode = Object.freeze({
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
  BAD_ACK: 22,
});

export const CloseCode = Object.freeze({
  NORMAL: 1000,
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
  FORBIDDEN: 4013, // the admin console only: a valid token without any admin permission
});

const ERROR_NAMES = new Map(Object.entries(ErrorCode).map(([k, v]) => [v, k]));
const CLOSE_NAMES = new Map(Object.entries(CloseCode).map(([k, v]) => [v, k]));

export function errorName(code) {
  return ERROR_NAMES.get(code) ?? String(code);
}

export function closeName(code) {
  if (code === null || code === undefined) return "CONNECTION_LOST";
  return CLOSE_NAMES.get(code) ?? String(code);
}

/**
 * Something broke the protocol. Exactly one of `code` (an error code: the message is dropped,
 * the connection stays) or `close` (a close code: the connection cannot go on) is set.
 */
export class ProtocolError extends Error {
  constructor(message, { code = null, close = null } = {}) {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
    this.close = close;
    this.codeName = code !== null ? errorName(code) : closeName(close);
  }
}

// What a client does after a close (SPEC §13). "resume": reconnect with the token and
// backoff; "stop": a normal end; "fatal": the server refused us for a reason a retry cannot fix.
const FATAL = new Set([1002, 1007, 4001, 4003, 4004, 4005, 4006, 4007, 4008, 4010, 4011]);
// The application codes worth a retry: we were too slow to say hello, or we resumed before the
// server noticed our old connection was gone; the same token works once it has (SPEC §3.3).
const RETRY_4XXX = new Set([CloseCode.HANDSHAKE_TIMEOUT, CloseCode.RESUME_REFUSED]);

export function closeAction(code) {
  if (code === null || code === undefined) return "resume";
  if (FATAL.has(code)) return "fatal";
  if (code === CloseCode.NORMAL) return "stop";
  if (code >= 4000 && code <= 4999 && !RETRY_4XXX.has(code)) return "fatal";
  return "resume";
}
