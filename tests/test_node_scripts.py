"""The built-in node scripts, each exercised through a real run against the scripted model.

Script lines `match` the prompts the scripts send (the first line of each prompt names the
script's job), so a test reads as: what the model answers, and what the swarm makes of it.
"""

# SQLite only: what each built-in script asks the model and makes of its answer does not depend on the store
# (a store's side of runs is tested on both backends: test_lifecycle.py, test_policies.py and the others).

from __future__ import annotations

import json
import re

from lifecycle_support import (  # noqa: F401  (make_engine is a fixture)
    assert_all_final,
    events,
    make_engine,
    node_states,
    result,
    run,
)
from node_scripts.route import NOT_ROUTABLE
from swarm.catalogue import Catalogue
from swarm.human import PreparedAnswers
from swarm.plugin import NodeScript

# Every built-in the route script may offer: all of node_scripts/ but route itself and make_tool's fix_tool.
BUILTINS = sorted(set(Catalogue(entry_points=False).scripts) - NOT_ROUTABLE)


def prompts(engine, run_id: str, node_id: str) -> list[str]:
    """The last user message of every model call one node made, in order."""
    calls = [c for c in engine.store.llm_calls(run_id) if c["node_id"] == node_id]
    return [json.loads(c["request"])["messages"][-1]["content"] for c in calls]


def subtree_prompts(engine, run_id: str, node_id: str) -> list[str]:
    """Every prompt sent by a node or by anything under it."""
    calls = [c for c in engine.store.llm_calls(run_id) if c["node_id"] == node_id or c["node_id"].startswith(node_id + ".")]
    return [json.loads(c["request"])["messages"][-1]["content"] for c in calls]


def first_seq(engine, run_id: str, kind: str, node_id: str) -> int:
    return next(e["seq"] for e in events(engine, run_id, node_id) if e["kind"] == kind)


# --- break_down_goal --------------------------------------------------------------------------

CAPITAL = "The capital of Portugal is Lisbon."

SEQUENCE_MODEL = [
    {"match": "^Break this goal down", "reply": {"subgoals": ["Find the capital of Portugal", "Describe a walk through that capital"], "policy": "sequence"}},
    {"match": "^Choose the node script.*Sub-goal: Find", "reply": {"script": "write_text", "reason": "a fact"}},
    {"match": "^Choose the node script.*Sub-goal: Describe", "reply": {"script": "write_text", "reason": "prose"}},
    {"match": "^Write the text.*Goal: Find", "reply": CAPITAL},
    {"match": "^Write the text.*Goal: Describe", "reply": "Walk from Baixa up to the castle in Alfama."},
    {"match": "^Review these results", "reply": {"approved": True, "summary": "Lisbon, and a walk from Baixa to Alfama.", "issues": []}},
]


def test_break_down_goal_with_policy_sequence_runs_the_sub_goals_one_after_another(make_engine):
    engine = make_engine(model=SEQUENCE_MODEL)

    run_id, status = run(engine, "Plan a walk in the capital of Portugal", "break_down_goal")

    assert status == "done"
    nodes = node_states(engine, run_id)
    assert [nodes[i]["data"]["goal"] for i in ("1.1", "1.2")] == ["Find the capital of Portugal", "Describe a walk through that capital"]
    # the second sub-goal is spawned only once the whole first one has ended
    assert first_seq(engine, run_id, "spawn", "1.2") > first_seq(engine, run_id, "terminate", "1.1")
    assert first_seq(engine, run_id, "spawn", "1.2") > first_seq(engine, run_id, "terminate", "1.1.1")
    assert nodes["1.3"]["script"] == "review"
    assert result(engine, run_id) == {"answer": "Lisbon, and a walk from Baixa to Alfama.", "approved": True, "issues": []}
    assert_all_final(engine, run_id)


def test_break_down_goal_with_policy_sequence_shows_later_sub_goals_the_earlier_results(make_engine):
    engine = make_engine(model=SEQUENCE_MODEL)

    run_id, status = run(engine, "Plan a walk in the capital of Portugal", "break_down_goal")

    assert status == "done"
    # The second sub-goal ("that capital") can only be done knowing the first one's result.
    later = subtree_prompts(engine, run_id, "1.2")
    assert later, "the second sub-goal made no model call"
    assert any(CAPITAL in p for p in later), f"no prompt of sub-goal 1.2 carries the result of 1.1: {later}"


