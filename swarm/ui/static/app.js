// The swarm web UI: runs, a live execution tree, node details, history, approvals, compare, stats.
// Plain JavaScript, no dependencies. Every value from the store goes into the page as text (h()).
"use strict";

const ROW_H = 26;          // px per tree row: the tree is virtualised, only rows on screen are in the DOM
const OVERSCAN = 12;       // rows drawn above and below the visible ones
const STATUSES = ["pending", "running", "waiting", "awaiting_approval", "done", "failed", "cancelled"];
const ACTIVE = new Set(["pending", "running", "waiting", "awaiting_approval"]);
const FINAL = new Set(["done", "failed", "cancelled"]);
const ENDS_DRIVING = new Set(["run_end", "run_pause", "run_interrupt"]);  // after these nothing executes
const FINAL_RUN = new Set(["done", "unmet", "failed", "cancelled", "stopped"]);  // a run that ended

const S = {
  token: null,
  features: {},
  runs: [],
  runId: null,
  live: null,        // the run's graph now, kept up to date by events
  shown: null,       // what the tree shows: `live`, or a graph as of an event
  at: null,          // the event the tree shows (null: live)
  timeline: {seqs: [], kinds: [], nodes: []},
  lastSeq: 0,
  lastAt: null,      // when the run's last event we know of happened (a requeue ends an execution there)
  tab: "runs",
  source: null,
  selected: null,
  rows: [],          // flattened visible rows of `shown`
  dirty: false,
};
window.swarmEventLog = [];   // the last events the page received: {seq, node_id, status, at_ms, received_ms} (tests, bench)

// --- small helpers ---------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") for (const [p, x] of Object.entries(v)) el.style.setProperty(p, x);  // CSSOM: allowed by the CSP
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
const $ = (id) => document.getElementById(id);
const orderKey = (id) => id.split(".").map(Number);
function byId(a, b) {
  const x = orderKey(a), y = orderKey(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}
function ago(seconds) {
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86400)}d`;
}
const money = (x) => `$${(x || 0).toFixed(4)}`;
const when = (t) => t ? new Date(t * 1000).toLocaleTimeString() : "—";
function secs(s) {
  if (s === null || s === undefined) return "—";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
function count(n) {  // 950, 12.3k, 1.2M: token counts that fit a narrow line
  if (n < 1000) return String(n);
  if (n < 1e6) return `${(n / 1000).toFixed(n < 1e4 ? 1 : 0)}k`;
  return `${(n / 1e6).toFixed(1)}M`;
}
const pretty = (v) => typeof v === "string" ? v : JSON.stringify(v, null, 2);
function toast(text, kind) {
  const el = h("div", {class: `toast ${kind || ""}`}, text);
  $("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 9000 : 4000);
}

async function api(path, options) {
  const opts = options || {};
  const headers = {"X-Swarm-Token": S.token || ""};
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {method: opts.method || "GET", headers,
                                 body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined});
  const type = res.headers.get("Content-Type") || "";
  const data = type.startsWith("application/json") ? await res.json() : await res.text();
  if (!res.ok) {
    const err = new Error((data && data.error) || `${res.status} ${res.statusText}`);
    err.status = res.status;
    throw err;
  }
  return data;
}

// --- start ------------------------------------------------------------------------------------------

function readToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.get("token")) {
    sessionStorage.setItem("swarm-token", params.get("token"));
    params.delete("token");
    history.replaceState(null, "", location.pathname + location.search + (params.toString() ? "#" + params : ""));
  }
  return sessionStorage.getItem("swarm-token");
}

async function start() {
  bindUi();  // at once: the tabs work before anything has loaded
  S.token = readToken();
  if (!S.token) {
    notice("This page needs the UI token: open it from the link `swarm ui` printed (it ends in #token=...).");
    return;
  }
  try {
    const info = await api("/api/info");
    S.features = info.features;
    for (const st of info.statuses) $("status-filter").append(h("option", {value: st}, st));
  } catch (e) {
    notice(e.status === 401 ? "The UI token is wrong or old: open the page again from the link `swarm ui` printed." : e.message);
    return;
  }
  const missing = Object.entries(S.features).filter(([, v]) => !v).map(([k]) => k);
  if (missing.length) notice(`Not in this installation yet: ${missing.join(", ")} — those panels say so when used.`, true);
  await loadRuns();
  const wanted = new URLSearchParams(location.hash.slice(1)).get("run");
  if (wanted) selectRun(wanted); else openStream(null);
  refreshApprovals();
  setInterval(() => renderRuns(), 15000);  // ages move on; no request
}

function notice(text, soft) {
  const el = $("notice");
  el.textContent = text;
  el.className = soft ? "notice soft" : "notice";
  el.hidden = false;
}

function bindUi() {
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => showTab(b.dataset.tab)));
  $("status-filter").addEventListener("change", () => loadRuns().catch((e) => toast(e.message, "error")));
  $("expand-all").addEventListener("click", () => setAllCollapsed(false));
  $("collapse-all").addEventListener("click", () => setAllCollapsed(true));
  $("cancel-run").addEventListener("click", cancelRun);
  $("pause-run").addEventListener("click", pauseOrResume);
  $("scrub").addEventListener("input", onScrub);
  $("scrub-live").addEventListener("click", backToLive);
  $("fork").addEventListener("click", forkHere);
  $("tree").addEventListener("scroll", () => schedule());
  $("tree").addEventListener("click", onTreeClick);
  $("compare-go").addEventListener("click", compare);
  $("stats-go").addEventListener("click", stats);
  $("compare-a").addEventListener("change", openCompare);
  $("compare-b").addEventListener("change", openCompare);
  $("stats-run").addEventListener("change", stats);
  window.addEventListener("resize", () => schedule());
}

function showTab(name) {
  S.tab = name;
  document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  document.querySelectorAll(".view").forEach((v) => v.classList.toggle("active", v.id === `view-${name}`));
  if (name === "approvals") refreshApprovals();
  if (name === "compare" || name === "stats") fillRunSelects();
  if (name === "compare") openCompare();  // what the tab is for, at once: no button to find first
  if (name === "stats") stats();
  if (name === "runs") schedule();
}

// --- runs list ----------------------------------------------------------------------------------------

async function loadRuns() {
  const status = $("status-filter").value;
  S.runs = await api(`/api/runs${status ? `?status=${encodeURIComponent(status)}` : ""}`);
  const first = S.runsLoadedAt === undefined;
  S.runsLoadedAt = Date.now();
  renderRuns();
  fillRunSelects();
  if (first && S.tab === "compare") openCompare();  // the tab was opened before the runs came
  if (first && S.tab === "stats") stats();
}

function forkOf(r) {  // "fork of RUN at event N", the run a link to it
  if (!r.forked_from) return null;
  return h("div", {class: "run-fork small", title: `forked from run ${r.forked_from} as it was after its event ${r.forked_at}`},
    "fork of ", h("a", {href: `#run=${encodeURIComponent(r.forked_from)}`, class: "fork-parent",
                        onclick: (e) => { e.preventDefault(); e.stopPropagation(); showTab("runs"); selectRun(r.forked_from); }},
      r.forked_from), ` at event ${r.forked_at}`);
}

