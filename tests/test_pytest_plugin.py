"""The `scripted_model` fixture, used as a swarm user would to test their own node script.

Nothing here imports the fixture: installing swarm registers it through the pytest11
entry point `swarm_scripted_model`.
"""

# SQLite only: about the scripted_model fixture a user gets; the one run is its example, not a store test.

from __future__ import annotations

import asyncio
import json
import textwrap
import urllib.request

import pytest

from swarm import NodeScript, hookimpl
from swarm.catalogue import Catalogue
from swarm.config import load_config
from swarm.engine import Engine
from swarm.testing import ScriptError

pytest_plugins = ["pytester"]


# --- a user's own node script, as it would sit in their plugin module ---------------------------

SENTIMENT_SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["positive", "negative"]}, "score": {"type": "number"}},
    "required": ["label"],
}


def classify(ctx):
    reply = ctx.llm(f"Classify the sentiment of this review: {ctx.data['review']}", schema=SENTIMENT_SCHEMA)
    return {"review": ctx.data["review"], **reply.data}


class SentimentPlugin:
    @hookimpl
    def swarm_node_scripts(self):
        return [NodeScript(
            name="classify_sentiment",
            description="Label a product review positive or negative.",
            input_schema={"type": "object", "properties": {"review": {"type": "string"}}, "required": ["review"]},
            execute=classify,
        )]


def user_engine(tmp_path, server) -> Engine:
    config = load_config(env={"SWARM_STORE": str(tmp_path / "swarm.db"), "OPENAI_BASE_URL": server.url})
    catalogue = Catalogue()
    catalogue.register(SentimentPlugin())
    return Engine(config, catalogue=catalogue)


# --- the tests ---------------------------------------------------------------------------------------


def test_the_fixture_comes_from_the_installed_entry_point(request):
    plugin = request.config.pluginmanager.get_plugin("swarm_scripted_model")

    assert plugin is not None and plugin.__name__ == "swarm.testing.pytest_plugin"


def test_a_users_node_script_runs_end_to_end_against_the_scripted_model(tmp_path, scripted_model):
    server = scripted_model([{"match": r"sentiment of this review: .*broke after a day", "reply": {"label": "negative", "score": 0.9}}])
    engine = user_engine(tmp_path, server)
    try:
        run_id, status = asyncio.run(engine.run("classify", script="classify_sentiment", data={"review": "It broke after a day."}))
        recorded = engine.store.run(run_id)
    finally:
        engine.close()

    assert status == "done"
    assert json.loads(recorded["result"]) == {"review": "It broke after a day.", "label": "negative", "score": 0.9}
    assert [r["last_user"] for r in server.requests] == ["Classify the sentiment of this review: It broke after a day."]
    assert server.unused_lines == []


def test_a_user_project_gets_the_fixture_without_importing_it_and_its_servers_stop_after_each_test(pytester):
    pytester.makepyfile(test_user_project=textwrap.dedent('''
        import urllib.error
        import urllib.request

        import openai
        import pytest

        seen = {}

        def test_the_fixture_serves_a_scripted_reply(scripted_model):
            server = scripted_model([{"reply": "hello from the script"}])
            seen["url"] = server.url
            client = openai.OpenAI(base_url=server.url, api_key="x", max_retries=0)
            reply = client.chat.completions.create(model="any", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "hello from the script"

        def test_the_server_of_the_previous_test_is_stopped():
            with pytest.raises(urllib.error.URLError):
                urllib.request.urlopen(seen["url"] + "/models", timeout=2)
    '''))

    outcome = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")

    outcome.assert_outcomes(passed=2)


def test_the_server_is_listening_while_the_test_runs(scripted_model):
    server = scripted_model([{"reply": "unused", "repeat": True}])

    with urllib.request.urlopen(server.url + "/models", timeout=2) as response:
        assert response.status == 200


def test_a_bad_script_fails_the_test_at_the_fixture_call_with_a_clear_message(scripted_model):
    with pytest.raises(ScriptError, match='script\\[0\\]: missing "reply"'):
        scripted_model([{"match": "x"}])
