// One player's connection: a Mirror of the world, typed events, inputs at the right rate,
// latency by ping/pong, and reconnect + resume on its own for the whole resume window.
// The WebSocket is injected, so the same code runs in browsers, CEF/NUI pages, Node (`ws`)
// and alt:V (see adapters.js).

import { EntityKind } from "./codec.js";
import { PROTOCOL_VERSION, encodeClient, utf8Length } from "./control.js";
import { Emitter } from "./emitter.js";
import { CloseCode, ErrorCode, ProtocolError, closeAction, closeName } from "./errors.js";
import { Mirror } from "./mirror.js";

const OUTBOX_MAX = 64; // text messages held while reconnecting; more is a caller bug

/** The connection ended (or could not start) for a reason in `code` / `codeName`. */
export class ConnectionError extends Error {
  constructor(message, code = null, reason = "") {
    super(message);
    this.name = "ConnectionError";
    this.code = code;
    this.codeName = closeName(code);
    this.reason = reason;
    this.fatal = code !== null && closeAction(code) === "fatal";
  }
}

function defaultClock() {
  if (typeof performance !== "undefined" && typeof performance.now === "function" && performance.timeOrigin) {
    return (performance.timeOrigin + performance.now()) / 1000;
  }
  return Date.now() / 1000;
}

const OPEN = 1;

