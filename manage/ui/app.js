// Warren's management UI: plain JavaScript, no framework, no build step.
// Every value from the server is inserted as text (textContent, never
// innerHTML), so a hostile name shows as itself.
"use strict";

const POLL_MS = 5000;
const state = { me: null, csrf: "", timer: null, view: null };

// ---- DOM helpers -------------------------------------------------------

// el builds an element: attrs sets properties (text via textContent),
// children are nodes or strings (inserted as text nodes).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") e.textContent = String(v);
    else if (k === "class") e.className = v;
    else if (k === "data") for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = dv;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e[k] = v;
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const $ = (id) => document.getElementById(id);

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function showError(msg) {
  const e = $("error");
  e.textContent = msg;
  e.hidden = !msg;
}

function showNotice(msg) {
  const n = $("notice");
  n.textContent = msg;
  n.hidden = !msg;
  if (msg) setTimeout(() => { if (n.textContent === msg) n.hidden = true; }, 4000);
}

function fmtNum(n) { return typeof n === "number" ? n.toLocaleString("en-US") : String(n); }
function fmtRate(r) { return (Math.round(r * 10) / 10).toFixed(1) + "/s"; }
function fmtBytes(n) {
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}
const enc = encodeURIComponent;

function isAdmin() { return state.me && state.me.tags.includes("administrator"); }
function isMonitoringOnly() {
  return state.me && state.me.tags.includes("monitoring") && !isAdmin();
}

// ---- API ---------------------------------------------------------------

class APIError extends Error {
  constructor(status, reason) { super(reason); this.status = status; }
}

async function api(method, path, body) {
  const opts = { method, headers: { "X-Warren-UI": "1" }, credentials: "same-origin" };
  if (method !== "GET") opts.headers["X-CSRF-Token"] = state.csrf;
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  if (resp.status === 204 || resp.status === 201) return null;
  let data = null;
  const text = await resp.text();
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { reason: text }; }
  if (!resp.ok) {
    const reason = (data && data.reason) || resp.statusText;
    if (resp.status === 401 && path !== "/api/login") { showLogin(reason); }
    throw new APIError(resp.status, reason);
  }
  return data;
}

// run calls f and shows its error (the server's own text, as the CLI shows).
async function run(f) {
  try {
    showError("");
    await f();
  } catch (e) {
    if (!(e instanceof APIError && e.status === 401)) showError(e.message || String(e));
  }
}

function confirmThen(text, f) {
  $("confirm-text").textContent = text;
  $("confirm").hidden = false;
  $("confirm-yes").onclick = () => { $("confirm").hidden = true; run(f); };
  $("confirm-no").onclick = () => { $("confirm").hidden = true; };
}

// ---- login -------------------------------------------------------------

function showLogin(msg) {
  stopPolling();
  showNotice("");
  showError("");
  state.me = null;
  $("nav").hidden = true;
  $("logout").hidden = true;
  $("whoami").textContent = "";
  clear($("view"));
  $("login").hidden = false;
  $("login-error").textContent = msg || "";
}

async function afterLogin(me) {
  state.me = me;
  state.csrf = me.csrf_token || "";
  $("login").hidden = true;
  $("login-error").textContent = "";
  $("nav").hidden = false;
  $("logout").hidden = !me.auth_enabled;
  $("nav-admin").hidden = !isAdmin();
  $("whoami").textContent = me.auth_enabled ? "User: " + me.name + (me.tags.length ? " (" + me.tags.join(", ") + ")" : "") : "authentication off";
  if (!location.hash || location.hash === "#/") location.hash = "#/overview";
  else route();
}

async function start() {
  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const me = await api("POST", "/api/login", { username: $("login-user").value, password: $("login-password").value });
      $("login-password").value = "";
      showError("");
      await afterLogin(me);
    } catch (e) {
      $("login-error").textContent = e.message;
    }
  });
  $("logout").addEventListener("click", () => run(async () => {
    await api("POST", "/api/logout");
    showLogin("Logged out.");
  }));
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => { if (!document.hidden && state.view) run(() => state.view.refresh()); });
  try {
    const me = await api("GET", "/api/whoami");
    if (!me.csrf_token && me.auth_enabled) { showLogin(""); return; }
    await afterLogin(me);
  } catch (e) {
    // Not logged in yet: the form, without the server's complaint.
    showLogin(e instanceof APIError && e.status === 401 ? "" : e.message);
  }
}

