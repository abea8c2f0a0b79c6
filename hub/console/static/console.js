// gamefleet console: renders the hub's live stream (/api/stream, server-sent events).
// Plain JavaScript, no build step. Read-only: nothing here writes to the hub.
"use strict";

const state = {
  fleets: new Map(),      // "ns/name" -> fleet
  clusters: [],
  regions: new Map(),     // cluster -> region
  activity: { allocationsPerSecond: 0, decisions: [] },
  servers: new Map(),     // "cluster/name" -> server of the selected fleet
  serversListed: false,
  events: [],
  selected: null,         // "ns/name"
  status: { ok: true, problems: [], leader: "" },
};
// For tests and measurements: what was rendered, and when.
window.gamefleet = { state, firstRender: null, renders: 0, serverRenders: [], streamBytes: 0 };

const $ = (id) => document.getElementById(id);
const esc = (v) => String(v ?? "").replace(/[&<>"']/g,
  (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const num = (n) => (n ?? 0).toLocaleString("en-US");
const collator = new Intl.Collator("en", { numeric: true });
// A fleet of 100,000 servers is counted in full but listed up to this many rows (filter to narrow).
const MAX_ROWS = 2000;

let source = null;
let retryTimer = null;
let lostAt = null;

function setConnection(kind, text) {
  document.body.dataset.connection = kind;
  $("connection").textContent = text;
}

function showBanner(text) {
  const banner = $("banner");
  banner.hidden = !text;
  banner.textContent = text || "";
}

function selectedFromHash() {
  const m = /^#fleet=(.+)$/.exec(location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

// Connecting.

async function start() {
  clearTimeout(retryTimer);
  let answer;
  try {
    answer = await fetch("/api/session", { credentials: "same-origin", cache: "no-store" });
  } catch (err) {
    hubGone();
    return;
  }
  if (answer.status === 401) {
    setConnection("error", "signed out");
    $("sign-in").hidden = false;
    $("main").hidden = true;
    return;
  }
  if (!answer.ok) {
    hubGone(`the console answered ${answer.status}`);
    return;
  }
  const session = await answer.json();
  $("user").textContent = session.user ? `signed in as ${session.user}` : "";
  $("sign-out").hidden = !session.auth;
  $("sign-in").hidden = true;
  $("main").hidden = false;
  openStream();
}

function hubGone(why) {
  if (source) { source.close(); source = null; }
  lostAt = lostAt || new Date();
  setConnection("error", "hub unreachable");
  showBanner(`The hub is unreachable since ${lostAt.toLocaleTimeString()}${why ? ` (${why})` : ""}: ` +
    "the figures below are what it last showed. Retrying…");
  retryTimer = setTimeout(start, 2000);
}

function openStream() {
  if (source) source.close();
  state.selected = selectedFromHash();
  state.servers = new Map();
  state.serversListed = false;
  state.events = [];
  const query = state.selected ? `?fleet=${encodeURIComponent(state.selected)}` : "";
  source = new EventSource(`/api/stream${query}`);
  source.onopen = () => {
    lostAt = null;
    setConnection("live", "live");
    showStatus();
  };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      hubGone();
      return;
    }
    lostAt = lostAt || new Date();
    setConnection("reconnecting", "reconnecting…");
    showBanner(`Lost the hub at ${lostAt.toLocaleTimeString()}: the figures below are what it last ` +
      "showed. Reconnecting…");
  };
  for (const [kind, apply] of Object.entries(handlers)) {
    source.addEventListener(kind, (e) => {
      // About the frame's size on the wire ("event: KIND\ndata: ...\n\n").
      window.gamefleet.streamBytes += e.data.length + kind.length + 16;
      apply(JSON.parse(e.data));
      schedule(kind);
    });
  }
  renderDetailFrame();
}

// Applying the stream.

const handlers = {
  status(data) { state.status = data; showStatus(); },
  clusters(data) {
    state.clusters = data;
    state.regions = new Map(data.map((c) => [c.name, c.region]));
  },
  fleets(data) {
    if (data.reset) state.fleets = new Map();
    for (const f of data.upsert) state.fleets.set(`${f.namespace}/${f.name}`, f);
    for (const [ns, name] of data.delete) state.fleets.delete(`${ns}/${name}`);
  },
  activity(data) { state.activity = data; },
  servers(data) {
    if (data.fleet.join("/") !== state.selected) return;
    if (data.reset) state.servers = new Map();
    for (const s of data.upsert) state.servers.set(`${s.cluster}/${s.name}`, s);
    for (const [cluster, name] of data.delete) state.servers.delete(`${cluster}/${name}`);
    state.serversListed = true;
  },
  events(data) {
    if (data.fleet.join("/") === state.selected) state.events = data.events;
  },
};

function showStatus() {
  const s = state.status;
  $("leader").textContent = s.leader ? `leader ${s.leader}` : "";
  if (document.body.dataset.connection !== "live") return;
  showBanner(s.ok ? "" : `The hub answers, with problems: ${s.problems.join("; ")}`);
}

// Rendering, at most once a frame per part.

const dirty = new Set();
let frameRequested = false;
const parts = {
  clusters: ["clusters", "fleets", "cards"],
  fleets: ["fleets", "rollouts", "cards"],
  activity: ["activity", "cards"],
  servers: ["servers"],
  events: ["events"],
  status: [],
};

function schedule(kind) {
  for (const part of parts[kind] || []) dirty.add(part);
  if (!frameRequested) {
    frameRequested = true;
    requestAnimationFrame(render);
  }
}

function render() {
  frameRequested = false;
  const todo = new Set(dirty);
  dirty.clear();
  if (todo.has("cards")) renderCards();
  if (todo.has("fleets")) renderFleets();
  if (todo.has("clusters")) renderClusters();
  if (todo.has("rollouts")) renderRollouts();
  if (todo.has("activity")) renderDecisions();
  if (todo.has("servers")) renderServers();
  if (todo.has("events")) renderEvents();
  window.gamefleet.renders += 1;
}

function renderCards() {
  const ready = state.clusters.filter((c) => c.phase === "Ready").length;
  $("card-clusters").textContent = `${ready} / ${state.clusters.length}`;
  $("card-fleets").textContent = num(state.fleets.size);
  let readyServers = 0, allocated = 0;
  for (const f of state.fleets.values()) { readyServers += f.counts.ready; allocated += f.counts.allocated; }
  $("card-ready").textContent = num(readyServers);
  $("card-allocated").textContent = num(allocated);
  $("card-rate").textContent = state.activity.allocationsPerSecond.toFixed(1);
}

function sortedFleets() {
  return [...state.fleets.entries()].sort((a, b) => collator.compare(a[0], b[0]));
}

function renderFleets() {
  const rows = [];
  for (const [key, f] of sortedFleets()) {
    const c = f.counts;
    rows.push(`<tr class="fleet" data-fleet="${esc(key)}"><td><a href="#fleet=${encodeURIComponent(key)}">${esc(key)}</a>` +
      `${f.deleting ? ' <span class="bad">deleting</span>' : ""}</td><td></td><td class="muted">${f.clusters.length} clusters</td>` +
      `<td class="n">${num(f.replicas)}</td><td class="n">${num(c.ready)}</td><td class="n">${num(c.allocated)}</td>` +
      `<td class="n">${num(c.updating)}</td><td class="n">${num(f.allocatable)}</td></tr>`);
    const clusters = [...f.clusters].sort((a, b) => collator.compare(
      `${state.regions.get(a.cluster) || ""}/${a.cluster}`, `${state.regions.get(b.cluster) || ""}/${b.cluster}`));
    for (const cl of clusters) {
      const k = cl.counts;
      const phase = cl.phase === "Ready" ? "" : ` <span class="bad">${esc(cl.phase)}</span>`;
      rows.push(`<tr data-fleet="${esc(key)}" data-cluster="${esc(cl.cluster)}"><td></td>` +
        `<td>${esc(state.regions.get(cl.cluster) || "—")}</td><td>${esc(cl.cluster)}${phase}</td>` +
        `<td class="n">${num(cl.desired)}</td><td class="n">${num(k.ready)}</td><td class="n">${num(k.allocated)}</td>` +
        `<td class="n">${num(k.updating)}</td><td class="n">${num(cl.allocatable)}</td></tr>`);
    }
  }
  $("fleets").tBodies[0].innerHTML = rows.join("") ||
    '<tr><td colspan="8" class="muted">No fleets.</td></tr>';
}

function age(seconds) {
  if (!seconds) return "never";
  const s = Math.max(0, Math.round(Date.now() / 1000 - seconds));
  if (s < 90) return `${s} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

function since(seconds) {
  return seconds ? age(seconds).replace(" ago", "") : "—";
}

function renderClusters() {
  const rows = state.clusters.map((c) => {
    const health = c.cordoned ? '<span class="warn">Cordoned</span>'
      : `<span class="${c.phase === "Ready" ? "good" : "bad"}">${esc(c.phase)}</span>`;
    const why = c.conditions.map((k) => `${k.type}: ${k.reason || k.message}`).join("; ");
    return `<tr data-cluster="${esc(c.name)}"><td>${esc(c.name)}</td><td>${esc(c.region || "—")}</td>` +
      `<td title="${esc(why)}">${health}</td><td data-heartbeat="${c.lastHeartbeat || ""}">${age(c.lastHeartbeat)}</td>` +
      `<td>${esc(c.agentVersion)}</td><td class="n">${num(c.nodes)}</td></tr>`;
  });
  $("clusters").tBodies[0].innerHTML = rows.join("") ||
    '<tr><td colspan="6" class="muted">No clusters registered.</td></tr>';
}

function renderRollouts() {
  const bars = [];
  for (const [key, f] of sortedFleets()) {
    const behind = f.clusters.filter((c) => c.observedGeneration < f.generation).map((c) => c.cluster);
    const total = f.counts.replicas;
    if (!behind.length && f.counts.updating === 0) continue;
    const done = total ? f.counts.updated / total : 0;
    const waiting = behind.length ? ` · generation ${f.generation} not yet applied in ${behind.join(", ")}` : "";
    bars.push(`<div data-rollout="${esc(key)}"><strong>${esc(key)}</strong> <span class="muted">` +
      `${num(f.counts.updated)} of ${num(total)} updated${esc(waiting)}</span>` +
      `<div class="bar"><div style="width:${(done * 100).toFixed(1)}%"></div><span>${Math.floor(done * 100)} %</span></div></div>`);
  }
  $("rollouts").innerHTML = bars.join("") || '<p class="muted">None.</p>';
}

function renderDecisions() {
  const rows = state.activity.decisions.map((d) =>
    `<tr><td>${new Date(d.time * 1000).toLocaleTimeString()}</td><td>${esc(d.namespace)}/${esc(d.autoscaler)}</td>` +
    `<td>${esc(d.fleet)}</td><td class="n">${num(d.from)} → ${num(d.to)}</td></tr>`);
  $("decisions").tBodies[0].innerHTML = rows.join("") ||
    '<tr><td colspan="4" class="muted">No decisions yet.</td></tr>';
}

function renderDetailFrame() {
  $("detail").hidden = !state.selected;
  $("detail-name").textContent = state.selected || "";
  $("servers").tBodies[0].innerHTML = '<tr><td colspan="8" class="muted">Loading…</td></tr>';
  $("events").innerHTML = "";
}

function serverRow(s) {
  const probes = s.probes.map((p) => `<span class="probe" title="${esc(p.status)}">${esc(p.name)}: ${esc(p.result || p.status || "–")}</span>`).join("");
  return `<tr data-server="${esc(s.cluster)}/${esc(s.name)}"><td>${esc(s.cluster)}</td><td>${esc(s.name)}</td>` +
    `<td><span class="state state-${esc(s.state)}">${esc(s.state)}</span></td>` +
    `<td class="ops-${esc(s.opsState)}">${esc(s.opsState)}</td><td>${esc(s.address)}</td><td>${probes}</td>` +
    `<td class="muted">${esc(s.node)}</td><td data-since="${s.since || ""}">${since(s.since)}</td></tr>`;
}

function renderServers() {
  if (!state.selected) return;
  const filter = $("filter").value.trim().toLowerCase();
  const servers = [...state.servers.values()].sort((a, b) =>
    collator.compare(`${a.cluster}/${a.name}`, `${b.cluster}/${b.name}`));
  const byState = new Map();
  for (const s of servers) byState.set(s.state, (byState.get(s.state) || 0) + 1);
  $("state-counts").textContent = `${num(servers.length)} servers` +
    [...byState.entries()].map(([k, v]) => ` · ${k} ${num(v)}`).join("");
  const shown = filter ? servers.filter((s) =>
    `${s.cluster} ${s.name} ${s.state} ${s.opsState} ${s.address} ${s.node}`.toLowerCase().includes(filter)) : servers;
  const body = $("servers").tBodies[0];
  if (!state.serversListed) return;
  const more = shown.length > MAX_ROWS ?
    `<tr><td colspan="8" class="muted">…and ${num(shown.length - MAX_ROWS)} more: filter to narrow.</td></tr>` : "";
  body.innerHTML = (shown.slice(0, MAX_ROWS).map(serverRow).join("") + more) ||
    '<tr><td colspan="8" class="muted">No game servers.</td></tr>';
  const timings = window.gamefleet;
  if (!timings.firstRender && servers.length) {
    timings.firstRender = { servers: servers.length, ms: performance.now() };
  }
  if (timings.serverRenders.length < 50) {
    // When the rows were in the DOM, and when the frame showing them had been painted.
    const entry = { servers: servers.length, dom: performance.now(), painted: null,
      streamBytes: timings.streamBytes };
    timings.serverRenders.push(entry);
    requestAnimationFrame(() => setTimeout(() => { entry.painted = performance.now(); }));
  }
}

function renderEvents() {
  $("events").innerHTML = state.events.map((e) =>
    `<li><span class="${e.type === "Warning" ? "warn" : ""}">${esc(e.reason)}</span> ${esc(e.message)}` +
    `${e.count > 1 ? ` <span class="muted">×${e.count}</span>` : ""}</li>`).join("") || '<li>None.</li>';
}

// Heartbeat ages move without any message.
setInterval(() => {
  for (const cell of document.querySelectorAll("td[data-heartbeat]")) {
    cell.textContent = age(Number(cell.dataset.heartbeat));
  }
  for (const cell of document.querySelectorAll("td[data-since]")) {
    cell.textContent = since(Number(cell.dataset.since));
  }
}, 1000);

window.addEventListener("hashchange", () => { if (document.body.dataset.connection !== "error") openStream(); });
$("detail-close").addEventListener("click", (e) => { e.preventDefault(); location.hash = ""; });
$("filter").addEventListener("input", () => schedule("servers"));
$("sign-in").addEventListener("submit", async (e) => {
  e.preventDefault();
  const answer = await fetch("/api/session", {
    method: "POST", credentials: "same-origin",
    headers: { Authorization: `Bearer ${$("token").value.trim()}` },
  });
  if (answer.ok) { $("sign-in-error").textContent = ""; $("token").value = ""; start(); return; }
  const body = await answer.json().catch(() => ({}));
  $("sign-in-error").textContent = body.error || `refused (${answer.status})`;
});
$("sign-out").addEventListener("click", async () => {
  if (source) { source.close(); source = null; }
  await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
  start();
});
start();
