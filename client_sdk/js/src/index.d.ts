// Hand-written types of @ganggpt/client (checked by `tsc -p tsconfig.json`, run in the tests).
// Wire-shaped objects use the protocol's field names (SPEC.md); the SDK's own API is camelCase.

export declare const PROTOCOL_VERSION: 1;
export declare const SUPPORTED_VERSIONS: readonly number[];
export declare const NAME_MAX: number;
export declare const TEXT_MAX: number;
/** printable ASCII characters (U+0021-U+007E): a JWT */
export declare const TOKEN_MAX: number;
export declare const RESUME_MAX: number;
export declare const CUSTOM_TYPE_MIN: number;
export declare const CUSTOM_TYPE_MAX: number;
/** ids in one `who` request (64) */
export declare const WHO_MAX_IDS: number;
/** largest `hello.v`: 2^31 - 1 */
export declare const VERSION_MAX: number;
/** bytes a hello may always take, whatever `welcome.max_message_size` is (4096) */
export declare const HELLO_MAX_SIZE: number;
export declare const QMAX: 65535;
export declare const INPUT_SIZE: 25;
export declare const STATE_HEADER_SIZE: 18;

export declare const EntityKind: { readonly PLAYER: 1; readonly NPC: 2 };
export declare const FrameType: { readonly STATE: 0x01; readonly INPUT: 0x10 };
export declare const StateFlag: { readonly FULL: 0x01 };
export declare const ErrorCode: Readonly<Record<
  "BAD_JSON" | "UNKNOWN_OP" | "BAD_FIELD" | "BAD_FRAME" | "NOT_READY" | "IMPOSSIBLE_MOVE" |
  "OUT_OF_BOUNDS" | "NON_FINITE" | "RATE_LIMITED" | "UNKNOWN_ENTITY" | "ALREADY_WELCOMED" | "STALE_INPUT" |
  "UNKNOWN_TYPE" | "HANDLER_FAILED" | "MISSION_REFUSED" | "FACTION_REFUSED" | "COMPANION_REFUSED" | "CHAT_RATE_LIMITED" |
  "CLIMB_TOO_FAST" | "BELOW_FLOOR" | "BAD_ACK", number>>;
export declare const CloseCode: Readonly<Record<
  "NORMAL" | "GOING_AWAY" | "PROTOCOL_ERROR" | "ABNORMAL_CLOSURE" | "INVALID_PAYLOAD" | "MESSAGE_TOO_BIG" |
  "INTERNAL_ERROR" | "SERVICE_RESTART" | "UNSUPPORTED_VERSION" | "HANDSHAKE_TIMEOUT" | "BAD_HELLO" | "AUTH_FAILED" |
  "SERVER_FULL" | "TOO_SLOW" | "FLOODING" | "TOO_MANY_ERRORS" | "REPLACED" | "KICKED" | "RESUME_REFUSED" |
  "FORBIDDEN", number>>;
export declare const CLIENT_FIELDS: Readonly<Record<string, readonly string[]>>;
export declare const SERVER_FIELDS: Readonly<Record<string, readonly [readonly string[], readonly string[]]>>;

export type CloseAction = "resume" | "stop" | "fatal";
export declare function closeAction(code: number | null | undefined): CloseAction;
export declare function closeName(code: number | null | undefined): string;
export declare function errorName(code: number): string;

/** `code` is an error code (message dropped, connection kept) or `close` a close code. */
export declare class ProtocolError extends Error {
  constructor(message: string, opts?: { code?: number | null; close?: number | null });
  readonly code: number | null;
  readonly close: number | null;
  readonly codeName: string;
}

export declare class ConnectionError extends Error {
  constructor(message: string, code?: number | null, reason?: string);
  readonly code: number | null;
  readonly codeName: string;
  readonly reason: string;
  /** The server refused us for a reason a retry cannot fix (SPEC §13). */
  readonly fatal: boolean;
}

// --- wire shapes -------------------------------------------------------------------------------

export interface WorldBounds {
  min_x: number; min_y: number; min_z: number;
  max_x: number; max_y: number; max_z: number;
}

export interface Path {
  qx: number; qy: number; qz: number; wx: number; wy: number;
  /** tenths of a metre per second */
  speed: number;
  start_tick: number;
}

