"""A model endpoint that hangs or trickles: every wait ends, says what it waits on, and frees its thread.

Real loopback servers that never answer (`"fault": "hang"`) or answer one byte at a time
(`"fault": "trickle"`); real worker threads. What is asserted is the property (the request was
closed, the thread was freed, the later call went through), never how long anything took.
"""

# SQLite only: about the model client's waits and threads, which do not depend on the store.

from __future__ import annotations

import logging
import queue

import pytest

from lifecycle_support import ask_model, make_engine, node_states, run, script, wait_for  # noqa: F401
from swarm.model import ModelClient, ModelSettings, ModelUnavailable
from swarm.model.cancel import Cancellation
from swarm.model.errors import ModelCallCancelled
from swarm.testing import ScriptedModelServer
from swarm.workers import Workers
from timeouts import scaled

ASK = [{"role": "user", "content": "hello"}]


def client_for(server: ScriptedModelServer, **overrides) -> ModelClient:
    settings = {"base_url": server.url, "model": "scripted", "max_retries": 0, "notice_after_s": 0, **overrides}
    return ModelClient(ModelSettings(**settings))


def hung_up(server: ScriptedModelServer, count: int) -> bool:
    return sum(r["client_hung_up"] for r in server.requests) >= count


def stuck_ones_closed(server: ScriptedModelServer) -> bool:
    """Every request that reached a hanging line was closed by the client."""
    return all(r["client_hung_up"] for r in server.requests if r["fault"] == "hang")


def test_a_reply_that_never_comes_ends_at_timeout_s_with_its_connection_closed():
    with ScriptedModelServer([{"fault": "hang"}]) as server, client_for(server, timeout_s=0.3) as client:
        with pytest.raises(ModelUnavailable) as caught:
            client.complete(ASK)
        wait_for(lambda: hung_up(server, 1), scaled(10), "the server to see the client hang up")
        url = server.url
    message = str(caught.value)
    assert f"the model at {url} (model scripted) sent no complete reply within 0.3 s, after 1 try" in message
    assert "raise [model].timeout_s" in message and "[model].base_url" not in message


def test_a_reply_trickled_byte_by_byte_is_cut_at_the_total_deadline_not_read_forever():
    # A byte every 50 ms never trips a read timeout; unbounded, these 4 kB would take minutes.
    script = [{"fault": "trickle", "reply": "x" * 4000, "trickle_s": 0.05}]
    with ScriptedModelServer(script) as server, client_for(server, timeout_s=0.5) as client:
        with pytest.raises(ModelUnavailable, match="sent no complete reply within 0.5 s"):
            client.complete(ASK)
        wait_for(lambda: hung_up(server, 1), scaled(10), "the server to see the client hang up")
        assert server.requests[0]["responded_at"] is None  # the reply was never all sent


def test_retries_stop_at_call_timeout_s_and_the_message_says_so():
    # 100 tries of 0.2 s would take 20 s; the call may take 1 s.
    script = [{"fault": "hang", "repeat": True}]
    settings = {"timeout_s": 0.2, "call_timeout_s": 1.0, "max_retries": 99, "backoff_base_s": 0.001}
    with ScriptedModelServer(script) as server, client_for(server, **settings) as client:
        with pytest.raises(ModelUnavailable, match=r"no time left for another try within \[model\].call_timeout_s=1 s"):
            client.complete(ASK)
        assert len(server.requests) < 100


def test_more_timed_out_calls_than_worker_threads_leave_the_threads_free_for_a_healthy_call():
    pool_size, stuck = 3, 5
    script = [{"fault": "hang", "match": "stuck", "repeat": True}, {"reply": "fine", "match": "healthy"}]
    outcomes: queue.SimpleQueue = queue.SimpleQueue()

    def ask(client: ModelClient, text: str) -> None:
        try:
            outcomes.put(client.complete([{"role": "user", "content": text}]).text)
        except ModelUnavailable as error:
            outcomes.put(error)

    workers = Workers(pool_size, name="test-model-stuck")
    try:
        # No circuit breaker here: five failed calls in a row would open it, and it is not under test.
        with ScriptedModelServer(script) as server, client_for(server, timeout_s=0.3, breaker_failures=0) as client:
            for _ in range(stuck):
                workers.submit(ask, client, "stuck")
            results = [outcomes.get(timeout=scaled(30)) for _ in range(stuck)]
            with client_for(server, timeout_s=scaled(30)) as patient:  # however busy this machine is
                workers.submit(ask, patient, "healthy")
                assert outcomes.get(timeout=scaled(30)) == "fine"
            wait_for(lambda: stuck_ones_closed(server), scaled(10), "the server to see every stuck request closed")
            assert server.requests[-1]["last_user"] == "healthy"
    finally:
        workers.shutdown()
    assert all(isinstance(result, ModelUnavailable) for result in results)