function renderRuns() {
  // Every line fits the list's width: the goal, the id and the fork line give way (ellipsis), the numbers never do.
  const drift = (Date.now() - (S.runsLoadedAt || Date.now())) / 1000;
  const list = $("runs-list");
  list.replaceChildren(...S.runs.map((r) => h("li", {
      class: `run-item ${r.id === S.runId ? "selected" : ""} ${r.forked_from ? "forked" : ""}`,
      dataset: r.forked_from ? {runId: r.id, status: r.status, forkedFrom: r.forked_from} : {runId: r.id, status: r.status},
      onclick: () => selectRun(r.id)},
    h("div", {class: "run-line"}, h("span", {class: `dot s-${r.status}`}), h("span", {class: "run-status"}, r.status),
      h("span", {class: "run-cost right"}, money(r.cost_usd))),
    h("div", {class: "run-goal", title: r.goal}, r.goal),
    h("div", {class: "run-line muted small"}, h("span", {class: "run-id", title: r.id}, r.id),
      h("span", {class: "run-nums right"}, `${plural(r.nodes || 0, "node")} · ${count(r.tokens)} tok · ${ago(r.age_s + drift)} ago`)),
    forkOf(r))));
  $("runs-total").textContent = plural(S.runs.length, "run");
}

let runsTimer = null;
function reloadRunsSoon() {
  if (runsTimer) return;
  runsTimer = setTimeout(async () => { runsTimer = null; try { await loadRuns(); } catch (e) { /* next event retries */ } }, 400);
}

// --- one run: graph, live events ------------------------------------------------------------------------

async function selectRun(runId) {
  S.runId = runId;
  S.selected = null;
  S.at = null;
  history.replaceState(null, "", `#run=${encodeURIComponent(runId)}`);
  renderRuns();
  $("run-empty").hidden = true;
  $("run-body").hidden = false;
  $("detail").replaceChildren(h("div", {class: "empty"}, "Click a node to see its input, prompt and reply, code, logs and costs."));
  S.timeline = {seqs: [], kinds: [], nodes: []};  // live events met before the axis arrives are kept
  try {
    await loadLive();
    const tl = await api(`/api/runs/${encodeURIComponent(runId)}/timeline`);
    const last = tl.seqs.length ? tl.seqs[tl.seqs.length - 1] : 0;
    S.timeline.seqs.forEach((seq, i) => {
      if (seq > last) { tl.seqs.push(seq); tl.kinds.push(S.timeline.kinds[i]); tl.nodes.push(S.timeline.nodes[i]); }
    });
    S.timeline = tl;
    mergeTimeline();
  } catch (e) {
    toast(e.message, "error");
  }
}

async function loadLive() {
  const graph = await api(`/api/runs/${encodeURIComponent(S.runId)}/graph`);
  S.live = toModel(graph);
  S.lastSeq = graph.seq || 0;
  S.lastAt = null;
  if (S.at === null) S.shown = S.live;
  renderHead();
  schedule();
  openStream(S.runId);
}

function toModel(graph) {
  const nodes = new Map();
  for (const n of graph.nodes) nodes.set(n.id, n);
  return {run: graph.run, nodes, at: graph.at_event};
}

function openStream(runId) {
  if (S.source) S.source.close();
  const q = new URLSearchParams({token: S.token});
  if (runId) { q.set("run", runId); q.set("after", String(S.lastSeq)); }
  const source = new EventSource(`/api/events?${q}`);
  S.source = source;
  source.addEventListener("hello", () => setConn(true));
  source.onmessage = (e) => onEvents(JSON.parse(e.data));
  source.addEventListener("reload", () => { if (S.runId) loadLive().catch((e) => toast(e.message, "error")); });
  source.onerror = () => {
    setConn(false);
    source.close();
    if (S.source === source) setTimeout(() => { if (S.source === source) openStream(S.runId); }, 1000);
  };
}

function setConn(up) {
  $("conn").classList.toggle("up", up);
  $("conn-text").textContent = up ? "live" : "reconnecting";
}

function onEvents(batch) {
  const received = Date.now();
  let runsChanged = false, approvalsChanged = false;
  for (const ev of batch) {
    window.swarmEventLog.push({seq: ev.seq, node_id: ev.node_id, kind: ev.kind, status: ev.node ? ev.node.status : null,
                               at_ms: ev.at * 1000, received_ms: received});
    if (!ev.node_id) runsChanged = true;
    if (ev.kind === "awaiting_approval" || ev.kind === "approval_decided") approvalsChanged = true;
    if (ev.run_id !== S.runId || !S.live || ev.seq <= S.lastSeq) continue;
    S.lastSeq = ev.seq;
    S.timeline.seqs.push(ev.seq); S.timeline.kinds.push(ev.kind); S.timeline.nodes.push(ev.node_id);
    if (ev.node) applyNode(S.live, ev.node, ev);
    else if (ENDS_DRIVING.has(ev.kind)) stopExecutions(S.live, ev.at);
    S.lastAt = ev.at;
    refreshRunRow();
    if (ev.node && ev.node_id === S.selected && S.at === null) refreshDetailSoon();
  }
  if (window.swarmEventLog.length > 500) window.swarmEventLog.splice(0, window.swarmEventLog.length - 500);
  if (runsChanged) reloadRunsSoon();
  if (runsChanged && S.tab === "stats") statsSoon();  // a run started, paused or ended: the charts follow
  if (approvalsChanged) refreshApprovals();
  mergeTimeline();
  if (S.at === null) schedule();
}

