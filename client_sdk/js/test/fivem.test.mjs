// The FiveM example's server script (examples/fivem/ganggpt/server.js) under plain Node, with
// the `ws` package, against the real server. FiveM's natives are replaced by a small stand-in
// that records what the script sends to each player's client (emitNet).

import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { GangClient } from "../src/index.js";
import { RESOURCE_DIR, fxServer } from "./fxserver.mjs";
import { JS_ROOT, eventually, startServer } from "./support.mjs";

let server;

before(async () => {
  server = await startServer();
});
after(async () => {
  await server?.stop();
});

test("FiveM server script relays an NPC conversation and moves the player", async () => {
  const fx = fxServer(
    { ganggpt_url: server.url, ganggpt_sdk: join(JS_ROOT, "dist", "ganggpt.cjs") },
    { 7: "Ana\u0007 from FiveM" },
  );
  fx.run(join(RESOURCE_DIR, "server.js"));
  fx.event("playerJoining", 7, "7");
  const status = await eventually(() => fx.nui(7).find((m) => m.type === "status" && m.state === "connected"), 15000, "status: connected");
  assert.equal(status.name, "Ana from FiveM", "control characters are stripped from the FiveM name");

  // The NUI page gets the nearest NPCs every second; it talks to the first one.
  const list = await eventually(() => fx.nui(7).find((m) => m.type === "npcs" && m.npcs.length > 0), 10000, "a list of nearby NPCs");
  const npc = list.npcs[0];
  assert.equal(typeof npc.id, "number");
  assert.ok(npc.distance >= 0 && npc.name.length > 0);
  fx.netEvent("ganggpt:talk", 7, npc.id, "Where can I find work?");
  // Streamed: npc_say_part pieces first, then the whole line as npc_say (SPEC §4.3).
  const reply = await eventually(() => fx.nui(7).find((m) => m.type === "npc" && m.message.npc === npc.id && m.message.op === "npc_say"), 15000, "the NPC's reply relayed to the NUI");
  assert.ok(reply.message.text.length > 0);
  const parts = fx.nui(7).filter((m) => m.type === "npc" && m.message.op === "npc_say_part" && m.message.reply_id === reply.message.reply_id);
  assert.equal(parts.map((m) => m.message.text).join(""), reply.message.text);

  // client.lua's position updates move the player in GangGPT: another client sees it.
  const watcher = new GangClient({ url: server.url, name: "fivem-watcher", WebSocket });
  await watcher.connect();
  try {
    const ana = await eventually(() => watcher.players().find((p) => p.name === "Ana from FiveM"), 10000, "the FiveM player in view");
    const target = [ana.x + 6, ana.y - 3, ana.z];
    for (let i = 1; i <= 10; i++) {
      fx.netEvent("ganggpt:pos", 7, ana.x + (6 * i) / 10, ana.y - (3 * i) / 10, ana.z, 45);
      await new Promise((r) => setTimeout(r, 60));
    }
    await eventually(() => {
      const p = watcher.entities.get(ana.id);
      return p && Math.hypot(p.x - target[0], p.y - target[1]) < 0.2;
    }, 5000, "the watcher to see the FiveM player where client.lua put it");

    // Bad input from a client script becomes an error on the NUI, not a crash.
    fx.netEvent("ganggpt:talk", 7, npc.id, "");
    await eventually(() => fx.nui(7).find((m) => m.type === "error" && m.name === "BAD_FIELD"), 5000, "an error relayed for empty text");

    // The player quits FiveM: the script leaves GangGPT and the player is gone for others.
    const left = watcher.waitFor("left", (e) => e.id === ana.id, 10000);
    fx.event("playerDropped", 7, "Exiting");
    await left;
  } finally {
    watcher.disconnect();
  }
});
