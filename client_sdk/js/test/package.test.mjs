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
