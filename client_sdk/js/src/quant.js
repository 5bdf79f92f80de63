// Quantisation (SPEC §6). Every formula is the SPEC's, one IEEE-754 double operation at a time
// in the written order, so positions match the server's and every other client's to the bit.

export const QMAX = 65535;

/** Round half to even, as Python's round() (SPEC §6; Math.round rounds halves up). */
export function roundHalfEven(x) {
  const f = Math.floor(x);
  const d = x - f; // exact for every double below 2^52
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Floored modulo with the sign of the divisor, exactly as Python's float `%`. */
export function pyMod(x, m) {
  let r = x % m;
  if (r !== 0 && r < 0 !== m < 0) r += m;
  return r;
}

export function quantise(v, lo, hi) {
  if (v <= lo) return 0;
  if (v >= hi) return QMAX;
  return roundHalfEven(((v - lo) * QMAX) / (hi - lo));
}

export function dequantise(q, lo, hi) {
  return lo + (q * (hi - lo)) / QMAX;
}

/** World metres -> [qx, qy, qz]; `w` is `welcome.world`. Values outside clamp to the edge. */
export function quantisePosition(w, x, y, z) {
  return [quantise(x, w.min_x, w.max_x), quantise(y, w.min_y, w.max_y), quantise(z, w.min_z, w.max_z)];
}

export function dequantisePosition(w, qx, qy, qz) {
  return [dequantise(qx, w.min_x, w.max_x), dequantise(qy, w.min_y, w.max_y), dequantise(qz, w.min_z, w.max_z)];
}

export function quantiseHeading(deg) {
  return pyMod(roundHalfEven((pyMod(deg, 360) * 256) / 360), 256);
}

export function dequantiseHeading(q) {
  return (pyMod(q, 256) * 360) / 256;
}

export function speedToWire(mps) {
  if (!Number.isFinite(mps) || mps <= 0) return 0;
  return Math.min(255, roundHalfEven(mps * 10));
}

export function speedFromWire(q) {
  return q / 10;
}

/**
 * Where an NPC on `path` is at server tick `tick` (fractional ticks allowed), SPEC §7.
 * Returns [x, y, z] in metres, bit-identical to the server's own simulation.
 */
export function pathPosition(path, tick, tickRate, w) {
  const sx = dequantise(path.qx, w.min_x, w.max_x);
  const sy = dequantise(path.qy, w.min_y, w.max_y);
  const sz = dequantise(path.qz, w.min_z, w.max_z);
  const ex = dequantise(path.wx, w.min_x, w.max_x);
  const ey = dequantise(path.wy, w.min_y, w.max_y);
  const dx = ex - sx;
  const dy = ey - sy;
  const dist = Math.sqrt(dx * dx + dy * dy); // sqrt, not hypot: hypot's last bit varies
  if (dist === 0 || path.speed === 0) return [sx, sy, sz];
  const travelled = ((path.speed / 10) * Math.max(0, tick - path.start_tick)) / tickRate;
  if (travelled >= dist) return [ex, ey, sz];
  const f = travelled / dist;
  return [sx + dx * f, sy + dy * f, sz];
}

/** Direction of travel in degrees (0 = +y, counter-clockwise), 0 for a zero-length path. */
export function pathHeading(path, w) {
  const sx = dequantise(path.qx, w.min_x, w.max_x);
  const sy = dequantise(path.qy, w.min_y, w.max_y);
  const ex = dequantise(path.wx, w.min_x, w.max_x);
  const ey = dequantise(path.wy, w.min_y, w.max_y);
  return pyMod(Math.atan2(-(ex - sx), ey - sy) * (180 / Math.PI), 360);
}

/** First integer tick at which the NPC stands exactly on its waypoint; null if it never moves. */
export function pathArrivalTick(path, tickRate, w) {
  if (path.speed === 0) return null;
  const ex = dequantise(path.wx, w.min_x, w.max_x);
  const ey = dequantise(path.wy, w.min_y, w.max_y);
  const there = (t) => {
    const [x, y] = pathPosition(path, t, tickRate, w);
    return x === ex && y === ey;
  };
  let t = path.start_tick;
  for (let step = 2 ** 20; step >= 1; step /= 2) {
    while (!there(t + step)) t += step; // position is monotone in the tick
  }
  return there(t) ? t : t + 1;
}