function applyNode(model, view, ev) {
  const old = model.nodes.get(view.id);
  track(old, view, ev);
  if (old) {
    view.children = old.children;
    view.collapsed = old.collapsed;
  } else {
    view.children = [];
    view.collapsed = false;
    const parent = view.parent && model.nodes.get(view.parent);
    if (parent && !parent.children.includes(view.id)) {
      parent.children.push(view.id);
      if (parent.children.length > 1 && byId(parent.children.at(-2), view.id) > 0) parent.children.sort(byId);
    }
  }
  model.nodes.set(view.id, view);
}

// A node's work over all its executions, kept up to date from live events by the rules of swarm/ui/activity.py:
// an execution starts with `execute` and ends with the node's next event other than `tool_calls`.
function track(old, view, ev) {
  let a = old && old.active ? {...old.active} : null;
  if (a && a.running_since !== undefined && ev.kind !== "tool_calls") {
    const end = ev.kind === "requeue" ? (S.lastAt ?? a.running_since) : ev.at;  // a requeue finds one a crash cut short
    a.ms += Math.max(0, end - a.running_since) * 1000;
    delete a.running_since;
  }
  if (ev.kind === "execute") {
    a = a || {ms: 0, executions: 0, first_started_at: ev.at};
    a.executions += 1;
    a.running_since = ev.at;
  }
  if (a && FINAL.has(view.status) && a.span_ms === undefined) a.span_ms = Math.max(0, ev.at - a.first_started_at) * 1000;
  view.active = a;
}

function stopExecutions(model, at) {
  for (const n of model.nodes.values()) {
    const a = n.active;
    if (a && a.running_since !== undefined) {
      n.active = {...a, ms: a.ms + Math.max(0, at - a.running_since) * 1000};
      delete n.active.running_since;
    }
  }
}

function work(n) {  // what the tree row says of a node's time: all its executions, and how many
  const a = n.active;
  if (!a) return n.ms !== null && n.ms !== undefined ? {text: secs(n.ms / 1000), title: null} : {text: "", title: null};
  if (a.running_since !== undefined && a.ms === 0) return {text: "", title: null};
  const text = `${secs(a.ms / 1000)}${a.executions > 1 ? ` ×${a.executions}` : ""}`;
  const span = a.span_ms !== undefined ? `; ${secs(a.span_ms / 1000)} from first start to end` : "";
  return {text, title: `active ${secs(a.ms / 1000)} over ${plural(a.executions, "execution")}${span}`};
}

let runRowTimer = null;
function refreshRunRow() {  // the run's own row (status, totals) follows its events, at most once a second
  if (runRowTimer) return;
  runRowTimer = setTimeout(async () => {
    runRowTimer = null;
    try {
      const run = await api(`/api/runs/${encodeURIComponent(S.runId)}`);
      if (S.live && S.live.run.id === run.id) { S.live.run = run; renderHead(); }
      const listed = S.runs.findIndex((r) => r.id === run.id);
      if (listed >= 0) { S.runs[listed] = {...run, age_s: run.age_s - (Date.now() - S.runsLoadedAt) / 1000}; renderRuns(); }
    } catch (e) { /* the next event tries again */ }
  }, 300);
}

// --- the tree: flatten the expanded nodes, draw only the rows on screen ---------------------------------------

let frame = null;
function schedule() {
  if (frame) return;
  frame = requestAnimationFrame(() => { frame = null; render(); });
}

function flatten(model) {
  const rows = [];
  const roots = [...model.nodes.values()].filter((n) => !n.parent || !model.nodes.has(n.parent)).map((n) => n.id).sort(byId);
  const stack = roots.reverse();
  while (stack.length) {
    const id = stack.pop();
    const n = model.nodes.get(id);
    if (!n) continue;
    rows.push(n);
    if (!n.collapsed) for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]);
  }
  return rows;
}

function subtreeCounts(model, id) {
  const counts = {total: 0, failed: 0, active: 0};
  const stack = [...(model.nodes.get(id).children || [])];
  while (stack.length) {
    const n = model.nodes.get(stack.pop());
    if (!n) continue;
    counts.total++;
    if (n.status === "failed") counts.failed++;
    if (ACTIVE.has(n.status)) counts.active++;
    stack.push(...n.children);
  }
  return counts;
}

function render() {
  const model = S.shown;
  if (!model) return;
  S.rows = flatten(model);
  const tree = $("tree");
  $("tree-spacer").style.height = `${S.rows.length * ROW_H}px`;  // CSSOM, not a style attribute
  const first = Math.max(0, Math.floor(tree.scrollTop / ROW_H) - OVERSCAN);
  const last = Math.min(S.rows.length, Math.ceil((tree.scrollTop + tree.clientHeight) / ROW_H) + OVERSCAN);
  const drawn = [];
  for (let i = first; i < last; i++) drawn.push(row(model, S.rows[i], i));
  tree.replaceChildren($("tree-spacer"), ...drawn);
  renderCounts(model);
}

const POLICY = {all: "parallel", sequence: "sequence", first: "first", best_of_n: "best_of_n"};

