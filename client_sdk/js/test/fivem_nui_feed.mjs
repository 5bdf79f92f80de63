// Runs the FiveM example's server script under Node (`ws`, the FXServer stand-in) against a live
// server, has its player talk to the nearest NPC, and prints every message the script relayed
// to the player's NUI page (what client.lua hands to SendNUIMessage) as one JSON array on
// stdout. The dashboard's browser test feeds them to the NUI page with window.postMessage.
//
//   node test/fivem_nui_feed.mjs ws://127.0.0.1:22005/ws ["what the player says"]

import { join } from "node:path";
import { RESOURCE_DIR, fxServer } from "./fxserver.mjs";
import { JS_ROOT, eventually } from "./support.mjs";

const [url, text = "Where can I find work?"] = process.argv.slice(2);
if (!url) {
  console.error("usage: node test/fivem_nui_feed.mjs <ws url> [text]");
  process.exit(2);
}
const fx = fxServer({ ganggpt_url: url, ganggpt_sdk: join(JS_ROOT, "dist", "ganggpt.cjs") }, { 7: "Ana from FiveM" });
fx.run(join(RESOURCE_DIR, "server.js"));
fx.event("playerJoining", 7, "7");
await eventually(() => fx.nui(7).find((m) => m.type === "status" && m.state === "connected"), 15000, "status: connected");
const list = await eventually(() => fx.nui(7).find((m) => m.type === "npcs" && m.npcs.length > 0), 10000, "nearby NPCs");
const npc = list.npcs[0];
fx.netEvent("ganggpt:talk", 7, npc.id, text);
await eventually(() => fx.nui(7).find((m) => m.type === "npc" && m.message.npc === npc.id && m.message.op === "npc_say"), 20000, "the NPC's reply");
fx.event("playerDropped", 7, "Exiting");
process.stdout.write(JSON.stringify({ npc, messages: fx.nui(7) }) + "\n");
process.exit(0);