def test_break_down_goal_fails_its_node_when_the_model_gives_no_sub_goals(make_engine):
    engine = make_engine(model=[{"match": "^Break this goal down", "reply": {"subgoals": ["", "   "], "policy": "all"}, "repeat": True}])

    run_id, status = run(engine, "Plan a trip", "break_down_goal")

    assert status == "failed"
    root = node_states(engine, run_id)["1"]
    assert root["status"] == "failed"
    assert "the model gave no sub-goals for 'Plan a trip'" in root["error"]
    assert root["children"] == []
    assert_all_final(engine, run_id)


# --- route ------------------------------------------------------------------------------------


# An endpoint that does not enforce json_schema (the client asks for json_object): what the model
# writes is only checked after the fact, so route must cope with a choice outside the candidates.
LOOSE = {"SWARM_MODEL_STRUCTURED": "json_object"}


def test_route_sends_a_script_that_does_not_exist_back_once_then_fails_without_the_same_prompt_again(make_engine):
    engine = make_engine(model=[{"match": "^Choose the node script", "reply": {"script": "summon_dragon"}, "repeat": True},
                                {"match": "^Your last reply could not be used", "reply": {"script": "summon_dragon"}, "repeat": True}],
                         node_max_attempts=3, settings=LOOSE)

    run_id, status = run(engine, "Find a dragon", "route")

    assert status == "failed"
    root = node_states(engine, run_id)["1"]
    assert "ModelReplyInvalid" in root["error"] and "summon_dragon" in root["error"]
    assert len(engine.store.llm_calls(run_id)) == 1  # one call: the reply, one correction, no retry of it all
    assert root["children"] == []


def test_route_shows_the_model_each_candidate_by_name_with_the_input_it_needs_and_its_types(make_engine):
    engine = make_engine(model=[{"match": "^Choose the node script", "reply": {"script": "write_text"}},
                                {"match": "^Write the text", "reply": "Stars are faraway suns."}])

    run_id, status = run(engine, "Explain what a star is", "route")

    assert status == "done"
    [prompt] = prompts(engine, run_id, "1")
    assert "- run_python: " in prompt and "Input: code: string." in prompt
    assert "write_python(" not in prompt  # no call-like display form a small model copies as the name


def test_route_offers_each_candidate_with_its_own_input_schema_so_a_strict_endpoint_cannot_produce_bad_input(make_engine):
    engine = make_engine(model=[
        {"match": "^Choose the node script", "reply": {"script": "run_python", "data": {"code": "6 * 7"}}},
    ])

    run_id, status = run(engine, "Multiply six by seven", "route")

    assert status == "done", node_states(engine, run_id)["1"].get("error")
    schema = json.loads(engine.store.llm_calls(run_id, "1")[0]["request"])["schema"]
    branch = next(b for b in schema["anyOf"] if b["properties"]["script"] == {"const": "run_python"})
    assert branch["properties"]["data"]["required"] == ["code"]
    assert "imports" not in branch["properties"]["data"]["properties"]  # settings decide imports, not the model
    assert {"const": "none"} in [b["properties"]["script"] for b in schema["anyOf"]]


def test_route_with_input_its_child_would_reject_sends_the_schema_error_back_to_the_model(make_engine):
    engine = make_engine(model=[
        {"match": "^Choose the node script", "reply": {"script": "run_python", "data": {"code": ["None"]}}},
        {"match": "^Your last reply could not be used", "reply": {"script": "run_python", "data": {"code": "6 * 7"}}},
    ], settings=LOOSE)

    run_id, status = run(engine, "Multiply six by seven", "route")

    assert status == "done"
    asked = json.loads(engine.store.llm_calls(run_id, "1")[0]["request"])
    assert node_states(engine, run_id)["1.1"]["data"] == {"goal": "Multiply six by seven", "code": "6 * 7"}
    assert asked["schema"]["anyOf"]


