// Starling dashboard: plain JavaScript, no framework and nothing fetched
// from elsewhere. It talks to the node's /api/v5 with the token from login.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { token: sessionStorage.getItem("token"), user: sessionStorage.getItem("user"),
  timer: null, rates: [], last: null, page: "overview" };

function esc(v) {
  return String(v ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;",
    '"': "&quot;", "'": "&#39;" }[c]));
}
function fmtDuration(ms) {
  let s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const h = Math.floor(s / 3600); s -= h * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}
function fmtBytes(b) {
  if (!b) return "-";
  const u = ["B", "KiB", "MiB", "GiB"]; let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return `${b.toFixed(i ? 1 : 0)} ${u[i]}`;
}
function pill(text, kind) { return `<span class="pill ${kind}">${esc(text)}</span>`; }
function toast(text, bad) {
  const t = $("#toast"); t.textContent = text; t.className = "toast" + (bad ? " bad" : "");
  t.hidden = false; clearTimeout(toast.timer); toast.timer = setTimeout(() => (t.hidden = true), 3500);
}
function confirmBox(text) {
  return new Promise((resolve) => {
    $("#modal-text").textContent = text; $("#modal").hidden = false;
    const done = (v) => { $("#modal").hidden = true; $("#modal-ok").onclick = $("#modal-cancel").onclick = null; resolve(v); };
    $("#modal-ok").onclick = () => done(true); $("#modal-cancel").onclick = () => done(false);
  });
}

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.token) headers.Authorization = "Bearer " + state.token;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
  if (r.status === 401 && path !== "/api/v5/login") { logout(); throw new Error("please sign in again"); }
  if (!r.ok) throw new Error((data && data.message) || `HTTP ${r.status}`);
  return data;
}

// -- login -------------------------------------------------------------------------
$("#login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#login-error").textContent = "";
  try {
    const r = await api("POST", "/api/v5/login",
      { username: $("#login-username").value, password: $("#login-password").value });
    state.token = r.token; state.user = r.username;
    sessionStorage.setItem("token", r.token); sessionStorage.setItem("user", r.username);
    if (r.must_change_password) {
      $("#login-form").hidden = true; $("#newpw-form").hidden = false;
      $("#newpw-old").value = $("#login-password").value;
    } else enterApp();
  } catch (err) { $("#login-error").textContent = err.message; }
});

$("#newpw-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("#newpw-error").textContent = "";
  if ($("#newpw-new").value !== $("#newpw-again").value) {
    $("#newpw-error").textContent = "the two new passwords differ"; return;
  }
  try {
    await api("POST", `/api/v5/users/${encodeURIComponent(state.user)}/change_pwd`,
      { old_pwd: $("#newpw-old").value, new_pwd: $("#newpw-new").value });
    const r = await api("POST", "/api/v5/login", { username: state.user, password: $("#newpw-new").value });
    state.token = r.token; sessionStorage.setItem("token", r.token);
    enterApp();
  } catch (err) { $("#newpw-error").textContent = err.message; }
});

function logout() {
  state.token = null; sessionStorage.clear(); clearInterval(state.timer);
  $("#app-view").hidden = true; $("#login-view").hidden = false;
  $("#login-form").hidden = false; $("#newpw-form").hidden = true; $("#login-password").value = "";
}
$("#logout").addEventListener("click", logout);

function enterApp() {
  $("#login-view").hidden = true; $("#app-view").hidden = false;
  $("#whoami").textContent = "signed in as " + state.user;
  route();
  clearInterval(state.timer);
  state.timer = setInterval(tick, 2000);
  tick();
}

// -- pages -------------------------------------------------------------------------
const titles = { overview: "Overview", clients: "Clients", subscriptions: "Subscriptions & topics",
  database: "Replicated database", alarms: "Alarms", cluster: "Cluster", config: "Configuration" };
const loaders = {};

function route() {
  const page = (location.hash || "#overview").slice(1);
  state.page = titles[page] ? page : "overview";
  for (const s of document.querySelectorAll(".page")) s.hidden = s.id !== "page-" + state.page;
  for (const a of document.querySelectorAll(".sidebar a")) a.classList.toggle("active", a.dataset.page === state.page);
  $("#page-title").textContent = titles[state.page];
  load(state.page);
}
window.addEventListener("hashchange", () => { if (state.token) route(); });

async function load(page) {
  try { await loaders[page](); } catch (err) { toast(err.message, true); }
}

