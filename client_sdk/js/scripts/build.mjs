// Build the committed bundles from src/ with esbuild, so server owners need no build step:
//   dist/ganggpt.mjs  ES module          (<script type="module">, bundlers, alt:V client scripts)
//   dist/ganggpt.js   IIFE, global GangGPT (one <script> tag in a CEF / NUI / plain page)
//   dist/ganggpt.cjs  CommonJS           (FiveM server scripts: require())
// Usage: node scripts/build.mjs [outdir]   (the tests build into a temp dir and compare)

import { build } from "esbuild";
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const outdir = resolve(process.argv[2] ?? join(root, "dist"));
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const banner = `/* ${pkg.name} ${pkg.version}: GangGPT realtime protocol v1 client. Built from src/ by scripts/build.mjs; do not edit. */`;

const common = {
  entryPoints: [join(root, "src", "index.js")],
  bundle: true,
  target: ["es2020"],
  legalComments: "none",
  banner: { js: banner },
  logLevel: "warning",
  charset: "utf8",
};

export const OUTPUTS = ["ganggpt.mjs", "ganggpt.js", "ganggpt.cjs"];

await build({ ...common, format: "esm", outfile: join(outdir, "ganggpt.mjs") });
await build({ ...common, format: "iife", globalName: "GangGPT", outfile: join(outdir, "ganggpt.js") });
await build({ ...common, format: "cjs", platform: "node", outfile: join(outdir, "ganggpt.cjs") });
console.log(`built ${OUTPUTS.join(", ")} into ${outdir}`);
