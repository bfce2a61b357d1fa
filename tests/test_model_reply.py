"""Reply records, settings checks and error messages of the model client."""

import json

import pytest

from swarm.model import (
    ModelReplyInvalid,
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


def test_error_messages_are_one_line_and_say_what_to_do():
    messages = [
        str(ModelUnavailable.no_answer("http://h/v1", 6, "connection refused")),
        str(ModelRequestRejected("http://h/v1", 401, "bad key\nreally", "MY_KEY")),
        str(ModelReplyInvalid("the reply is not JSON", "Sure!\n" + "x" * 500)),
        str(NoModelConfigured()),
    ]
    assert all("\n" not in message for message in messages)
    assert "http://h/v1 after 6 tries" in messages[0] and "[model].base_url" in messages[0]
    assert "MY_KEY" in messages[1]
    assert "the reply is not JSON" in messages[2] and len(messages[2]) < 400
    assert "[model].model" in messages[3]
