"""The scripted model server, driven over real loopback HTTP by the openai client, urllib and its CLI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email.utils import parsedate_to_datetime
from pathlib import Path

import openai
import pytest

from swarm.testing import ScriptedModelServer, ScriptError, load_script
from swarm.testing.pytest_plugin import scripted_model  # noqa: F401  (until the package is pip-installed)
from lifecycle_support import wait_for
from timeouts import scaled

REPO = Path(__file__).resolve().parents[1]


def client(server: ScriptedModelServer, **kwargs) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="x", max_retries=0, **kwargs)


def ask(server: ScriptedModelServer, text: str, **kwargs) -> str:
    response = client(server).chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": text}], **kwargs
    )
    return response.choices[0].message.content


def post(server: ScriptedModelServer, text: str, headers: dict[str, str] | None = None):
    """POST a chat request with urllib; returns (status, headers, raw body) even for HTTP errors."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
    request = urllib.request.Request(
        server.url + "/chat/completions",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# --- replies ---------------------------------------------------------------


def test_plain_reply_is_a_standard_chat_completion(scripted_model):
    server = scripted_model([{"reply": "hello there"}])
    response = client(server).chat.completions.create(
        model="my-model",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
        temperature=0.2,
        response_format={"type": "json_object"},
    )
    assert response.object == "chat.completion"
    assert response.model == "my-model"
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].message.content == "hello there"
    assert response.choices[0].finish_reason == "stop"
    # estimated: ceil(len("be briefhi") / 4) and ceil(len("hello there") / 4)
    assert (response.usage.prompt_tokens, response.usage.completion_tokens) == (3, 3)
    assert response.usage.total_tokens == 6


def test_json_reply_is_serialised_as_content(scripted_model):
    server = scripted_model([{"reply": {"plan": ["a", "b"], "done": False}}])
    assert json.loads(ask(server, "plan")) == {"plan": ["a", "b"], "done": False}


def test_scripted_usage_is_reported(scripted_model):
    server = scripted_model([{"reply": "x", "usage": {"prompt_tokens": 100, "completion_tokens": 7}}])
    usage = client(server).chat.completions.create(model="m", messages=[{"role": "user", "content": "q"}]).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 7, 107)


def test_models_endpoint_lists_the_scripted_model(scripted_model):
    server = scripted_model([])
    assert [model.id for model in client(server).models.list()] == ["scripted"]


def test_context_manager_starts_and_stops_the_server():
    with ScriptedModelServer([{"reply": "up"}]) as server:
        url = server.url
        assert ask(server, "hi") == "up"
    with pytest.raises(openai.APIConnectionError):
        openai.OpenAI(base_url=url, api_key="x", max_retries=0).models.list()


# --- matching ----------------------------------------------------------------


def test_lines_match_the_last_user_message_and_are_consumed_in_order(scripted_model):
    server = scripted_model(
        [
            {"match": "^plan", "reply": "plan 1"},
            {"reply": "anything 1"},
            {"match": "^plan", "reply": "plan 2"},
            {"reply": "anything 2"},
        ]
    )
    assert ask(server, "plan the work") == "plan 1"
    assert ask(server, "plan again") == "anything 1"  # the first unconsumed match in script order wins
    assert ask(server, "summarise") == "anything 2"  # "plan 2" does not match, so it is skipped
    assert ask(server, "plan once more") == "plan 2"
    assert server.unused_lines == []


def test_match_looks_only_at_the_last_user_message(scripted_model):
    server = scripted_model([{"match": "second", "reply": "ok"}])
    messages = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "second"},
        {"role": "user", "content": "the second one"},
    ]
    response = client(server).chat.completions.create(model="m", messages=messages)
    assert response.choices[0].message.content == "ok"


def test_match_spans_lines(scripted_model):
    server = scripted_model([{"match": "start.*end", "reply": "ok"}])
    assert ask(server, "start\nmiddle\nend") == "ok"