function row(model, n, index) {
  const parent = n.parent ? model.nodes.get(n.parent) : null;
  const inGroup = parent && parent.group && parent.group.members.includes(n.id);
  const isEvaluator = parent && parent.group && parent.group.evaluator === n.id;
  const toggle = n.children.length
    ? h("span", {class: "toggle", dataset: {toggle: n.id}, title: n.collapsed ? "expand" : "collapse"}, n.collapsed ? "▸" : "▾")
    : h("span", {class: "toggle leaf"}, "");
  let fold = null;
  if (n.collapsed && n.children.length) {
    const c = subtreeCounts(model, n.id);
    fold = h("span", {class: "fold"}, `+${c.total}${c.active ? ` · ${c.active} active` : ""}${c.failed ? ` · ${c.failed} failed` : ""}`);
  }
  let badge = null;
  if (n.group && (n.children.length || n.status === "waiting")) {
    const g = n.group;
    const text = g.policy === "sequence" ? `sequence ${g.members.length}/${g.members.length + g.planned}`
      : `${g.name} ×${g.members.length}`;
    badge = h("span", {class: `group g-${g.policy}`, title: `children run under the ${g.name} policy`}, text);
  }
  const worked = work(n);
  // In a fork, a node that ended before the fork event and never executed again here came as it was.
  const carried = model.run && model.run.forked_from && !n.active && FINAL.has(n.status);
  return h("div", {
      class: `row s-${n.status} ${n.id === S.selected ? "selected" : ""} ${inGroup ? `in-${parent.group.policy}` : ""} ${carried ? "carried" : ""}`,
      style: {top: `${index * ROW_H}px`, "padding-left": `${8 + n.depth * 18}px`, "--depth": String(n.depth)},
      dataset: {nodeId: n.id, status: n.status}, role: "treeitem",
      "aria-expanded": n.children.length ? String(!n.collapsed) : null},
    toggle, h("span", {class: `dot s-${n.status}`, title: n.status}),
    h("span", {class: "nid"}, n.id), h("span", {class: "script"}, n.script),
    isEvaluator ? h("span", {class: "group g-evaluator"}, "evaluator") : null, badge,
    carried ? h("span", {class: "carried-tag", title: `${n.status} in run ${model.run.forked_from} at event ${model.run.forked_at}; ` +
                         "carried into this fork as it was, not executed again"}, "from parent") : null,
    h("span", {class: "label"}, n.label), fold,
    h("span", {class: "nums", title: worked.title}, [n.tokens ? `${n.tokens} tok` : "", worked.text].filter(Boolean).join(" · ")));
}

function renderHead() {
  const run = S.live && S.live.run;
  if (!run) return;
  $("run-goal").textContent = run.goal;
  const pill = $("run-status");
  pill.textContent = run.status;
  pill.className = `pill s-${run.status}`;
  $("run-meta").replaceChildren(...[
    h("span", {}, run.id), forkOf(run), h("span", {}, `script ${run.script}`), h("span", {}, `model ${run.model || "—"}`),
    h("span", {}, `started ${new Date(run.created_at * 1000).toLocaleString()}`),
    run.finished_at ? h("span", {}, `took ${secs(run.finished_at - run.created_at)}`) : null,
    run.stop_reason ? h("span", {class: "warn"}, run.stop_reason) : null,
    run.error ? h("span", {class: "warn"}, run.error) : null].filter(Boolean));
  $("cancel-run").disabled = !ACTIVE.has(run.status) && run.status !== "interrupted";
  const pause = $("pause-run");
  const resumable = run.status === "paused" || run.status === "interrupted";
  const pausing = !resumable && run.pause_requested && !FINAL_RUN.has(run.status);  // its loop stops once running nodes end
  pause.textContent = resumable ? "Resume" : pausing ? "Pausing… (go on)" : "Pause";
  pause.dataset.action = resumable || pausing ? "resume" : "pause";
  pause.title = pausing ? "Asked to pause: no new node starts, and the run pauses once the running ones end. Click to go on instead." : "";
  pause.disabled = !resumable && !pausing && !(run.status === "pending" || run.status === "running");
}

function renderCounts(model) {
  const counts = {};
  let tokens = 0, cost = 0;
  for (const n of model.nodes.values()) {
    counts[n.status] = (counts[n.status] || 0) + 1;
    tokens += n.tokens || 0;
    cost += n.cost_usd || 0;
  }
  $("run-counts").replaceChildren(
    h("span", {class: "total"}, `${model.nodes.size} nodes`),
    ...STATUSES.filter((s) => counts[s]).map((s) => h("span", {class: "count-chip"}, h("span", {class: `dot s-${s}`}), `${counts[s]} ${s}`)),
    h("span", {class: "muted"}, `${tokens} tokens · ${money(cost)}`));
}

function setAllCollapsed(collapsed) {
  for (const n of S.shown.nodes.values()) if (n.children.length && n.parent) n.collapsed = collapsed;
  schedule();
}

function onTreeClick(e) {
  const toggle = e.target.closest("[data-toggle]");
  if (toggle) {
    const n = S.shown.nodes.get(toggle.dataset.toggle);
    n.collapsed = !n.collapsed;
    if (S.shown !== S.live && S.live.nodes.get(n.id)) S.live.nodes.get(n.id).collapsed = n.collapsed;
    schedule();
    return;
  }
  const rowEl = e.target.closest(".row");
  if (rowEl) selectNode(rowEl.dataset.nodeId);
}

// --- node detail --------------------------------------------------------------------------------------------

async function selectNode(id) {
  S.selected = id;
  schedule();
  await loadDetail();
}

let detailTimer = null;
function refreshDetailSoon() {
  if (detailTimer) return;
  detailTimer = setTimeout(() => { detailTimer = null; loadDetail(); }, 250);
}

async function loadDetail() {
  const id = S.selected;
  if (!id) return;
  const at = S.at !== null ? `?at=${S.at}` : "";
  try {
    const d = await api(`/api/runs/${encodeURIComponent(S.runId)}/nodes/${encodeURIComponent(id)}${at}`);
    if (S.selected === id) renderDetail(d);
  } catch (e) {
    $("detail").replaceChildren(h("div", {class: "error"}, e.message));
  }
}

function section(title, ...body) {
  return h("section", {class: "d-section"}, h("h3", {}, title), ...body);
}
const pre = (v, cls) => h("pre", {class: cls || ""}, pretty(v));

