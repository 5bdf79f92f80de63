// The package as shipped: no runtime dependency, committed bundles up to date with src/, the
// hand-written types agree with the code and type-check, the one-tag bundle works on its own.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import vm from "node:vm";
import * as sdk from "../src/index.js";
import { JS_ROOT, VECTORS } from "./support.mjs";

const read = (...p) => readFileSync(join(JS_ROOT, ...p), "utf8");

test("no runtime dependencies", () => {
  const pkg = JSON.parse(read("package.json"));
  assert.equal(pkg.type, "module");
  assert.deepEqual(pkg.dependencies ?? {}, {});
});

test("dist/ is what scripts/build.mjs makes from src/ (run `npm run build` and commit)", () => {
  const out = mkdtempSync(join(tmpdir(), "ganggpt-dist-"));
  try {
    execFileSync(process.execPath, [join(JS_ROOT, "scripts", "build.mjs"), out], { stdio: "pipe" });
    for (const f of ["ganggpt.mjs", "ganggpt.js", "ganggpt.cjs"]) {
      assert.equal(read("dist", f), readFileSync(join(out, f), "utf8"), `dist/${f} is stale`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test("index.d.ts declares exactly what index.js exports", () => {
  const dts = read("src", "index.d.ts");
  const declared = new Set([...dts.matchAll(/^export declare (?:const|function|class) (\w+)/gm)].map((m) => m[1]));
  assert.deepEqual([...declared].sort(), Object.keys(sdk).sort());
});

test("the types check with tsc (strict)", () => {
  const tsc = join(JS_ROOT, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", join(JS_ROOT, "tsconfig.json")], { stdio: "pipe" });
});

test("the one-script-tag bundle defines window.GangGPT and needs nothing else", () => {
  const ctx = { TextDecoder, TextEncoder, setTimeout, clearTimeout, setInterval, clearInterval };
  ctx.window = ctx;
  vm.createContext(ctx);
  vm.runInContext(read("dist", "ganggpt.js"), ctx);
  const G = ctx.GangGPT;
  assert.equal(typeof G.GangClient, "function");
  const c = JSON.parse(readFileSync(join(VECTORS, "state_frames.json"), "utf8")).find((v) => v.name === "mixed_delta");
  const f = G.decodeState(new Uint8Array(Buffer.from(c.hex, "hex")));
  assert.equal(f.seq, c.decoded.seq);
  assert.equal(f.enters[0].name, "Cleo");
  assert.throws(() => new G.GangClient({ url: "ws://x/ws", name: "a" }), /no WebSocket/);
});

test("the CommonJS bundle loads with require() (FiveM server scripts)", async () => {
  const { createRequire } = await import("node:module");
  const req = createRequire(import.meta.url);
  const cjs = req(join(JS_ROOT, "dist", "ganggpt.cjs"));
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(sdk).sort());
});

test("every example script and page script parses", async () => {
  const { readdirSync, statSync } = await import("node:fs");
  const walk = (d) => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
  const files = walk(join(JS_ROOT, "examples"));
  let checked = 0;
  for (const f of files) {
    if (/\.(m?js)$/.test(f)) {
      execFileSync(process.execPath, ["--check", f], { stdio: "pipe" });
      checked++;
    } else if (f.endsWith(".html")) {
      const html = readFileSync(f, "utf8");
      for (const [, code] of html.matchAll(/<script>([\s\S]*?)<\/script>/g)) {
        new vm.Script(code, { filename: f });
        checked++;
      }
    }
  }
  assert.ok(checked >= 7, `checked ${checked} scripts`);
});

test("the FiveM NUI page renders relayed dialogue and mission state (DOM stand-in)", () => {
  // A browser test drives the real page later; this checks its script against a tiny DOM.
  const html = readFileSync(join(JS_ROOT, "examples", "fivem", "ganggpt", "html", "index.html"), "utf8");
  const code = html.match(/<script>([\s\S]*?)<\/script>/)[1];
  const els = new Map();
  const mk = (tag) => ({
    tag, children: [], textContent: "", className: "", value: "", scrollTop: 0, scrollHeight: 0,
    classList: { add() {}, remove() {}, toggle() {} }, style: {},
    append(...c) { this.children.push(...c); }, replaceChildren(...c) { this.children = c; },
    get firstChild() { return this.children[0]; },
    querySelector(sel) { return this.children.find((c) => c.className === sel.slice(1)); },
    addEventListener() {}, remove() {}, focus() {},
  });
  const listeners = {};
  const doc = {
    getElementById: (id) => (els.has(id) ? els.get(id) : els.set(id, mk("div")).get(id)),
    createElement: mk, addEventListener() {}, body: mk("body"),
  };
  const win = { addEventListener: (t, fn) => (listeners[t] = fn) };
  const ctx = { window: win, document: doc, fetch: () => Promise.resolve() };
  vm.createContext(ctx);
  vm.runInContext(code, ctx);
  const send = (data) => listeners.message({ data });
  send({ type: "npcs", npcs: [{ id: 1000, name: "Lamar", role: "dealer", faction: "Families", distance: 4 }] });
  send({ type: "npc", message: { op: "npc_say", npc: 1000, to: 1, text: "Hey homie." } });
  send({ type: "npc", message: { op: "npc_stream", npc: 1000, reply: 5, delta: "Go to " } });
  send({ type: "npc", message: { op: "npc_stream", npc: 1000, reply: 5, delta: "Grove.", done: true } });
  send({ type: "mission", event: "mission.offered", data: { title: "Deliver the van", objectives: [{ text: "Reach Grove St", done: false }] } });
  const lines = doc.getElementById("lines").children.map((l) => [l.children[0].textContent, l.children[1].textContent]);
  assert.deepEqual(lines, [["Lamar", "Hey homie."], ["Lamar", "Go to Grove."]]);
  assert.equal(doc.getElementById("mission-title").textContent, "Deliver the van");
  assert.equal(doc.getElementById("mission-state").textContent, "offered");
  assert.equal(doc.getElementById("mission-objectives").children[0].textContent, "Reach Grove St");
  assert.equal(win.ganggptNui.npcs[0].name, "Lamar");
});
