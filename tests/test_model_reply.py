"""Reply records, settings checks and error messages of the model client."""

import json

import pytest

from swarm.model import (
    ModelReplyInvalid,
    ModelReplyTruncated,
    ModelRequestRejected,
    ModelSettings,
    ModelUnavailable,
    NoModelConfigured,
    Reply,
)


def test_reply_round_trips_through_json():
    reply = Reply(text='{"a": 1}', data={"a": 1}, model="m", prompt_tokens=3, completion_tokens=4,
                  cost_usd=0.5, attempts=2, latency_ms=12.5)
    assert Reply.from_dict(json.loads(json.dumps(reply.to_dict()))) == reply
    assert reply.total_tokens == 7


def test_reply_from_dict_ignores_keys_it_does_not_know():
    assert Reply.from_dict({"text": "hi", "future_field": 1}) == Reply(text="hi")


def test_settings_reject_unknown_structured_mode_saying_where_to_fix_it():
    with pytest.raises(ValueError, match=r"\[model\].structured must be one of auto, json_schema, json_object, off"):
        ModelSettings(structured="xml")


@pytest.mark.parametrize("key", ["call_timeout_s", "notice_after_s", "max_tokens"])
def test_settings_reject_a_negative_limit_saying_where_to_fix_it(key):
    with pytest.raises(ValueError, match=rf"\[model\].{key} must be 0 or more \(got -1\); fix it in swarm.toml"):
        ModelSettings(**{key: -1})


def test_settings_reject_a_zero_timeout():
    with pytest.raises(ValueError, match=r"\[model\].timeout_s must be more than 0 seconds"):
        ModelSettings(timeout_s=0)


def test_a_call_gets_at_least_one_whole_timeout_s():
    assert ModelSettings().call_budget_s == 180.0
    assert ModelSettings(timeout_s=900).call_budget_s == 900.0  # a slow model: raising timeout_s is enough
    assert ModelSettings(call_timeout_s=0).call_budget_s is None


def test_error_messages_are_one_line_and_say_what_to_do():
    messages = [
        str(ModelUnavailable.no_answer("http://h/v1", 6, "connection refused")),
        str(ModelRequestRejected("http://h/v1", 401, "bad key\nreally", "MY_KEY")),
        str(ModelReplyInvalid("the reply is not JSON", "Sure!\n" + "x" * 500)),
        str(NoModelConfigured()),
        str(ModelReplyTruncated("http://h/v1", 256, "a long\nanswer in deta", 256)),
        str(ModelUnavailable.server_failed("http://h/v1", 503, 6, "overloaded\nsorry")),
        str(ModelUnavailable.no_reply_in_time("http://h/v1", "m", 3, 60, "no complete reply within 60 s")),
    ]
    assert all("\n" not in message for message in messages)
    assert "max_tokens=256" in messages[4] and "in deta" in messages[4]
    assert "HTTP 503" in messages[5] and "server's log" in messages[5] and "base_url" not in messages[5]
    assert "within 60 s" in messages[6] and "[model].timeout_s" in messages[6]
    assert "http://h/v1 after 6 tries" in messages[0] and "[model].base_url" in messages[0]
    assert "MY_KEY" in messages[1]
    assert "the reply is not JSON" in messages[2] and len(messages[2]) < 400
    assert "[model].model" in messages[3]