export interface PlayerEnter { id: number; kind: 1; qx: number; qy: number; qz: number; heading: number; health: number; name: string }
export interface NpcEnter { id: number; kind: 2; model: number; path: Path }
export interface UnknownEnter { id: number; kind: number; body: Uint8Array }
export interface MoveRecord { id: number; qx: number; qy: number; qz: number; heading: number }

export interface StateFrame {
  flags: number;
  full: boolean;
  seq: number;
  tick: number;
  server_time: number;
  leaves: number[];
  enters: Array<PlayerEnter | NpcEnter | UnknownEnter>;
  paths: Array<{ id: number; path: Path }>;
  moves: MoveRecord[];
}

export interface InputFrame { seq: number; ack: number; x: number; y: number; z: number; heading: number }

/**
 * `welcome.limits`: every other limit the server enforces on this client (SPEC §4.3). Seconds,
 * metres, bytes; a newer server may add keys.
 */
export interface WelcomeLimits {
  /** fastest legal movement, m/s */
  player_max_speed: number;
  /** metres both movement budgets hold on top of a burst's worth of seconds */
  move_slack: number;
  /** metres the movement budget holds (refilled at `player_max_speed`); absent from older servers */
  move_burst?: number;
  /** fastest legal rise, m/s (falling is bounded by `player_max_speed` only) */
  player_max_climb_speed?: number;
  /** metres of rise the climb budget holds */
  climb_burst?: number;
  /** lowest legal z, metres */
  world_floor_z?: number;
  /** violation score at which the server closes with 4011; 0 = never */
  violation_kick_score?: number;
  /** seconds for the violation score to halve */
  violation_half_life?: number;
  /** seconds between heartbeat patches when nothing changes; 0 = every patch is sent */
  idle_patch_interval: number;
  ping_interval: number;
  ping_timeout: number;
  handshake_timeout: number;
  /** consecutive seconds over `input_rate_limit` before close 4007 */
  flood_close_after: number;
  /** errors tolerated within `error_window` seconds before close 4008 */
  error_budget: number;
  error_window: number;
  /** seconds a client may stay behind before close 4006 */
  slow_client_timeout: number;
  /** bytes the server holds for the client before close 4006 */
  send_queue_max: number;
  /** chat and custom messages allowed within `chat_rate_window` seconds before error 15 */
  chat_rate_limit: number;
  chat_rate_window: number;
  aoi_near_distance: number;
  aoi_mid_distance: number;
  aoi_mid_every: number;
  aoi_far_every: number;
  [key: string]: unknown;
}

export interface Welcome {
  op: "welcome";
  v: number;
  player_id: string;
  net_id: number;
  name: string;
  server_name: string;
  tick_rate: number;
  send_rate: number;
  tick: number;
  server_time: number;
  world: WorldBounds;
  aoi_radius: number;
  aoi_cell_size: number;
  resume_token: string;
  resume_window: number;
  /** bytes per message the client may send (the hello may always take HELLO_MAX_SIZE) */
  max_message_size: number;
  /** messages per second, every kind together */
  input_rate_limit: number;
  resumed: boolean;
  x: number; y: number; z: number; heading: number;
  /** null only from servers older than the field */
  limits: WelcomeLimits | null;
  /** true for a guest (no account: known by its name only), false for an account's player;
   * null from servers older than accounts (unknown) */
  guest: boolean | null;
  /** true in a spectator's welcome (SPEC §3.8): `net_id` names its camera, not an entity;
   * `resume_token` is "" and `resume_window` 0. null (left out) for players */
  spectator: boolean | null;
}

export type ClientMessage =
  | { op: "hello"; v: number; name: string; token?: string | null; resume?: string | null; spectate?: boolean | null }
  | { op: "ping"; id: number; t?: number | null }
  | { op: "chat"; text: string }
  | { op: "talk"; npc: number; text: string }
  | { op: "mission"; action: "request" | "accept" | "abandon" | "complete" | "list"; id?: string | null; npc?: number | null; theme?: string | null }
  | { op: "leave" }
  | { op: "custom"; type: string; data?: Record<string, unknown> }
  | { op: "who"; ids: number[] }
  | { op: "faction"; action: FactionAction; name?: string | null; display_name?: string | null; player?: string | null }
  | { op: "companion"; action: CompanionAction; id?: string | null; name?: string | null; kind?: CompanionKind | null };

