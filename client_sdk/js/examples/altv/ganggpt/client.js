// GangGPT for alt:V, client side, with alt:V's own alt.WebSocketClient through the SDK's
// altWebSocket adapter. Copy client_sdk/js/dist/ganggpt.mjs to lib/ganggpt.mjs.
//
// alt.WebSocketClient hands every message to JavaScript as a string. Control messages (NPC
// dialogue, chat, custom messages, game events) always work. Binary STATE frames survive only
// if the runtime passes one char per byte; otherwise they are counted in client.stats.invalid
// and the world mirror stays empty: show the world from a WebView with the browser SDK then
// (see ../README.md).

import * as alt from "alt-client";
import * as native from "natives";
import { GangClient, altWebSocket } from "./lib/ganggpt.mjs";

const URL = "ws://127.0.0.1:22005/ws";
const client = new GangClient({ url: URL, name: alt.Player.local.name, WebSocket: altWebSocket(alt) });

client.on("welcome", (e) => alt.log(`[ganggpt] joined as ${e.welcome.name}${e.resumed ? " (resumed)" : ""}`));
client.on("npc_say", (e) => notify(`~y~NPC ${e.npc}~s~: ${e.text}`));
client.on("chat", (e) => notify(`~b~${e.name}~s~: ${e.text}`));
client.on("mission", (e) => notify(`~g~Mission~s~ ${e.eventType}: ${e.data.title ?? ""}`));
client.on("error", (e) => alt.logWarning(`[ganggpt] ${e.name}: ${e.message}`));
client.on("correct", (e) => {
  native.setEntityCoordsNoOffset(alt.Player.local.scriptID, e.x, e.y, e.z, false, false, false);
  native.setEntityHeading(alt.Player.local.scriptID, e.heading);
});
client.connect().catch((e) => alt.logError(`[ganggpt] cannot join: ${e.message}`));

// Our position, ten times a second (INPUT frames are binary; alt:V sends those fine).
alt.setInterval(() => {
  if (!client.connected) return;
  const p = alt.Player.local.pos;
  client.move(p.x, p.y, p.z, native.getEntityHeading(alt.Player.local.scriptID));
}, 100);

// F8 console: `talk <npc id> <text>`.
alt.on("consoleCommand", (cmd, ...args) => {
  if (cmd !== "talk" || args.length < 2) return;
  try {
    client.talk(Number(args[0]), args.slice(1).join(" "));
  } catch (e) {
    alt.logWarning(`[ganggpt] ${e.message}`);
  }
});

alt.on("disconnect", () => client.disconnect());

function notify(text) {
  native.beginTextCommandThefeedPost("STRING");
  native.addTextComponentSubstringPlayerName(text);
  native.endTextCommandThefeedPostTicker(false, true);
}
