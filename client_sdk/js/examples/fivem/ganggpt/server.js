// GangGPT FiveM server script: one GangGPT connection per player, held here (with the `ws`
// package), relayed to that player's NUI page through client.lua.
//
//   player's NUI  --fetch-->  client.lua  --TriggerServerEvent-->  this script  --ws-->  GangGPT
//   GangGPT  --ws-->  this script  --emitNet('ganggpt:nui')-->  client.lua  --SendNUIMessage-->  NUI
//
// Convars: ganggpt_url (ws://127.0.0.1:22005/ws), ganggpt_sdk (path of ganggpt.cjs; default
// lib/ganggpt.cjs in this resource, copied from client_sdk/js/dist/).

const path = require("path");
const WebSocket = require("ws");

const RESOURCE = GetCurrentResourceName();
const GANGGPT_URL = GetConvar("ganggpt_url", "ws://127.0.0.1:22005/ws");
const SDK_PATH = GetConvar("ganggpt_sdk", path.join(GetResourcePath(RESOURCE), "lib", "ganggpt.cjs"));
const { GangClient, EntityKind } = require(SDK_PATH);

const NEARBY_EVERY_MS = 1000;
const NEARBY_MAX = 8;
const sessions = new Map(); // FiveM player id (string) -> { client, timer, names }

function toNui(src, msg) {
  emitNet("ganggpt:nui", src, msg);
}

/** A FiveM name as a GangGPT name: 1-32 code points, no control characters. */
function gangName(src) {
  const raw = String(GetPlayerName(src) || "").replace(/[\u0000-\u001f\u007f]/g, "").trim();
  const name = [...raw].slice(0, 32).join("");
  return name || `player${src}`;
}

function nearbyNpcs(s) {
  const c = s.client;
  const me = c.me;
  if (!me) return [];
  const tick = c.serverTick();
  return c
    .npcs()
    .map((n) => {
      const [x, y] = c.positionOf(n, tick);
      const who = c.identities.get(n.id);
      return { id: n.id, name: who?.name ?? `NPC ${n.id}`, role: who?.role ?? null, faction: who?.faction ?? null, distance: Math.hypot(x - me.x, y - me.y) };
    })
    .sort((a, b) => a.distance - b.distance)
    .slice(0, NEARBY_MAX);
}

async function learnNames(s, ids) {
  const unknown = ids.filter((id) => !s.client.identities.has(id));
  if (unknown.length === 0 || s.whoUnsupported) return;
  try {
    await s.client.who(unknown);
  } catch (e) {
    if (e.code === 2) s.whoUnsupported = true; // server without `who`: keep "NPC <id>"
  }
}

function start(src) {
  src = String(src);
  if (sessions.has(src)) return;
  const client = new GangClient({ url: GANGGPT_URL, name: gangName(src), WebSocket });
  const s = { client, timer: null, whoUnsupported: false };
  sessions.set(src, s);
  client.on("welcome", (ev) => toNui(src, { type: "status", state: "connected", name: ev.welcome.name, resumed: ev.resumed }));
  client.on("disconnected", (ev) => toNui(src, { type: "status", state: ev.willRetry ? "reconnecting" : "disconnected", reason: ev.codeName }));
  client.on("closed", (ev) => toNui(src, { type: "status", state: "closed", reason: ev.codeName }));
  client.on("chat", (ev) => toNui(src, { type: "chat", name: ev.name, text: ev.text }));
  client.on("npc", (ev) => {
    const id = ev.message.npc;
    toNui(src, { type: "npc", message: ev.message, name: client.identities.get(id)?.name ?? null });
  });
  client.on("mission", (ev) => toNui(src, { type: "mission", event: ev.eventType, data: ev.data }));
  client.on("faction", (ev) => toNui(src, { type: "faction", event: ev.eventType, data: ev.data }));
  client.on("custom", (ev) => toNui(src, { type: "custom", customType: ev.customType, data: ev.data }));
  client.on("error", (ev) => toNui(src, { type: "error", code: ev.code, name: ev.name, message: ev.message }));
  client.on("correct", (ev) => emitNet("ganggpt:correct", src, ev.x, ev.y, ev.z, ev.heading));
  client.connect().then(
    () => {
      s.timer = setInterval(() => {
        const list = nearbyNpcs(s);
        toNui(src, { type: "npcs", npcs: list });
        learnNames(s, list.map((n) => n.id));
      }, NEARBY_EVERY_MS);
    },
    (e) => {
      console.log(`[ganggpt] ${GetPlayerName(src)}: cannot join GangGPT: ${e.message}`);
      sessions.delete(src);
      toNui(src, { type: "status", state: "closed", reason: e.codeName });
    },
  );
}

function stop(src, quit) {
  src = String(src);
  const s = sessions.get(src);
  if (!s) return;
  sessions.delete(src);
  clearInterval(s.timer);
  if (quit) s.client.leave().catch(() => {});
  else s.client.disconnect(); // resource restart: the GangGPT server keeps the player to resume
}

on("playerJoining", () => start(global.source));
on("playerDropped", () => stop(global.source, true));
on("onResourceStart", (name) => {
  if (name === RESOURCE) for (const p of getPlayers()) start(p);
});
on("onResourceStop", (name) => {
  if (name === RESOURCE) for (const src of [...sessions.keys()]) stop(src, false);
});

// From client.lua: the player's ped position, a few times a second.
onNet("ganggpt:pos", (x, y, z, heading) => {
  const s = sessions.get(String(global.source));
  if (s && [x, y, z, heading].every(Number.isFinite)) s.client.move(x, y, z, heading);
});

// From the NUI page (through client.lua): talk to an NPC, or a game mode's own message.
onNet("ganggpt:talk", (npc, text) => {
  const src = String(global.source);
  const s = sessions.get(src);
  if (!s) return;
  try {
    s.client.talk(Number(npc), String(text));
  } catch (e) {
    toNui(src, { type: "error", code: e.code, name: e.codeName, message: e.message });
  }
});

onNet("ganggpt:custom", (type, data) => {
  const s = sessions.get(String(global.source));
  try {
    s?.client.sendCustom(String(type), data ?? {});
  } catch (e) {
    toNui(String(global.source), { type: "error", code: e.code, name: e.codeName, message: e.message });
  }
});