def test_repeat_line_serves_any_number_of_requests(scripted_model):
    server = scripted_model([{"match": "ping", "reply": "pong", "repeat": True}, {"reply": "other"}])
    assert [ask(server, "ping") for _ in range(3)] == ["pong"] * 3
    assert ask(server, "hello") == "other"
    assert server.unused_lines == []


def test_concurrent_requests_each_consume_a_distinct_line(scripted_model):
    server = scripted_model([{"reply": f"r{i}", "delay_s": 0.05} for i in range(8)])
    api = client(server)
    replies: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        response = api.chat.completions.create(model="m", messages=[{"role": "user", "content": "go"}])
        with lock:
            replies.append(response.choices[0].message.content)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=5)
    assert sorted(replies) == sorted(f"r{i}" for i in range(8))
    assert server.unused_lines == []


def test_no_matching_line_is_a_400_naming_the_message(scripted_model):
    server = scripted_model([{"match": "^plan", "reply": "p"}])
    with pytest.raises(openai.BadRequestError) as caught:
        ask(server, "summarise " + "x" * 300)
    assert caught.value.status_code == 400
    message = caught.value.body["message"]
    assert message == "scripted model: no script line matches the last user message: " + ("summarise " + "x" * 300)[:200]
    assert caught.value.body["type"] == "invalid_request_error"


def test_streaming_is_refused_with_a_clear_error(scripted_model):
    server = scripted_model([{"reply": "x", "repeat": True}])
    with pytest.raises(openai.BadRequestError, match="stream=true is not supported"):
        ask(server, "hi", stream=True)


def test_unknown_path_is_a_404_json_error(scripted_model):
    server = scripted_model([])
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(server.url + "/embeddings", timeout=5)
    assert caught.value.code == 404
    assert "no endpoint GET /v1/embeddings" in json.loads(caught.value.read())["error"]["message"]


# --- faults --------------------------------------------------------------------


def test_fault_429_sends_retry_after(scripted_model):
    server = scripted_model([{"fault": "429", "retry_after": 3}, {"reply": "after the wait"}])
    status, headers, body = post(server, "hi")
    assert status == 429
    assert headers["Retry-After"] == "3"
    assert json.loads(body)["error"]["type"] == "rate_limit_error"
    assert ask(server, "hi") == "after the wait"


def test_fault_429_is_a_rate_limit_error_for_the_openai_client(scripted_model):
    server = scripted_model([{"fault": 429}])
    with pytest.raises(openai.RateLimitError):
        ask(server, "hi")


def test_fault_500_is_an_internal_server_error(scripted_model):
    server = scripted_model([{"fault": "500"}])
    status, _, body = post(server, "hi")
    assert status == 500
    assert json.loads(body)["error"]["type"] == "server_error"


def test_fault_malformed_is_a_200_whose_body_is_not_json(scripted_model):
    server = scripted_model([{"fault": "malformed"}, {"fault": "malformed"}])
    status, _, body = post(server, "hi")
    assert status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    with pytest.raises((ValueError, openai.APIError)):  # openai lets the JSON error through
        ask(server, "hi")


def test_fault_cutoff_drops_the_connection_mid_body(scripted_model):
    server = scripted_model([{"fault": "cutoff", "reply": "a reply long enough to cut in half"}])
    with pytest.raises(openai.APIConnectionError):
        ask(server, "hi")
    [record] = server.requests
    assert (record["fault"], record["status"], record["responded_at"]) == ("cutoff", 200, None)


def test_fault_timeout_outlasts_the_client(scripted_model):
    server = scripted_model([{"fault": "timeout", "delay_s": 2}])
    with pytest.raises(openai.APITimeoutError):
        client(server, timeout=0.2).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )


def raw_request(server: ScriptedModelServer, text: str) -> socket.socket:
    """Send a chat request on a plain socket and return the socket, the reply not yet read."""
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}).encode()
    sock = socket.create_connection((server.host, server.port), timeout=scaled(10))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    return sock


def test_fault_hang_never_answers_until_the_client_hangs_up(scripted_model):
    server = scripted_model([{"fault": "hang"}, {"reply": "next"}])
    sock = raw_request(server, "hi")
    wait_for(lambda: server.requests and server.requests[0]["line"] == 0, what="the request to arrive")
    sock.settimeout(0.3)
    with pytest.raises(socket.timeout):  # not one byte of an answer
        sock.recv(1)
    sock.close()
    wait_for(lambda: server.requests[0]["client_hung_up"], what="the server to see the client hang up")
    [record] = server.requests
    assert (record["status"], record["responded_at"]) == (None, None)
    assert ask(server, "again") == "next"  # its handler is free; the server goes on answering


def test_fault_trickle_sends_the_whole_reply_one_byte_at_a_time(scripted_model):
    server = scripted_model([{"fault": "trickle", "reply": "slowly", "trickle_s": 0.001}])
    assert ask(server, "hi") == "slowly"


def test_fault_trickle_stops_when_the_client_hangs_up(scripted_model):
    server = scripted_model([{"fault": "trickle", "reply": "x" * 1000, "trickle_s": 0.05}])
    sock = raw_request(server, "hi")
    assert sock.recv(64).startswith(b"HTTP/1.0 200")  # the headers come at once, then the body byte by byte
    sock.close()
    wait_for(lambda: server.requests[0]["client_hung_up"], what="the server to see the client hang up")
    assert server.requests[0]["responded_at"] is None


def test_fault_429_can_send_retry_after_as_an_http_date(scripted_model):
    server = scripted_model([{"fault": "429", "retry_after": 30, "retry_after_form": "http-date"}])
    status, headers, _ = post(server, "hi")
    assert status == 429
    when = parsedate_to_datetime(headers["Retry-After"])
    # 30 s after the reply's own Date header (both whole seconds, stamped a moment apart: 29 when a second ticks between)
    assert (when - parsedate_to_datetime(headers["Date"])).total_seconds() in (29, 30)


def test_finish_reason_length_marks_a_reply_cut_at_the_token_limit(scripted_model):
    server = scripted_model([{"reply": "The answer, in deta", "finish_reason": "length"}])
    response = client(server).chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert (response.choices[0].finish_reason, response.choices[0].message.content) == ("length", "The answer, in deta")


def test_delay_applies_to_normal_replies(scripted_model):
    server = scripted_model([{"reply": "slow", "delay_s": 0.3}])
    with pytest.raises(openai.APITimeoutError):
        client(server, timeout=0.1).chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])


# --- request log ---------------------------------------------------------------------


def test_request_log_records_each_request(scripted_model, tmp_path):
    log_path = tmp_path / "requests.jsonl"
    server = scripted_model([{"match": "one", "reply": "1"}, {"fault": "500"}], log_path=log_path)
    assert post(server, "one", headers={"X-Swarm-Call-Key": "node-7:call-1"})[0] == 200
    assert post(server, "two")[0] == 500
    assert post(server, "three")[0] == 400

    deadline = time.monotonic() + 5  # the server stamps responded_at just after the client has its reply
    while any(r["responded_at"] is None for r in server.requests) and time.monotonic() < deadline:
        time.sleep(0.01)
    records = server.requests
    assert [(r["n"], r["call_key"], r["last_user"], r["line"], r["fault"], r["status"]) for r in records] == [
        (1, "node-7:call-1", "one", 0, None, 200),
        (2, None, "two", 1, "500", 500),
        (3, None, "three", None, None, 400),
    ]
    assert all(r["received_at"] <= r["responded_at"] for r in records)
    on_disk = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert sorted(on_disk, key=lambda r: r["n"]) == records