// ---- routing and polling -----------------------------------------------

function stopPolling() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

// route renders the view the hash names and polls it every POLL_MS.
function route() {
  if (!state.me) return;
  stopPolling();
  showError("");
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const views = { overview: overviewView, queues: queuesView, queue: queueView, exchanges: exchangesView, exchange: exchangeView, connections: connectionsView, admin: adminView };
  const make = views[parts[0]] || overviewView;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.id === "nav-" + (parts[0] === "queue" ? "queues" : parts[0] === "exchange" ? "exchanges" : parts[0]));
  const root = $("view");
  clear(root);
  const view = make(root, parts.slice(1));
  state.view = view;
  const tick = () => run(() => view.refresh());
  tick();
  // A tab in the background does not poll; it refreshes when shown again.
  if (view.poll !== false) state.timer = setInterval(() => { if (state.view === view && !document.hidden) tick(); }, POLL_MS);
}

// ---- tables --------------------------------------------------------------

// table renders rows into a table with headers; cols are {title, get(row) → string|Node, num, sort}.
function renderTable(table, cols, rows, sortState, onSort) {
  clear(table);
  const head = el("tr");
  for (const c of cols) {
    const th = el("th", { text: c.title, class: (c.num ? "num " : "") + (c.sort ? "sortable" : "") });
    if (c.sort && sortState) {
      if (sortState.sort === c.sort) th.classList.add(sortState.reverse ? "sorted-desc" : "sorted-asc");
      th.addEventListener("click", () => onSort(c.sort));
    }
    head.append(th);
  }
  table.append(el("thead", {}, head));
  const body = el("tbody");
  for (const r of rows) {
    const tr = el("tr");
    for (const c of cols) {
      const v = c.get(r);
      tr.append(el("td", { class: (c.num ? "num " : "") + (c.cls || "") }, v));
    }
    if (rows.key) tr.dataset.key = rows.key(r);
    body.append(tr);
  }
  if (!rows.length) body.append(el("tr", {}, el("td", { colSpan: cols.length, class: "muted", text: "None." })));
  table.append(body);
}

function link(text, hash) { return el("a", { href: hash, text }); }

function argsText(a) {
  const keys = Object.keys(a || {});
  return keys.length ? keys.map((k) => k + "=" + JSON.stringify(a[k])).join(", ") : "";
}

// pager builds page controls for a paged list and returns a function to update them.
function pager(listState, reload) {
  const info = el("span", { class: "muted" });
  const prev = el("button", { type: "button", text: "‹ Prev", onclick: () => { listState.page--; reload(); } });
  const next = el("button", { type: "button", text: "Next ›", onclick: () => { listState.page++; reload(); } });
  const size = el("select", { onchange: () => { listState.pageSize = +size.value; listState.page = 1; reload(); } });
  for (const n of [20, 100, 500]) size.append(el("option", { value: n, text: n + " per page", selected: n === listState.pageSize }));
  const box = el("div", { class: "pager" }, prev, info, next, size);
  box.update = (p) => {
    info.textContent = "Page " + p.page + " of " + Math.max(p.page_count, 1) + " · " + fmtNum(p.filtered_count) + " shown of " + fmtNum(p.total_count);
    prev.disabled = p.page <= 1;
    next.disabled = p.page >= p.page_count;
  };
  return box;
}

function listQuery(ls) {
  const q = new URLSearchParams({ page: ls.page, page_size: ls.pageSize, sort: ls.sort, sort_reverse: ls.reverse });
  if (ls.filter) q.set("name", ls.filter);
  return q.toString();
}

// ---- chart ---------------------------------------------------------------

const SERIES = [["publish", "#1f77b4"], ["deliver", "#2ca02c"], ["ack", "#ff7f0e"], ["redeliver", "#d62728"]];

