"""The model-provider seam: the engine asks any object with `complete(messages, *, schema, json, call_key, ...)`
for its nodes' calls; the OpenAI-compatible client is one such provider, an in-process model another."""

from __future__ import annotations

import asyncio
import json

import pytest

from lifecycle_support import ScriptPlugin, ask_model, script
from swarm.catalogue import Catalogue
from swarm.config import load_config
from swarm.engine import Engine
from swarm.errors import SwarmError
from swarm.model import ModelClient, ModelProvider, ModelSettings, Reply


class EchoModel:
    """An in-process provider: answers with the last message, upper-cased, and notes what it was asked."""

    def __init__(self):
        self.asked: list[tuple[str, str | None, dict]] = []

    def complete(self, messages, *, schema=None, json=False, call_key=None, cancel=None, **options):
        self.asked.append((messages[-1]["content"], call_key, options))
        return Reply(text=messages[-1]["content"].upper(), model="echo", prompt_tokens=3, completion_tokens=1,
                     cost_usd=0.001)


def engine_with(tmp_path, model, store_url: str = "") -> Engine:
    catalogue = Catalogue()
    catalogue.register(ScriptPlugin([script("ask_model", ask_model)]))
    config = load_config(env={"SWARM_STORE": str(tmp_path / "swarm.db"), "SWARM_STORE_URL": store_url,
                              "SWARM_TOOLSMITH_FOLDER": str(tmp_path / "generated")})
    return Engine(config, catalogue=catalogue, model=model)


def test_the_openai_compatible_client_is_a_model_provider():
    assert isinstance(ModelClient(ModelSettings(base_url="http://127.0.0.1:9/v1", model="m")), ModelProvider)


def test_an_in_process_provider_answers_a_runs_calls_and_they_are_recorded_as_any_other(tmp_path, store_url):
    model = EchoModel()
    engine = engine_with(tmp_path, model, store_url)  # recorded on SQLite and on PostgreSQL
    try:
        run_id, status = asyncio.run(engine.run("shout", script="ask_model", data={"question": "hello"}))
        assert status == "done"
        assert json.loads(engine.store.run(run_id)["result"]) == "HELLO"
        assert model.asked == [("hello", f"{run_id}/1/r0/a0", {})]
        (call,) = engine.store.llm_calls(run_id)
        assert (call["model"], call["prompt_tokens"], call["completion_tokens"]) == ("echo", 3, 1)
        assert engine.store.run(run_id)["cost_usd"] == pytest.approx(0.001)
    finally:
        engine.close()


def test_an_object_that_cannot_answer_calls_is_refused_with_what_to_give(tmp_path):
    with pytest.raises(SwarmError, match=r"has no complete\(messages.*give a swarm.model.ModelClient"):
        engine_with(tmp_path, object())
