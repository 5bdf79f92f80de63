// The client's view of the world, without any I/O (SPEC §5.3 "Applying a frame", §8, §9).
// Feed it every message with `receive`; it returns what happened as plain event objects.
// The connection class (client.js) wraps it; tools and tests may use it directly.

import { EntityKind, FrameType, decodeState, encodeInput, toBytes } from "./codec.js";
import { ErrorCode, ProtocolError } from "./errors.js";
import { PROTOCOL_VERSION, decodeServerObject, encodeClient, parseObject } from "./control.js";
import { dequantiseHeading, dequantisePosition, pathPosition } from "./quant.js";

const WHO_KINDS = new Set(["npc", "player"]);

/** Statistics a load tool or a curious developer wants: cheap integer bumps. */
function newStats() {
  return {
    frames: 0, fullFrames: 0, bytes: 0, enters: 0, leaves: 0, paths: 0, moves: 0,
    unknownRecords: 0, ignored: 0, invalid: 0, errors: 0, inputsSent: 0, messages: 0,
  };
}

function makePlayer(w, id, name, health, qx, qy, qz, qh) {
  const [x, y, z] = dequantisePosition(w, qx, qy, qz);
  return { id, kind: EntityKind.PLAYER, name, health, qx, qy, qz, qheading: qh, x, y, z, heading: dequantiseHeading(qh) };
}

function samePath(a, b) {
  return a.qx === b.qx && a.qy === b.qy && a.qz === b.qz && a.wx === b.wx && a.wy === b.wy &&
    a.speed === b.speed && a.start_tick === b.start_tick;
}

function sameEntity(a, b) {
  if (a.kind !== b.kind) return false;
  if (a.kind === EntityKind.PLAYER) {
    return a.name === b.name && a.health === b.health && a.qx === b.qx && a.qy === b.qy && a.qz === b.qz && a.qheading === b.qheading;
  }
  return a.model === b.model && samePath(a.path, b.path);
}

export class Mirror {
  constructor({ name, token = null, spectate = false } = {}) {
    this.name = name;
    this.token = token;
    /** An administrator's camera (SPEC §3.8): no entity of its own; `input` moves the view. */
    this.spectate = Boolean(spectate);
    this.resumeToken = null;
    this.welcome = null;
    /** @type {Map<number, object>} net id -> entity */
    this.entities = new Map();
    this.lastSeq = 0;
    this.lastTick = 0;
    this.lastServerTime = 0;
    this.lastReceivedAt = null;
    this.inputSeq = 0;
    this.pingSeq = 0;
    this.stats = newStats();
    /** [x, y, z, heading] this client last sent or was corrected to. */
    this.local = null;
    encodeClient({ op: "hello", v: PROTOCOL_VERSION, name, token }); // a bad name or token fails here, not at the server
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
      op: "hello", v: PROTOCOL_VERSION, name: this.name, token: this.token,
      resume: resume ? this.resumeToken : null, spectate: this.spectate || null,
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
    this.resumeToken = null; // the server will not keep the player
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
        // A newer server's op (SPEC §14): no typed event, but the app still hears it.
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
        this.resumeToken = msg.resume_token || null; // a spectator's welcome has none
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
        // `actions`: what the NPC did with the reply, checked and applied by the server.
        const actions = Array.isArray(msg.actions) ? msg.actions.filter((a) => typeof a === "string") : [];
        const ev = { type: "npc_say", npc: msg.npc, to: msg.to, text: msg.text, reply_id: msg.reply_id, replaced: msg.replaced === true, actions };
        return [ev, { type: "npc", message: msg }];
      }
      case "npc_say_part": {
        // A streamed piece of reply `reply_id`: append `text`; its npc_say ends the reply.
        const ev = { type: "npc_say_part", npc: msg.npc, to: msg.to, reply_id: msg.reply_id, seq: msg.seq, text: msg.text };
        return [ev, { type: "npc", message: msg }];
      }
      case "error":
        this.stats.errors += 1;
        return [{ type: "error", code: msg.code, name: msg.name, message: msg.message, ref: msg.ref }];
      case "correct":
        // ref 0: the server moved the player itself (a teleport), not an answer to an INPUT.
        this.local = [msg.x, msg.y, msg.z, msg.heading];
        return [{ type: "correct", x: msg.x, y: msg.y, z: msg.z, heading: msg.heading, ref: msg.ref }];
      case "reconnect":
        this.resumeToken = msg.resume_token;
        return [{ type: "reconnect", resume_token: msg.resume_token, after_ms: msg.after_ms, resume_window: msg.resume_window, reason: msg.reason }];
      case "custom":
        return [{ type: "custom", customType: msg.type, data: msg.data }];
      case "event": {
        const ev = [{ type: "event", eventType: msg.type, data: msg.data }];
        // SPEC §4.3 event types: `mission`, `faction`, `faction.relation`, `companion`, ...
        // (dot-namespaced like custom types). Apps that follow one topic get it as its own
        // event, subtypes included.
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
        // Objects of a kind this client does not know are ignored (SPEC §4.3).
        return [{ type: "who", entities: ents.filter((e) => WHO_KINDS.has(e.kind) && Number.isInteger(e.id)) }];
      }
      default:
        return [];
    }
  }

  _receiveBinary(u8, now) {
    if (u8.byteLength > 0 && u8[0] !== FrameType.STATE) {
      this.stats.ignored += 1; // a newer server's frame type (SPEC §14)
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
      type: "state", seq: frame.seq, tick: frame.tick, server_time: frame.server_time, full: frame.full,
      size: u8.byteLength, receivedAt: now,
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
      ents = this.entities = new Map();
    } else {
      for (const id of frame.leaves) {
        st.leaves += 1;
        const gone = ents.get(id);
        if (gone === undefined) {
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
        if (prev !== undefined) events.push({ type: "left", id: e.id, entity: prev }); // replace = leave + enter
        events.push({ type: "entered", entity: ent });
      }
    }
    for (const p of frame.paths) {
      st.paths += 1;
      const old = ents.get(p.id);
      if (old === undefined || old.kind !== EntityKind.NPC) {
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
      if (old === undefined) {
        st.unknownRecords += 1;
        continue;
      }
      let upd;
      if (old.kind === EntityKind.PLAYER) {
        if (old.qx === m.qx && old.qy === m.qy && old.qz === m.qz && old.qheading === m.heading) continue;
        upd = makePlayer(w, m.id, old.name, old.health, m.qx, m.qy, m.qz, m.heading);
      } else {
        // v1 servers move NPCs by path only; a MOVE parks the NPC until its next PATH (SPEC §5.3).
        const path = { qx: m.qx, qy: m.qy, qz: m.qz, wx: m.qx, wy: m.qy, speed: 0, start_tick: frame.tick };
        upd = { id: m.id, kind: EntityKind.NPC, model: old.model, path };
      }
      ents.set(m.id, upd);
      if (!full) events.push({ type: "updated", entity: upd, previous: old });
    }
    if (full) {
      for (const [id, gone] of before) if (!ents.has(id)) events.push({ type: "left", id, entity: gone });
      const seen = new Set();
      for (const id of pending) {
        if (seen.has(id)) continue;
        seen.add(id);
        const ent = ents.get(id);
        const prev = before.get(id);
        if (prev === undefined) events.push({ type: "entered", entity: ent });
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
    if (this.lastReceivedAt === null || now === null || now === undefined) return this.lastTick;
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
}
