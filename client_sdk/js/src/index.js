// @ganggpt/client: the JavaScript SDK of the GangGPT realtime protocol (protocol/SPEC.md).

export { GangClient, ConnectionError, connect } from "./client.js";
export { Mirror } from "./mirror.js";
export { Emitter } from "./emitter.js";
export { altWebSocket, altMessage } from "./adapters.js";
export {
  EntityKind, FrameType, StateFlag, INPUT_SIZE, STATE_HEADER_SIZE,
  decodeState, encodeState, encodeInput, decodeInput, toBytes,
} from "./codec.js";
export {
  PROTOCOL_VERSION, SUPPORTED_VERSIONS, CLIENT_FIELDS, SERVER_FIELDS, NAME_MAX, TEXT_MAX, TOKEN_MAX,
  RESUME_MAX, CUSTOM_TYPE_MIN, CUSTOM_TYPE_MAX, WHO_MAX_IDS, VERSION_MAX, HELLO_MAX_SIZE,
  encodeClient, decodeClient, decodeServer, decodeServerObject, validateClient, validateHello,
  parseObject, checkCustomType, FACTION_ACTIONS, COMPANION_ACTIONS, COMPANION_KINDS,
} from "./control.js";
export { ErrorCode, CloseCode, ProtocolError, closeAction, closeName, errorName } from "./errors.js";
export {
  QMAX, roundHalfEven, pyMod, quantise, dequantise, quantisePosition, dequantisePosition,
  quantiseHeading, dequantiseHeading, speedToWire, speedFromWire, pathPosition, pathHeading, pathArrivalTick,
} from "./quant.js";
