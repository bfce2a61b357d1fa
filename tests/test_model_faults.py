"""ModelClient retries, backoff and circuit breaker against real faults from a scripted server on loopback."""

import logging
import socket

import pytest

from swarm.model import ModelClient, ModelSettings, ModelUnavailable
from swarm.testing import ScriptedModelServer

ASK = [{"role": "user", "content": "hello"}]


class FakeTime:
    """Injected clock and sleep: backoff is recorded, not waited for."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(url, fake, **overrides):
    settings = ModelSettings(**{"base_url": url, "model": "scripted", "timeout_s": 5, **overrides})
    return ModelClient(settings, sleep=fake.sleep, clock=fake.clock)


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def test_429_waits_for_retry_after_then_succeeds():
    fake = FakeTime()
    with ScriptedModelServer([{"fault": "429", "retry_after": 3}, {"reply": "ok"}]) as server:
        reply = client_for(server.url, fake).complete(ASK)
        assert [r["status"] for r in server.requests] == [429, 200]
    assert reply.text == "ok" and reply.attempts == 2
    assert fake.sleeps[0] >= 3


def test_429_with_retry_after_as_an_http_date_waits_until_that_date():
    fake = FakeTime()
    script = [{"fault": "429", "retry_after": 3, "retry_after_form": "http-date"}, {"reply": "ok"}]
    with ScriptedModelServer(script) as server:
        reply = client_for(server.url, fake).complete(ASK)
    assert reply.text == "ok"
    assert 1 < fake.sleeps[0] <= 3  # the date has whole seconds: 2 to 3 s after it was sent


def test_a_retry_after_longer_than_backoff_max_s_is_capped_and_the_log_says_so(caplog):
    fake = FakeTime()
    with ScriptedModelServer([{"fault": "429", "retry_after": 120}, {"reply": "ok"}]) as server:
        with caplog.at_level(logging.WARNING, logger="swarm.model"):
            client_for(server.url, fake, backoff_max_s=30).complete(ASK)
    assert fake.sleeps == [30]
    assert "the server asked for 120 s with Retry-After; [model].backoff_max_s=30 caps it" in caplog.text


def test_http_500_after_every_try_says_the_server_failed_not_that_the_address_is_wrong():
    fake = FakeTime()
    with ScriptedModelServer([{"fault": "500", "repeat": True}]) as server:
        with pytest.raises(ModelUnavailable) as caught:
            client_for(server.url, fake, max_retries=1).complete(ASK)
        url = server.url
    message = str(caught.value)
    assert f"the model server at {url} failed with HTTP 500 after 2 tries" in message
    assert "look at the model server's log" in message and "retry later" in message
    assert "base_url" not in message


def test_http_429_after_every_try_says_it_is_rate_limited():
    fake = FakeTime()
    with ScriptedModelServer([{"fault": "429", "retry_after": 0, "repeat": True}]) as server:
        with pytest.raises(ModelUnavailable, match="still answered HTTP 429 .* after 2 tries.*rate_per_s"):
            client_for(server.url, fake, max_retries=1).complete(ASK)


def test_a_body_that_is_no_chat_completion_after_every_try_says_to_check_the_api():
    fake = FakeTime()
    with ScriptedModelServer([{"fault": "malformed", "repeat": True}]) as server:
        with pytest.raises(ModelUnavailable, match="no usable chat completion after 2 tries.*OpenAI-compatible"):
            client_for(server.url, fake, max_retries=1).complete(ASK)


@pytest.mark.parametrize("fault", ["500", "malformed", "cutoff"])
def test_transient_fault_is_retried_with_backoff(fault):
    fake = FakeTime()
    with ScriptedModelServer([{"fault": fault, "reply": "lost"}, {"reply": "ok"}]) as server:
        reply = client_for(server.url, fake, backoff_base_s=0.5).complete(ASK)
        assert len(server.requests) == 2
    assert reply.text == "ok" and reply.attempts == 2
    assert len(fake.sleeps) == 1 and 0 <= fake.sleeps[0] <= 0.5


def test_timeout_is_retried():
    fake = FakeTime()
    with ScriptedModelServer([{"fault": "timeout"}, {"reply": "ok"}]) as server:
        reply = client_for(server.url, fake, timeout_s=0.2).complete(ASK)
    assert reply.text == "ok" and reply.attempts == 2


def test_backoff_doubles_up_to_the_cap():
    fake = FakeTime()
    script = [{"fault": "500"}] * 5 + [{"reply": "ok"}]
    with ScriptedModelServer(script) as server:
        client_for(server.url, fake, backoff_base_s=1.0, backoff_max_s=4.0).complete(ASK)
    ceilings = [1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(fake.sleeps) == 5
    assert all(0 <= slept <= ceiling for slept, ceiling in zip(fake.sleeps, ceilings))


def test_connection_refused_raises_model_unavailable_naming_the_url_after_all_tries():
    fake = FakeTime()
    url = closed_port_url()
    client = client_for(url, fake, max_retries=2)
    with pytest.raises(ModelUnavailable) as caught:
        client.complete(ASK)
    message = str(caught.value)
    assert f"no model endpoint answered at {url} after 3 tries" in message
    assert "set [model].base_url in swarm.toml or OPENAI_BASE_URL" in message
    assert len(fake.sleeps) == 2


def test_breaker_opens_after_failed_calls_and_then_fails_fast_without_http():
    fake = FakeTime()
    with ScriptedModelServer([{"fault": "500", "repeat": True}]) as server:
        client = client_for(server.url, fake, max_retries=1, breaker_failures=2, breaker_reset_s=30)
        for _ in range(2):
            with pytest.raises(ModelUnavailable, match="after 2 tries"):
                client.complete(ASK)
        assert len(server.requests) == 4
        with pytest.raises(ModelUnavailable, match=f"model endpoint {server.url} failed 2 calls in a row"):
            client.complete(ASK)
        assert len(server.requests) == 4  # failed fast: no HTTP attempt


def test_breaker_lets_a_trial_through_after_reset_and_closes_on_success():
    fake = FakeTime()
    with ScriptedModelServer([{"fault": "500"}, {"reply": "back"}]) as server:
        client = client_for(server.url, fake, max_retries=0, breaker_failures=1, breaker_reset_s=30)
        with pytest.raises(ModelUnavailable):
            client.complete(ASK)
        with pytest.raises(ModelUnavailable, match="not calling it again"):
            client.complete(ASK)
        fake.now += 30
        assert client.complete(ASK).text == "back"
        assert len(server.requests) == 2
