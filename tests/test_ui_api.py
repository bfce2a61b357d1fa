"""The web UI's server over plain HTTP: who may call it, what its API answers, its live event stream, `swarm ui`."""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time

import pytest

from lifecycle_support import ask_model, make_engine, run, scaled, script  # noqa: F401
from swarm.cli import main
from swarm.errors import SwarmError
from swarm.ui import UIServer
from swarm.ui.auth import TOKEN_FILE, UIError, server_token
from swarm.ui.queries import OptionalPartMissing, optional
from swarm.ui.server import static_files
from ui_support import request, start_ui, wait_for, write_tree_run

# What the API reads from the store and its live stream run on SQLite and on PostgreSQL; the HTTP rules (tokens,
# origins, bodies, idle connections) do not depend on the store and run once.
both_backends = pytest.mark.usefixtures("store_url")


@pytest.fixture
def ui(make_engine):
    """A UI server over a store holding one finished two-node run; yields (server, engine, run_id)."""
    def plan(ctx):
        if ctx.reports is None:
            return ctx.spawn([ctx.child("ask", question="What is 2+2?")])
        return ctx.reports[0].output

    engine = make_engine(script("plan", plan), script("ask", ask_model),
                         model=[{"match": "2\\+2", "reply": "four"}, {"reply": "ok", "repeat": True}])
    run_id, status = run(engine, "add numbers", "plan")
    assert status == "done"
    server = start_ui(engine)
    yield server, engine, run_id
    server.close()


def token_header(server) -> dict[str, str]:
    return {"X-Swarm-Token": server.token}


# --- who may call it ----------------------------------------------------------------------------


def test_a_state_changing_request_without_the_token_is_refused(ui):
    server, engine, run_id = ui
    status, body = request(server.url + f"api/runs/{run_id}/cancel", "POST", body={})
    assert status == 401 and "X-Swarm-Token" in body["error"]
    status, body = request(server.url + f"api/runs/{run_id}/cancel", "POST", {"X-Swarm-Token": "not-the-token"}, body={})
    assert status == 401 and "wrong UI token" in body["error"]
    status, _ = request(server.url + "api/approvals/1", "POST", body={"decision": "approve"})
    assert status == 401


def test_a_state_changing_request_must_carry_the_token_in_a_header_not_the_url(ui):
    server, _, run_id = ui
    status, _ = request(server.url + f"api/runs/{run_id}/cancel?token={server.token}", "POST", body={})
    assert status == 401


def test_a_request_from_another_origin_is_refused_even_with_the_token(ui):
    server, engine, run_id = ui
    for header in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                   {"Referer": "http://evil.example/page.html"}, {"Origin": "http://127.0.0.1:1"}):
        status, body = request(server.url + f"api/runs/{run_id}/cancel", "POST", {**token_header(server), **header}, body={})
        assert status == 403, header
        assert "refused" in body["error"]
    assert engine.store.run(run_id)["status"] == "done"  # nothing happened


def test_a_request_for_another_host_name_is_refused(ui):
    """DNS rebinding: a page of evil.example resolved to 127.0.0.1 sends Host: evil.example."""
    server, _, _ = ui
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/api/runs", headers={"Host": f"evil.example:{server.port}", **token_header(server)})
    res = conn.getresponse()
    assert res.status == 403 and "not this server's address" in json.loads(res.read())["error"]
    conn.close()


def test_the_same_origin_with_the_token_is_served(ui):
    server, _, run_id = ui
    own = server.url.rstrip("/")
    status, runs = request(server.url + "api/runs", headers={**token_header(server), "Origin": own})
    assert status == 200 and runs[0]["id"] == run_id
    status, _ = request(server.url + "api/runs", headers={**token_header(server), "Referer": own + "/#run=x"})
    assert status == 200
    status, _ = request(server.url + "api/runs", headers={"Authorization": f"Bearer {server.token}"})
    assert status == 200


def test_reading_data_needs_the_token_but_the_page_itself_does_not(ui):
    server, _, _ = ui
    assert request(server.url + "api/runs")[0] == 401
    assert request(server.url + "metrics")[0] == 401
    status, html = request(server.url)
    assert status == 200 and "<script src=\"/app.js\">" in html


def test_every_answer_forbids_framing_and_foreign_scripts(ui):
    server, _, _ = ui
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/")
    res = conn.getresponse()
    res.read()
    csp = res.getheader("Content-Security-Policy")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert res.getheader("X-Frame-Options") == "DENY"


