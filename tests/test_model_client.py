"""ModelClient against a real scripted OpenAI-compatible server on loopback: replies, JSON, accounting."""

import threading

import pytest

from swarm.model import ModelClient, ModelReplyInvalid, ModelSettings
from swarm.model.errors import ModelReplyTruncated
from swarm.testing import ScriptedModelServer

ASK = [{"role": "user", "content": "plan the task"}]
PLAN = {
    "type": "object",
    "required": ["steps"],
    "properties": {"steps": {"type": "array", "items": {"type": "string"}}},
}


def client_for(server, sleeps=None, **overrides):
    settings = ModelSettings(**{"base_url": server.url, "model": "scripted", "timeout_s": 5, **overrides})
    return ModelClient(settings, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_plain_reply_carries_text_usage_and_cost():
    usage = {"prompt_tokens": 1000, "completion_tokens": 500}
    with ScriptedModelServer([{"reply": "hello", "usage": usage}]) as server:
        client = client_for(server, prices={"scripted": {"input": 2.0, "output": 10.0}})
        reply = client.complete(ASK)
    assert reply.text == "hello"
    assert reply.data is None
    assert reply.model == "scripted"
    assert (reply.prompt_tokens, reply.completion_tokens) == (1000, 500)
    assert reply.cost_usd == pytest.approx((1000 * 2.0 + 500 * 10.0) / 1e6)
    assert reply.attempts == 1
    assert reply.latency_ms > 0
    assert client.totals == {"calls": 1, "prompt_tokens": 1000, "completion_tokens": 500, "cost_usd": reply.cost_usd}


def test_cost_is_zero_for_a_model_without_a_price():
    with ScriptedModelServer([{"reply": "hi"}]) as server:
        assert client_for(server, prices={"other": {"input": 1, "output": 1}}).complete(ASK).cost_usd == 0.0


def test_call_key_reaches_the_server_as_a_header():
    with ScriptedModelServer([{"reply": "a"}, {"reply": "b"}]) as server:
        client = client_for(server)
        client.complete(ASK, call_key="run-1/node-7/step-2")
        client.complete(ASK)
        assert [r["call_key"] for r in server.requests] == ["run-1/node-7/step-2", None]


def test_schema_reply_is_parsed_from_a_fenced_block():
    with ScriptedModelServer([{"reply": 'Here:\n```json\n{"steps": ["a", "b"]}\n```'}]) as server:
        reply = client_for(server).complete(ASK, schema=PLAN)
    assert reply.data == {"steps": ["a", "b"]}


def test_json_true_parses_any_json_from_prose():
    with ScriptedModelServer([{"reply": "The numbers are [1, 2, 3]."}]) as server:
        assert client_for(server).complete(ASK, json=True).data == [1, 2, 3]


def test_invalid_reply_is_corrected_by_one_retry_that_states_the_problem():
    script = [
        {"reply": '{"steps": "not a list"}', "usage": {"prompt_tokens": 10, "completion_tokens": 5}},
        {"reply": '{"steps": ["fixed"]}', "match": "could not be used", "usage": {"prompt_tokens": 20, "completion_tokens": 6}},
    ]
    with ScriptedModelServer(script) as server:
        client = client_for(server)
        reply = client.complete(ASK, schema=PLAN)
        retry_message = server.requests[1]["last_user"]
    assert reply.data == {"steps": ["fixed"]}
    assert reply.text == '{"steps": ["fixed"]}'
    assert reply.attempts == 2
    assert (reply.prompt_tokens, reply.completion_tokens) == (30, 11)
    assert "$.steps: expected array, got string" in retry_message
    assert '"required": ["steps"]' in retry_message  # the schema is restated


def test_still_invalid_after_the_retry_raises_model_reply_invalid():
    script = [{"reply": "I cannot do JSON today"}, {"reply": "Still no JSON, sorry"}]
    with ScriptedModelServer(script) as server:
        client = client_for(server)
        with pytest.raises(ModelReplyInvalid) as caught:
            client.complete(ASK, schema=PLAN)
        assert len(server.requests) == 2
    message = str(caught.value)
    assert "the reply contains no JSON object or array" in message
    assert "'Still no JSON, sorry'" in message
    assert client.totals["calls"] == 0 and client.totals["prompt_tokens"] > 0  # tokens spent still count


@pytest.mark.parametrize(
    "reply",
    [
        '{"steps": ["a", "b",],}',  # trailing commas
        "{'steps': ['a', 'b']}",  # a Python literal
        'Draft:\n```json\n{"step": "a"}\n```\nFinal:\n```json\n{"steps": ["a", "b"]}\n```',  # the later block fits
    ],
)
def test_replies_json_tolerates_need_no_corrective_call(reply):
    with ScriptedModelServer([{"reply": reply}]) as server:
        assert client_for(server).complete(ASK, schema=PLAN).data == {"steps": ["a", "b"]}
        assert len(server.requests) == 1


def test_a_reply_cut_at_max_tokens_is_an_error_naming_the_limit_never_a_result():
    script = [{"reply": "The plan, in deta", "finish_reason": "length",
               "usage": {"prompt_tokens": 10, "completion_tokens": 50}}]
    with ScriptedModelServer(script) as server:
        client = client_for(server, max_tokens=50)
        with pytest.raises(ModelReplyTruncated) as caught:
            client.complete(ASK)
        assert [r["max_tokens"] for r in server.requests] == [50]  # sent, and not asked again
    message = str(caught.value)
    assert 'cut off at max_tokens=50 (finish_reason "length")' in message
    assert "in deta" in message and "raise [model].max_tokens" in message
    assert caught.value.reply == "The plan, in deta"
    assert client.totals["completion_tokens"] == 50  # paid for, so counted


def test_cut_off_json_is_blamed_on_the_token_limit_not_on_the_model_and_not_corrected():
    script = [{"reply": '{"steps": ["a", "b', "finish_reason": "length",
               "usage": {"prompt_tokens": 10, "completion_tokens": 7}}, {"reply": '{"steps": []}'}]
    with ScriptedModelServer(script) as server:
        with pytest.raises(ModelReplyTruncated, match="at the server's own token limit, after 7 tokens") as caught:
            client_for(server).complete(ASK, schema=PLAN)
        assert len(server.requests) == 1 and server.requests[0]["max_tokens"] is None  # 0: max_tokens not sent
    assert "set [model].max_tokens" in str(caught.value)


def test_twenty_threads_at_once_all_get_replies_and_totals_add_up():
    usage = {"prompt_tokens": 7, "completion_tokens": 3}
    with ScriptedModelServer([{"reply": "ok", "repeat": True, "usage": usage}]) as server:
        client = client_for(server, prices={"scripted": {"input": 1.0, "output": 1.0}})
        replies, errors = [], []

        def call(n):
            try:
                replies.append(client.complete(ASK, call_key=f"k{n}"))
            except Exception as error:  # collected so the assertion shows it
                errors.append(error)

        threads = [threading.Thread(target=call, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        keys = {r["call_key"] for r in server.requests}
    assert errors == []
    assert [r.text for r in replies] == ["ok"] * 20
    assert keys == {f"k{n}" for n in range(20)}
    totals = client.totals
    assert (totals["calls"], totals["prompt_tokens"], totals["completion_tokens"]) == (20, 140, 60)
    assert totals["cost_usd"] == pytest.approx(200 / 1e6)


def test_rate_limit_is_applied_before_every_request():
    sleeps = []
    with ScriptedModelServer([{"reply": "ok", "repeat": True}]) as server:
        client = ModelClient(
            ModelSettings(base_url=server.url, model="scripted", rate_per_s=2.0),
            sleep=sleeps.append,
            clock=lambda: 0.0,  # frozen: every request arrives at once
        )
        for _ in range(3):
            client.complete(ASK)
    assert sleeps == [0.5, 1.0]


def test_api_key_is_read_from_the_configured_env_var(monkeypatch):
    monkeypatch.setenv("SWARM_TEST_KEY", "sk-secret")
    with ScriptedModelServer([{"reply": "ok"}]) as server:
        client = client_for(server, api_key_env="SWARM_TEST_KEY")
        assert client.complete(ASK).text == "ok"
    assert "sk-secret" not in str(vars(client)) + repr(client.settings)


@pytest.mark.parametrize("reply", [
    '{steps: ["a", "b"]}',  # unquoted key
    '{"steps": ["a", "b"]',  # the closing brace forgotten
    'Here it is: {"steps": ["a", "b"], /* both */}',  # a comment inside it
])
def test_broken_json_is_mended_by_json_repair_before_paying_for_a_corrective_call(reply):
    with ScriptedModelServer([{"reply": reply}, {"reply": '{"steps": ["corrected"]}'}]) as server:
        answer = client_for(server).complete(ASK, schema=PLAN)
        assert len(server.requests) == 1
    assert answer.data == {"steps": ["a", "b"]}
    assert answer.json_repaired is True