// drawChart plots samples ({t, publish, deliver, ack, redeliver}) as lines on a canvas.
function drawChart(canvas, samples, spanMs) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, padL = 48, padB = 20, padT = 8;
  ctx.clearRect(0, 0, w, h);
  const now = samples.length ? samples[samples.length - 1].t : Date.now();
  let max = 1;
  for (const s of samples) for (const [k] of SERIES) if (s[k] !== undefined) max = Math.max(max, s[k]);
  max = niceMax(max);
  ctx.strokeStyle = "#e2e5ea";
  ctx.fillStyle = "#5b6578";
  ctx.font = "11px system-ui, sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = padT + (h - padT - padB) * (1 - i / 4);
    ctx.beginPath(); ctx.moveTo(padL, y); ctx.lineTo(w, y); ctx.stroke();
    ctx.fillText(String(Math.round(max * i / 4 * 10) / 10) + "/s", 2, y + 4);
  }
  ctx.fillText("-" + Math.round(spanMs / 60000) + " min", padL, h - 4);
  ctx.fillText("now", w - 24, h - 4);
  const x = (t) => padL + (w - padL) * (1 - (now - t) / spanMs);
  const y = (v) => padT + (h - padT - padB) * (1 - v / max);
  for (const [k, color] of SERIES) {
    const pts = samples.filter((s) => s[k] !== undefined && now - s.t <= spanMs);
    if (!pts.length) continue;
    ctx.strokeStyle = color; ctx.lineWidth = 2;
    ctx.beginPath();
    pts.forEach((s, i) => (i ? ctx.lineTo(x(s.t), y(s[k])) : ctx.moveTo(x(s.t), y(s[k]))));
    ctx.stroke();
  }
  ctx.lineWidth = 1;
}

function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function chartBox(keys) {
  const canvas = el("canvas", { width: 640, height: 180, id: "rates-chart" });
  const legend = el("div", { class: "legend" });
  for (const [k] of SERIES.filter(([k]) => keys.includes(k))) legend.append(el("span", {}, el("span", { class: "swatch sw-" + k }), k));
  return { node: el("div", {}, canvas, legend), canvas };
}

// ---- overview ------------------------------------------------------------

function overviewView(root) {
  const cards = el("div", { class: "cards", id: "totals" });
  const chart = chartBox(["publish", "deliver", "ack", "redeliver"]);
  const alarms = el("div", { id: "alarms", class: "cards" });
  const members = el("table", { id: "members-table" });
  const groups = el("table", { id: "groups-table" });
  root.append(el("h1", { text: "Overview" }), cards,
    el("h2", { text: "Message rates on this node, last 10 minutes" }), chart.node,
    el("h2", { text: "Alarms" }), alarms,
    el("h2", { text: "Members" }), members,
    el("h2", { text: "Raft groups" }), groups);
  const card = (label, value, id) => el("div", { class: "card" }, el("div", { class: "label", text: label }), el("div", { class: "value", text: value, id }));
  return {
    async refresh() {
      const o = await api("GET", "/api/overview");
      clear(cards);
      cards.append(card("Queues", fmtNum(o.object_totals.queues), "total-queues"), card("Exchanges", fmtNum(o.object_totals.exchanges)),
        card("Consumers", fmtNum(o.object_totals.consumers)), card("Sessions here", fmtNum(o.object_totals.sessions)),
        card("Ready", fmtNum(o.queue_totals.messages_ready), "total-ready"), card("Unacked", fmtNum(o.queue_totals.messages_unacknowledged)),
        card("Published (node)", fmtNum(o.message_totals.publish)), card("Node", o.node), card("Version", o.warren_version));
      drawChart(chart.canvas, o.rates_history, 10 * 60 * 1000);
      clear(alarms);
      const a = o.alarms;
      alarms.append(
        el("div", { class: "card" }, el("div", { class: "label", text: "Memory" }),
          el("div", { class: a.memory_alarm ? "alarm-on" : "alarm-off", text: a.memory_alarm ? "ALARM" : "ok" }),
          el("div", { class: "muted", text: a.memory_high_watermark ? fmtBytes(a.heap_bytes) + " of " + fmtBytes(a.memory_high_watermark) : "watermark off" })),
        el("div", { class: "card" }, el("div", { class: "label", text: "Disk" }),
          el("div", { class: a.disk_alarm ? "alarm-on" : "alarm-off", text: a.disk_alarm ? "ALARM" : "ok" }),
          el("div", { class: "muted", text: a.disk_free_limit ? fmtBytes(a.disk_free_bytes) + " free, limit " + fmtBytes(a.disk_free_limit) : "watermark off" })));
      const groupNames = o.groups.map((g) => g.name);
      renderTable(members, [
        { title: "Node", get: (m) => m.name }, { title: "Zone", get: (m) => m.zone || "—" },
        { title: "State", get: (m) => m.state }, { title: "Version", get: (m) => m.version || "—" },
        { title: "Roles", get: (m) => groupNames.map((g) => g + ": " + (m.roles[g] || "—")).join(", ") },
      ], o.members);
      renderTable(groups, [
        { title: "Group", get: (g) => g.name }, { title: "Leader", get: (g) => g.leader || "none" },
        { title: "Term", get: (g) => fmtNum(g.term), num: true }, { title: "Commit index", get: (g) => fmtNum(g.commit_index), num: true },
        { title: "Peers (lag)", get: (g) => g.peers.map((p) => p.id + " " + p.suffrage + " (" + (p.lag < 0 ? "?" : p.lag) + ")").join(", ") },
      ], o.groups);
    },
  };
}