// Polled every 2 s: the chart's rates always, the page's figures when live.
async function tick() {
  try {
    const m = await api("GET", "/api/v5/metrics");
    const now = Date.now();
    const total = (k) => m.reduce((s, n) => s + (n[k] || 0), 0);
    const cur = { t: now, in: total("messages.received"), out: total("messages.sent"), nodes: {} };
    for (const n of m) cur.nodes[n.node] = { in: n["messages.received"] || 0, out: n["messages.sent"] || 0 };
    if (state.last) {
      const dt = (now - state.last.t) / 1000;
      state.rates.push({ in: Math.max(0, (cur.in - state.last.in) / dt), out: Math.max(0, (cur.out - state.last.out) / dt) });
      if (state.rates.length > 90) state.rates.shift();
      state.nodeRates = {};
      for (const [k, v] of Object.entries(cur.nodes)) {
        const p = state.last.nodes[k];
        if (p) state.nodeRates[k] = { in: (v.in - p.in) / dt, out: (v.out - p.out) / dt };
      }
    }
    state.last = cur;
    drawChart();
    const a = await api("GET", "/api/v5/alarms");
    $("#alarm-badge").hidden = !a.data.length; $("#alarm-badge").textContent = a.data.length;
    if (state.page === "overview") await loaders.overview();
  } catch (err) { /* shown by the page loaders */ }
}

function drawChart() {
  const c = $("#rate-chart");
  if (!c || c.offsetParent === null) return;
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = 220;
  c.width = w * dpr; c.height = h * dpr;
  const g = c.getContext("2d"); g.scale(dpr, dpr); g.clearRect(0, 0, w, h);
  const pad = { l: 48, r: 12, t: 10, b: 22 };
  const data = state.rates, n = 90;
  // A round top: 4 grid steps of 1, 2, 2.5 or 5 times a power of ten.
  const max = Math.max(4, ...data.map((d) => Math.max(d.in, d.out)));
  const mag = Math.pow(10, Math.floor(Math.log10(max / 4)));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s * 4 >= max);
  const top = step * 4;
  g.font = "11px sans-serif"; g.fillStyle = "#6b7487"; g.strokeStyle = "#e3e7ef"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (h - pad.t - pad.b) * (i / 4);
    g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
    g.fillText(Math.round(top * (1 - i / 4)).toLocaleString(), 4, y + 4);
  }
  g.fillText("last 3 minutes, every 2 s", pad.l, h - 6);
  const x = (i) => pad.l + (w - pad.l - pad.r) * ((n - data.length + i) / (n - 1));
  const y = (v) => pad.t + (h - pad.t - pad.b) * (1 - v / top);
  // "in" last and dashed: with one subscriber per message both lines meet.
  for (const [key, color, dash] of [["out", "#1b9e5a", []], ["in", "#3559e0", [6, 4]]]) {
    if (data.length < 2) break;
    g.beginPath(); data.forEach((d, i) => (i ? g.lineTo(x(i), y(d[key])) : g.moveTo(x(i), y(d[key]))));
    g.setLineDash(dash); g.strokeStyle = color; g.lineWidth = 2; g.stroke(); g.setLineDash([]);
    g.lineTo(x(data.length - 1), y(0)); g.lineTo(x(0), y(0)); g.closePath();
    g.fillStyle = color + "18"; g.fill();
  }
}

// A table's rows are replaced only when they changed: a refresh that finds the same
// clients keeps the rows (and the row under the pointer) as they are.
const shownRows = new Map();
function rows(sel, html, cols) {
  html = html || `<tr><td class="empty" colspan="${cols}">nothing here yet</td></tr>`;
  if (shownRows.get(sel) !== html) { $(sel + " tbody").innerHTML = html; shownRows.set(sel, html); }
}

loaders.overview = async () => {
  const [nodes, stats] = await Promise.all([api("GET", "/api/v5/nodes"), api("GET", "/api/v5/stats?aggregate=true")]);
  const running = nodes.filter((n) => n.node_status === "running").length;
  const r = state.rates[state.rates.length - 1] || { in: 0, out: 0 };
  const card = (label, value) => `<div class="card"><div class="label">${esc(label)}</div><div class="value">${esc(value)}</div></div>`;
  $("#summary-cards").innerHTML = card("Nodes running", `${running} / ${nodes.length}`) +
    card("Connections", stats["connections.count"]) + card("Subscriptions", stats["subscriptions.count"]) +
    card("Topics", stats["topics.count"]) + card("Messages in/s", Math.round(r.in)) + card("Messages out/s", Math.round(r.out));
  const nr = state.nodeRates || {};
  rows("#nodes-table", nodes.map((n) => `<tr class="node-row" data-node="${esc(n.node)}"><td>${esc(n.node)}</td>
    <td>${pill(n.role, n.role === "core" ? "info" : "warn")}</td>
    <td>${pill(n.node_status, n.node_status === "running" ? "ok" : "bad")}</td>
    <td>${n.uptime !== undefined ? fmtDuration(n.uptime) : "-"}</td><td>${n.connections ?? "-"}</td>
    <td>${nr[n.node] ? Math.round(nr[n.node].in) : "-"}</td><td>${nr[n.node] ? Math.round(nr[n.node].out) : "-"}</td>
    <td>${fmtBytes(n.memory_used)}</td></tr>`).join(""), 8);
  $("#served-by").textContent = "served by " + (nodes[0] ? nodes[0].node : "");
  drawChart();
};

