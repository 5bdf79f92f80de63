#!/usr/bin/env node
// How many SDK bots can one Node process drive? Ramps bots against a running server in stages,
// each bot a full GangClient (mirror, events, inputs), and measures per stage: frames and bytes
// received, inputs sent, latency (receive time - frame server_time, same-machine clocks), this
// process's CPU and event-loop delay. A table on stderr... and stdout, then one JSON line (last).
//
//   node bench/bots.mjs --url ws://127.0.0.1:22005/ws --max 1000 --duration 20
//
// The server must allow that many players (MAX_PLAYERS). Bounded: at most --max bots (<= 5000)
// and --duration seconds of measurement in all.

import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { GangClient } from "../src/index.js";

const { values: o } = parseArgs({
  options: {
    url: { type: "string", default: "ws://127.0.0.1:22005/ws" },
    max: { type: "string", default: "1000" },
    stages: { type: "string", default: "" },
    duration: { type: "string", default: "20" },
    rate: { type: "string", default: "10" },
    speed: { type: "string", default: "6" },
    help: { type: "boolean", short: "h", default: false },
    version: { type: "boolean", default: false },
  },
});
if (o.help) {
  console.log(`usage: node bench/bots.mjs [--url URL] [--max N] [--stages 100,250,500,1000] [--duration S] [--rate HZ] [--speed MPS]

Ramps GangGPT SDK bots in one Node process and reports, per stage, what it could drive.
  --max       most bots (default 1000, at most 5000)
  --stages    bot counts to measure at (default: 10%, 25%, 50%, 100% of --max)
  --duration  seconds of measurement in all, split over the stages (default 20)
  --rate      INPUTs per bot per second (default 10; the server allows send_rate)
  --speed     walking speed, m/s (default 6)
A stage is "ok" when the event loop's p99 delay stays under 100 ms, CPU under 95% of one core,
and every bot still receives frames.`);
  process.exit(0);
}
if (o.version) {
  console.log("bots.mjs 0.1.0");
  process.exit(0);
}
const max = Math.min(5000, Math.max(1, Number(o.max)));
const stages = (o.stages ? o.stages.split(",").map(Number) : [0.1, 0.25, 0.5, 1].map((f) => Math.max(1, Math.round(max * f))))
  .filter((n) => n > 0 && n <= max)
  .filter((n, i, a) => a.indexOf(n) === i);
const stageMs = (Number(o.duration) * 1000) / stages.length;
const rate = Number(o.rate);
const speed = Number(o.speed);

const bots = [];
let frames = 0;
let bytes = 0;
let lat = [];
let failures = 0;
const failReasons = new Map();

function addBot(i) {
  const c = new GangClient({ url: o.url, name: `jsbot-${process.pid % 10000}-${i}`, WebSocket, reconnect: false, pingIntervalMs: 0, deadAfterMs: 15000 });
  const bot = { c, heading: Math.random() * 360, pos: null, frames: 0 };
  c.on("state", (ev) => {
    frames += 1;
    bot.frames += 1;
    bytes += ev.size;
    if (lat.length < 200000) lat.push(ev.receivedAt - ev.server_time);
  });
  c.on("correct", (ev) => (bot.pos = [ev.x, ev.y, ev.z]));
  return c.connect().then(
    (w) => {
      bot.pos = [w.x, w.y, w.z];
      bots.push(bot);
    },
    (e) => {
      failures += 1;
      failReasons.set(e.codeName, (failReasons.get(e.codeName) ?? 0) + 1);
    },
  );
}