def test_the_page_loads_nothing_from_outside_the_package():
    files = static_files()
    assert {f.name for f in files} == {"index.html", "app.js", "charts.js", "app.css", "favicon.svg"}
    for f in files:
        text = f.read_text(encoding="utf-8").replace('"http://www.w3.org/2000/svg"', "")  # SVG's namespace: a name, not a load
        assert "http://" not in text and "https://" not in text, f"{f.name} refers to another site"


def test_the_page_has_an_icon_at_the_address_browsers_ask_for(ui):
    server, _, _ = ui
    for path in ("favicon.ico", "favicon.svg"):
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=scaled(5))
        conn.request("GET", "/" + path)  # no token: the icon carries no data
        res = conn.getresponse()
        body = res.read()
        conn.close()
        assert res.status == 200 and res.getheader("Content-Type") == "image/svg+xml", path
        assert body.startswith(b"<svg") and len(body) < 2048


def test_the_install_token_is_made_once_readable_only_by_its_owner(tmp_path):
    first = server_token("127.0.0.1", None, tmp_path)
    mode = stat.S_IMODE(os.stat(tmp_path / TOKEN_FILE).st_mode)
    assert mode == 0o600
    assert len(first) >= 32
    assert server_token("127.0.0.1", None, tmp_path) == first


def test_a_non_loopback_address_needs_an_explicit_long_token(tmp_path):
    with pytest.raises(UIError, match=r"\[ui\]\.token"):
        server_token("0.0.0.0", None, tmp_path)
    with pytest.raises(UIError, match="at least 32"):
        server_token("0.0.0.0", "short", tmp_path)
    assert server_token("0.0.0.0", "x" * 40, tmp_path) == "x" * 40
    assert not (tmp_path / TOKEN_FILE).exists()  # an explicit token is never written to disk