function renderDetail(d) {
  const n = d.node;
  const t = d.timings;
  const parts = [
    h("div", {class: "d-head"}, h("span", {class: `pill s-${n.status}`}, n.status), h("h2", {}, `${n.id} · ${n.script}`),
      d.at_event !== null ? h("span", {class: "muted"}, `as of event ${d.at_event}`) : null,
      d.at_event === null && ACTIVE.has(n.status)
        ? h("button", {class: "danger right", id: "cancel-node", onclick: () => cancelNode(n.id)}, "Cancel node") : null),
    h("dl", {class: "facts"},
      h("dt", {}, "round / attempts"), h("dd", {}, `${n.round} / ${n.attempts}`),
      h("dt", {}, "created"), h("dd", {}, when(t.created_at)),
      h("dt", {}, "first started"), h("dd", {}, when(t.first_started_at ?? t.started_at)),
      h("dt", {}, "last started"), h("dd", {}, when(t.started_at)),
      h("dt", {}, "finished"), h("dd", {}, when(t.finished_at)),
      h("dt", {}, "active"), h("dd", {id: "d-active", dataset: t.active_s === null ? {} : {activeMs: String(Math.round(t.active_s * 1000))}},
        t.active_s === null ? secs(t.duration_s)
          : `${secs(t.active_s)} over ${plural(t.executions, "execution")}${t.running_since ? " (executing now)" : ""}`),
      h("dt", {}, "first start → end"), h("dd", {id: "d-span"}, secs(t.span_s ?? (t.active_s === null ? t.duration_s : null))),
      h("dt", {}, "last execution"), h("dd", {id: "d-last"}, secs(t.duration_s)),
      h("dt", {}, "model time"), h("dd", {}, `${Math.round(t.model_ms)} ms`),
      h("dt", {}, "tokens"), h("dd", {}, `${d.tokens.prompt} prompt + ${d.tokens.completion} completion`),
      h("dt", {}, "cost"), h("dd", {}, money(d.cost_usd)),
      n.policy ? h("dt", {}, "children policy") : null, n.policy ? h("dd", {}, `${POLICY[n.policy] || n.policy} (${(n.group || []).length} in group)`) : null),
  ];
  if (n.error || d.errors.length) {
    parts.push(section("Errors", n.error ? pre(n.error, "err") : null,
      ...d.errors.filter((e) => e.error !== n.error).map((e) => h("div", {}, h("span", {class: "muted"}, `event ${e.seq} ${e.kind}: `), pre(e.error, "err")))));
  }
  parts.push(section("Input", pre(n.data)));
  if (n.status === "done") parts.push(section("Output", pre(n.output)));
  if (n.answer !== null && n.answer !== undefined) parts.push(section("Answer from a person", pre(n.answer)));
  parts.push(section(`Model calls (${d.llm_calls.length})`, ...(d.llm_calls.length ? d.llm_calls.map(callView) : [h("div", {class: "muted"}, "none")])));
  const tools = d.events.filter((e) => e.kind === "tool_calls").flatMap((e) => (e.detail && e.detail.calls) || []);
  if (tools.length) parts.push(section(`Tool calls (${tools.length})`, ...tools.map(toolCallView)));
  if (d.sandbox_code.length) parts.push(section("Sandbox code", ...d.sandbox_code.map((c) => h("div", {}, h("div", {class: "muted small"}, c.from), pre(c.code, "code")))));
  if (d.logs.length) parts.push(section("Logs", pre(d.logs.join("\n"), "logs")));
  const s = d.script;
  parts.push(section("Script", h("div", {}, `${s.name} · ${s.kind}${s.version ? ` · v${s.version}` : ""}${s.active && s.active !== s.version ? ` (active now: v${s.active})` : ""}`),
    s.description ? h("div", {class: "muted"}, s.description) : null,
    s.code ? h("details", {}, h("summary", {}, "code"), pre(s.code, "code")) : null));
  parts.push(section(`Events (${d.events.length})`, h("table", {class: "events"},
    h("tbody", {}, ...d.events.map((e) => h("tr", {}, h("td", {}, e.seq), h("td", {}, e.kind), h("td", {}, e.status || ""),
      h("td", {}, when(e.at)), h("td", {class: "small"}, e.detail ? JSON.stringify(e.detail).slice(0, 200) : "")))))));
  $("detail").replaceChildren(...parts);
}

function toolCallView(c) {  // one call of a tool (an MCP server's: with its arguments and result)
  return h("div", {class: "call tool-call"},
    h("div", {class: "muted small"}, `${c.tool} · ${c.ok ? "ok" : "failed"} · ${Math.round(c.ms || 0)} ms${c.replayed_from ? ` · replayed from ${c.replayed_from}` : ""}`),
    c.args !== undefined ? h("div", {class: "msg"}, h("span", {class: "role"}, "args"), pre(c.args)) : null,
    c.error ? pre(c.error, "err") : null,
    c.result ? h("div", {class: "msg role-reply"}, h("span", {class: "role"}, "result"),
      pre(c.result.structured ?? c.result.text)) : null);
}

function callView(c) {
  return h("div", {class: "call"},
    h("div", {class: "muted small"}, `${c.key} · ${c.model || "?"} · ${c.prompt_tokens}+${c.completion_tokens} tok · ${Math.round(c.latency_ms || 0)} ms · ${money(c.cost_usd)}`),
    ...(c.messages || []).map((m) => h("div", {class: `msg role-${m.role}`}, h("span", {class: "role"}, m.role), h("pre", {class: "prompt"}, pretty(m.content)))),
    c.error ? pre(c.error, "err") : h("div", {class: "msg role-reply"}, h("span", {class: "role"}, "reply"), h("pre", {class: "reply"}, c.reply_text ?? pretty(c.reply_data))));
}

// --- history: the scrubber ----------------------------------------------------------------------------------

function mergeTimeline() {
  const tl = S.timeline;
  const scrub = $("scrub");
  const atEnd = S.at === null;
  scrub.max = String(Math.max(0, tl.seqs.length - 1));
  if (atEnd) scrub.value = scrub.max;
  scrubLabel();
}

function scrubLabel() {
  const tl = S.timeline;
  const i = Number($("scrub").value);
  const label = $("scrub-label");
  if (S.at === null) label.textContent = `live · ${tl.seqs.length} events`;
  else label.textContent = `event ${i + 1}/${tl.seqs.length} · #${tl.seqs[i]} ${tl.kinds[i]}${tl.nodes[i] ? ` ${tl.nodes[i]}` : ""}`;
}

let scrubTimer = null;
function onScrub() {
  const tl = S.timeline;
  const i = Number($("scrub").value);
  if (i >= tl.seqs.length - 1) return backToLive();
  S.at = tl.seqs[i];
  document.body.classList.add("history");
  $("scrub-live").hidden = false;
  $("fork").hidden = false;
  scrubLabel();
  clearTimeout(scrubTimer);
  scrubTimer = setTimeout(() => showAt(S.at), 120);
}