// ---- queues ----------------------------------------------------------------

function queuesView(root) {
  const ls = { page: 1, pageSize: 100, sort: "name", reverse: false, filter: "" };
  const table = el("table", { id: "queues-table" });
  const filter = el("input", { id: "queue-filter", placeholder: "Filter by name", type: "search" });
  let debounce = null;
  filter.addEventListener("input", () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => { ls.filter = filter.value; ls.page = 1; run(view.refresh); }, 250);
  });
  const pg = pager(ls, () => run(view.refresh));
  root.append(el("h1", { text: "Queues" }));
  if (!isMonitoringOnly()) {
    const name = el("input", { id: "new-queue-name", required: true, placeholder: "name" });
    const vhost = el("input", { id: "new-queue-vhost", value: "/" });
    const args = el("input", { id: "new-queue-args", placeholder: '{"x-max-length": 1000}' });
    const form = el("form", { class: "inline", id: "new-queue" },
      el("label", {}, "Virtual host", vhost), el("label", {}, "Name", name), el("label", {}, "Arguments (JSON)", args),
      el("button", { type: "submit", id: "new-queue-submit", text: "Add queue" }));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      run(async () => {
        const body = {};
        if (args.value.trim()) {
          try { body.arguments = JSON.parse(args.value); } catch (e) { throw new Error("arguments: not JSON: " + e.message); }
        }
        await api("PUT", "/api/queues/" + enc(vhost.value) + "/" + enc(name.value), body);
        showNotice("Queue " + name.value + " declared.");
        name.value = "";
        await view.refresh();
      });
    });
    root.append(form);
  } else {
    root.append(el("p", { class: "readonly-note", text: "Read-only view (monitoring)." }));
  }
  root.append(el("div", { class: "pager" }, filter), pg, table);
  const cols = [
    { title: "Virtual host", get: (q) => q.vhost, sort: "vhost" },
    { title: "Name", get: (q) => link(q.name, "#/queue/" + enc(q.vhost) + "/" + enc(q.name)), sort: "name", cls: "qname" },
    { title: "Arguments", get: (q) => argsText(q.arguments) },
    { title: "Ready", get: (q) => fmtNum(q.messages_ready), num: true, sort: "messages_ready", cls: "ready" },
    { title: "Unacked", get: (q) => fmtNum(q.messages_unacknowledged), num: true, sort: "messages_unacknowledged" },
    { title: "Consumers", get: (q) => fmtNum(q.consumers), num: true, sort: "consumers" },
    { title: "Publish", get: (q) => q.message_stats.rates_known ? fmtRate(q.message_stats.publish_details.rate) : "?", num: true, sort: "message_stats.publish_details.rate" },
    { title: "Deliver", get: (q) => q.message_stats.rates_known ? fmtRate(q.message_stats.deliver_get_details.rate) : "?", num: true, sort: "message_stats.deliver_get_details.rate" },
    { title: "Ack", get: (q) => q.message_stats.rates_known ? fmtRate(q.message_stats.ack_details.rate) : "?", num: true, sort: "message_stats.ack_details.rate" },
  ];
  const view = {
    async refresh() {
      const p = await api("GET", "/api/queues?" + listQuery(ls));
      p.items.key = (q) => q.vhost + "\u0000" + q.name;
      renderTable(table, cols, p.items, ls, (s) => {
        if (ls.sort === s) ls.reverse = !ls.reverse; else { ls.sort = s; ls.reverse = s !== "name" && s !== "vhost"; }
        run(view.refresh);
      });
      pg.update(p);
    },
  };
  return view;
}