def test_swarm_ui_refuses_a_non_loopback_host_without_a_token(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("SWARM_UI_TOKEN", raising=False)
    (tmp_path / "swarm.db").touch()
    code = main(["--store", str(tmp_path / "swarm.db"), "ui", "--host", "0.0.0.0", "--port", "0"])
    assert code == 2
    assert "set [ui].token" in capsys.readouterr().err


def test_swarm_ui_prints_the_page_url_with_the_token_serves_it_and_stops_on_sigterm(tmp_path, make_engine):
    engine = make_engine()
    store = engine.store.path
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "swarm.cli", "--store", str(store), "ui", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    try:
        line = proc.stdout.readline()
        assert line.startswith("swarm: the web UI is at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].strip()
        base, token = url.split("#token=")
        assert token == (store.parent / TOKEN_FILE).read_text().strip()
        assert request(base + "api/runs", headers={"X-Swarm-Token": token}) == (200, [])
        proc.terminate()  # SIGTERM: a clean stop, like Ctrl-C
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
        proc.wait(timeout=10)


# --- what the API answers -----------------------------------------------------------------------


@both_backends
def test_the_graph_of_a_finished_run(ui):
    server, _, run_id = ui
    status, graph = request(server.url + f"api/runs/{run_id}/graph", headers=token_header(server))
    assert status == 200
    assert [n["id"] for n in graph["nodes"]] == ["1", "1.1"]
    assert graph["edges"] == [["1", "1.1"]]
    assert graph["groups"][0]["name"] == "parallel"
    assert graph["run"]["status"] == "done"


@both_backends
def test_a_node_detail_has_its_prompt_reply_events_and_script(ui):
    server, _, run_id = ui
    status, d = request(server.url + f"api/runs/{run_id}/nodes/1.1", headers=token_header(server))
    assert status == 200
    assert d["node"]["data"] == {"question": "What is 2+2?"}
    assert d["node"]["output"] == "four"
    call = d["llm_calls"][0]
    assert call["messages"][-1]["content"] == "What is 2+2?" and call["reply_text"] == "four"
    assert [e["kind"] for e in d["events"]][:2] == ["spawn", "execute"]
    assert d["script"]["name"] == "ask" and d["script"]["kind"] == "plugin"
    assert d["timings"]["duration_s"] is not None


def executions(engine, run_id: str, node_id: str) -> list[tuple[float, float]]:
    """(start, end) of each execution of a node, read from its events: `execute` to its next event."""
    evs = [e for e in engine.store.events(run_id) if e["node_id"] == node_id and e["kind"] != "tool_calls"]
    return [(a["at"], b["at"]) for a, b in zip(evs, evs[1:]) if a["kind"] == "execute"]


@both_backends
def test_a_node_s_time_counts_every_execution_not_only_the_last(ui):
    """The root executes twice (it delegates, then joins the report): its time is both, with the wall span."""
    server, engine, run_id = ui
    ran = executions(engine, run_id, "1")
    assert len(ran) == 2
    active_ms = round(sum(end - start for start, end in ran) * 1000)
    _, graph = request(server.url + f"api/runs/{run_id}/graph", headers=token_header(server))
    root = graph["nodes"][0]
    assert root["active"]["executions"] == 2 and abs(root["active"]["ms"] - active_ms) <= 1
    root_state = next(s for s in engine.store.node_states(run_id) if s["id"] == "1")
    assert root["active"]["span_ms"] == round((root_state["finished_at"] - ran[0][0]) * 1000)
    _, d = request(server.url + f"api/runs/{run_id}/nodes/1", headers=token_header(server))
    t = d["timings"]
    assert t["executions"] == 2 and abs(t["active_s"] * 1000 - active_ms) <= 1
    assert t["duration_s"] == root_state["finished_at"] - root_state["started_at"]  # the last execution alone
    assert t["first_started_at"] == ran[0][0] and t["span_s"] >= t["active_s"]


@both_backends
def test_a_node_detail_as_of_an_early_event(ui):
    server, engine, run_id = ui
    spawn_of_child = next(e["seq"] for e in engine.store.events(run_id) if e["node_id"] == "1.1")
    status, d = request(server.url + f"api/runs/{run_id}/nodes/1.1?at={spawn_of_child}", headers=token_header(server))
    assert status == 200 and d["node"]["status"] == "pending" and d["llm_calls"] == []


@both_backends
def test_unknown_runs_and_nodes_are_404_with_a_hint(ui):
    server, _, run_id = ui
    status, body = request(server.url + "api/runs/nope/graph", headers=token_header(server))
    assert status == 404 and "swarm runs" in body["error"]
    status, body = request(server.url + f"api/runs/{run_id}/nodes/9.9", headers=token_header(server))
    assert status == 404


def test_bad_input_is_a_400_saying_what_is_wrong(ui):
    server, _, run_id = ui
    status, body = request(server.url + f"api/runs/{run_id}/graph?at=soon", headers=token_header(server))
    assert status == 400 and "?at=" in body["error"]
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("POST", f"/api/runs/{run_id}/cancel", body="{}", headers={**token_header(server), "Content-Type": "text/plain"})
    assert conn.getresponse().status == 415


@both_backends
def test_the_runs_list_filters_by_status(ui):
    server, _, run_id = ui
    assert [r["id"] for r in request(server.url + "api/runs?status=done", headers=token_header(server))[1]] == [run_id]
    assert request(server.url + "api/runs?status=failed", headers=token_header(server))[1] == []


@both_backends
def test_the_scrubber_axis_lists_every_event_of_the_run(ui):
    server, engine, run_id = ui
    status, tl = request(server.url + f"api/runs/{run_id}/timeline", headers=token_header(server))
    events = engine.store.events(run_id)
    assert tl["seqs"] == [e["seq"] for e in events]
    assert tl["kinds"][0] == "run_start" and tl["kinds"][-1] == "run_end"


def test_cancel_from_the_api_of_a_finished_run_says_it_already_ended(ui):
    server, _, run_id = ui
    status, body = request(server.url + f"api/runs/{run_id}/cancel", "POST", token_header(server), body={})
    assert status == 200 and body == {"outcome": "done"}


def test_a_part_not_installed_is_named_and_answered_501():
    with pytest.raises(OptionalPartMissing, match="swarm.no_such_part") as info:
        optional("no_such_part", "this feature")
    assert isinstance(info.value, SwarmError)


# --- live events ------------------------------------------------------------------------------------


def read_sse(server, path: str, want, timeout: float = 10.0) -> list[dict]:
    """Read a server-sent-events stream until `want(messages)` holds; returns the data messages."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    conn.request("GET", path, headers=token_header(server))
    res = conn.getresponse()
    assert res.status == 200 and res.getheader("Content-Type").startswith("text/event-stream")
    messages: list[dict] = []
    deadline = time.monotonic() + timeout
    event, data = None, None
    try:
        while time.monotonic() < deadline:
            line = res.fp.readline().decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "" and data is not None:
                messages.append({"event": event, "data": data})
                event, data = None, None
                if want(messages):
                    return messages
    finally:
        conn.close()
    raise AssertionError(f"the stream did not bring what was wanted in {timeout} s: {messages}")


@both_backends
def test_the_stream_replays_the_run_after_a_given_event(ui):
    server, engine, run_id = ui
    seqs = [e["seq"] for e in engine.store.events(run_id)]
    msgs = read_sse(server, f"/api/events?run={run_id}&after={seqs[2]}", lambda m: any(x["event"] == "hello" for x in m))
    replayed = [ev["seq"] for m in msgs if m["event"] is None for ev in m["data"]]
    assert replayed == seqs[3:]


@both_backends
def test_a_status_change_written_to_the_store_reaches_the_stream(ui):
    from swarm.node import TaskNode
    from swarm.store import Batch

    server, engine, run_id = ui
    node = TaskNode.from_state(next(s for s in engine.store.node_states(run_id) if s["id"] == "1.1"))
    node.status = "failed"

    def write_later():
        time.sleep(0.3)
        batch = Batch()
        batch.event(run_id, "terminate", node)
        engine.store.commit(batch, run_id)

    import threading

    threading.Thread(target=write_later).start()
    msgs = read_sse(server, f"/api/events?run={run_id}",
                    lambda m: any(ev.get("node_id") == "1.1" for x in m if x["event"] is None for ev in x["data"]))
    ev = next(ev for x in msgs if x["event"] is None for ev in x["data"] if ev.get("node_id") == "1.1")
    assert ev["kind"] == "terminate" and ev["node"]["status"] == "failed"


def test_one_reader_serves_every_stream(ui):
    server, _, _ = ui
    import threading

    readers = [threading.Thread(target=read_sse, args=(server, "/api/events", lambda m: any(x["event"] == "hello" for x in m)))
               for _ in range(5)]
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    hub_threads = [t for t in threading.enumerate() if t.name == "swarm-ui-events"]
    assert len(hub_threads) == 1


def test_starting_twice_keeps_one_reader_and_one_server_thread(make_engine):
    import threading

    def count(name: str) -> int:
        return sum(1 for t in threading.enumerate() if t.name == name)

    engine = make_engine()
    before = count("swarm-ui-events"), count("swarm-ui")
    with start_ui(engine) as server:  # start_ui started it; `with` starts it again
        server.start()
        assert (count("swarm-ui-events"), count("swarm-ui")) == (before[0] + 1, before[1] + 1)
    wait_for(lambda: (count("swarm-ui-events"), count("swarm-ui")) == before, 5, "the threads to end")


@both_backends
def test_the_graph_of_a_big_run_over_http(make_engine):
    engine = make_engine()
    run_id = write_tree_run(engine.store, nodes=5000)
    with start_ui(engine) as server:
        status, graph = request(server.url + f"api/runs/{run_id}/graph", headers=token_header(server))
    assert status == 200 and len(graph["nodes"]) == 5000 and len(graph["edges"]) == 4999  # how quick: bench/ui.py


def test_the_server_needs_an_existing_store(tmp_path):
    from swarm.config import load_config

    cfg = load_config(env={"SWARM_STORE": str(tmp_path / "none.db")})
    with pytest.raises(UIError, match="no store at"):
        UIServer(cfg, port=0)
    wait_for(lambda: not (tmp_path / "none.db").exists(), 1, "no store file made")


# --- connections: dropped, malformed, idle ---------------------------------------------------------


def open_connections(server) -> int:
    """HTTP connections the server holds open right now (idle keep-alive ones included)."""
    return server.connections()


def connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=scaled(10))
    return sock


def raw_get(server, path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Swarm-Token: {server.token}\r\n\r\n").encode()


def reset(sock: socket.socket) -> None:
    """Close the way a browser tab that goes away often does: at once, with a TCP reset."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (the socket's timeout guards a hang)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server neither answered in full nor closed the connection: {b''.join(chunks)[:300]!r}") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


def test_a_client_that_goes_away_leaves_no_traceback(ui, capfd, caplog):
    from swarm.node import TaskNode
    from swarm.store import Batch

    server, engine, run_id = ui
    caplog.set_level(logging.DEBUG, logger="swarm.ui")
    wait_for(lambda: open_connections(server) == 0, scaled(10), "no connection being served")
    for path in ("/", f"/api/runs/{run_id}/graph"):  # answered in full; the server waits for a next request
        sock = connect(server)
        sock.sendall(raw_get(server, path))
        reply = sock.makefile("rb")
        head = reply.readline()
        length = next(int(line.split(b":")[1]) for line in iter(reply.readline, b"\r\n") if line.lower().startswith(b"content-length:"))
        reply.read(length)
        assert head.startswith(b"HTTP/1.1 200")
        reply.close()
        reset(sock)
    sock = connect(server)
    sock.sendall(raw_get(server, f"/api/events?run={run_id}"))
    assert sock.recv(12).startswith(b"HTTP/1.1 200")  # a stream has begun
    reset(sock)
    node = TaskNode.from_state(next(s for s in engine.store.node_states(run_id) if s["id"] == "1.1"))
    batch = Batch()
    batch.event(run_id, "execute", node)  # gives the event stream something to write to its gone page
    engine.store.commit(batch, run_id)
    wait_for(lambda: open_connections(server) == 0, scaled(10), "every dropped connection's thread to end")
    err = capfd.readouterr().err
    assert "Traceback" not in err and "ConnectionResetError" not in err, err
    dropped = [r for r in caplog.records if r.name == "swarm.ui"]
    assert len(dropped) <= 3 and all(r.levelno == logging.DEBUG and not r.exc_info and len(r.getMessage()) < 200
                                     for r in dropped), [r.getMessage() for r in dropped]


@pytest.mark.parametrize("length, status", [("-1", 400), ("abc", 400), ("1e3", 400), ("12, 13", 400),
                                            (str(2_000_000), 413), ("99999999999999999999", 400)])
def test_a_bad_content_length_is_refused_at_once(ui, length, status):
    """The server answers without waiting for a body (the client sends none and keeps the line open),
    and closes the connection: what follows on it cannot be told apart from a next request. A length that
    is not one whole number is refused by the HTTP parser itself (h11), one over the limit by the Guard."""
    server, engine, run_id = ui
    sock = connect(server)
    sock.sendall((f"POST /api/runs/{run_id}/cancel HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  f"X-Swarm-Token: {server.token}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {length}\r\n\r\n").encode())
    reply = read_until_closed(sock)
    sock.close()
    assert status_of(reply) == status, reply[:200]
    body = reply.split(b"\r\n\r\n", 1)[1]
    assert b"over the limit" in body if status == 413 else (b"Content-Length" in body or b"Invalid HTTP request" in body)
    assert engine.store.run(run_id)["status"] == "done"


def test_a_chunked_body_is_refused_with_a_hint(ui):
    server, _, run_id = ui
    sock = connect(server)
    sock.sendall((f"POST /api/runs/{run_id}/cancel HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  f"X-Swarm-Token: {server.token}\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n").encode())
    reply = read_until_closed(sock)
    sock.close()
    assert status_of(reply) == 411 and b"Content-Length" in reply


@pytest.fixture
def quick_idle(make_engine):
    """A UI server that closes connections idle for half a second (the default is 30 s)."""
    engine = make_engine()
    run_id = write_tree_run(engine.store, nodes=3, run_id="small")
    with start_ui(engine, idle_timeout_s=0.5) as server:
        yield server, engine, run_id


def test_an_idle_keep_alive_connection_is_closed_and_its_thread_freed(quick_idle):
    server, _, _ = quick_idle
    wait_for(lambda: open_connections(server) == 0, scaled(10), "no connection being served")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=scaled(10))
    conn.request("GET", "/api/runs", headers=token_header(server))
    res = conn.getresponse()
    assert res.status == 200 and res.read().startswith(b"[")
    assert not res.will_close  # kept alive for a next request ...
    assert open_connections(server) == 1
    assert conn.sock.recv(1) == b""  # ... which does not come: the server ends the connection
    conn.close()
    wait_for(lambda: open_connections(server) == 0, scaled(10), "the idle connection's thread to end")


def test_a_body_that_stops_arriving_is_a_408_and_frees_the_thread(quick_idle):
    server, _, run_id = quick_idle
    sock = connect(server)
    sock.sendall((f"POST /api/runs/{run_id}/cancel HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                  f"X-Swarm-Token: {server.token}\r\nContent-Type: application/json\r\n"
                  "Content-Length: 10\r\n\r\n{\"no").encode())  # 4 of the 10 bytes, then nothing
    reply = read_until_closed(sock)
    sock.close()
    assert status_of(reply) == 408 and b"did not arrive" in reply
    wait_for(lambda: open_connections(server) == 0, scaled(10), "the connection's thread to end")


def test_an_event_stream_outlives_the_idle_timeout(quick_idle):
    from swarm.node import TaskNode
    from swarm.store import Batch

    server, engine, run_id = quick_idle
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=scaled(10))
    conn.request("GET", f"/api/events?run={run_id}", headers=token_header(server))
    res = conn.getresponse()
    assert res.status == 200
    while res.fp.readline().strip() != b"event: hello":
        pass
    time.sleep(4 * server.idle_timeout_s)  # idle on the socket for longer than a keep-alive connection may be
    node = TaskNode.from_state(engine.store.node_states(run_id)[0])
    batch = Batch()
    batch.event(run_id, "execute", node)
    seq = engine.store.commit(batch, run_id)
    line = b""
    while not line.startswith(b"id: "):
        line = res.fp.readline()
        assert line, "the server closed the event stream"
    assert int(line[4:]) == seq
    conn.close()