def test_route_below_the_root_never_offers_break_down_goal(make_engine):
    engine = make_engine(model=[
        {"match": "^Break this goal down", "reply": {"subgoals": ["Write a haiku"]}},
        {"match": "^Choose the node script", "reply": {"script": "write_text"}},
        {"match": "^Write the text", "reply": "An old silent pond"},
        {"match": "^Review these results", "reply": {"approved": True, "summary": "An old silent pond"}},
    ])

    run_id, status = run(engine, "Write a haiku", "break_down_goal")

    assert status == "done"
    schema = json.loads(engine.store.llm_calls(run_id, "1.1")[0]["request"])["schema"]
    offered = {b["properties"]["script"]["const"] for b in schema["anyOf"]}
    assert "break_down_goal" not in offered and "write_text" in offered


def test_route_passes_the_extra_data_the_model_gives_to_the_chosen_script(make_engine):
    engine = make_engine(model=[
        {"match": "^Choose the node script", "reply": {"script": "write_text", "data": {"context": "The reader is six years old."}, "reason": "prose"}},
        {"match": "^Write the text.*Context: The reader is six years old", "reply": "Stars are faraway suns."},
    ])

    run_id, status = run(engine, "Explain what a star is", "route")

    assert status == "done"
    child = node_states(engine, run_id)["1.1"]
    assert (child["script"], child["data"]) == ("write_text", {"goal": "Explain what a star is", "context": "The reader is six years old."})
    assert result(engine, run_id) == {"goal": "Explain what a star is", "script": "write_text", "text": "Stars are faraway suns."}


def test_route_never_offers_itself_to_the_model(make_engine):
    engine = make_engine(model=[
        {"match": "^Choose the node script", "reply": {"script": "write_text"}},
        {"match": "^Write the text", "reply": "done"},
    ])

    run_id, status = run(engine, "Say something", "route")

    assert status == "done"
    [prompt] = prompts(engine, run_id, "1")
    offered = re.findall(r"^- (\w+)[(:]", prompt, re.MULTILINE)
    assert sorted(offered) == BUILTINS


# A catalogue larger than [retrieval].top_k: the route prompt offers only the retrieved few.
SERVICES = {
    "forecast_weather": "Get the weather forecast (rain, temperature, wind) for a city.",
    "convert_currency": "Convert an amount of money from one currency into another at today's rate.",
    "book_flight": "Search and book a flight between two airports.",
    "find_recipe": "Find cooking recipes from the ingredients at hand.",
    "translate_text": "Translate a text from one language into another.",
    "stock_price": "Look up the share price of a company on the stock market.",
    "count_calories": "Count the calories of a meal from its ingredients.",
    "track_parcel": "Track a parcel sent by post from its tracking number.",
    "play_music": "Play a song or a playlist on the speakers.",
    "set_alarm": "Set an alarm clock to ring at a given time.",
    "plan_route": "Plan a driving route between two addresses with traffic.",
    "news_headlines": "Read today's news headlines on a topic.",
}


def services():
    return [NodeScript(name=name, description=text, execute=lambda ctx: {"done": ctx.script},
                       input_schema={"type": "object", "properties": {"goal": {"type": "string"}}})
            for name, text in SERVICES.items()]


def test_route_offers_only_the_top_k_retrieved_scripts_when_the_catalogue_is_larger(make_engine):
    engine = make_engine(*services(), model=[{"match": "^Choose the node script", "reply": {"script": "forecast_weather"}}])
    engine.config.retrieval.top_k = 3
    assert len(set(engine.catalogue.scripts) - NOT_ROUTABLE) > 3

    run_id, status = run(engine, "Will it rain in Lisbon tomorrow?", "route")

    assert status == "done"
    [prompt] = prompts(engine, run_id, "1")
    offered = re.findall(r"^- (\w+)[(:]", prompt, re.MULTILINE)
    assert len(offered) == 3
    assert offered[0] == "forecast_weather"  # best first
    assert result(engine, run_id) == {"goal": "Will it rain in Lisbon tomorrow?", "script": "forecast_weather",
                                      "done": "forecast_weather"}