function queueView(root, [vhost, name]) {
  const path = "/api/queues/" + enc(vhost) + "/" + enc(name);
  const title = el("h1", { id: "queue-title" }, "Queue ", el("span", { id: "queue-name", text: name }), el("span", { class: "muted", text: " in " + vhost }));
  const info = el("table", { id: "queue-info" });
  const chart = chartBox(["publish", "deliver", "ack"]);
  const samples = [];
  const bindings = el("table", { id: "queue-bindings" });
  const consumers = el("table", { id: "queue-consumers" });
  const consumersNote = el("p", { class: "muted" });
  root.append(title, info, el("h2", { text: "Rates (since this page opened)" }), chart.node, el("h2", { text: "Consumers" }), consumers, consumersNote,
    el("h2", { text: "Bindings" }), bindings);
  if (!isMonitoringOnly()) {
    const count = el("input", { id: "get-count", type: "number", value: 1, min: 1, max: 1000 });
    const mode = el("select", { id: "get-ackmode" },
      el("option", { value: "ack_requeue_true", text: "Nack, requeue" }),
      el("option", { value: "ack_requeue_false", text: "Ack (remove)" }),
      el("option", { value: "reject_requeue_true", text: "Reject, requeue" }),
      el("option", { value: "reject_requeue_false", text: "Reject, no requeue (dead-letter)" }));
    const results = el("div", { id: "get-results" });
    const getForm = el("form", { class: "inline" }, el("label", {}, "Messages", count), el("label", {}, "Then", mode),
      el("button", { type: "submit", id: "get-button", text: "Get messages" }));
    getForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      run(async () => {
        const msgs = await api("POST", path + "/get", { count: +count.value, ackmode: mode.value, encoding: "auto", truncate: 50000 });
        clear(results);
        if (!msgs.length) results.append(el("p", { class: "muted", text: "Queue is empty." }));
        msgs.forEach((m, i) => {
          const t = el("table", { class: "message" });
          const row = (k, v) => t.append(el("tr", {}, el("th", { text: k }), el("td", {}, v)));
          row("Message", String(i + 1));
          row("Exchange", m.exchange || "(default)");
          row("Routing key", m.routing_key);
          row("Redelivered", String(m.redelivered));
          row("Properties", JSON.stringify(m.properties));
          row("Payload (" + m.payload_bytes + " bytes, " + m.payload_encoding + ")", el("pre", { class: "payload", text: m.payload }));
          results.append(t);
        });
        await view.refresh();
      });
    });
    const pubKey = el("input", { id: "queue-publish-key", value: name });
    const pubBody = el("textarea", { id: "queue-publish-payload" });
    const pubForm = el("form", { class: "inline" }, el("label", {}, "Routing key (default exchange)", pubKey), el("label", {}, "Payload", pubBody),
      el("button", { type: "submit", id: "queue-publish-submit", text: "Publish" }));
    pubForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      run(async () => {
        const r = await api("POST", "/api/exchanges/" + enc(vhost) + "/amq.default/publish", { routing_key: pubKey.value, payload: pubBody.value, payload_encoding: "string", properties: {} });
        showNotice(r.routed ? "Message published." : "Message published but routed to no queue.");
        await view.refresh();
      });
    });
    const purge = el("button", { type: "button", id: "purge-button", class: "danger", text: "Purge messages" });
    purge.addEventListener("click", () => confirmThen("Purge every ready message of queue " + name + "?", async () => {
      await api("DELETE", path + "/contents");
      showNotice("Queue " + name + " purged.");
      await view.refresh();
    }));
    const del = el("button", { type: "button", id: "delete-button", class: "danger", text: "Delete queue" });
    del.addEventListener("click", () => confirmThen("Delete queue " + name + " and its messages?", async () => {
      await api("DELETE", path);
      showNotice("Queue " + name + " deleted.");
      location.hash = "#/queues";
    }));
    root.append(el("h2", { text: "Get messages" }), getForm, results, el("h2", { text: "Publish message" }), pubForm,
      el("h2", { text: "Purge or delete" }), el("div", { class: "pager" }, purge, del));
  }
  const view = {
    async refresh() {
      const q = await api("GET", path);
      const rows = [["Ready", fmtNum(q.messages_ready), "queue-ready"], ["Unacked", fmtNum(q.messages_unacknowledged)], ["Ready bytes", fmtBytes(q.message_bytes_ready)],
        ["Consumers", fmtNum(q.consumers)], ["Single active consumer", q.single_active_consumer_tag || "—"],
        ["Auto-delete", String(q.auto_delete)], ["Exclusive", String(q.exclusive)], ["Arguments", argsText(q.arguments) || "—"], ["Group", "q" + q.group],
        ["Rates (5 s)", q.message_stats.rates_known ? "publish " + fmtRate(q.message_stats.publish_details.rate) + ", deliver " + fmtRate(q.message_stats.deliver_get_details.rate) + ", ack " + fmtRate(q.message_stats.ack_details.rate) : "unknown (leader did not answer)"]];
      clear(info);
      for (const [k, v, id] of rows) info.append(el("tr", {}, el("th", { text: k }), el("td", { text: v, id })));
      if (q.message_stats.rates_known) {
        samples.push({ t: Date.now(), publish: q.message_stats.publish_details.rate, deliver: q.message_stats.deliver_get_details.rate, ack: q.message_stats.ack_details.rate });
        while (samples.length > 120) samples.shift();
      }
      drawChart(chart.canvas, samples, 10 * 60 * 1000);
      renderTable(consumers, [{ title: "Consumer tag", get: (c) => c.consumer_tag }, { title: "Session", get: (c) => c.session },
        { title: "Prefetch", get: (c) => c.prefetch_count ? fmtNum(c.prefetch_count) : "unlimited", num: true },
        { title: "Ack", get: (c) => c.ack_required ? "manual" : "auto" }, { title: "Unacked", get: (c) => fmtNum(c.messages_unacknowledged), num: true },
        { title: "Active", get: (c) => c.active ? "yes" : "waiting" }], q.consumer_details || []);
      consumersNote.textContent = q.consumer_details_truncated ? "Only the first " + q.consumer_details.length + " consumers are shown." : "";
      const b = await api("GET", path + "/bindings?page_size=500");
      renderTable(bindings, [{ title: "From exchange", get: (x) => x.source || "(default)" }, { title: "Routing key", get: (x) => x.routing_key }, { title: "Arguments", get: (x) => argsText(x.arguments) }], b.items);
    },
  };
  return view;
}