export class GangClient extends Emitter {
  /**
   * @param {object} opts see index.d.ts (ClientOptions)
   */
  constructor(opts) {
    super();
    const WS = opts.WebSocket ?? globalThis.WebSocket;
    if (typeof WS !== "function") {
      throw new TypeError(
        "no WebSocket: pass { WebSocket } (in Node < 22: `import WebSocket from 'ws'`; in alt:V: altWebSocket(alt))",
      );
    }
    if (typeof opts.url !== "string") throw new TypeError("url is required (ws://host:22005/ws)");
    this.url = opts.url;
    this._WS = WS;
    this.mirror = new Mirror({ name: opts.name, token: opts.token ?? null, spectate: opts.spectate ?? false });
    if (opts.resumeToken) {
      // A malformed token would otherwise only fail inside the socket's open handler.
      encodeClient({ op: "hello", v: PROTOCOL_VERSION, name: opts.name, resume: opts.resumeToken });
      this.mirror.resumeToken = opts.resumeToken;
    }
    this.options = {
      reconnect: opts.reconnect ?? true,
      rejoinAfterWindow: opts.rejoinAfterWindow ?? false,
      backoffBaseMs: opts.backoffBaseMs ?? 500,
      backoffMaxMs: opts.backoffMaxMs ?? 30000,
      openTimeoutMs: opts.openTimeoutMs ?? 10000,
      deadAfterMs: opts.deadAfterMs ?? 5000,
      pingIntervalMs: opts.pingIntervalMs ?? 5000,
      requestTimeoutMs: opts.requestTimeoutMs ?? 10000,
    };
    this.clock = opts.clock ?? defaultClock;
    /** "idle" | "connecting" | "open" | "reconnecting" | "closed" */
    this.state = "idle";
    this.reconnects = 0;
    /** Round-trip time and clock offset from the last pong (SPEC §9.4), seconds. */
    this.latency = { rtt: null, offset: null, stateLatency: null };
    /** NPC identities learnt through `who` (net id -> {id, kind, name, role, faction}). */
    this.identities = new Map();
    this.error = null;
    this._ws = null;
    this._closing = false;
    this._outbox = [];
    this._pendingMove = null;
    this._moveTimer = null;
    this._nextInputAt = 0;
    this._pings = new Map();
    this._whos = [];
    this._timers = [];
    this._lastMessageAt = 0;
    this._afterMs = null;
    this._resumeWindow = 60;
    this._sleep = null;
    this._closed = new Promise((resolve) => (this._resolveClosed = resolve));
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
        if (this._closing) throw new ConnectionError("client closed while connecting", 4000, "client disconnect");
        const { ws, events, early } = await this._attempt(resume);
        if (this._closing) {
          this._kill(ws, 4000);
          throw new ConnectionError("client closed while connecting", 4000, "client disconnect");
        }
        this._attach(ws, events, early);
        return this.mirror.welcome;
      } catch (e) {
        err = e;
      }
      deadline ??= this.clock() + this._resumeWindow;
      const retry = resume && err.code === CloseCode.RESUME_REFUSED && this.options.reconnect && !this._closing;
      if (!retry || this.clock() >= deadline) {
        this._finish(err.code ?? null, err.reason ?? "", err);
        throw err;
      }
      delay = this._backoff(attempt, deadline);
    }
  }

  /** Quit for good: the server forgets the player (no resume). Resolves once closed. */
  async leave(timeoutMs = 5000) {
    const ws = this._ws;
    this._closing = true;
    this._cancelSleep();
    if (ws && this.state === "open") {
      ws.send(this.mirror.leave());
      const closed = this._closed;
      const timer = setTimeout(() => this._kill(ws, 1000), timeoutMs);
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
    if (ws) this._kill(ws, 4000, "client disconnect");
    this._finish(4000, "client disconnect", null);
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
    // The server closes with 1009 on a larger message (SPEC §2); refuse it here instead.
    const max = this.mirror.welcome?.max_message_size;
    if (typeof max === "number" && text.length > max / 3) {
      const size = utf8Length(text);
      if (size > max) {
        throw new ProtocolError(`message of ${size} bytes is over the server's max_message_size (${max})`, {
          close: CloseCode.MESSAGE_TOO_BIG,
        });
      }
    }
    const ws = this._ws;
    if (ws && this.state === "open" && ws.readyState === OPEN) {
      ws.send(text);
      return;
    }
    if (this._outbox.length >= OUTBOX_MAX) throw new ConnectionError("not connected and the outbox is full");
    this._outbox.push(text); // sent right after the next welcome
  }

  _flushMove() {
    this._moveTimer = null;
    const pending = this._pendingMove;
    const ws = this._ws;
    if (pending === null || ws === null || this.state !== "open" || ws.readyState !== OPEN) return;
    const nowMs = this.clock() * 1000;
    if (nowMs < this._nextInputAt) {
      this._moveTimer = setTimeout(() => this._flushMove(), this._nextInputAt - nowMs);
      return;
    }
    const rate = Math.max(1, this.mirror.welcome.send_rate); // SPEC §10.2: INPUT at most send_rate/s
    this._nextInputAt = nowMs + 1000 / rate;
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
        // an adapter without binaryType delivers bytes its own way
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
        // Until `_attach` takes the socket over (after this promise's continuation runs),
        // what follows the welcome is kept, not dropped: the first FULL snapshot often
        // arrives in the same TCP read as the welcome, and so may a close.
        const early = { messages: [], close: null };
        ws.onmessage = (e) => early.messages.push(e.data);
        ws.onclose = (e) => (early.close = e);
        resolve({ ws, events, early });
      };
      ws.onerror = () => {}; // a close event follows
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
    ws.onerror = () => {};
    const watchdog = setInterval(() => {
      if (this._ws === ws && (this.clock() - this._lastMessageAt) * 1000 > this.options.deadAfterMs) {
        this._kill(ws); // silent server: treat as dropped (SPEC §3.6)
        this._onDrop(null, `no message for ${this.options.deadAfterMs} ms`);
      }
    }, Math.min(1000, this.options.deadAfterMs));
    this._timers.push(() => clearInterval(watchdog));
    if (this.options.pingIntervalMs > 0) {
      const pinger = setInterval(() => {
        if (this._pings.size === 0 && this.state === "open") this.ping().catch(() => {});
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
            const offset = ev.server_time - (ev.t + ev.receivedAt) / 2; // NTP-style (SPEC §9.4)
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
          // Answers come in request order, but a request the rate limit dropped gets none:
          // the answer belongs to the oldest request that named every id in it.
          const i = this._whos.findIndex((r) => ev.entities.every((e) => r.ids.has(e.id)));
          if (i >= 0) {
            const [req] = this._whos.splice(i, 1);
            clearTimeout(req.timer);
            req.resolve(ev.entities);
          }
          break;
        }
        case "left":
          this.identities.delete(ev.id); // a net id may be reused after a LEAVE (SPEC §4.2)
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
          this._pendingMove = null; // continue from the corrected position (SPEC §11)
          break;
        default:
          break;
      }
      this.emit(ev.type, ev);
    }
  }

  _kill(ws, code = 4000, reason = "") {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    try {
      if (typeof ws.terminate === "function" && code !== 1000) ws.terminate();
      else ws.close(code, reason);
    } catch {
      // already closed
    }
    if (this._ws === ws && code === 1000) this._onDrop(1000, reason);
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
    const delay = cap / 2 + (Math.random() * cap) / 2;
    if (deadline === null) return delay;
    const left = (deadline - this.clock()) * 1000;
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
    let delay = this._afterMs ?? (code === 1012 ? 1000 + Math.random() * 1000 : 0);
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
          this._kill(ws, 4000);
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
}

/** Create a client and connect it: `const c = await connect({ url, name, WebSocket })`. */
export async function connect(opts) {
  const c = new GangClient(opts);
  await c.connect();
  return c;
}

export { EntityKind };
