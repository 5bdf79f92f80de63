// A minimal FXServer for running the FiveM example's server script under plain Node: natives,
// event registration, and emitNet into a per-player inbox (what the script relays to its NUI
// page). Used by fivem.test.mjs and by fivem_nui_feed.mjs (the dashboard's browser test).

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import vm from "node:vm";
import { JS_ROOT } from "./support.mjs";

export const RESOURCE_DIR = join(JS_ROOT, "examples", "fivem", "ganggpt");

/** A minimal FXServer: natives, event registration, emitNet to a per-player inbox. */
export function fxServer(convars, players) {
  const handlers = new Map();
  const net = new Map();
  const inbox = new Map(); // player id -> [[event, ...args]]
  const ctx = {
    console,
    setTimeout, clearTimeout, setInterval, clearInterval,
    require: createRequire(join(JS_ROOT, "package.json")), // resolves `ws` like the resource's node_modules
    GetCurrentResourceName: () => "ganggpt",
    GetResourcePath: () => RESOURCE_DIR,
    GetConvar: (k, dflt) => convars[k] ?? dflt,
    GetPlayerName: (src) => players[String(src)] ?? null,
    getPlayers: () => Object.keys(players),
    on: (name, fn) => handlers.set(name, [...(handlers.get(name) ?? []), fn]),
    onNet: (name, fn) => net.set(name, [...(net.get(name) ?? []), fn]),
    emitNet: (name, src, ...args) => {
      const k = String(src);
      if (!inbox.has(k)) inbox.set(k, []);
      inbox.get(k).push([name, ...args]);
    },
  };
  ctx.global = ctx;
  vm.createContext(ctx);
  const fire = (table, name, src, args) => {
    ctx.source = src;
    for (const fn of table.get(name) ?? []) fn(...args);
  };
  return {
    run(file) {
      vm.runInContext(readFileSync(file, "utf8"), ctx, { filename: file });
    },
    event: (name, src, ...args) => fire(handlers, name, src, args),
    netEvent: (name, src, ...args) => fire(net, name, src, args),
    nui: (src) => (inbox.get(String(src)) ?? []).filter(([n]) => n === "ganggpt:nui").map(([, m]) => m),
  };
}