// ---- exchanges -------------------------------------------------------------

function exchangesView(root) {
  const ls = { page: 1, pageSize: 100, sort: "name", reverse: false, filter: "" };
  const table = el("table", { id: "exchanges-table" });
  const pg = pager(ls, () => run(view.refresh));
  root.append(el("h1", { text: "Exchanges" }));
  if (!isMonitoringOnly()) {
    const vhost = el("input", { id: "new-exchange-vhost", value: "/" });
    const name = el("input", { id: "new-exchange-name", required: true });
    const type = el("select", { id: "new-exchange-type" });
    for (const t of ["direct", "fanout", "topic", "headers"]) type.append(el("option", { value: t, text: t }));
    const form = el("form", { class: "inline" }, el("label", {}, "Virtual host", vhost), el("label", {}, "Name", name), el("label", {}, "Type", type),
      el("button", { type: "submit", id: "new-exchange-submit", text: "Add exchange" }));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      run(async () => {
        await api("PUT", "/api/exchanges/" + enc(vhost.value) + "/" + enc(name.value), { type: type.value });
        showNotice("Exchange " + name.value + " declared.");
        await view.refresh();
      });
    });
    root.append(form);
  }
  root.append(pg, table);
  const view = {
    async refresh() {
      const p = await api("GET", "/api/exchanges?" + listQuery(ls));
      renderTable(table, [
        { title: "Virtual host", get: (x) => x.vhost, sort: "vhost" },
        { title: "Name", get: (x) => link(x.name || "(AMQP default)", "#/exchange/" + enc(x.vhost) + "/" + enc(x.name || "amq.default")), sort: "name" },
        { title: "Type", get: (x) => x.type, sort: "type" },
        { title: "Features", get: (x) => [x.auto_delete ? "auto-delete" : "", x.internal ? "internal" : "", argsText(x.arguments)].filter(Boolean).join(", ") },
      ], p.items, ls, (s) => { if (ls.sort === s) ls.reverse = !ls.reverse; else { ls.sort = s; ls.reverse = false; } run(view.refresh); });
      pg.update(p);
    },
  };
  return view;
}

