// Charts of the admin `metrics` push (1 Hz), drawn by uPlot (vendored, global `uPlot`): the
// last WINDOW seconds of each series, appended in place.

const WINDOW = 300;

const CHARTS = [
  { title: "Tick (ms)", series: [["p50", "#66bb6a", (m) => m.tick_ms?.p50], ["p99", "#ef5350", (m) => m.tick_ms?.p99], ["flush p99", "#4fc3f7", (m) => m.flush_ms?.p99 ?? num(m.flush_ms)]] },
  { title: "Tick lag (ms)", series: [["p50", "#ffb74d", (m) => num(m.tick_lag_ms)], ["p99", "#ef5350", (m) => m.tick_lag_ms?.p99]] },
  { title: "Players / NPCs", series: [["players", "#4fc3f7", (m) => m.players], ["npcs", "#ffb74d", (m) => m.npcs]] },
  { title: "Latency (ms)", series: [["p50", "#66bb6a", (m) => m.latency_ms?.p50], ["p99", "#ef5350", (m) => m.latency_ms?.p99]] },
  { title: "AI time to first token (ms)", series: [["p50", "#ba68c8", (m) => m.ai?.ttft_ms_p50]] },
  { title: "AI calls, errors, fallbacks", series: [["calls", "#4fc3f7", (m) => m.ai?.calls], ["errors", "#ef5350", (m) => m.ai?.errors], ["fallbacks", "#ffb74d", (m) => m.ai?.fallbacks]] },
  { title: "AI cost (USD)", series: [["cost", "#66bb6a", (m) => m.ai?.cost_usd]] },
];

/** A figure that may come as a number or as {p50, p99, ...}: the p50 then. */
function num(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === "number") return v;
  return v.p50 ?? v.mean ?? null;
}

export class Charts {
  constructor(root) {
    this.root = root;
    this.t = [];
    this.plots = CHARTS.map((spec) => {
      const box = document.createElement("div");
      box.className = "chart";
      const h = document.createElement("h4");
      h.textContent = spec.title;
      box.append(h);
      root.append(box);
      const data = [this.t, ...spec.series.map(() => [])];
      const plot = new globalThis.uPlot(
        {
          width: Math.max(200, Math.floor(root.clientWidth / 2) - 8),
          height: 120,
          legend: { show: true, live: false },
          cursor: { show: false },
          axes: [{ stroke: "#8793a1", grid: { stroke: "#222a33" } }, { stroke: "#8793a1", grid: { stroke: "#222a33" }, size: 44 }],
          series: [{}, ...spec.series.map(([label, color]) => ({ label, stroke: color, width: 1.5, spanGaps: true }))],
        },
        data,
        box,
      );
      return { spec, data, plot };
    });
    this.received = 0;
  }

  /** One `metrics` push. */
  push(m, now = Date.now() / 1000) {
    this.t.push(now);
    for (const p of this.plots) {
      p.spec.series.forEach(([, , get], i) => {
        const v = get(m);
        p.data[i + 1].push(typeof v === "number" && Number.isFinite(v) ? v : null);
      });
    }
    if (this.t.length > WINDOW) {
      this.t.shift();
      for (const p of this.plots) for (let i = 1; i < p.data.length; i++) p.data[i].shift();
    }
    for (const p of this.plots) p.plot.setData(p.data);
    this.received += 1;
    this.root.dataset.points = String(this.received);
  }
}
