"""Export: one self-contained HTML file of a run, to attach to a bug report.

The tree is rendered on the server as nested <details> elements, so the file reads with
scripts blocked too; every text is HTML-escaped. Each node shows its input, the prompts and
replies of its model calls, its output or error, logs, tool calls, timings, tokens and cost.
The same data is embedded as JSON (with `<`, `>` and `&` escaped, so no text can close the
<script> element) for the page's filter and search, and for tools that read the file.
Inline CSS and JS only: the file loads nothing from anywhere.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path
from typing import Any

from swarm.errors import SwarmError
from swarm.snapshot import state_at
from swarm.statuses import EventKind, NodeStatus
from swarm.store import Store, loads

STATUSES = tuple(NodeStatus)
OPEN_ALL_BELOW = 200  # nodes: a run this small opens fully; a larger one opens its first two levels


def run_data(store: Store, run_id: str) -> dict[str, Any]:
    """Everything the export shows, as JSON-able data: the run, and each node with its calls and executions."""
    run = store.run(run_id)
    rid = run["id"]
    nodes = {n["id"]: {**n, "calls": [], "executions": [], "tool_calls": []} for n in state_at(store, rid)}
    for call in store.llm_calls(rid):
        node = nodes.get(call["node_id"])
        if node is None:
            continue
        request = loads(call["request"]) or {}
        reply = loads(call["reply"]) or {}
        node["calls"].append({
            "round": call["round"], "attempt": call["attempt"], "model": call["model"], "at": call["at"],
            "messages": request.get("messages") or [], "schema": request.get("schema"),
            "reply": reply.get("text"), "error": call["error"], "prompt_tokens": call["prompt_tokens"],
            "completion_tokens": call["completion_tokens"], "cost_usd": call["cost_usd"], "latency_ms": call["latency_ms"],
        })
    for event in store.events(rid):
        node = nodes.get(event["node_id"] or "")
        if node is None:
            continue
        detail = loads(event["detail"]) or {}
        if event["kind"] == EventKind.EXECUTE:
            node["executions"].append({"at": event["at"], "round": detail.get("round"), "attempt": detail.get("attempt")})
        elif event["kind"] in (EventKind.EXECUTE_END, EventKind.RETRY) and node["executions"]:
            node["executions"][-1].update(ended=event["at"], returned=detail.get("returned"),
                                          error=detail.get("error"), logs=detail.get("logs") or [])
        elif event["kind"] == EventKind.TOOL_CALLS:
            node["tool_calls"].extend(detail.get("calls") or [])
    return {
        "run": {**{k: v for k, v in run.items() if k not in ("result", "budgets")},
                "result": loads(run["result"]), "budgets": loads(run["budgets"])},
        "nodes": list(nodes.values()),  # in state_at's tree order
        "exported_at": time.time(),
    }


def export_html(store: Store, run_id: str, path: str | Path) -> Path:
    """Write the run as one HTML file at `path`, in a folder that exists (a typo makes no folders); returns the path."""
    target = Path(path)
    if not target.parent.exists():
        raise SwarmError(f"the folder {target.parent} does not exist; create it first, or give a file in an existing folder")
    target.write_text(render(run_data(store, run_id)), encoding="utf-8")
    return target


def render(data: dict[str, Any]) -> str:
    """The page of `run_data`'s data."""
    run, nodes = data["run"], data["nodes"]
    children: dict[str | None, list[dict]] = {}
    for n in nodes:
        children.setdefault(n["parent"], []).append(n)
    open_depth = 10**6 if len(nodes) < OPEN_ALL_BELOW else 1
    roots = children.get(None, [])
    tree = "".join(_node(n, children, open_depth) for n in roots)
    return PAGE.format(
        title=_e(f"swarm run {run['id']}"), style=STYLE, script=SCRIPT,
        header=_header(run, nodes, data["exported_at"]), tree=tree or "<p>No nodes.</p>",
        filters="".join(
            f'<label class="s-{s}"><input type="checkbox" data-status="{s}" checked> {s} '
            f'({sum(1 for n in nodes if n["status"] == s)})</label>' for s in STATUSES
            if any(n["status"] == s for n in nodes)
        ),
        data=embed_json(data),
    )


def embed_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no `</script>`, `<!--` or line separator can appear."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


# --- pieces of the page ----------------------------------------------------------------------------


def _header(run: dict[str, Any], nodes: list[dict], exported_at: float) -> str:
    tokens = (run.get("prompt_tokens") or 0) + (run.get("completion_tokens") or 0)
    duration = (run["finished_at"] - run["created_at"]) if run.get("finished_at") else None
    rows = [
        ("goal", run["goal"]), ("status", run["status"] + (f" ({run['stop_reason']})" if run.get("stop_reason") else "")),
        ("root script", run["script"]), ("model", run.get("model") or ""),
        ("created", _when(run["created_at"])), ("finished", _when(run.get("finished_at"))),
        ("duration", _secs(duration)), ("active", _secs(run.get("active_s"))),
        ("nodes", str(len(nodes))), ("tokens", f"{tokens} ({run.get('prompt_tokens') or 0} in, {run.get('completion_tokens') or 0} out)"),
        ("cost", f"${run.get('cost_usd') or 0:.6f}"), ("exported", _when(exported_at)),
    ]
    if run.get("error"):
        rows.append(("error", run["error"]))
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    result = f"<details><summary>result</summary>{_pre(run.get('result'))}</details>" if run.get("result") is not None else ""
    return f'<h1><span class="dot s-{_e(run["status"])}"></span>run {_e(run["id"])}</h1><table class="kv">{table}</table>{result}'