def test_route_retrieves_the_scripts_relevant_to_each_sub_goal(make_engine):
    engine = make_engine(*services())
    engine.config.retrieval.top_k = 3
    for goal, expected in [("How many euros is 50 dollars?", "convert_currency"),
                           ("Where is my package with tracking number 123?", "track_parcel"),
                           ("Say good morning in Japanese", "translate_text")]:
        assert expected in [c["name"] for c in engine.candidates(goal, exclude=NOT_ROUTABLE)], goal


def test_route_hands_the_sub_goal_to_make_tool_when_the_model_answers_none(make_engine):
    engine = make_engine(model=[{"match": "^Choose the node script", "reply": {"script": "none", "reason": "nothing fits"}}],
                         node_max_attempts=1)

    run_id, status = run(engine, "Convert a WAV file to MP3", "route")

    child = node_states(engine, run_id)["1.1"]
    assert (child["script"], child["data"]) == ("make_tool", {"goal": "Convert a WAV file to MP3"})


def test_route_fails_clearly_on_none_when_make_tool_is_not_registered(make_engine):
    engine = make_engine(model=[{"match": "^Choose the node script", "reply": {"script": "none"}, "repeat": True}],
                         node_max_attempts=1)
    engine.catalogue.pm.unregister(name="builtin:make_tool")
    engine.catalogue.refresh()

    run_id, status = run(engine, "Convert a WAV file to MP3", "route")

    assert status == "failed"
    root = node_states(engine, run_id)["1"]
    assert "no registered script fits 'Convert a WAV file to MP3'" in root["error"]
    assert "make_tool is not registered" in root["error"]
    assert root["children"] == []


def test_route_refuses_when_the_model_chooses_route_itself(make_engine):
    engine = make_engine(model=[{"reply": {"script": "route"}, "repeat": True}], node_max_attempts=1, settings=LOOSE)

    run_id, status = run(engine, "Go in circles", "route")

    assert status == "failed"
    root = node_states(engine, run_id)["1"]
    assert "ModelReplyInvalid" in root["error"] and "'route'" in root["error"]
    assert root["children"] == []


# --- write_python and run_python ----------------------------------------------------------------

CODE = 'import math\nr = 2\nprint("radius", r)\nround(math.pi * r ** 2, 2)\n'
PROSE_AND_CODE = f"""Sure! Here is the code:
```python
{CODE}```
It prints the radius, and its last expression is the area."""


def test_write_python_runs_the_fenced_code_among_prose_in_the_sandbox(make_engine):
    engine = make_engine(model=[{"match": "^Write Python code", "reply": PROSE_AND_CODE}])

    run_id, status = run(engine, "Area of a circle of radius 2", "write_python")

    assert status == "done"
    assert result(engine, run_id) == {"goal": "Area of a circle of radius 2", "answer": "12.57", "code": CODE,
                                      "result": 12.57, "logs": "radius 2\n"}
    [prompt] = prompts(engine, run_id, "1")
    assert "hashlib" in prompt and "ctx" not in prompt  # the imports the sandbox allows; no swarm API it cannot reach


def test_write_python_finds_the_python_block_after_a_fenced_block_of_another_language(make_engine):
    reply = f"The formula:\n```text\narea = pi * r^2\n```\nHere is the code:\n```python\n{CODE}```\nDone."
    engine = make_engine(model=[{"match": "^Write Python code", "reply": reply}], node_max_attempts=1)

    run_id, status = run(engine, "Area of a circle of radius 2", "write_python")

    assert status == "done"
    assert result(engine, run_id)["code"] == CODE and result(engine, run_id)["result"] == 12.57


def test_write_python_sends_failing_code_back_with_its_exception_text_then_fails_with_it(make_engine):
    failing = "```python\nprint('checking')\nraise ValueError('the numbers do not add up')\n```"
    engine = make_engine(model=[{"match": "^Write Python code", "reply": failing},
                                {"match": "^Your code failed", "reply": failing, "repeat": True}],
                         node_max_attempts=1, max_repairs=1)

    run_id, status = run(engine, "Check the numbers", "write_python")

    assert status == "failed"
    nodes = node_states(engine, run_id)
    [repair] = prompts(engine, run_id, "1.1")
    assert "the numbers do not add up" in repair  # the error goes back to the model
    assert nodes["1.1"]["status"] == "failed" and "still failed after its repairs" in nodes["1.1"]["error"]
    root_error = nodes["1"]["error"]
    assert root_error.startswith("FinalFailure: the code written for 'Check the numbers' failed:")
    assert "ValueError" in root_error and "the numbers do not add up" in root_error
    assert_all_final(engine, run_id)