async function showAt(seq) {
  try {
    const graph = await api(`/api/runs/${encodeURIComponent(S.runId)}/graph?at=${seq}`);
    if (S.at !== seq) return;
    const model = toModel(graph);
    for (const n of model.nodes.values()) {  // keep the live tree's folds where they apply
      const live = S.live.nodes.get(n.id);
      if (live && n.children.length) n.collapsed = live.collapsed;
    }
    S.shown = model;
    const i = S.timeline.seqs.indexOf(seq);
    const banner = $("history-banner");
    banner.hidden = false;
    banner.textContent = `The tree as it was right after event #${seq} (${S.timeline.kinds[i]}${S.timeline.nodes[i] ? ` of node ${S.timeline.nodes[i]}` : ""}). Live events are held until you go back to live.`;
    schedule();
    if (S.selected) loadDetail();
  } catch (e) {
    toast(e.message, "error");
  }
}

function backToLive() {
  S.at = null;
  S.shown = S.live;
  document.body.classList.remove("history");
  $("scrub-live").hidden = true;
  $("fork").hidden = true;
  $("history-banner").hidden = true;
  mergeTimeline();
  schedule();
  if (S.selected) loadDetail();
}

async function forkHere() {
  if (S.at === null) return;
  try {
    const out = await api(`/api/runs/${encodeURIComponent(S.runId)}/fork`, {method: "POST", body: {at_event: S.at}});
    toast(`forked as ${out.run_id}`);
    await loadRuns();
    backToLive();
    selectRun(out.run_id);
  } catch (e) {
    toast(`fork: ${e.message}`, "error");
  }
}

async function cancelNode(id) {
  if (!confirm(`Cancel node ${id} and everything under it?`)) return;
  try {
    const out = await api(`/api/runs/${encodeURIComponent(S.runId)}/cancel`, {method: "POST", body: {node: id}});
    toast(`cancel ${id}: ${out.outcome}`);
  } catch (e) {
    toast(`cancel: ${e.message}`, "error");
  }
}

async function pauseOrResume() {
  const action = $("pause-run").dataset.action || "pause";
  try {
    const out = await api(`/api/runs/${encodeURIComponent(S.runId)}/${action}`, {method: "POST", body: {}});
    toast(`${action}: ${out.status}`);
    const run = await api(`/api/runs/${encodeURIComponent(S.runId)}`);
    if (S.live && S.live.run && S.live.run.id === run.id) {
      Object.assign(S.live.run, run);
      renderHead();
    }
  } catch (e) {
    toast(`${action}: ${e.message}`, "error");
  }
}

async function cancelRun() {
  if (!confirm(`Cancel run ${S.runId}?`)) return;
  try {
    const out = await api(`/api/runs/${encodeURIComponent(S.runId)}/cancel`, {method: "POST", body: {}});
    toast(`cancel: ${out.outcome}`);
  } catch (e) {
    toast(`cancel: ${e.message}`, "error");
  }
}

// --- approvals ----------------------------------------------------------------------------------------------

let approvalsBusy = false, approvalsAgain = false;
async function refreshApprovals() {
  if (approvalsBusy) { approvalsAgain = true; return; }  // one more look when this one is done
  approvalsBusy = true;
  try {
    const rows = await api("/api/approvals");
    const count = $("approvals-count");
    count.hidden = !rows.length;
    count.textContent = String(rows.length);
    renderApprovals(rows);
  } catch (e) {
    toast(`approvals: ${e.message}`, "error");  // the cards stay: someone may be typing in one
  } finally {
    approvalsBusy = false;
    if (approvalsAgain) { approvalsAgain = false; refreshApprovals(); }
  }
}

function renderApprovals(rows) {
  const list = $("approvals-list");
  if (!rows.length) return list.replaceChildren(h("div", {class: "empty"}, "Nothing is waiting for a person."));
  // A card already on the page is left where it is, untouched: a person may be typing in it (moving it
  // in the page, even to the same place, would take the focus away mid-word).
  const wanted = new Set(rows.map((a) => String(a.id)));
  for (const el of [...list.children]) if (!wanted.has(el.dataset.approvalId)) el.remove();
  const shown = new Set([...list.children].map((el) => el.dataset.approvalId));
  for (const a of rows) if (!shown.has(String(a.id))) list.append(approvalCard(a));
}

function approvalCard(a) {
  const shown = a.proposal === null || a.proposal === undefined ? "" : pretty(a.proposal);
  const original = typeof a.editable === "string" ? a.editable : shown;  // the code, when the proposal has code
  const edit = h("textarea", {class: "edit", rows: Math.min(20, Math.max(3, original.split("\n").length + 1)),
                              "aria-label": "edit the proposal or write the answer"});
  edit.value = original;
  const reason = h("input", {class: "reason", placeholder: "reason (needed to reject)", "aria-label": "reason"});
  const note = h("input", {class: "note", placeholder: "note (optional)", "aria-label": "note"});
  const decide = async (decision) => {
    const body = {decision, note: note.value || null};
    if (decision === "reject") body.reason = reason.value;
    if (decision === "approve" && edit.value !== original) body.edited_text = edit.value;  // the server reads it as approvals does
    try {
      await api(`/api/approvals/${a.id}`, {method: "POST", body});
      toast(`${decision === "approve" ? "approved" : "rejected"} #${a.id}`);
      refreshApprovals();
    } catch (e) {
      toast(`${decision}: ${e.message}`, "error");
    }
  };
  const approve = h("button", {class: "approve", onclick: () => decide("approve")}, "Approve");
  edit.addEventListener("input", () => { approve.textContent = edit.value !== original ? "Approve edited" : "Approve"; });
  return h("div", {class: "approval", dataset: {approvalId: a.id, runId: a.run_id, nodeId: a.node_id}},
    h("div", {class: "a-head"}, h("span", {class: "pill s-awaiting_approval"}, a.kind),
      h("a", {href: "#", onclick: (e) => { e.preventDefault(); showTab("runs"); selectRun(a.run_id).then(() => selectNode(a.node_id)); }},
        `run ${a.run_id} · node ${a.node_id}`),
      h("span", {class: "muted right"}, a.created_at ? `${ago(Date.now() / 1000 - a.created_at)} ago` : "")),
    h("div", {class: "question"}, a.question),
    shown ? proposalView(a.proposal) : null,
    h("label", {class: "muted small"}, shown ? "edit the proposal before approving (optional)" : "answer (optional)"), edit,
    h("div", {class: "a-actions"}, note,
      approve,
      reason, h("button", {class: "reject danger", onclick: () => decide("reject")}, "Reject")));
}