let searchTimer = null;
$("#clients-search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(loaders.clients, 250); });
$("#clients-state").addEventListener("change", () => loaders.clients());
$("#clients-refresh").addEventListener("click", () => loaders.clients());

loaders.clients = async () => {
  const q = new URLSearchParams({ limit: "100" });
  if ($("#clients-search").value) q.set("like_clientid", $("#clients-search").value);
  if ($("#clients-state").value) q.set("conn_state", $("#clients-state").value);
  const r = await api("GET", "/api/v5/clients?" + q);
  $("#clients-count").textContent = `${r.meta.count} clients`;
  rows("#clients-table", r.data.map((c) => `<tr class="client-row" data-client="${esc(c.clientid)}">
    <td><span class="clickable" data-detail="${esc(c.clientid)}">${esc(c.clientid)}</span></td><td>${esc(c.node)}</td>
    <td>${pill(c.conn_state, c.conn_state === "connected" ? "ok" : "warn")}</td><td>${esc(c.username ?? "")}</td>
    <td>MQTT ${c.proto_ver === 5 ? "5.0" : c.proto_ver === 4 ? "3.1.1" : "3.1"}</td><td>${c.subscriptions_cnt ?? 0}</td>
    <td>${c.mqueue_len ?? 0}</td><td><button class="small danger kick-btn" data-client="${esc(c.clientid)}">Kick</button></td></tr>`).join(""), 8);
};

$("#clients-table").addEventListener("click", async (e) => {
  const kick = e.target.closest(".kick-btn"), detail = e.target.closest("[data-detail]");
  if (kick) {
    const id = kick.dataset.client;
    if (!(await confirmBox(`Kick client ${id}? Its connection is closed and its session discarded.`))) return;
    try { await api("DELETE", "/api/v5/clients/" + encodeURIComponent(id)); toast(`client ${id} kicked`); }
    catch (err) { toast(err.message, true); }
    loaders.clients();
  } else if (detail) {
    const c = await api("GET", "/api/v5/clients/" + encodeURIComponent(detail.dataset.detail));
    $("#client-detail").hidden = false; $("#client-detail-id").textContent = c.clientid;
    $("#client-detail-list").innerHTML = Object.entries(c).map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v)}</dd>`).join("");
  }
});

loaders.subscriptions = async () => {
  const [subs, topics] = await Promise.all([api("GET", "/api/v5/subscriptions?limit=1000"), api("GET", "/api/v5/topics?limit=1000")]);
  rows("#subs-table", subs.data.map((s) => `<tr><td>${esc(s.clientid)}</td><td>${esc(s.topic)}</td><td>${s.qos}</td>
    <td>${esc(s.node)}</td><td>${s.nl ? "no local " : ""}${s.rap ? "retain as published " : ""}rh ${s.rh}</td></tr>`).join(""), 5);
  rows("#topics-table", topics.data.map((t) => `<tr><td>${esc(t.topic)}</td><td>${esc(t.nodes.join(", "))}</td>
    <td>${t.shared ? pill("shared", "info") : t.wildcard ? pill("wildcard", "warn") : pill("exact", "ok")}</td></tr>`).join(""), 3);
};

loaders.database = async () => {
  const all = await api("GET", "/api/v5/mria/status");
  $("#db-panels").innerHTML = all.map((n) => `<div class="panel"><h2>${esc(n.node)} ${pill(n.role || "?", n.role === "core" ? "info" : "warn")}</h2>
    ${n.error ? `<p class="error">${esc(n.error)}</p>` : `<table class="db-table"><thead><tr><th>Shard</th><th>State</th><th>Upstream</th>
    <th>Seqno</th><th>Lag</th><th>Records</th><th>Checksum</th></tr></thead><tbody>${(n.shards || []).map((s) => `<tr>
    <td>${esc(s.shard)}</td><td>${s.leading ? pill("leader", "info") : pill(s.state, s.state === "normal" ? "ok" : "warn")}</td>
    <td>${esc(s.upstream || "-")}</td><td>${s.seqno ?? "-"}</td><td>${s.lag ?? "-"}</td><td>${s.records ?? "-"}</td>
    <td><code>${esc(s.checksum)}</code></td></tr>`).join("")}</tbody></table>`}</div>`).join("");
};

loaders.alarms = async () => {
  const a = await api("GET", "/api/v5/alarms");
  rows("#alarms-table", a.data.map((x) => `<tr><td>${pill(x.name, "bad")}</td><td>${esc(x.node)}</td>
    <td>${esc(x.message)}</td><td>${fmtDuration((x.duration_s || 0) * 1000)}</td></tr>`).join(""), 4);
  const h = a.last_heal, ah = a.autoheal || {};
  const items = [["autoheal", ah.enabled ? "on" : "off"], ["leader", ah.leader], ["phase", ah.phase]];
  if (h) items.push(["last heal", `round ${h.round}: ${h.outcome}`], ["winner", (h.winner || []).join(", ")],
    ["losers", (h.losers || []).join(", ")], ["discarded transactions", h.discarded], ["ago", fmtDuration(h.ago_s * 1000)]);
  else items.push(["last heal", "none since the nodes started"]);
  $("#heal-list").innerHTML = items.map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v ?? "-")}</dd>`).join("");
};

