#!/usr/bin/env node
// A GangGPT bot in Node: joins, walks a circle, greets the nearest NPC, prints what it sees.
//   node bot.mjs [ws://127.0.0.1:22005/ws] [name]
// Node 22+ has a global WebSocket; on Node 18/20 the `ws` package stands in (npm install ws).

import { GangClient } from "../../src/index.js"; // in your project: from "@ganggpt/client"

const url = process.argv[2] ?? "ws://127.0.0.1:22005/ws";
const name = process.argv[3] ?? `bot-${process.pid}`;
if (process.argv.includes("--help")) {
  console.log("usage: node bot.mjs [URL] [NAME]   walk, talk to the nearest NPC, print events");
  process.exit(0);
}
const WebSocket = globalThis.WebSocket ?? (await import("ws")).default;

const client = new GangClient({ url, name, WebSocket });
client.on("entered", ({ entity }) => console.log("entered", entity.id, entity.kind === 1 ? entity.name : `NPC model ${entity.model}`));
client.on("left", ({ id }) => console.log("left", id));
client.on("chat", ({ name: who, text }) => console.log(`[chat] ${who}: ${text}`));
client.on("npc_say", ({ npc, text }) => console.log(`[npc ${npc}] ${text}`));
client.on("error", (e) => console.warn("error", e.name, e.message));
client.on("disconnected", (e) => console.warn("disconnected", e.codeName, e.willRetry ? "(reconnecting)" : ""));
client.on("reconnected", (e) => console.log("reconnected, resumed:", e.resumed));
client.on("closed", (e) => console.log("closed", e.codeName, e.error?.message ?? ""));

const w = await client.connect();
console.log(`joined ${w.server_name} as ${w.name} (net id ${w.net_id}) at ${w.x.toFixed(1)}, ${w.y.toFixed(1)}`);

const t0 = Date.now();
const walker = setInterval(() => {
  const a = ((Date.now() - t0) / 1000) * 0.4; // 4 m/s on a 10 m circle
  client.move(w.x + 10 * (Math.cos(a) - 1), w.y + 10 * Math.sin(a), w.z, ((a * 180) / Math.PI + 90) % 360);
}, 100);

setTimeout(async () => {
  const me = client.me;
  const nearest = client.npcs().map((n) => [n, client.positionOf(n)]).sort(
    (p, q) => Math.hypot(p[1][0] - me.x, p[1][1] - me.y) - Math.hypot(q[1][0] - me.x, q[1][1] - me.y),
  )[0];
  if (nearest) {
    const reply = await client.ask(nearest[0], "Hey, what's going on around here?");
    console.log(`NPC ${reply.npc} answered: ${reply.text}`);
  }
  console.log(`rtt ${((await client.ping()) * 1000).toFixed(1)} ms, ${client.entities.size} entities in view`);
}, 2000);

process.on("SIGINT", async () => {
  clearInterval(walker);
  await client.leave();
  process.exit(0);
});