// One timer moves every bot: a random walk inside the spawn area, as the Python load tool does.
let lastStep = performance.now();
const mover = setInterval(() => {
  const now = performance.now();
  const dt = (now - lastStep) / 1000;
  lastStep = now;
  for (const b of bots) {
    if (!b.pos || !b.c.connected) continue;
    b.heading = (b.heading + (Math.random() - 0.5) * 20 + 360) % 360;
    const r = (b.heading * Math.PI) / 180;
    const w = b.c.welcome.world;
    const x = Math.min(w.max_x - 1, Math.max(w.min_x + 1, b.pos[0] - Math.sin(r) * speed * dt));
    const y = Math.min(w.max_y - 1, Math.max(w.min_y + 1, b.pos[1] + Math.cos(r) * speed * dt));
    b.pos = [x, y, b.pos[2]];
    b.c.move(x, y, b.pos[2], b.heading);
  }
}, 1000 / rate);

const pct = (a, p) => (a.length ? a[Math.min(a.length - 1, Math.floor((p / 100) * a.length))] : null);
const rows = [];
const hist = monitorEventLoopDelay({ resolution: 10 });
hist.enable();

for (const n of stages) {
  const t0 = performance.now();
  for (let i = bots.length + failures; i < n; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, n - i) }, (_, k) => addBot(i + k)));
  }
  const rampS = (performance.now() - t0) / 1000;
  await new Promise((r) => setTimeout(r, 1000)); // let the new bots' FULL snapshots pass
  frames = bytes = 0;
  lat = [];
  for (const b of bots) b.frames = 0;
  hist.reset();
  const cpu0 = process.cpuUsage();
  const s0 = performance.now();
  const sent0 = bots.reduce((s, b) => s + b.c.stats.inputsSent, 0);
  await new Promise((r) => setTimeout(r, stageMs));
  const secs = (performance.now() - s0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const live = bots.filter((b) => b.c.connected);
  const starving = live.filter((b) => b.frames === 0).length;
  lat.sort((a, b) => a - b);
  const row = {
    bots: live.length,
    target: n,
    ramp_s: +rampS.toFixed(2),
    cpu_pct: +(((cpu.user + cpu.system) / 1e6 / secs) * 100).toFixed(1),
    loop_p99_ms: +(hist.percentile(99) / 1e6).toFixed(1),
    frames_per_bot_s: +(frames / Math.max(1, live.length) / secs).toFixed(1),
    kb_s_per_bot: +(bytes / 1024 / Math.max(1, live.length) / secs).toFixed(2),
    inputs_per_bot_s: +((bots.reduce((s, b) => s + b.c.stats.inputsSent, 0) - sent0) / Math.max(1, live.length) / secs).toFixed(1),
    latency_p50_ms: lat.length ? +(pct(lat, 50) * 1000).toFixed(1) : null,
    latency_p99_ms: lat.length ? +(pct(lat, 99) * 1000).toFixed(1) : null,
    starving,
    rss_mb: +(process.memoryUsage().rss / 1048576).toFixed(0),
  };
  row.ok = row.bots === n && row.loop_p99_ms < 100 && row.cpu_pct < 95 && starving === 0;
  rows.push(row);
  console.error(`stage ${n}: ${JSON.stringify(row)}`);
}

clearInterval(mover);
hist.disable();
for (const b of bots) b.c.disconnect();

const cols = ["bots", "ramp_s", "cpu_pct", "loop_p99_ms", "frames_per_bot_s", "kb_s_per_bot", "inputs_per_bot_s", "latency_p50_ms", "latency_p99_ms", "rss_mb", "ok"];
console.log(cols.map((c) => c.padStart(Math.max(6, c.length))).join(" "));
for (const r of rows) console.log(cols.map((c) => String(r[c]).padStart(Math.max(6, c.length))).join(" "));
if (failures) console.log(`join failures: ${JSON.stringify(Object.fromEntries(failReasons))}`);
const okRows = rows.filter((r) => r.ok);
console.log(JSON.stringify({
  tool: "client_sdk/js/bench/bots.mjs", node: process.version, url: o.url, rate_hz: rate,
  max_bots_ok: okRows.length ? Math.max(...okRows.map((r) => r.bots)) : 0, join_failures: failures, stages: rows,
}));
process.exit(0);
