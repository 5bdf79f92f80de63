// Copies the dashboard's chart library (uPlot, a devDependency here) into the server's static
// files, as published: its minified bundle, stylesheet and LICENSE. The copies are committed so
// `make run` serves /dashboard without node; rerun this after bumping uplot in package.json.

import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const JS_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(JS_ROOT, "node_modules", "uplot");
const to = resolve(JS_ROOT, "..", "..", "server", "dashboard", "static", "vendor", "uplot");
const { version } = JSON.parse(readFileSync(join(from, "package.json"), "utf8"));
mkdirSync(to, { recursive: true });
for (const [src, dst] of [
  ["dist/uPlot.iife.min.js", "uPlot.iife.min.js"],
  ["dist/uPlot.min.css", "uPlot.min.css"],
  ["LICENSE", "LICENSE"],
]) {
  copyFileSync(join(from, src), join(to, dst));
}
console.log(`vendored uPlot ${version} into ${to}`);
