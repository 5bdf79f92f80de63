// Compiled by `tsc` (never run): the hand-written types describe what the examples and apps do.
import {
  GangClient, altWebSocket, connect, decodeState, encodeClient, pathPosition, type Entity, type Npc, type WebSocketLike,
} from "../src/index.js";

declare const SomeWebSocket: new (url: string) => WebSocketLike;
declare const alt: { WebSocketClient: new (url: string) => unknown };

async function demo(): Promise<void> {
  const c = await connect({ url: "ws://127.0.0.1:22005/ws", name: "Ana", WebSocket: SomeWebSocket });
  const w = c.welcome;
  if (w !== null) c.move(w.x + 1, w.y, w.z, 90);
  c.on("entered", (ev) => {
    const e: Entity = ev.entity;
    if (e.kind === 1) console.log(e.name, e.x, e.y);
    else console.log(e.model, pathPosition(e.path, c.serverTick(), w?.tick_rate ?? 60, w!.world));
  });
  c.on("npc_say", (ev) => console.log(ev.npc, ev.text.toUpperCase()));
  c.on("custom", (ev) => console.log(ev.customType, ev.data));
  c.on("mission", (ev) => console.log(ev.eventType));
  c.on("closed", (ev) => console.log(ev.codeName, ev.error?.message));
  const npc: Npc | undefined = c.npcs()[0];
  if (npc) {
    const reply = await c.ask(npc, "hi");
    const who = await c.who([npc.id]);
    console.log(reply.text, who[0]?.name, who[0]?.faction);
  }
  c.sendCustom("taxi.start", { to: "airport" });
  c.mission("request", { npc: 1000, theme: "a delivery" });
  c.mission("complete", { id: "5b0f3c1e" });
  const rtt: number | null = await c.ping();
  console.log(rtt, c.latency.offset);
  await c.leave();
  const alt2 = new GangClient({ url: "ws://x/ws", name: "b", WebSocket: altWebSocket(alt) });
  const f = decodeState(new Uint8Array(24));
  console.log(f.seq, encodeClient({ op: "chat", text: "hi" }), alt2.state);
}
void demo;
