// The dashboard: log in (POST /auth/login), open the admin console (/admin) with the access
// token, watch the world as a spectator (/ws, JavaScript SDK), and keep the views live.

import { AdminConsole } from "/dashboard/admin.js";
import { Charts } from "/dashboard/charts.js";
import { WorldMap } from "/dashboard/map.js";

const $ = (id) => document.getElementById(id);
const wsBase = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}`;
const FORBIDDEN = 4013;

const app = {
  tokens: null,
  admin: null,
  map: null,
  charts: null,
  npc: null, // the NPC open in the inspector (its net id)
};
window.dashboard = app; // for the browser tests and the console

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props);
  for (const c of children) e.append(c);
  return e;
}

function status(id, text, bad = false) {
  const p = $(id);
  p.textContent = text;
  p.classList.toggle("error", bad);
}

// --- login and tokens ------------------------------------------------------------------------

async function login(username, password) {
  const r = await fetch("/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ login: username, password }),
  });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.message || body.error || `login failed (${r.status})`);
  return body;
}

/** Keep a fresh access token for reconnects: refresh at 80 % of its life (rotating refresh tokens). */
function scheduleRefresh() {
  const ms = Math.max(10, (app.tokens.expires_in ?? 600) * 0.8) * 1000;
  clearTimeout(app.refreshTimer);
  app.refreshTimer = setTimeout(async () => {
    try {
      const r = await fetch("/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: app.tokens.refresh_token }),
      });
      if (r.ok) {
        app.tokens = await r.json();
        scheduleRefresh();
      }
    } catch {
      /* the next reconnect will ask for a login */
    }
  }, ms);
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  status("login-error", "");
  $("login-submit").disabled = true;
  try {
    app.tokens = await login($("login-name").value.trim(), $("login-password").value);
    await boot();
  } catch (err) {
    status("login-error", err.message, true);
    app.admin?.close();
  } finally {
    $("login-submit").disabled = false;
  }
});

$("logout").addEventListener("click", async () => {
  try {
    await fetch("/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: app.tokens.refresh_token }),
    });
  } finally {
    location.reload();
  }
});

// --- boot ------------------------------------------------------------------------------------

async function boot() {
  const admin = new AdminConsole(`${wsBase}/admin`, app.tokens.access_token);
  try {
    await admin.open();
  } catch (err) {
    throw new Error(err.closeCode === FORBIDDEN ? "This account may not open the admin console." : `Admin console refused: ${err.message}`);
  }
  app.admin = admin;
  scheduleRefresh();
  $("login-view").hidden = true;
  $("app-view").hidden = false;
  $("whoami").textContent = `${admin.authed.username} (${admin.authed.role})`;
  admin.addEventListener("close", (e) => {
    $("conn-status").textContent = `admin closed (${e.detail.code})`;
    $("conn-status").className = "pill bad";
  });

  app.charts = new Charts($("charts"));
  admin.addEventListener("metrics", (e) => {
    app.charts.push(e.detail);
    $("metrics-age").textContent = `tick p99 ${fmt(e.detail.tick_ms?.p99)} ms`;
  });
  admin.addEventListener("events", (e) => onGameEvent(e.detail));
  admin.addEventListener("players", () => refreshPlayers());
  await admin.cmd("subscribe", { topics: ["metrics", "events", "players"] });

  startMap();
  await Promise.allSettled([refreshPlayers(), refreshFactions(), refreshMissions()]);
  setInterval(refreshPlayers, 5000);
  setInterval(refreshFactions, 10000);
}

function fmt(v) {
  return typeof v === "number" ? v.toFixed(1) : "–";
}

// --- map -------------------------------------------------------------------------------------

async function startMap() {
  const map = new WorldMap($("map"), { url: `${wsBase}/ws`, token: app.tokens.access_token });
  app.map = map;
  map.addEventListener("frame", (e) => {
    $("count-players").textContent = e.detail.players;
    $("count-npcs").textContent = e.detail.npcs;
  });
  map.addEventListener("pick", (e) => inspectEntity(e.detail));
  map.client.on("closed", ({ code }) => {
    $("conn-status").textContent = `map closed (${code ?? "lost"})`;
    $("conn-status").className = "pill bad";
    // A spectator is never resumed (SPEC §3.8): after a drop, watch again with the newest
    // token, unless the server said this login may not (4004 refused, 4011 kicked).
    if (code !== 4004 && code !== 4011 && app.map === map) {
      map.stop();
      setTimeout(startMap, 3000);
    }
  });
  try {
    const welcome = await map.start();
    $("server-name").textContent = welcome.server_name;
    $("conn-status").textContent = "live";
    $("conn-status").className = "pill ok";
  } catch (err) {
    $("conn-status").textContent = `map: ${err.message}`;
    $("conn-status").className = "pill bad";
  }
}

async function inspectEntity(hit) {
  const box = $("map-inspect");
  if (!hit) {
    box.textContent = "Nothing there.";
    return;
  }
  const where = `(${hit.x.toFixed(1)}, ${hit.y.toFixed(1)})`;
  if (hit.kind === 2) {
    box.textContent = `NPC ${hit.id} at ${where}`;
    await openNpc(hit.id);
    return;
  }
  box.textContent = `Player ${hit.id} at ${where}`;
  try {
    const p = await app.admin.cmd("players.inspect", { player: hit.id });
    box.textContent = `Player ${p.name} (net id ${p.net_id}, account ${p.account ?? "guest"}) at ${where}: ` +
      `$${p.money ?? "?"}, faction ${p.faction ?? "none"}, violations ${p.violations?.score ?? 0}`;
  } catch (err) {
    box.textContent += ` — ${err.message}`;
  }
}

// --- players ---------------------------------------------------------------------------------

async function refreshPlayers() {
  let data;
  try {
    data = await app.admin.cmd("players.list");
  } catch (err) {
    status("players-status", err.message, true);
    return;
  }
  const body = $("players").tBodies[0];
  body.replaceChildren(
    ...data.players.map((p) => {
      const tr = el("tr", {}, el("td", { textContent: p.name }), el("td", { textContent: p.account ?? (p.guest ? "guest" : "") }),
        el("td", { textContent: p.net_id }), el("td", { textContent: p.ping_ms ?? "" }), el("td", { textContent: p.violations ?? 0 }));
      tr.dataset.player = p.player_id;
      tr.dataset.name = p.name;
      const actions = el("td", { className: "actions" });
      for (const [label, fn, cls] of [["kick", kick, ""], ["warn", warn, ""], ["ban", ban, "danger"]]) {
        actions.append(el("button", { type: "button", textContent: label, className: cls, onclick: () => fn(p) }));
      }
      tr.append(actions);
      return tr;
    }),
  );
  status("players-status", `${data.players.length} playing`);
}

const reason = () => $("action-reason").value.trim() || "dashboard";

async function act(what, p, fn) {
  try {
    await fn();
    status("players-status", `${what} ${p.name}: done`);
  } catch (err) {
    status("players-status", `${what} ${p.name}: ${err.message}`, true);
  }
  refreshPlayers();
}

const kick = (p) => act("kick", p, () => app.admin.cmd("players.kick", { player: p.player_id, reason: reason() }));
const warn = (p) => act("warn", p, () => app.admin.cmd("players.warn", { player: p.player_id, reason: reason() }));
const ban = (p) => {
  const d = $("ban-duration").value;
  return act("ban", p, () => app.admin.cmd("players.ban", { player: p.player_id, reason: reason(), duration_s: d ? Number(d) : null }));
};

// --- factions and missions ---------------------------------------------------------------------

async function refreshFactions() {
  let data;
  try {
    data = await app.admin.cmd("factions.list");
  } catch {
    return;
  }
  $("factions").tBodies[0].replaceChildren(
    ...data.factions.map((f) => el("tr", {}, el("td", { textContent: f.name }), el("td", { textContent: f.members ?? "" }))),
  );
  $("relations").tBodies[0].replaceChildren(
    ...(data.relations ?? []).map((r) => el("tr", {}, el("td", { textContent: r.a }), el("td", { textContent: r.b }),
      el("td", { textContent: r.strength }), el("td", { textContent: r.state ?? "" }))),
  );
}

/** One line of the feed from an admin `mission` event ({at, name, mission, status, ...}). */
function missionLine(m) {
  const at = m.at ? new Date(m.at * 1000).toLocaleTimeString() : "";
  const what = m.mission ?? m.title ?? "mission";
  return `${at} ${m.name ?? m.player_id ?? ""}: ${what} ${m.status ?? m.state ?? ""}`.trim();
}

async function refreshMissions() {
  try {
    const data = await app.admin.cmd("missions.feed", { limit: 30 });
    // The feed comes oldest first; the list shows the newest on top.
    $("missions").replaceChildren(...data.missions.slice().reverse().map((m) => el("li", { textContent: missionLine(m) })));
  } catch {
    /* not every server runs missions */
  }
}

function onGameEvent(ev) {
  const kind = String(ev.kind ?? ev.type ?? "");
  if (kind.startsWith("mission")) {
    const line = el("li", { textContent: missionLine(ev) });
    $("missions").prepend(line);
    while ($("missions").children.length > 100) $("missions").lastChild.remove();
  } else if (kind.startsWith("faction")) {
    refreshFactions();
  }
  if (app.npc !== null && (ev.npc === app.npc || ev.npc_id === app.npc || ev.net_id === app.npc)) openNpc(app.npc);
}

// --- NPC inspector -----------------------------------------------------------------------------

async function openNpc(nid) {
  app.npc = nid;
  let data;
  try {
    data = await app.admin.cmd("npcs.inspect", { npc: nid });
  } catch (err) {
    $("npc-inspector").hidden = false;
    status("npc-status", err.message, true);
    return;
  }
  renderNpc(data);
}

function renderNpc(d) {
  app.npc = d.net_id;
  app.npcData = d;
  $("npc-inspector").hidden = false;
  $("npc-inspector").dataset.npc = d.net_id;
  $("npc-title").textContent = `${d.persona?.name ?? ""} (net id ${d.net_id})`;
  const form = $("npc-persona");
  if (!form.contains(document.activeElement)) {
    // Not while someone is typing there: the live refresh must not eat an edit.
    for (const k of ["name", "role", "faction", "mood", "personality"]) form.elements[k].value = d.persona?.[k] ?? "";
  }
  $("npc-memories").replaceChildren(
    ...(d.memories ?? []).map((m) => {
      const weight = el("input", { type: "number", min: 0, max: 100, step: 1, value: m.weight ?? 50, title: "emotional weight (0-100)" });
      weight.onchange = () => editNpc({ memory_edit: { memory_id: m.memory_id, weight: Number(weight.value) } });
      const li = el("li", {}, el("span", { className: "kind", textContent: m.type }), el("span", { className: "content", textContent: typeof m.content === "string" ? m.content : JSON.stringify(m.content) }), weight,
        el("button", { type: "button", textContent: "forget", onclick: () => editNpc({ memory_delete: m.memory_id }) }));
      li.dataset.memory = m.memory_id;
      return li;
    }),
  );
  if (!(d.memories ?? []).length) $("npc-memories").append(el("li", { className: "muted", textContent: "No memories yet." }));
  $("npc-relationships").replaceChildren(
    ...(d.relationships ?? []).map((r) => el("li", {}, el("span", { className: "content", textContent: r.player }),
      el("b", { textContent: `affinity ${r.value}` }), el("span", { className: "muted", textContent: `trust ${r.trust ?? "–"}, ${r.mood ?? ""}, ${r.conversations ?? 0} talks` }))),
  );
  status("npc-status", `${(d.memories ?? []).length} memories, ${(d.relationships ?? []).length} relationships`);
}

async function editNpc(change) {
  try {
    renderNpc(await app.admin.cmd("npcs.edit", { npc: app.npc, ...change }));
  } catch (err) {
    status("npc-status", err.message, true);
  }
}

$("npc-persona").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const persona = {};
  if (f.personality.value !== (app.npcData?.persona?.personality ?? "")) persona.personality = f.personality.value;
  editNpc({ persona });
});
$("npc-memory-add").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target.elements;
  editNpc({ memory_add: { type: f.type.value, content: f.content.value, weight: Number(f.weight.value) } }).then(() => (f.content.value = ""));
});
$("npc-relationship").addEventListener("submit", (e) => {
  e.preventDefault();
  const f = e.target.elements;
  const who = f.player.value.trim();
  editNpc({ relationship: { player: who, value: Number(f.value.value) } });
});
$("npc-close").addEventListener("click", () => {
  app.npc = null;
  $("npc-inspector").hidden = true;
});
// "Live": the open NPC is read again every few seconds (memories change as players talk to it).
setInterval(() => {
  if (app.npc !== null && app.admin) openNpc(app.npc);
}, 4000);