export declare const FACTION_ACTIONS: readonly FactionAction[];
export declare const COMPANION_ACTIONS: readonly CompanionAction[];
export declare const COMPANION_KINDS: readonly CompanionKind[];
export type FactionAction = "create" | "join" | "leave" | "promote" | "kick" | "info";
export type CompanionAction = "summon" | "dismiss" | "recall" | "info";
export type CompanionKind = "dog" | "bodyguard" | "driver" | "hacker" | "medic" | "friend";

/** Any JSON object a server sent, known op or not. */
export interface RawMessage { op?: unknown; [field: string]: unknown }

/** One entity of a `who` answer (SPEC §4.3); `role` and `faction` are lower-case slugs, NPCs only. */
export interface Identity { id: number; kind: "npc" | "player"; name: string; role?: string; faction?: string; [field: string]: unknown }

// --- codecs ------------------------------------------------------------------------------------

export type Bytes = ArrayBuffer | ArrayBufferView | number[];
export declare function toBytes(data: Bytes): Uint8Array;
export declare function decodeState(data: Bytes): StateFrame;
export declare function encodeState(frame: Omit<StateFrame, "flags" | "full"> & { flags?: number; full?: boolean }): Uint8Array;
export declare function encodeInput(frame: InputFrame): Uint8Array;
export declare function decodeInput(data: Bytes): InputFrame;

export declare function encodeClient(msg: ClientMessage): string;
/** `data`: the message as text, or its bytes (not valid UTF-8 is BAD_JSON, SPEC §4.1) */
export declare function decodeClient(data: string | Uint8Array | ArrayBuffer, opts?: { first?: boolean }): Record<string, unknown> & { op: string };
export declare function validateClient(msg: object): Record<string, unknown> & { op: string };
export declare function validateHello(msg: object): { op: "hello"; v: number; name: string; token: string | null; resume: string | null; spectate: true | null };
export declare function decodeServer(text: string): Record<string, unknown> & { op: string };
export declare function decodeServerObject(obj: RawMessage): Record<string, unknown> & { op: string };
export declare function parseObject(data: string | Uint8Array | ArrayBuffer): RawMessage;
export declare function checkCustomType(type: unknown): string;

export declare function roundHalfEven(x: number): number;
export declare function pyMod(x: number, m: number): number;
export declare function quantise(v: number, lo: number, hi: number): number;
export declare function dequantise(q: number, lo: number, hi: number): number;
export declare function quantisePosition(w: WorldBounds, x: number, y: number, z: number): [number, number, number];
export declare function dequantisePosition(w: WorldBounds, qx: number, qy: number, qz: number): [number, number, number];
export declare function quantiseHeading(degrees: number): number;
export declare function dequantiseHeading(q: number): number;
export declare function speedToWire(mps: number): number;
export declare function speedFromWire(q: number): number;
/** SPEC §7: the NPC's position at server tick `tick`, bit-identical to the server's. */
export declare function pathPosition(path: Path, tick: number, tickRate: number, world: WorldBounds): [number, number, number];
export declare function pathHeading(path: Path, world: WorldBounds): number;
export declare function pathArrivalTick(path: Path, tickRate: number, world: WorldBounds): number | null;

// --- mirrored entities and events ----------------------------------------------------------------

export interface Player {
  id: number; kind: 1; name: string; health: number;
  qx: number; qy: number; qz: number; qheading: number;
  /** metres and degrees, dequantised */
  x: number; y: number; z: number; heading: number;
}
export interface Npc { id: number; kind: 2; model: number; path: Path }
export type Entity = Player | Npc;

