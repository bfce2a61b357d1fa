"""schemathesis against the OpenAPI document `swarm ui` serves: every operation, with generated requests
(the token sent), answers without a server error, with a documented status, content type and body shape.

Path parameters are often turned into real ones (a recorded run, its root node, a pending approval), so
the operations are exercised on data as well as on unknown ids. The event stream is endless by design
and is left to tests/test_ui_api.py. Bounded: a few examples per operation (SWARM_SCHEMATHESIS_EXAMPLES).
The server reads and writes an SQLite file, then a PostgreSQL database (the module's fixture, once per backend).
"""

from __future__ import annotations

import os
import zlib

import pytest

import schemathesis  # noqa: E402 — in the test extra (.ci/setup installs it)
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,  # noqa: E402
                                 status_code_conformance)

from lifecycle_support import ScriptPlugin, scaled, script  # noqa: E402
from obs_support import backend_store  # noqa: E402
from swarm.testing.pytest_plugin import backends  # noqa: E402
from swarm.ui.openapi import COMMITTED  # noqa: E402
from ui_support import drive_in_thread, request, start_ui, wait_for  # noqa: E402

EXAMPLES = int(os.environ.get("SWARM_SCHEMATHESIS_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def echo(ctx):
    return f"echo: {ctx.data['goal']}"


def trip(ctx):
    if ctx.reports is None:
        return ctx.spawn([ctx.child("ask_human", question="Which city?", proposal="Lisbon")])
    return ctx.reports[0].output if ctx.reports[0].ok else f"no city: {ctx.reports[0].error}"


@pytest.fixture(scope="module", params=backends())
def served(tmp_path_factory, request):
    """One UI server for every operation, over a store with a finished run and one waiting for a person, on each
    backend. Its scripts make no model call (the endpoint is a closed port: a goal routed to one fails its node)."""
    folder = tmp_path_factory.mktemp("schemathesis")
    with backend_store(request, folder) as url:
        yield from serve(folder, url)


def serve(folder, store_url: str):
    """The server of `served` over the store of `store_url` ("": folder/swarm.db): yields (server, real ids)."""
    from swarm.catalogue import Catalogue
    from swarm.config import load_config
    from swarm.engine import Engine

    catalogue = Catalogue()
    catalogue.register(ScriptPlugin([script("echo", echo), script("trip", trip)]))
    engine = Engine(load_config(env={"SWARM_STORE": str(folder / "swarm.db"), "SWARM_STORE_URL": store_url,
                                     "SWARM_RUN_ROOT_SCRIPT": "echo",
                                     "SWARM_TOOLSMITH_FOLDER": str(folder / "generated"), "SWARM_MODEL_MAX_RETRIES": "0",
                                     "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}), catalogue=catalogue)
    finished = engine.create_run("say hello")
    drive_in_thread(engine, finished).join(scaled(20))
    waiting = engine.create_run("plan a trip", script="trip")
    drive_in_thread(engine, waiting)
    wait_for(lambda: engine.store.run(waiting)["status"] == "awaiting_approval", scaled(20), "the approval request")
    with start_ui(engine) as server:
        yield server, {"run_id": [finished, waiting], "node_id": ["1"],
                       "approval_id": [engine.store.approvals(waiting)[0]["id"]]}
    engine.close()


# The committed document, which tests/test_ui_rest.py checks is the one the server serves. Every operation is
# generated and checked inside one test: as pytest items of their own, schemathesis's cases share one node id,
# which pytest-xdist cannot schedule apart (under -n only one of them ran).
schema = schemathesis.openapi.from_path(str(COMMITTED)).exclude(path="/api/events")


def test_every_operation_answers_as_documented_with_real_data_too(served):
    from hypothesis import given

    server, real = served
    answered: dict[tuple[str, int], int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            for name, value in list((case.path_parameters or {}).items()):
                if name in real and zlib.crc32(str(value).encode()) % 3:  # two in three: a real one
                    choices = real[name]
                    case.path_parameters[name] = choices[zlib.crc32(str(value).encode()) % len(choices)]
            response = case.call_and_validate(base_url=server.url.rstrip("/"),
                                              headers={"X-Swarm-Token": server.token}, checks=CHECKS)
            key = (case.operation.label, response.status_code)
            answered[key] = answered.get(key, 0) + 1

        check()

    assert {label for label, _ in answered} == {op.label for op in operations}  # every operation was called
    ok = {label for (label, status), n in answered.items() if status < 300}
    # Not only 404s for unknown ids and 400s for bad input: the main operations answered with real data.
    assert {"GET /api/runs/{run_id}", "GET /api/runs/{run_id}/graph", "GET /api/runs/{run_id}/nodes/{node_id}",
            "POST /api/runs", "GET /metrics"} <= ok, sorted(answered)


def test_a_nul_character_in_an_id_a_query_or_a_goal_is_answered_as_any_other_text(served):
    """What schemathesis found on PostgreSQL, whose text holds no NUL character (a server error before): the NUL
    is looked up and finds nothing, or is written as U+FFFD with every other character kept."""
    server, _ = served
    token = {"X-Swarm-Token": server.token}
    for path in ("api/approvals?run=a%00b", "api/runs/a%00b"):
        status, body = request(server.url + path, headers=token)
        assert status == 404 and "no run" in body["error"], (path, body)
    goal = "say \x00 hello"
    status, made = request(server.url + "api/runs", "POST", token, body={"goal": goal})
    assert status == 201, made
    assert made["run"]["goal"] in (goal, goal.replace("\x00", "\ufffd"))  # SQLite keeps the NUL, PostgreSQL cannot