def test_run_python_refuses_an_import_that_is_not_authorized_and_names_it(make_engine):
    engine = make_engine(node_max_attempts=1)

    run_id, status = run(engine, "Where am I?", "run_python", data={"code": "import os\nos.getcwd()"})

    assert status == "failed"
    error = node_states(engine, run_id)["1"]["error"]
    assert re.search(r"import of os is not allowed", error, re.IGNORECASE), error


def test_run_python_imports_in_its_input_only_narrow_the_authorized_ones(make_engine):
    engine = make_engine(node_max_attempts=1)

    run_id, status = run(engine, "Parse", "run_python",
                         data={"code": "import json\njson.loads('[1]')", "imports": ["math", "os"]})

    assert status == "failed"
    error = node_states(engine, run_id)["1"]["error"]
    assert re.search(r"import of json is not allowed", error, re.IGNORECASE), error
    assert "'os'" not in error.split("Authorized imports are:", 1)[-1]  # asking for os does not grant it


# --- write_text -----------------------------------------------------------------------------------


def test_write_text_puts_its_context_in_the_prompt_and_returns_the_stripped_text(make_engine):
    engine = make_engine(model=[{"match": "^Write the text", "reply": "  Dear team, the launch moves to Friday.\n"}])

    run_id, status = run(engine, "Write the announcement", "write_text", data={"context": "The launch moved from Monday to Friday."})

    assert status == "done"
    [prompt] = prompts(engine, run_id, "1")
    assert "Goal: Write the announcement" in prompt
    assert prompt.endswith("Context: The launch moved from Monday to Friday.")
    assert result(engine, run_id) == {"text": "Dear team, the launch moves to Friday."}


# --- review ------------------------------------------------------------------------------------------


def test_review_with_candidates_returns_the_index_of_the_best(make_engine):
    engine = make_engine(model=[{"match": "^Pick the best candidate", "reply": {"best": 1, "reason": "shorter"}}])
    candidates = [{"node": "1.1", "output": "a long draft"}, {"node": "1.2", "output": "a draft"}]

    run_id, status = run(engine, "Write a tagline", "review", data={"candidates": candidates})

    assert status == "done"
    [prompt] = prompts(engine, run_id, "1")
    assert '[0] "a long draft"\n[1] "a draft"' in prompt
    assert result(engine, run_id) == {"best": 1, "reason": "shorter"}


def test_review_with_results_returns_approved_summary_and_issues(make_engine):
    verdict = {"approved": False, "summary": "Facts found; the figures are missing.", "issues": ["the figures failed"]}
    engine = make_engine(model=[{"match": "^Review these results", "reply": verdict}])
    results = [
        {"goal": "Gather facts", "node": "1.1", "status": "done", "output": {"text": "three facts"}},
        {"goal": "Compute figures", "node": "1.2", "status": "failed", "error": "ZeroDivisionError"},
    ]

    run_id, status = run(engine, "Report on the budget", "review", data={"results": results})

    assert status == "unmet"  # the root's own verdict says the goal is not met; the answer is kept
    [prompt] = prompts(engine, run_id, "1")
    assert '- Gather facts: done three facts' in prompt  # the answer or text of a result, not its wrapping
    assert '- Compute figures: failed "ZeroDivisionError"' in prompt
    assert result(engine, run_id) == verdict


# --- ask_human ------------------------------------------------------------------------------------------


def test_ask_human_returns_the_answer_a_person_gave(make_engine):
    engine = make_engine(human=PreparedAnswers({"1": "Porto"}))

    run_id, status = run(engine, "Choose a city", "ask_human", data={"question": "Which city should the trip go to?"})

    assert status == "done"
    assert result(engine, run_id) == {"question": "Which city should the trip go to?", "answer": "Porto"}
    assert engine.store.llm_calls(run_id) == []
    assert_all_final(engine, run_id)