export interface Events {
  welcome: { type: "welcome"; welcome: Welcome; resumed: boolean };
  snapshot: { type: "snapshot"; seq: number; tick: number; server_time: number; count: number };
  entered: { type: "entered"; entity: Entity };
  updated: { type: "updated"; entity: Entity; previous: Entity };
  left: { type: "left"; id: number; entity: Entity };
  state: { type: "state"; seq: number; tick: number; server_time: number; full: boolean; size: number; receivedAt: number | null };
  chat: { type: "chat"; from_id: number; name: string; text: string };
  /** An NPC's whole reply; `reply_id` ends the streamed reply of that id, `replaced`: show `text` instead of its parts. */
  /** `actions`: what the NPC did with the reply (e.g. "follow_player"), checked and applied by the server. */
  npc_say: { type: "npc_say"; npc: number; to: number; text: string; reply_id: number | null; replaced: boolean; actions: string[] };
  /** A streamed piece of an NPC's reply (append `text`); the `npc_say` of the same `reply_id` ends it. */
  npc_say_part: { type: "npc_say_part"; npc: number; to: number; reply_id: number; seq: number; text: string };
  /** Every NPC dialogue message: npc_say and any newer `npc_*` op (e.g. streamed replies). */
  npc: { type: "npc"; message: RawMessage };
  error: { type: "error"; code: number; name: string; message: string; ref: number | null };
  /** move your player here and go on from it; `ref` is the rejected INPUT's seq, 0 for a teleport by the server */
  correct: { type: "correct"; x: number; y: number; z: number; heading: number; ref: number };
  reconnect: { type: "reconnect"; resume_token: string; after_ms: number; resume_window: number; reason: string };
  pong: { type: "pong"; id: number; t: number | null; server_time: number; rtt: number | null; receivedAt: number | null };
  latency: { rtt: number; offset: number };
  custom: { type: "custom"; customType: string; data: Record<string, unknown> };
  /** A game event (`{"op":"event","type","data"}`): money, faction, mission, ... */
  event: { type: "event"; eventType: string; data: Record<string, unknown> };
  /** Also sent for an `event` whose type is `mission` or `mission.*` (after its `event`). */
  mission: { type: "mission"; eventType: string; data: Record<string, unknown> };
  /** Also sent for an `event` whose type is `faction` or `faction.*`, e.g. `faction.member` (after its `event`). */
  faction: { type: "faction"; eventType: string; data: Record<string, unknown> };
  /** Also sent for an `event` whose type is `companion` or `companion.*` (after its `event`). */
  companion: { type: "companion"; eventType: string; data: Record<string, unknown> };
  who: { type: "who"; entities: Identity[] };
  /** Every JSON message from the server, including ops this SDK does not know (`known: false`). */
  message: { type: "message"; message: RawMessage; known: boolean };
  invalid: { type: "invalid"; reason: string; size: number };
  disconnected: { code: number | null; codeName: string; reason: string; willRetry: boolean };
  reconnecting: { attempt: number; delayMs: number; resume: boolean };
  reconnected: { attempt: number; resumed: boolean; welcome: Welcome };
  closed: { code: number | null; codeName: string; reason: string; error: Error | null };
}
export type EventName = keyof Events;
export type MirrorEvent = Events[Exclude<EventName, "latency" | "disconnected" | "reconnecting" | "reconnected" | "closed">];

export declare class Emitter<E extends object = Events> {
  on<K extends keyof E>(type: K, fn: (ev: E[K]) => void): () => void;
  once<K extends keyof E>(type: K, fn: (ev: E[K]) => void): () => void;
  off<K extends keyof E>(type: K, fn: (ev: E[K]) => void): void;
  waitFor<K extends keyof E>(type: K, pred?: (ev: E[K]) => boolean, timeoutMs?: number): Promise<E[K]>;
  emit<K extends keyof E>(type: K, ev: E[K]): void;
  listenerCount(type: keyof E): number;
}

export interface MirrorStats {
  frames: number; fullFrames: number; bytes: number; enters: number; leaves: number; paths: number;
  moves: number; unknownRecords: number; ignored: number; invalid: number; errors: number;
  inputsSent: number; messages: number;
}

/** The world as this client sees it, without I/O. */
export declare class Mirror {
  constructor(opts: { name: string; token?: string | null; spectate?: boolean });
  name: string;
  token: string | null;
  spectate: boolean;
  resumeToken: string | null;
  welcome: Welcome | null;
  entities: Map<number, Entity>;
  lastSeq: number;
  lastTick: number;
  lastServerTime: number;
  lastReceivedAt: number | null;
  inputSeq: number;
  stats: MirrorStats;
  local: [number, number, number, number] | null;
  readonly netId: number | null;
  readonly playerId: string | null;
  readonly me: Player | null;
  hello(opts?: { resume?: boolean }): string;
  input(x: number, y: number, z: number, heading: number): Uint8Array;
  ping(t?: number | null): [number, string];
  leave(): string;
  connectionLost(): void;
  receive(data: string | Bytes, now?: number | null): MirrorEvent[];
  apply(frame: StateFrame): MirrorEvent[];
  estimateTick(now: number | null): number;
  npcPosition(npc: Npc, tick?: number | null): [number, number, number];
  positionOf(entity: Entity, tick?: number | null): [number, number, number];
  players(): Player[];
  npcs(): Npc[];
}

