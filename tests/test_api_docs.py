"""The internal API docs: one retrievable section per entry, given to the prompts that write swarm code."""

# SQLite only: the runs here check the prompts the docs go into, not the store (what a store keeps of runs is
# tested on both backends: test_lifecycle.py, test_policies.py and the others).

from __future__ import annotations

import pytest
from lifecycle_support import make_engine, run  # noqa: F401

from swarm.api_docs import API_DOCS_DIR, ApiDocs, read_sections
from swarm.retrieval.embedder import MiniLMEmbedder


@pytest.fixture(scope="module")
def docs():
    return ApiDocs(MiniLMEmbedder)


def test_every_entry_is_one_section_with_its_example():
    sections = read_sections(API_DOCS_DIR)
    names = [s.name for s in sections]
    assert len(names) == len(set(names))
    assert {"ctx.llm", "ctx.run_python", "ctx.memory", "ctx.api_docs", "swarm_tools"} <= set(names)
    for s in sections:
        assert s.text.startswith("### ") and "```" in s.text, f"{s.page}: {s.name} has no example"
        assert "\n## " not in s.text  # a section stops at the next chapter


@pytest.mark.parametrize("need, entry", [
    ("run model-written Python code safely in the sandbox", "ctx.run_python"),
    ("remember a note so that later runs can find it", "ctx.memory"),
    ("delegate the work to child nodes that run in parallel", "ctx.spawn"),
    ("ask a person to approve before going on", "ctx.ask_human"),
])
def test_the_entry_that_fits_a_need_is_found(docs, need, entry):
    assert entry in [s.name for s in docs.search(need, k=3)]


def test_write_python_shows_no_swarm_api_to_code_that_runs_where_there_is_none(make_engine, scripted_model):
    # Issue 11, failure 3: API-doc examples in write_python's prompt were pasted into the code, which
    # runs in the sandbox without `ctx` ("The variable `ctx` is not defined").
    server = scripted_model([{"match": "^Write Python code", "reply": "```python\n6 * 7\n```"}])
    engine = make_engine(model=server)
    run_id, status = run(engine, "Compute 6 times 7 in the sandbox", "write_python")
    assert status == "done"
    prompt = server.requests[0]["last_user"]
    assert "### " not in prompt and "ctx" not in prompt


def test_make_tool_prompts_with_the_fitting_entries_and_only_the_closest_scripts(make_engine, scripted_model):
    server = scripted_model([{"match": "^Write a new swarm", "reply": "not json"}])
    engine = make_engine(model=server, node_max_attempts=1)
    run(engine, "A script that spawns one write_text child per city", "make_tool")
    prompt = server.requests[0]["last_user"]
    assert prompt.count("### ") == 3 and "### ctx." in prompt
    listed = prompt.split("come closest (do not rewrite them): ", 1)[1].split("\n", 1)[0].split(", ")
    assert 0 < len(listed) <= 10