loaders.cluster = async () => {
  const c = await api("GET", "/api/v5/cluster");
  rows("#members-table", c.members.map((m) => `<tr><td>${esc(m.node)}</td><td>${esc(m.role)}</td>
    <td>${pill(m.status, m.status === "up" ? "ok" : "bad")}</td><td>${esc(m.address)}</td><td>${fmtDuration(m.uptime_s * 1000)}</td>
    <td>${m.node === c.self ? '<span class="muted">this node</span>' : `<button class="small danger leave-btn" data-node="${esc(m.node)}">Force leave</button>`}</td></tr>`).join(""), 6);
};

$("#members-table").addEventListener("click", async (e) => {
  const b = e.target.closest(".leave-btn");
  if (!b || !(await confirmBox(`Remove ${b.dataset.node} from the cluster?`))) return;
  try { await api("DELETE", `/api/v5/cluster/${encodeURIComponent(b.dataset.node)}/force_leave`); toast(`${b.dataset.node} removed`); }
  catch (err) { toast(err.message, true); }
  loaders.cluster();
});

$("#invite-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const node = $("#invite-node").value.trim();
  try { const r = await api("POST", `/api/v5/cluster/${encodeURIComponent(node)}/invite`, {}); toast(r.message); }
  catch (err) { toast(err.message, true); }
  loaders.cluster();
});

loaders.config = async () => {
  const all = await api("GET", "/api/v5/configs");
  const sections = {};
  for (const k of all) (sections[k.key.split(".")[0]] ||= []).push(k);
  $("#config-form").innerHTML = Object.entries(sections).map(([s, keys]) => `<fieldset><legend>${esc(s)}</legend>
    ${keys.map((k) => `<div class="config-row${k.online ? "" : " fixed"}"><label class="key" for="cfg-${esc(k.key)}">${esc(k.key)}</label>
    <input id="cfg-${esc(k.key)}" data-key="${esc(k.key)}" data-orig="${esc(k.value)}" value="${esc(k.value)}" ${k.online ? "" : "disabled"}>
    <span class="muted">${esc(k.help)} <em>(${esc(k.source)})</em></span></div>`).join("")}</fieldset>`).join("") +
    `<div class="config-actions"><button class="primary" id="config-save" type="submit">Save changes</button>
     <span id="config-status" class="muted"></span></div>`;
};

$("#config-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const bySection = {};
  for (const i of document.querySelectorAll("#config-form input[data-key]:not([disabled])")) {
    if (i.value === i.dataset.orig) continue;
    const [s, ...rest] = i.dataset.key.split(".");
    (bySection[s] ||= {})[rest.join(".")] = i.value;
  }
  if (!Object.keys(bySection).length) { $("#config-status").textContent = "nothing changed"; return; }
  try {
    for (const [s, body] of Object.entries(bySection)) await api("PUT", "/api/v5/configs/" + s, body);
    toast("saved: applied on every node"); await loaders.config();
  } catch (err) { $("#config-status").textContent = err.message; toast(err.message, true); }
});

window.addEventListener("resize", drawChart);
if (state.token) enterApp(); else { $("#login-view").hidden = false; }