function proposalView(p) {
  // A proposal that carries code (a generated script or tool, a sandbox program) shows the code as code.
  const parts = [h("div", {class: "muted small"}, "proposal")];
  if (p && typeof p === "object" && !Array.isArray(p) && typeof p.code === "string") {
    const rest = {...p};
    delete rest.code;
    parts.push(pre(p.code, "code"));
    if (Object.keys(rest).length) parts.push(pre(rest));
  } else {
    parts.push(pre(p, "code"));
  }
  return h("div", {}, ...parts);
}

// --- compare and stats: whatever the library returns, drawn as tables (and the Stats charts) -----------------------------------------

function fillRunSelects() {
  for (const id of ["compare-a", "compare-b", "stats-run"]) {
    const sel = $(id);
    const keep = sel.value;
    const first = id === "stats-run" ? [h("option", {value: ""}, "all runs")] : [];
    sel.replaceChildren(...first, ...S.runs.map((r) => h("option", {value: r.id},
      `${r.id} · ${r.status}${r.forked_from ? ` · fork of ${r.forked_from}` : ""} · ${r.goal.slice(0, 50)}`)));
    if (keep && S.runs.some((r) => r.id === keep)) sel.value = keep;
  }
  // The two newest runs (the list is newest first): b, the newer, compared with a, the one before it.
  if (!$("compare-b").value || $("compare-b").value === $("compare-a").value) {
    if (S.runs.length > 1) { $("compare-a").value = S.runs[1].id; $("compare-b").value = S.runs[0].id; }
  }
}

function openCompare() {
  const a = $("compare-a").value, b = $("compare-b").value;
  const say = (text) => $("compare-out").replaceChildren(h("div", {class: "prompt", id: "compare-prompt"}, text));
  if (S.runs.length === 0) return say("There are no runs to compare yet. Run a goal (swarm run \"...\"), then come back here.");
  if (S.runs.length === 1) {
    return say("Comparing needs two runs, and there is one. Run another goal, or fork this one (Runs → move the history " +
               "slider back → Fork from here); the two newest runs are then compared here.");
  }
  if (!a || !b || a === b) return say("Choose two different runs above: each node is shown side by side with what changed.");
  compare();
}

async function compare() {
  const a = $("compare-a").value, b = $("compare-b").value;
  if (!a || !b) return openCompare();
  try {
    const out = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    $("compare-out").replaceChildren(out && out.a && out.b && Array.isArray(out.nodes) ? sideBySide(out) : value(out));
  } catch (e) {
    $("compare-out").replaceChildren(h("div", {class: "error"}, e.message));
  }
}

async function stats() {
  const run = $("stats-run").value;
  const q = run ? `?run=${encodeURIComponent(run)}` : "";
  const [out, charts] = await Promise.allSettled([api(`/api/stats${q}`), api(`/api/stats/charts${q}`)]);
  if (run !== $("stats-run").value) return;  // another run was chosen meanwhile
  $("stats-charts").replaceChildren(charts.status === "fulfilled" ? statsCharts(charts.value)
    : h("div", {class: "error"}, charts.reason.message));
  $("stats-out").replaceChildren(out.status === "fulfilled" ? value(out.value) : h("div", {class: "error"}, out.reason.message));
}

// --- the Stats charts (drawn by charts.js from GET /api/stats/charts) ----------------------------------------

let statsTimer = null;
function statsSoon() {
  if (statsTimer) return;
  statsTimer = setTimeout(() => { statsTimer = null; if (S.tab === "stats") stats(); }, 2000);  // a busy store: at most every 2 s
}

function chartCard(id, title, caption, body) {
  return h("figure", {class: "chart-card", id}, h("figcaption", {}, h("h3", {}, title), caption ? h("div", {class: "muted small"}, caption) : null),
    body);
}

function statsCharts(c) {
  return h("div", {class: "charts"}, completionChart(c.completion), ...usageCharts(c.usage), failuresChart(c.failures));
}

function completionChart(d) {
  const what = d.of === "runs" ? "runs that ended, from start to end" : "nodes that ended, from first start to end (every round)";
  if (!d.count) return chartCard("chart-completion", "Completion time", what, h("div", {class: "empty"}, `No ${d.of} ended yet.`));
  const n = d.counts.length;
  return chartCard("chart-completion", "Completion time", `${plural(d.count, d.of === "runs" ? "run" : "node")}: ${what}`,
    Charts.bars({label: `completion time of ${d.of}`, cls: "histogram", whole: true, format: (v) => count(Math.round(v)),
      xLabel: `seconds (buckets of ${secs(d.edges[1] - d.edges[0])})`,
      bars: d.counts.map((k, i) => ({parts: [{value: k, cls: "b-count"}], data: {from: d.edges[i], to: d.edges[i + 1]},
        tip: `${plural(k, d.of === "runs" ? "run" : "node")} took ${secs(d.edges[i])} to ${secs(d.edges[i + 1])}`})),
      ticks: Charts.ticksEvery(n, (i) => axisSecs(d.edges[i]))}));
}

function axisSecs(s) {  // short labels for an axis: 0, 250ms, 1.5s, 2m, 3h
  if (s === 0) return "0";
  if (s < 1) return `${+(s * 1000).toPrecision(3)}ms`;
  if (s < 60) return `${+s.toPrecision(3)}s`;
  if (s < 3600) return `${+(s / 60).toPrecision(3)}m`;
  return `${+(s / 3600).toPrecision(3)}h`;
}

function bucketTime(u, i) {  // a time bucket's start: after the first (small buckets), a clock time, a day and hour, a date
  const t = new Date((u.start + i * u.width_s) * 1000);
  if (u.width_s < 60) return `+${axisSecs(i * u.width_s)}`;
  if (u.width_s * u.calls.length <= 86400) return t.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"});
  if (u.width_s < 86400) return t.toLocaleString([], {month: "numeric", day: "numeric", hour: "2-digit"});
  return t.toLocaleDateString();
}