def _node(n: dict[str, Any], children: dict[str | None, list[dict]], open_depth: int) -> str:
    kids = children.get(n["id"], [])
    tokens = (n.get("prompt_tokens") or 0) + (n.get("completion_tokens") or 0)
    meta = [f"{tokens} tok"] if tokens else []
    if n.get("cost_usd"):
        meta.append(f"${n['cost_usd']:.6f}")
    if n.get("finished_at") and n.get("created_at"):
        meta.append(_secs(n["finished_at"] - n["created_at"]))
    if kids:
        meta.append(f"{len(kids)} children" + (f", {n['policy']}" if n.get("policy") else ""))
    goal = str((n.get("data") or {}).get("goal", ""))
    summary = (
        f'<span class="dot s-{_e(n["status"])}"></span><b class="id">{_e(n["id"])}</b> '
        f'<span class="script">{_e(n["script"])}</span> <span class="status s-{_e(n["status"])}">{_e(n["status"])}</span>'
        + (f' <span class="goal">{_e(goal[:140])}</span>' if goal else "")
        + (f' <span class="meta">{_e(" · ".join(meta))}</span>' if meta else "")
    )
    opened = " open" if n.get("depth", 0) < open_depth else ""
    inner = _details(n) + (f'<div class="children">{"".join(_node(k, children, open_depth) for k in kids)}</div>' if kids else "")
    return (f'<details class="node" id="node-{_e(n["id"])}" data-status="{_e(n["status"])}"{opened}>'
            f"<summary>{summary}</summary>{inner}</details>")


def _details(n: dict[str, Any]) -> str:
    parts = [_section("input", _pre(n.get("data")))]
    for call in n["calls"]:
        head = (f"model call · round {call['round']} · attempt {call['attempt']} · {call.get('model') or 'no reply'} · "
                f"{call['prompt_tokens']}+{call['completion_tokens']} tok · ${call['cost_usd'] or 0:.6f} · "
                f"{call['latency_ms'] or 0:.0f} ms")
        messages = "".join(f'<div class="msg"><span class="role">{_e(m.get("role", ""))}</span>{_pre(m.get("content"))}</div>'
                           for m in call["messages"] if isinstance(m, dict))
        body = f"<h4>prompt</h4>{messages}"
        if call.get("schema") is not None:
            body += f"<h4>schema</h4>{_pre(call['schema'])}"
        body += f"<h4>reply</h4>{_pre(call['reply'])}" if call.get("reply") is not None else ""
        body += f'<h4>error</h4><pre class="error">{_e(call["error"])}</pre>' if call.get("error") else ""
        parts.append(_section(head, body))
    if n.get("status") == NodeStatus.DONE or n.get("output") is not None:
        parts.append(_section("output", _pre(n.get("output")), opened=True))
    if n.get("error"):
        parts.append(_section("error" if n["status"] == NodeStatus.FAILED else "reason", f'<pre class="error">{_e(n["error"])}</pre>', opened=True))
    logs = [line for e in n["executions"] for line in e.get("logs") or []]
    if logs:
        parts.append(_section("logs", _pre("\n".join(logs))))
    if n["tool_calls"]:
        rows = "".join(
            f"<tr><td>{_e(c.get('tool'))}</td><td>{'ok' if c.get('ok') else 'error'}</td><td>{_e(c.get('ms'))} ms</td>"
            f"<td>{_e(c.get('error') or '')}</td></tr>" for c in n["tool_calls"])
        parts.append(_section(f"tool calls ({len(n['tool_calls'])})", f'<table class="grid">{rows}</table>'))
    parts.append(_section("timings", _timings(n)))
    return f'<div class="info">{"".join(parts)}</div>'


def _timings(n: dict[str, Any]) -> str:
    rows = [("created", _when(n.get("created_at"))), ("last started", _when(n.get("started_at"))),
            ("finished", _when(n.get("finished_at"))),
            ("lifetime", _secs(n["finished_at"] - n["created_at"]) if n.get("finished_at") and n.get("created_at") else "")]
    for e in n["executions"]:
        took = _secs(e["ended"] - e["at"]) if e.get("ended") else "unfinished"
        rows.append((f"execution r{e.get('round')} a{e.get('attempt')}",
                     f"{_when(e['at'])} · {took} · {e.get('returned') or ''}" + (f" · {e['error']}" if e.get("error") else "")))
    rows += [("tokens", f"{n.get('prompt_tokens') or 0} in, {n.get('completion_tokens') or 0} out"),
             ("cost", f"${n.get('cost_usd') or 0:.6f}"), ("depth", str(n.get("depth", ""))),
             ("rounds / attempts", f"{n.get('round', 0) + 1} / {n.get('attempts', 0)}")]
    return '<table class="kv">' + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows) + "</table>"