// --- the connection ----------------------------------------------------------------------------

/** The browser WebSocket surface the SDK uses; `ws`, browsers, CEF and altWebSocket() fit it. */
export interface WebSocketLike {
  binaryType?: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string | ArrayBufferView | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
  terminate?(): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** ws://host:22005/ws */
  url: string;
  /** display name: 1-32 code points, no control characters */
  name: string;
  /** account JWT, once accounts exist */
  token?: string | null;
  /** resume an earlier session (e.g. kept in sessionStorage across a page reload) */
  resumeToken?: string | null;
  /** watch as an administrator's camera (SPEC §3.8; the token must hold admin:commands): no
   * entity, `move` flies the view anywhere at once, chat/talk/custom are refused */
  spectate?: boolean;
  /** default: globalThis.WebSocket; in Node < 22 pass the `ws` package's WebSocket */
  WebSocket?: WebSocketConstructor | (new (url: string) => unknown);
  /** reconnect and resume after a drop (default true) */
  reconnect?: boolean;
  /** after the resume window, join again as a new session instead of giving up (default false) */
  rejoinAfterWindow?: boolean;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  openTimeoutMs?: number;
  /** no message for this long = dead connection (default 5000, SPEC §3.6) */
  deadAfterMs?: number;
  /** latency pings; 0 turns them off (default 5000) */
  pingIntervalMs?: number;
  requestTimeoutMs?: number;
  /** seconds, Unix epoch; default performance.timeOrigin + performance.now() */
  clock?: () => number;
}

export type ClientState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export declare class GangClient extends Emitter<Events> {
  constructor(opts: ClientOptions);
  readonly url: string;
  readonly mirror: Mirror;
  state: ClientState;
  reconnects: number;
  latency: { rtt: number | null; offset: number | null; stateLatency: number | null };
  identities: Map<number, Identity>;
  error: Error | null;
  readonly entities: Map<number, Entity>;
  readonly welcome: Welcome | null;
  readonly netId: number | null;
  readonly playerId: string | null;
  readonly me: Player | null;
  readonly stats: MirrorStats;
  readonly resumeToken: string | null;
  readonly connected: boolean;
  readonly closed: boolean;
  /** resolves when the client ended for good, with its error (null on a clean end) */
  readonly done: Promise<Error | null>;
  serverTick(now?: number): number;
  positionOf(entity: Entity, tick?: number | null): [number, number, number];
  players(): Player[];
  npcs(): Npc[];
  connect(): Promise<Welcome>;
  leave(timeoutMs?: number): Promise<void>;
  disconnect(): void;
  move(x: number, y: number, z: number, heading: number): void;
  chat(text: string): void;
  talk(npc: number | Npc, text: string): void;
  ask(npc: number | Npc, text: string, timeoutMs?: number): Promise<Events["npc_say"]>;
  mission(
    action: "request" | "accept" | "abandon" | "complete" | "list",
    options?: { id?: string | null; npc?: number | Npc | null; theme?: string | null },
  ): void;
  sendCustom(type: string, data?: Record<string, unknown>): void;
  faction(action: FactionAction, fields?: { name?: string; display_name?: string; player?: string }): void;
  companion(action: CompanionAction, fields?: { id?: string; name?: string; kind?: CompanionKind }): void;
  who(ids: Iterable<number>): Promise<Identity[]>;
  ping(): Promise<number | null>;
  sendRaw(data: string | ArrayBufferView | ArrayBuffer): void;
}

export declare function connect(opts: ClientOptions): Promise<GangClient>;

/** alt:V: a WebSocket class over `alt.WebSocketClient` (see adapters.js for the binary caveat). */
export declare function altWebSocket(alt: { WebSocketClient: new (url: string) => unknown }): WebSocketConstructor;
export declare function altMessage(m: unknown): string | Uint8Array | unknown;