function usageCharts(u) {
  if (!u.calls.length) {
    const none = h("div", {class: "empty"}, "No model call yet.");
    return [chartCard("chart-tokens", "Tokens over time", null, none), chartCard("chart-cost", "Cost over time", null, none.cloneNode(true))];
  }
  const n = u.calls.length;
  const from = new Date(u.start * 1000).toLocaleString();
  const caption = `from ${from}, buckets of ${secs(u.width_s)}`;
  const span = (i) => `${new Date((u.start + i * u.width_s) * 1000).toLocaleTimeString()} + ${secs(u.width_s)}`;
  const ticks = Charts.ticksEvery(n, (i) => bucketTime(u, i));
  const tokens = Charts.bars({label: "tokens over time", cls: "series", whole: true, format: (v) => count(Math.round(v)), ticks,
    bars: u.tokens.map((t, i) => ({parts: [{value: u.prompt_tokens[i], cls: "b-prompt"}, {value: u.completion_tokens[i], cls: "b-completion"}],
      data: {calls: u.calls[i], prompt: u.prompt_tokens[i], completion: u.completion_tokens[i]},
      tip: `${span(i)}: ${t} tokens (${u.prompt_tokens[i]} prompt + ${u.completion_tokens[i]} completion) in ${plural(u.calls[i], "model call")}`}))});
  const cost = Charts.bars({label: "cost over time", cls: "series", format: (v) => `$${+v.toPrecision(3)}`, ticks,
    bars: u.cost_usd.map((x, i) => ({parts: [{value: x, cls: "b-cost"}], data: {calls: u.calls[i]},
      tip: `${span(i)}: ${money(x)} in ${plural(u.calls[i], "model call")}`}))});
  const legend = h("div", {class: "legend small"}, h("span", {class: "key k-prompt"}), "prompt ", h("span", {class: "key k-completion"}), "completion");
  return [chartCard("chart-tokens", "Tokens over time", caption, h("div", {}, tokens, legend)),
          chartCard("chart-cost", "Cost over time", u.cost_usd.some((x) => x > 0) ? caption : `${caption}; no price is set for these models ([model].prices)`, cost)];
}

const FAILURE_CLASS = {"executions": "b-fail-exec", "model calls": "b-fail-model", "tool calls": "b-fail-tool"};

function failuresChart(rows) {
  if (!rows.length) return chartCard("chart-failures", "Failures by type", null, h("div", {class: "empty"}, "No failure."));
  return chartCard("chart-failures", "Failures by type", "failed executions (retried or for good), failed model calls and tool calls",
    Charts.rows({label: "failures by type", format: (v) => String(v),
      rows: rows.map((r) => ({label: `${r.type} (${r.source})`, value: r.count, cls: FAILURE_CLASS[r.source] || "b-fail-exec",
                              tip: `${plural(r.count, "failure")} of type ${r.type} in ${r.source}`}))}));
}

const short = (v) => v === null || v === undefined ? "" : (typeof v === "string" ? v : JSON.stringify(v)).slice(0, 160);

function sideBySide(d) {
  // The diff of swarm.timetravel: run totals a | b | delta, then one row per node with what changed.
  const keys = Object.keys(d.a).filter((k) => k !== "id");
  const totals = h("table", {class: "data"}, h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, d.a.id), h("th", {}, d.b.id), h("th", {}, "b − a"))),
    h("tbody", {}, ...keys.map((k) => h("tr", {class: JSON.stringify(d.a[k]) !== JSON.stringify(d.b[k]) ? "differs" : ""},
      h("th", {}, k), h("td", {}, short(d.a[k])), h("td", {}, short(d.b[k])),
      h("td", {}, d.delta && d.delta[k] !== null && d.delta[k] !== undefined ? String(d.delta[k]) : "")))));
  const side = (x, f) => x ? short(x[f]) : "—";
  const nodes = h("table", {class: "data nodes"}, h("thead", {}, h("tr", {}, ...["node", "change", "differs in", "status a", "status b",
      "tokens a", "tokens b", "time a", "time b", "output / error a", "output / error b"].map((c) => h("th", {}, c)))),
    h("tbody", {}, ...d.nodes.map((r) => h("tr", {class: `change-${r.change}`, dataset: {nodeId: r.id}},
      h("td", {class: "nid"}, r.id), h("td", {}, r.change), h("td", {}, (r.fields || []).join(", ")),
      h("td", {}, side(r.a, "status")), h("td", {}, side(r.b, "status")),
      h("td", {}, side(r.a, "tokens")), h("td", {}, side(r.b, "tokens")),
      h("td", {}, r.a && r.a.duration_s !== null ? secs(r.a.duration_s) : "—"), h("td", {}, r.b && r.b.duration_s !== null ? secs(r.b.duration_s) : "—"),
      h("td", {class: "small"}, r.a ? short(r.a.error || r.a.output) : "—"), h("td", {class: "small"}, r.b ? short(r.b.error || r.b.output) : "—")))));
  const counts = Object.entries(d.counts || {}).map(([k, n]) => `${n} ${k}`).join(" · ");
  return h("div", {}, h("p", {}, d.same_result ? "Same result." : "Different results.", " ", h("span", {class: "muted"}, counts)),
    totals, h("h3", {}, "Nodes"), nodes);
}

function value(v) {
  if (v === null || v === undefined) return h("span", {class: "muted"}, "—");
  if (Array.isArray(v)) {
    if (v.length && v.every((x) => x && typeof x === "object" && !Array.isArray(x))) {
      const cols = [...new Set(v.flatMap((x) => Object.keys(x)))];
      return h("table", {class: "data"}, h("thead", {}, h("tr", {}, ...cols.map((c) => h("th", {}, c)))),
        h("tbody", {}, ...v.map((x) => h("tr", {}, ...cols.map((c) => h("td", {}, value(x[c])))))));
    }
    return h("span", {}, v.map((x) => typeof x === "object" ? JSON.stringify(x) : String(x)).join(", "));
  }
  if (typeof v === "object") {
    return h("table", {class: "data kv"}, h("tbody", {}, ...Object.entries(v).map(([k, x]) => h("tr", {}, h("th", {}, k), h("td", {}, value(x))))));
  }
  if (typeof v === "number") return h("span", {}, Number.isInteger(v) ? String(v) : v.toFixed(4));
  return h("span", {}, String(v));
}

start().catch((e) => notice(`The UI could not start: ${e.message}`));