def _section(title: str, body: str, opened: bool = False) -> str:
    return f'<details class="part"{" open" if opened else ""}><summary>{_e(title)}</summary>{body}</details>'


def _pre(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2, default=repr)
    return f"<pre>{_e(text)}</pre>"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _when(t: float | None) -> str:
    if not t:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


def _secs(s: float | None) -> str:
    if s is None:
        return ""
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<header>{header}</header>
<nav>
<button type="button" id="expand">expand all</button>
<button type="button" id="collapse">collapse all</button>
<input type="search" id="find" placeholder="find a node: id, script or text">
<span id="found"></span>
<span class="filters">{filters}</span>
</nav>
<main id="tree">{tree}</main>
<script type="application/json" id="swarm-run">{data}</script>
<script>{script}</script>
</body>
</html>
"""

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2125;background:#fafbfc}
header{padding:12px 20px;background:#fff;border-bottom:1px solid #dde1e5}
h1{font-size:18px;margin:0 0 8px}
nav{position:sticky;top:0;z-index:1;padding:8px 20px;background:#f1f3f5;border-bottom:1px solid #dde1e5}
nav input[type=search]{width:260px}
.filters label{margin-left:10px;font-size:12px}
main{padding:10px 20px 40px}
table.kv th{text-align:left;font-weight:600;padding-right:12px;vertical-align:top;white-space:nowrap;color:#555}
table.kv td{white-space:pre-wrap;word-break:break-word}
table.grid td{padding:1px 8px;border-bottom:1px solid #eee}
details.node{margin-left:18px;border-left:1px dotted #c4c9ce;padding-left:6px}
main>details.node{margin-left:0}
details.node>summary{cursor:pointer;padding:2px 0}
details.node.hit>summary{background:#fff3bf}
.info{margin:2px 0 6px 18px;padding:4px 8px;background:#fff;border:1px solid #e6e8eb;border-radius:4px}
details.part>summary{cursor:pointer;color:#445;font-size:13px}
pre{margin:4px 0;padding:6px 8px;background:#f6f8fa;border-radius:3px;white-space:pre-wrap;word-break:break-word;max-height:420px;overflow:auto}
pre.error{background:#fff0f0;color:#a61b1b}
.msg .role{font-size:11px;text-transform:uppercase;color:#667}
h4{margin:6px 0 2px;font-size:12px;color:#556}
.id{font-family:ui-monospace,monospace}
.script{font-family:ui-monospace,monospace;color:#364fc7}
.goal{color:#333}
.meta{color:#777;font-size:12px}
.status{font-size:12px;padding:0 5px;border-radius:3px;color:#fff}
.dot{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px;vertical-align:middle}
.s-pending{background:#adb5bd}.s-running{background:#1c7ed6}.s-waiting{background:#7950f2}
.s-awaiting_approval{background:#f08c00}.s-done{background:#2f9e44}.s-failed{background:#e03131}.s-cancelled{background:#868e96}
.filters label.s-pending,.filters label.s-running,.filters label.s-waiting,.filters label.s-awaiting_approval,
.filters label.s-done,.filters label.s-failed,.filters label.s-cancelled{color:#fff;padding:1px 5px;border-radius:3px}
.hidden{display:none}
"""

SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('swarm-run').textContent);
  var nodes = Array.prototype.slice.call(document.querySelectorAll('details.node'));
  function setAll(open) { nodes.forEach(function (d) { d.open = open; }); }
  document.getElementById('expand').onclick = function () { setAll(true); };
  document.getElementById('collapse').onclick = function () { setAll(false); };
  var hidden = {};
  Array.prototype.forEach.call(document.querySelectorAll('[data-status][type=checkbox]'), function (box) {
    box.onchange = function () {
      hidden[box.dataset.status] = !box.checked;
      nodes.forEach(function (d) { d.classList.toggle('hidden', !!hidden[d.dataset.status]); });
    };
  });
  var text = null;  // each node's data as lower-case text, made on the first search
  document.getElementById('find').oninput = function (ev) {
    var q = ev.target.value.trim().toLowerCase(), hits = 0;
    if (!text) {
      text = {};
      data.nodes.forEach(function (n) { text[n.id] = JSON.stringify(n).toLowerCase(); });
    }
    nodes.forEach(function (d) { d.classList.remove('hit'); });
    if (!q) { document.getElementById('found').textContent = ''; return; }
    data.nodes.forEach(function (n) {
      if (n.id !== q && n.script.toLowerCase() !== q && text[n.id].indexOf(q) < 0) return;
      var el = document.getElementById('node-' + n.id);
      if (!el) return;
      hits++;
      el.classList.add('hit');
      for (var p = el; p; p = p.parentElement) { if (p.tagName === 'DETAILS' && p.classList.contains('node')) p.open = true; }
    });
    document.getElementById('found').textContent = hits + ' found';
  };
})();
"""