function exchangeView(root, [vhost, name]) {
  const path = "/api/exchanges/" + enc(vhost) + "/" + enc(name);
  const info = el("table", { id: "exchange-info" });
  const bindings = el("table", { id: "exchange-bindings" });
  root.append(el("h1", {}, "Exchange ", el("span", { id: "exchange-name", text: name }), el("span", { class: "muted", text: " in " + vhost })), info,
    el("h2", { text: "Bindings from this exchange" }), bindings);
  if (!isMonitoringOnly()) {
    const key = el("input", { id: "publish-key" });
    const payload = el("textarea", { id: "publish-payload" });
    const ctype = el("input", { id: "publish-content-type", placeholder: "text/plain" });
    const result = el("p", { id: "publish-result" });
    const form = el("form", { class: "inline", id: "publish-form" }, el("label", {}, "Routing key", key), el("label", {}, "Content type", ctype),
      el("label", {}, "Payload", payload), el("button", { type: "submit", id: "publish-submit", text: "Publish message" }));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      run(async () => {
        const props = ctype.value ? { content_type: ctype.value } : {};
        const r = await api("POST", path + "/publish", { routing_key: key.value, payload: payload.value, payload_encoding: "string", properties: props });
        result.textContent = r.routed ? "Message published." : "Message published, but it was routed to no queue.";
      });
    });
    const bq = el("input", { id: "bind-queue", placeholder: "queue" });
    const bk = el("input", { id: "bind-key" });
    const bform = el("form", { class: "inline" }, el("label", {}, "To queue", bq), el("label", {}, "Routing key", bk), el("button", { type: "submit", id: "bind-submit", text: "Bind" }));
    bform.addEventListener("submit", (ev) => {
      ev.preventDefault();
      run(async () => {
        await api("POST", "/api/bindings/" + enc(vhost) + "/e/" + enc(name) + "/q/" + enc(bq.value), { routing_key: bk.value });
        showNotice("Bound.");
        await view.refresh();
      });
    });
    root.append(el("h2", { text: "Add binding" }), bform, el("h2", { text: "Publish message" }), form, result);
  }
  const view = {
    async refresh() {
      const x = await api("GET", path);
      clear(info);
      for (const [k, v] of [["Type", x.type], ["Auto-delete", String(x.auto_delete)], ["Internal", String(x.internal)], ["Arguments", argsText(x.arguments) || "—"]]) {
        info.append(el("tr", {}, el("th", { text: k }), el("td", { text: v })));
      }
      const b = await api("GET", path + "/bindings/source?page_size=500");
      const cols = [{ title: "To", get: (r) => r.destination_type === "queue" ? link(r.destination, "#/queue/" + enc(r.vhost) + "/" + enc(r.destination)) : r.destination },
        { title: "Kind", get: (r) => r.destination_type }, { title: "Routing key", get: (r) => r.routing_key }, { title: "Arguments", get: (r) => argsText(r.arguments) }];
      if (!isMonitoringOnly()) {
        cols.push({ title: "", get: (r) => Object.keys(r.arguments).length ? "" : el("button", { type: "button", class: "danger", text: "Unbind", onclick: () => confirmThen("Remove this binding?", async () => {
          await api("DELETE", "/api/bindings/" + enc(vhost) + "/e/" + enc(name) + "/" + (r.destination_type === "queue" ? "q" : "e") + "/" + enc(r.destination) + "/" + enc(r.properties_key));
          await view.refresh();
        }) }) });
      }
      renderTable(bindings, cols, b.items);
    },
  };
  return view;
}

// ---- sessions --------------------------------------------------------------

function connectionsView(root) {
  const table = el("table", { id: "connections-table" });
  root.append(el("h1", { text: "Sessions" }),
    el("p", { class: "muted", text: "Client sessions with a Session stream open on this node. Closing one ends its streams here, as the client's death would: its unacked messages return to their queues. A client that recovers by itself connects again." }), table);
  const view = {
    async refresh() {
      const p = await api("GET", "/api/connections?page_size=500");
      const cols = [{ title: "Session", get: (c) => c.name }, { title: "Node", get: (c) => c.node }, { title: "Streams", get: (c) => fmtNum(c.session_streams), num: true }];
      if (isAdmin()) {
        cols.push({ title: "", get: (c) => el("button", { type: "button", class: "danger", text: "Close", onclick: () => confirmThen("Close session " + c.name + "?", async () => {
          await api("DELETE", "/api/connections/" + enc(c.name));
          await view.refresh();
        }) }) });
      }
      renderTable(table, cols, p.items);
    },
  };
  return view;
}