# --- script errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("{not json", "invalid JSON"),
        ('{"reply": "x", "colour": "red"}', "unknown key 'colour'"),
        ('{"match": "(unclosed", "reply": "x"}', 'bad regex in "match"'),
        ('{"match": "x"}', 'missing "reply"'),
        ('{"fault": "teapot"}', '"fault" must be one of'),
        ('{"reply": "x", "repeat": "yes"}', '"repeat" must be true or false'),
        ('{"reply": "x", "delay_s": -1}', '"delay_s" must be a number of seconds'),
        ('{"reply": "x", "retry_after": 2}', '"retry_after" only applies'),
        ('{"fault": "429", "retry_after_form": "minutes"}', '"retry_after_form" must be one of seconds, http-date'),
        ('{"reply": "x", "retry_after_form": "http-date"}', '"retry_after_form" only applies'),
        ('{"reply": "x", "trickle_s": 1}', '"trickle_s" only applies'),
        ('{"fault": "trickle", "trickle_s": "fast"}', '"trickle_s" must be a number of seconds'),
        ('{"reply": "x", "finish_reason": "tired"}', '"finish_reason" must be one of stop, length'),
        ('{"fault": "500", "finish_reason": "length"}', '"finish_reason" only applies'),
        ('{"reply": "x", "usage": {"prompt_tokens": 1}}', '"usage" must be'),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_script_line_names_file_line_and_problem(tmp_path, line, complaint):
    path = tmp_path / "script.jsonl"
    path.write_text('# a comment\n\n{"reply": "fine"}\n' + line + "\n")
    with pytest.raises(ScriptError) as caught:
        load_script(path)
    assert str(caught.value).startswith(f"{path} line 4: ")
    assert complaint in str(caught.value)


def test_script_file_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "script.jsonl"
    path.write_text('# header\n\n{"reply": "a"}\n   \n# more\n{"reply": {"k": 1}, "repeat": true}\n')
    lines = load_script(path)
    assert [(line.index, line.reply, line.repeat) for line in lines] == [(0, "a", False), (1, '{"k": 1}', True)]


def test_bad_item_in_a_list_script_is_named_by_index():
    with pytest.raises(ScriptError, match=r"^script\[1\]: missing \"reply\""):
        ScriptedModelServer([{"reply": "ok"}, {"match": "x"}])


def test_missing_script_file_is_a_script_error(tmp_path):
    with pytest.raises(ScriptError, match="script file not found"):
        load_script(tmp_path / "nope.jsonl")


# --- command line ----------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-m", "swarm.testing", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_serves_until_sigterm(tmp_path):
    script = tmp_path / "script.jsonl"
    script.write_text('{"match": "hi", "reply": "hello from the cli"}\n')
    log_path = tmp_path / "log.jsonl"
    process = run_cli("serve", str(script), "--log", str(log_path))
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("scripted model listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        api = openai.OpenAI(base_url=url, api_key="x", max_retries=0)
        response = api.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
        assert response.choices[0].message.content == "hello from the cli"
        # The server writes the record just after the reply has gone out: wait for it.
        record = wait_for(lambda: log_path.exists() and log_path.read_text().endswith("\n") and log_path.read_text(),
                          what="the request log line")
        assert json.loads(record)["line"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    assert process.stderr.read() == ""


def test_cli_rejects_a_bad_script_with_one_line_and_exit_2(tmp_path):
    script = tmp_path / "script.jsonl"
    script.write_text('{"reply": "ok"}\n{"reply": "x", "bogus": 1}\n')
    process = run_cli("serve", str(script))
    out, err = process.communicate(timeout=5)
    assert process.returncode == 2
    assert out == ""
    assert err.splitlines() == [f"error: {script} line 2: unknown key 'bogus'; allowed keys are "
                                "reply, match, repeat, fault, retry_after, retry_after_form, delay_s, trickle_s, "
                                "finish_reason, usage"]