def test_a_cancelled_call_closes_its_request_at_once_and_frees_its_thread():
    script = [{"fault": "hang"}, {"reply": "fine"}]
    outcomes: queue.SimpleQueue = queue.SimpleQueue()
    cancel = Cancellation()

    def ask(client: ModelClient, token: Cancellation | None) -> None:
        try:
            outcomes.put(client.complete(ASK, cancel=token).text)
        except ModelCallCancelled as error:
            outcomes.put(error)

    workers = Workers(1, name="test-model-cancel")
    try:
        # timeout_s is far beyond the test's limits: only the cancel can end the request.
        with ScriptedModelServer(script) as server, client_for(server, timeout_s=3600) as client:
            workers.submit(ask, client, cancel)
            wait_for(lambda: server.requests and server.requests[0]["line"] == 0, scaled(10),
                     "the request to reach its hanging line")
            cancel.cancel()
            assert isinstance(outcomes.get(timeout=scaled(10)), ModelCallCancelled)
            workers.submit(ask, client, None)  # the one worker thread is free again
            assert outcomes.get(timeout=scaled(10)) == "fine"
            wait_for(lambda: hung_up(server, 1), scaled(10), "the server to see the client hang up")
    finally:
        workers.shutdown()


def test_a_call_cancelled_before_it_starts_makes_no_request():
    cancel = Cancellation()
    cancel.cancel()
    with ScriptedModelServer([{"reply": "never asked"}]) as server, client_for(server) as client:
        with pytest.raises(ModelCallCancelled, match=f"the model call to {server.url} was cancelled"):
            client.complete(ASK, cancel=cancel)
        assert server.requests == []


def test_nodes_timing_out_on_a_hung_model_free_their_threads_for_later_goals(make_engine):
    # The reported bug: after more hung replies than worker threads (here concurrency 1, so 5
    # threads), a later goal made no request and failed with NodeTimeout. The model's own
    # timeout is far away: only the node timeout ends each stuck request.
    stuck = 6
    lines = [{"fault": "hang", "match": "stuck", "repeat": True}, {"reply": "fine", "match": "healthy"}]
    server = ScriptedModelServer(lines).start()
    try:
        engine = make_engine(script("ask", ask_model), model=server, concurrency=1, node_timeout_s=0.3,
                             node_max_attempts=1, settings={"SWARM_MODEL_TIMEOUT_S": "3600"})
        assert len(engine.pool.threads) < stuck
        for n in range(stuck):
            run_id, status = run(engine, f"stuck {n}", "ask", data={"question": "stuck"})
            assert status == "failed"
            assert node_states(engine, run_id)["1"]["error"].startswith("NodeTimeout")
        engine.config.run.node_timeout_s = scaled(30)  # the healthy goal is not timed, however busy this machine is
        run_id, status = run(engine, "healthy", "ask", data={"question": "healthy"})
        assert (status, node_states(engine, run_id)["1"]["output"]) == ("done", "fine")
        wait_for(lambda: stuck_ones_closed(server), scaled(10), "the server to see every stuck request closed")
    finally:
        server.stop()


def test_a_long_wait_says_what_it_waits_on_once(caplog):
    with ScriptedModelServer([{"fault": "hang"}]) as server:
        with client_for(server, timeout_s=1.0, notice_after_s=0.1) as client:
            with caplog.at_level(logging.WARNING, logger="swarm.model"), pytest.raises(ModelUnavailable):
                client.complete(ASK)
        url = server.url
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("waiting for the model")]
    assert lines == [f"waiting for the model at {url} (model scripted): 0.1 s so far, "
                     "gives up after 1 s at most"]
