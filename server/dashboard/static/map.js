// The live map: a spectator connection (SPEC §3.8) through the JavaScript SDK's mirror, drawn
// on a canvas in requestAnimationFrame. Each frame copies the mirror into typed arrays (x, y,
// kind, id) and draws every dot of a kind in one path, so thousands of dots stay smooth; a click
// looks for the nearest dot in those same arrays.

import { GangClient } from "/dashboard/sdk/ganggpt.mjs";

const PLAYER = 1;
const NPC = 2;
const COLORS = { [PLAYER]: "#4fc3f7", [NPC]: "#ffb74d" };

export class WorldMap extends EventTarget {
  constructor(canvas, { url, token }) {
    super();
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.client = new GangClient({ url, name: "dashboard", token, spectate: true, reconnect: false });
    this.capacity = 0;
    this.count = 0;
    this._grow(4096);
    this.scale = 1; // pixels per metre; set from the AOI at welcome
    this.camera = [0, 0];
    this.selected = null;
    this._drag = null;
    this._running = false;
    this._lastMoveSent = 0;
  }

  _grow(n) {
    this.capacity = n;
    this.xs = new Float32Array(n);
    this.ys = new Float32Array(n);
    this.kinds = new Uint8Array(n);
    this.ids = new Int32Array(n);
  }

  async start() {
    const welcome = await this.client.connect();
    this.camera = [welcome.x, welcome.y];
    this._fit(welcome.aoi_radius);
    this._bindInput();
    this._running = true;
    const frame = () => {
      if (!this._running) return;
      this.draw();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    return welcome;
  }

  stop() {
    this._running = false;
    this.client.disconnect();
  }

  _fit(radius) {
    const r = this.canvas.getBoundingClientRect();
    this.scale = Math.min(r.width, r.height) / (2.2 * radius);
  }

  /** Mirror -> typed arrays: the entities in view, NPCs extrapolated to the server tick now. */
  collect() {
    const ents = this.client.entities;
    if (ents.size > this.capacity) this._grow(Math.max(ents.size, this.capacity * 2));
    let i = 0;
    for (const e of ents.values()) {
      let x = e.x;
      let y = e.y;
      if (e.kind === NPC) [x, y] = this.client.positionOf(e);
      this.xs[i] = x;
      this.ys[i] = y;
      this.kinds[i] = e.kind;
      this.ids[i] = e.id;
      i++;
    }
    this.count = i;
    return i;
  }

  draw() {
    const c = this.canvas;
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(h * dpr);
    }
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const n = this.collect();
    const [cx, cy] = this.camera;
    const s = this.scale;
    const ox = w / 2 - cx * s;
    const oy = h / 2 + cy * s; // world y grows north, the canvas's grows down
    // The view: AOI radius around the camera.
    const welcome = this.client.welcome;
    if (welcome) {
      ctx.strokeStyle = "#2a313a";
      ctx.beginPath();
      ctx.arc(w / 2, h / 2, welcome.aoi_radius * s, 0, Math.PI * 2);
      ctx.stroke();
    }
    let players = 0;
    for (const kind of [NPC, PLAYER]) {
      ctx.fillStyle = COLORS[kind];
      ctx.beginPath();
      const r = kind === PLAYER ? 3 : 2;
      for (let i = 0; i < n; i++) {
        if (this.kinds[i] !== kind) continue;
        ctx.rect(ox + this.xs[i] * s - r, oy - this.ys[i] * s - r, 2 * r, 2 * r);
        if (kind === PLAYER) players++;
      }
      ctx.fill();
    }
    if (this.selected !== null) {
      const k = this._indexOf(this.selected);
      if (k >= 0) {
        ctx.strokeStyle = "#ef5350";
        ctx.lineWidth = 2;
        ctx.beginPath();
        ctx.arc(ox + this.xs[k] * s, oy - this.ys[k] * s, 7, 0, Math.PI * 2);
        ctx.stroke();
        ctx.lineWidth = 1;
      }
    }
    // What the browser test reads: the dots drawn this frame.
    c.dataset.dots = String(n);
    c.dataset.camera = this.client.netId ?? "";
    this.dispatchEvent(new CustomEvent("frame", { detail: { dots: n, players, npcs: n - players } }));
  }

  _indexOf(id) {
    for (let i = 0; i < this.count; i++) if (this.ids[i] === id) return i;
    return -1;
  }

  /** The entity nearest to canvas point (px, py) within 8 px, or null. */
  pick(px, py) {
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    const [cx, cy] = this.camera;
    const s = this.scale;
    let best = -1;
    let bestD = 64;
    for (let i = 0; i < this.count; i++) {
      const dx = w / 2 + (this.xs[i] - cx) * s - px;
      const dy = h / 2 - (this.ys[i] - cy) * s - py;
      const d = dx * dx + dy * dy;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    return best < 0 ? null : { id: this.ids[best], kind: this.kinds[best], x: this.xs[best], y: this.ys[best] };
  }

  /** Canvas pixel of an entity now (for tests and tooltips), or null if not in view. */
  screenOf(id) {
    const k = this._indexOf(id);
    if (k < 0) return null;
    const [cx, cy] = this.camera;
    return [this.canvas.clientWidth / 2 + (this.xs[k] - cx) * this.scale, this.canvas.clientHeight / 2 - (this.ys[k] - cy) * this.scale];
  }

  moveCamera(x, y) {
    const b = this.client.welcome?.world;
    if (b) {
      x = Math.min(Math.max(x, b.min_x), b.max_x);
      y = Math.min(Math.max(y, b.min_y), b.max_y);
    }
    this.camera = [x, y];
    this.client.move(x, y, 0, 0); // the SDK sends at most send_rate INPUTs a second, latest wins
  }

  _bindInput() {
    const c = this.canvas;
    // A restarted map (new spectator) binds anew; a stopped one ignores the canvas.
    c.addEventListener("pointerdown", (e) => {
      if (!this._running) return;
      this._drag = { x: e.clientX, y: e.clientY, cam: [...this.camera], moved: false };
      c.setPointerCapture(e.pointerId);
    });
    c.addEventListener("pointermove", (e) => {
      if (!this._running) return;
      const d = this._drag;
      if (!d) return;
      const dx = e.clientX - d.x;
      const dy = e.clientY - d.y;
      if (Math.abs(dx) + Math.abs(dy) > 4) d.moved = true;
      if (d.moved) this.moveCamera(d.cam[0] - dx / this.scale, d.cam[1] + dy / this.scale);
    });
    c.addEventListener("pointerup", (e) => {
      if (!this._running) return;
      const d = this._drag;
      this._drag = null;
      if (d && !d.moved) {
        const r = c.getBoundingClientRect();
        const hit = this.pick(e.clientX - r.left, e.clientY - r.top);
        this.selected = hit ? hit.id : null;
        this.dispatchEvent(new CustomEvent("pick", { detail: hit }));
      }
    });
    c.addEventListener("wheel", (e) => {
      if (!this._running) return;
      e.preventDefault();
      this.scale = Math.min(20, Math.max(0.02, this.scale * (e.deltaY < 0 ? 1.2 : 1 / 1.2)));
    }, { passive: false });
  }
}
