"""The REST API's OpenAPI 3.1 document: served at /api/openapi.json, committed as swarm/ui/openapi.json.

    python -m swarm.ui.openapi            # print it
    python -m swarm.ui.openapi --write    # write swarm/ui/openapi.json (tests/test_ui_openapi.py checks it is current)

Every API route of swarm.ui.app is here with what it answers, errors included ({"error": text},
saying what is wrong and what to do). Authentication: the UI token (`swarm ui` prints it in the
page's link and keeps it in .swarm-ui-token next to the store, or [ui].token) in the X-Swarm-Token
header or as a bearer token; the event stream alone may take it as ?token=.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from swarm.engine import BUDGET_KEYS

COMMITTED = Path(__file__).with_name("openapi.json")


def _null(kind: str | list[str]) -> dict[str, Any]:
    return {"type": ([kind] if isinstance(kind, str) else kind) + ["null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERROR = _json(_ref("Error"), "what is wrong and what to do")
ERRORS = {"400": ERROR, "401": _json(_ref("Error"), "no UI token, or a wrong one"),
          "403": _json(_ref("Error"), "another origin, or a Host that is not this server's")}
CHANGE_ERRORS = {**ERRORS, "408": _json(_ref("Error"), "the body did not arrive in time"),
                 "411": _json(_ref("Error"), "a chunked body (send a Content-Length)"),
                 "413": _json(_ref("Error"), "the body is over 1 MB"),
                 "415": _json(_ref("Error"), "the body is not JSON")}
NOT_FOUND = {"404": _json(_ref("Error"), "no such run, node or approval request")}
RUN_ID = {"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"},
          "description": "a run id, or a unique prefix of one"}
AT = {"name": "at", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
      "description": "an event number: the state as of that event (default: now)"}
APPROVAL_ID = {"name": "approval_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}}
LOOSE = {"type": "object"}  # a document whose parts are described in the README (stats, diff)

BUDGET_SCHEMAS = {
    "max_nodes": {"type": "integer", "minimum": 1, "maximum": 2**53},
    "max_depth": {"type": "integer", "minimum": 1, "maximum": 2**53},
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 2**53},
    "max_cost_usd": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e12},
    "max_wall_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 1e12},
}
assert set(BUDGET_SCHEMAS) == set(BUDGET_KEYS)

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
    "Run": {
        "type": "object", "required": ["id", "goal", "status", "created_at"],
        "properties": {
            "id": {"type": "string"}, "goal": {"type": "string"}, "script": _null("string"), "status": {"type": "string"},
            "stop_reason": _null("string"), "error": _null("string"), "created_at": {"type": "number"},
            "finished_at": _null("number"), "model": _null("string"), "prompt_tokens": _null("integer"),
            "completion_tokens": _null("integer"), "cost_usd": _null("number"), "nodes": _null("integer"),
            "last_event": _null("integer"), "active_s": _null("number"), "forked_from": _null("string"),
            "forked_at": _null("integer"), "age_s": {"type": "number"}, "tokens": {"type": "integer"},
            "pause_requested": {"type": "boolean", "description": "asked to pause; the loop driving it has not stopped yet"},
        },
    },
    "NodeView": {
        "type": "object", "required": ["id", "parent", "script", "status", "depth", "label", "tokens", "cost_usd", "ms"],
        "properties": {
            "id": {"type": "string"}, "parent": _null("string"), "script": _null("string"), "status": {"type": "string"},
            "depth": {"type": "integer"}, "label": {"type": "string"}, "tokens": {"type": "integer"},
            "cost_usd": {"type": "number"}, "ms": _null("integer"), "error": {"type": "string"},
            "children": {"type": "array", "items": {"type": "string"}}, "descendants": {"type": "integer"},
            "collapsed": {"type": "boolean"}, "active": LOOSE, "group": LOOSE,
        },
    },
    "Graph": {
        "type": "object", "required": ["run", "at_event", "seq", "nodes", "edges", "groups", "counts"],
        "properties": {
            "run": LOOSE, "at_event": _null("integer"), "seq": _null("integer"),
            "nodes": {"type": "array", "items": _ref("NodeView")},
            "edges": {"type": "array", "items": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 2}},
            "groups": {"type": "array", "items": LOOSE},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        },
    },
    "Timeline": {
        "type": "object", "required": ["run_id", "seqs", "kinds", "nodes"],
        "properties": {"run_id": {"type": "string"}, "seqs": {"type": "array", "items": {"type": "integer"}},
                       "kinds": {"type": "array", "items": {"type": "string"}},
                       "nodes": {"type": "array", "items": _null("string")}},
    },
    "NodeDetail": {
        "type": "object",
        "required": ["run_id", "at_event", "node", "children", "timings", "tokens", "cost_usd", "llm_calls", "events",
                     "logs", "errors", "sandbox_code", "script"],
        "properties": {
            "run_id": {"type": "string"}, "at_event": _null("integer"), "node": LOOSE,
            "children": {"type": "array", "items": {"type": "string"}}, "timings": LOOSE,
            "tokens": {"type": "object", "required": ["prompt", "completion"],
                       "properties": {"prompt": {"type": "integer"}, "completion": {"type": "integer"}}},
            "cost_usd": {"type": "number"}, "llm_calls": {"type": "array", "items": LOOSE},
            "events": {"type": "array", "items": LOOSE}, "logs": {"type": "array", "items": {"type": "string"}},
            "errors": {"type": "array", "items": LOOSE}, "sandbox_code": {"type": "array", "items": LOOSE},
            "script": LOOSE,
        },
    },
    "Checkout": {
        "type": "object", "required": ["run", "at_event", "event", "events", "nodes"],
        "properties": {"run": LOOSE, "at_event": {"type": "integer"}, "event": _null("object"), "events": LOOSE,
                       "nodes": {"type": "array", "items": LOOSE}},
    },
    "Approval": {
        "type": "object", "required": ["id", "run_id", "node_id", "kind", "status", "editable"],
        "properties": {"id": {"type": "integer"}, "run_id": {"type": "string"}, "node_id": _null("string"),
                       "kind": {"type": "string"}, "status": {"type": "string"}, "question": _null("string"),
                       "editable": {"type": "string"}},
    },
    "Budgets": {"type": "object", "additionalProperties": False, "properties": BUDGET_SCHEMAS,
                "description": "limits of this run; a limit left out is [run]'s in swarm.toml"},
    "RunRequest": {
        "type": "object", "required": ["goal"], "additionalProperties": False,
        "properties": {
            "goal": {"type": "string", "minLength": 1, "pattern": "\\S", "description": "what the swarm should do"},
            "script": {**_null("string"), "description": "the root node's script (default [run].root_script)"},
            "model": {**_null("string"), "description": "a model name for this run's calls instead of [model].model"},
            "budgets": _ref("Budgets"),
        },
    },
    "Submitted": {
        "type": "object", "required": ["run_id", "run", "driven_here"],
        "properties": {"run_id": {"type": "string"}, "run": _ref("Run"), "driven_here": {"type": "boolean"}},
    },
    "Decision": {
        "type": "object", "additionalProperties": False,
        "properties": {"note": _null("string"), "reason": _null("string"), "edited": {},
                       "edited_text": _null("string")},
        "description": "reason: why (a rejection needs one); edited: the proposal replaced (approve); "
                       "edited_text: the edited text of the request's `editable` (approve)",
    },
    "Decided": {
        "type": "object", "required": ["approval", "run_id", "driven_here"],
        "properties": {"approval": _null("object"), "run_id": _null("string"), "driven_here": {"type": "boolean"}},
    },
    "Charts": {
        "type": "object", "required": ["scope", "completion", "usage", "failures"],
        "description": "the Stats charts' numbers: one bar per bucket",
        "properties": {
            "scope": {"type": "string", "description": '"all", or the run\'s id'},
            "completion": {
                "type": "object", "required": ["of", "unit", "count", "edges", "counts"],
                "description": "how long the runs that ended took (of one run: its ended nodes, first start to end); "
                               "bucket i holds edges[i] <= seconds < edges[i+1]",
                "properties": {"of": {"type": "string", "enum": ["runs", "nodes"]}, "unit": {"const": "s"},
                               "count": {"type": "integer"}, "edges": {"type": "array", "items": {"type": "number"}},
                               "counts": {"type": "array", "items": {"type": "integer"}}}},
            "usage": {
                "type": "object", "required": ["start", "width_s", "calls", "prompt_tokens", "completion_tokens", "tokens",
                                               "cost_usd"],
                "description": "model calls, tokens and cost per time bucket: bucket i is from start + i × width_s "
                               "(start and width_s null when there was no model call)",
                "properties": {"start": _null("number"), "width_s": _null("number"),
                               **{k: {"type": "array", "items": {"type": "integer"}}
                                  for k in ("calls", "prompt_tokens", "completion_tokens", "tokens")},
                               "cost_usd": {"type": "array", "items": {"type": "number"}}}},
            "failures": {"type": "array", "description": "failures by type, the most frequent first", "items": {
                "type": "object", "required": ["type", "source", "count"],
                "properties": {"type": {"type": "string"}, "count": {"type": "integer"},
                               "source": {"type": "string", "enum": ["executions", "model calls", "tool calls"]}}}},
        },
    },
    "PauseState": {
        "type": "object", "required": ["run_id", "status"],
        "properties": {"run_id": {"type": "string"}, "driven_here": {"type": "boolean"},
                       "status": {"type": "string", "enum": ["requested", "paused", "unpaused", "resumed"]}},
    },
}


def _op(summary: str, responses: dict[str, Any], *, params=(), body: dict[str, Any] | None = None,
        op_id: str, tags=("runs",)) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": op_id, "summary": summary, "tags": list(tags), "responses": responses}
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = body
    return op


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def document() -> dict[str, Any]:
    """The OpenAPI document of the UI server's API."""
    run_reads = {**ERRORS, **NOT_FOUND}
    changes = {**CHANGE_ERRORS, **NOT_FOUND}
    paths = {
        "/api/info": {"get": _op("Features present, the run statuses, the store's path", {
            "200": _json({"type": "object", "required": ["features", "statuses", "store"],
                          "properties": {"features": {"type": "object", "additionalProperties": {"type": "boolean"}},
                                         "statuses": {"type": "array", "items": {"type": "string"}},
                                         "store": {"type": "string"}}}, "the server"), **ERRORS},
            op_id="info", tags=["server"])},
        "/api/openapi.json": {"get": _op("This document", {"200": _json(LOOSE, "the OpenAPI document"), **ERRORS},
                                         op_id="openapi", tags=["server"])},
        "/api/runs": {
            "get": _op("Runs, newest first", {"200": _json({"type": "array", "items": _ref("Run")}, "the runs"), **ERRORS},
                       op_id="listRuns", params=[
                           {"name": "status", "in": "query", "schema": {"type": "string"}, "description": "only runs of this status"},
                           {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000}}]),
            "post": _op("Submit a goal: a new run, recorded and driven by the server in the background",
                        {"201": _json(_ref("Submitted"), "the new run (pending or already running)"), **CHANGE_ERRORS},
                        op_id="submitRun", body=_body(_ref("RunRequest"))),
        },
        "/api/runs/{run_id}": {"get": _op("One run", {"200": _json(_ref("Run"), "the run"), **run_reads},
                                          op_id="getRun", params=[RUN_ID])},
        "/api/runs/{run_id}/graph": {"get": _op("The run's execution graph, now or as of an event",
                                                {"200": _json(_ref("Graph"), "nodes, edges, policy groups"), **run_reads},
                                                op_id="getGraph", params=[RUN_ID, AT])},
        "/api/runs/{run_id}/timeline": {"get": _op("The run's event numbers, kinds and nodes (the history scrubber's axis)",
                                                   {"200": _json(_ref("Timeline"), "the timeline"), **run_reads},
                                                   op_id="getTimeline", params=[RUN_ID])},
        "/api/runs/{run_id}/nodes/{node_id}": {"get": _op(
            "One node's detail: input, output, errors, timings, model calls, events, logs, code, script",
            {"200": _json(_ref("NodeDetail"), "the node"), **run_reads}, op_id="getNode",
            params=[RUN_ID, {"name": "node_id", "in": "path", "required": True, "schema": {"type": "string"}}, AT])},
        "/api/runs/{run_id}/checkout": {"get": _op("The run as it was right after an event (default: its last)",
                                                   {"200": _json(_ref("Checkout"), "the run and its nodes then"), **run_reads},
                                                   op_id="checkoutRun", params=[RUN_ID, AT], tags=["history"])},
        "/api/runs/{run_id}/diff": {"get": _op("This run compared with another (swarm diff)",
                                               {"200": _json(LOOSE, "the differences"), **run_reads}, op_id="diffRuns",
                                               params=[RUN_ID, {"name": "with", "in": "query", "required": True,
                                                                "schema": {"type": "string"}}], tags=["history"])},
        "/api/runs/{run_id}/fork": {"post": _op(
            "A new run from this one as it was at an event, with edits; driven by the server",
            {"200": _json({"type": "object", "required": ["run_id"], "properties": {"run_id": {"type": "string"}}},
                          "the new run"), **changes}, op_id="forkRun", params=[RUN_ID], tags=["history"],
            body=_body({"type": "object", "required": ["at_event"], "additionalProperties": False,
                        "properties": {"at_event": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                                       "sets": {**_null("object"), "description": "NODE.data.KEY -> value"}}}))},
        "/api/runs/{run_id}/cancel": {"post": _op(
            "Cancel the run, or one node and everything under it",
            {"200": _json({"type": "object", "required": ["outcome"], "properties": {"outcome": {"type": "string"}}},
                          "requested (a live loop acts within a second), cancelled, pending, or the status of an ended run"),
             **changes}, op_id="cancelRun", params=[RUN_ID],
            body=_body({"type": "object", "additionalProperties": False, "properties": {"node": _null("string")}},
                       required=False))},
        "/api/runs/{run_id}/pause": {"post": _op("Pause the run: no new node starts until it is resumed",
                                                 {"200": _json(_ref("PauseState"), "requested or paused"), **changes},
                                                 op_id="pauseRun", params=[RUN_ID],
                                                 body=_body({"type": "object", "maxProperties": 0}, required=False))},
        "/api/runs/{run_id}/resume": {"post": _op(
            "Lift a pause and go on; the server drives the run when no live process does",
            {"200": _json(_ref("PauseState"), "requested, unpaused or resumed"), **changes}, op_id="resumeRun",
            params=[RUN_ID], body=_body({"type": "object", "maxProperties": 0}, required=False))},
        "/api/events": {"get": _op(
            "Server-sent events: the run's node events (batches of {seq, run_id, node_id, kind, at, node}), every run's "
            "run-level events and approvals; `hello` once caught up, `reload` when the page fell behind",
            {"200": {"description": "an endless event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
             **run_reads}, op_id="streamEvents", tags=["events"], params=[
                {"name": "run", "in": "query", "schema": {"type": "string"}},
                {"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0},
                 "description": "replay the run's events after this one first"},
                {"name": "token", "in": "query", "schema": {"type": "string"},
                 "description": "the UI token, for an EventSource (which cannot send headers)"}])},
        "/api/approvals": {"get": _op("Requests waiting for a person", {
            "200": _json({"type": "array", "items": _ref("Approval")}, "pending requests, oldest first"), **run_reads},
            op_id="listApprovals", tags=["approvals"], params=[{"name": "run", "in": "query", "schema": {"type": "string"}}])},
        "/api/approvals/{approval_id}": {"post": _op(
            "Decide a request (the viewer's form): decision approve or reject",
            {"200": _json(_ref("Decided"), "decided; the run goes on"), **changes,
             "409": _json(_ref("Error"), "already decided")}, op_id="decideApproval", tags=["approvals"],
            params=[APPROVAL_ID], body=_body({**SCHEMAS["Decision"], "required": ["decision"], "properties": {
                **SCHEMAS["Decision"]["properties"], "decision": {"type": "string", "enum": ["approve", "reject"]}}}))},
        "/api/approvals/{approval_id}/approve": {"post": _op(
            "Approve a request (with edited or edited_text: the proposal replaced)",
            {"200": _json(_ref("Decided"), "approved; the run goes on"), **changes,
             "409": _json(_ref("Error"), "already decided")}, op_id="approve", tags=["approvals"], params=[APPROVAL_ID],
            body=_body(_ref("Decision"), required=False))},
        "/api/approvals/{approval_id}/reject": {"post": _op(
            "Reject a request; the reason becomes the error the node's parent hears",
            {"200": _json(_ref("Decided"), "rejected"), **changes, "409": _json(_ref("Error"), "already decided")},
            op_id="reject", tags=["approvals"], params=[APPROVAL_ID],
            body=_body({**SCHEMAS["Decision"], "required": ["reason"]}))},
        "/api/compare": {"get": _op("Two runs compared (swarm diff A B)", {"200": _json(LOOSE, "the differences"),
                                                                            **run_reads},
                                    op_id="compareRuns", tags=["history"], params=[
                                        {"name": "a", "in": "query", "required": True, "schema": {"type": "string"}},
                                        {"name": "b", "in": "query", "required": True, "schema": {"type": "string"}}])},
        "/api/stats": {"get": _op("Metrics of every run or one (swarm stats)", {"200": _json(LOOSE, "the stats"), **run_reads},
                                  op_id="stats", tags=["metrics"],
                                  params=[{"name": "run", "in": "query", "schema": {"type": "string"}}])},
        "/api/stats/charts": {"get": _op(
            "The Stats charts' numbers, of every run or one: completion times, tokens and cost over time, failures by type",
            {"200": _json(_ref("Charts"), "the charts"), **run_reads}, op_id="statsCharts", tags=["metrics"],
            params=[{"name": "run", "in": "query", "schema": {"type": "string"}},
                    {"name": "buckets", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 60},
                     "description": "about how many bars a chart has (default 12)"}])},
        "/metrics": {"get": _op("Prometheus metrics", {
            "200": {"description": "the Prometheus text format",
                    "content": {"text/plain; version=0.0.4; charset=utf-8": {"schema": {"type": "string"}}}}, **ERRORS},
            op_id="metrics", tags=["metrics"])},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "swarm", "version": "1",
                 "description": "The REST API of `swarm ui`: submit goals, watch runs live, decide approvals, travel in "
                                "history. Every answer that is not 2xx is {\"error\": what is wrong and what to do}."},
        "servers": [{"url": "/"}],
        "security": [{"token": []}, {"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"token": {"type": "apiKey", "in": "header", "name": "X-Swarm-Token"},
                                "bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def text() -> str:
    return json.dumps(document(), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        COMMITTED.write_text(text(), encoding="utf-8")
        print(f"wrote {COMMITTED}")
    else:
        sys.stdout.write(text())