// ---- users, vhosts, permissions (administrators) --------------------------------

function adminView(root) {
  const users = el("table", { id: "users-table" });
  const vhosts = el("table", { id: "vhosts-table" });
  const perms = el("table", { id: "permissions-table" });
  const uName = el("input", { id: "new-user-name", required: true });
  const uPw = el("input", { id: "new-user-password", type: "password" });
  const uTags = el("select", { id: "new-user-tags" });
  for (const t of ["", "monitoring", "administrator"]) uTags.append(el("option", { value: t, text: t || "(none)" }));
  const uForm = el("form", { class: "inline" }, el("label", {}, "User", uName), el("label", {}, "Password", uPw), el("label", {}, "Tag", uTags),
    el("button", { type: "submit", id: "new-user-submit", text: "Add or update user" }));
  uForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(async () => {
      const body = { tags: uTags.value ? [uTags.value] : [] };
      if (uPw.value) body.password = uPw.value;
      await api("PUT", "/api/users/" + enc(uName.value), body);
      uPw.value = "";
      showNotice("User " + uName.value + " saved.");
      await view.refresh();
    });
  });
  const vName = el("input", { id: "new-vhost-name", required: true });
  const vForm = el("form", { class: "inline" }, el("label", {}, "Virtual host", vName), el("button", { type: "submit", id: "new-vhost-submit", text: "Add virtual host" }));
  vForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(async () => { await api("PUT", "/api/vhosts/" + enc(vName.value)); showNotice("Virtual host " + vName.value + " added."); await view.refresh(); });
  });
  const pUser = el("input", { id: "perm-user", required: true });
  const pVHost = el("input", { id: "perm-vhost", value: "/" });
  const pc = el("input", { id: "perm-configure", value: ".*" }), pw = el("input", { id: "perm-write", value: ".*" }), pr = el("input", { id: "perm-read", value: ".*" });
  const pForm = el("form", { class: "inline" }, el("label", {}, "User", pUser), el("label", {}, "Virtual host", pVHost), el("label", {}, "Configure", pc),
    el("label", {}, "Write", pw), el("label", {}, "Read", pr), el("button", { type: "submit", id: "perm-submit", text: "Set permissions" }));
  pForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    run(async () => {
      await api("PUT", "/api/permissions/" + enc(pVHost.value) + "/" + enc(pUser.value), { configure: pc.value, write: pw.value, read: pr.value });
      showNotice("Permissions set."); await view.refresh();
    });
  });
  root.append(el("h1", { text: "Users" }), uForm, users, el("h1", { text: "Virtual hosts" }), vForm, vhosts, el("h1", { text: "Permissions" }), pForm, perms);
  const delBtn = (text, question, f) => el("button", { type: "button", class: "danger", text, onclick: () => confirmThen(question, async () => { await f(); await view.refresh(); }) });
  const view = {
    async refresh() {
      const u = await api("GET", "/api/users?page_size=500");
      renderTable(users, [{ title: "User", get: (x) => x.name }, { title: "Tags", get: (x) => x.tags.join(", ") },
        { title: "", get: (x) => delBtn("Delete", "Delete user " + x.name + "?", () => api("DELETE", "/api/users/" + enc(x.name))) }], u.items);
      const v = await api("GET", "/api/vhosts?page_size=500");
      renderTable(vhosts, [{ title: "Virtual host", get: (x) => x.name }, { title: "Queues", get: (x) => fmtNum(x.queues), num: true }, { title: "Exchanges", get: (x) => fmtNum(x.exchanges), num: true },
        { title: "", get: (x) => delBtn("Delete", "Delete virtual host " + x.name + " and everything in it?", () => api("DELETE", "/api/vhosts/" + enc(x.name))) }], v.items);
      const p = await api("GET", "/api/permissions?page_size=500");
      renderTable(perms, [{ title: "User", get: (x) => x.user }, { title: "Virtual host", get: (x) => x.vhost }, { title: "Configure", get: (x) => x.configure },
        { title: "Write", get: (x) => x.write }, { title: "Read", get: (x) => x.read },
        { title: "", get: (x) => delBtn("Clear", "Clear " + x.user + "'s permissions in " + x.vhost + "?", () => api("DELETE", "/api/permissions/" + enc(x.vhost) + "/" + enc(x.user))) }], p.items);
    },
  };
  return view;
}

document.addEventListener("DOMContentLoaded", start);
