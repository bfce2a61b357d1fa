"""ModelClient: calls one OpenAI-compatible endpoint with retries, rate limit, circuit breaker,
structured (JSON) replies and token/cost accounting. Safe to share between threads."""

from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass
from typing import Any, Callable

import openai

from swarm.model.backoff import backoff_delay, retry_after_seconds
from swarm.model.breaker import CircuitBreaker
from swarm.model.errors import (
    ModelError,
    ModelReplyInvalid,
    ModelRequestRejected,
    ModelUnavailable,
    NoModelConfigured,
)
from swarm.model.ratelimit import RateLimiter
from swarm.model.reply import Reply
from swarm.model.response_format import FormatLadder, rejects_response_format, response_format
from swarm.model.settings import ModelSettings
from swarm.model.structured import parse_structured, repair_request
from swarm.model.usage import Totals, cost_usd

log = logging.getLogger(__name__)

CALL_KEY_HEADER = "X-Swarm-Call-Key"


class _Retryable(Exception):
    """One HTTP attempt failed in a way another attempt may fix (429, 5xx, timeout, bad body)."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


class _Refused(Exception):
    """The endpoint answered 4xx (not 429): the same request will be refused again."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _NoAnswer(Exception):
    """Every attempt of one request failed."""

    def __init__(self, tries: int, last_error: str) -> None:
        super().__init__(last_error)
        self.tries = tries
        self.last_error = last_error


@dataclass
class _Tally:
    """What one `complete` call has used so far, across retries and the corrective retry."""

    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    asked: str = ""  # the model name sent: [model].model, or the one a run asked for


class ModelClient:
    """The one way swarm talks to an LLM. Create one per endpoint and share it between threads."""

    def __init__(
        self,
        settings: ModelSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if not settings.model:
            raise NoModelConfigured()
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        # The key is handed to the openai client only; we keep no copy and never log it.
        self._openai = openai.OpenAI(
            base_url=settings.base_url,
            api_key=os.environ.get(settings.api_key_env) or "not-needed",
            timeout=settings.timeout_s,
            max_retries=0,  # retries are ours: backoff, breaker and accounting must see every attempt
        )
        self.endpoint = str(self._openai.base_url).rstrip("/")
        self._limiter = RateLimiter(settings.rate_per_s, clock=clock, sleep=sleep)
        self._breaker = CircuitBreaker(
            settings.breaker_failures, settings.breaker_reset_s, endpoint=self.endpoint, clock=clock
        )
        self._formats = FormatLadder(settings.structured)
        self._totals = Totals()

    @property
    def totals(self) -> dict[str, float | int]:
        """Replies returned, and tokens and USD spent (failed calls' tokens included), since creation."""
        return self._totals.snapshot()

    def complete(
        self,
        messages: list[dict],
        *,
        schema: dict | None = None,
        json: bool = False,
        call_key: str | None = None,
        model: str | None = None,
    ) -> Reply:
        """Send a chat conversation and return the model's Reply.

        With `schema` (or `json=True`), the reply is parsed tolerantly into
        `Reply.data` and checked against the schema; one corrective request is
        made if it does not parse. `call_key` is sent as the X-Swarm-Call-Key header. `model` asks for
        another model name than [model].model on the same endpoint (same rate limit and breaker).

        Raises ModelUnavailable (no answer after retries, or circuit open),
        ModelRequestRejected (4xx other than 429), ModelReplyInvalid.
        """
        started = self._clock()
        self._breaker.before_call()
        tally = _Tally(asked=model or self.settings.model)
        returned = False
        try:
            text, data = self._converse(list(messages), schema, json or schema is not None, call_key, tally)
            self._breaker.record_success()
            returned = True
        except _NoAnswer as failure:
            self._breaker.record_failure()
            raise ModelUnavailable.no_answer(self.endpoint, failure.tries, failure.last_error) from None
        except ModelError:
            self._breaker.record_success()  # the endpoint answered; the request or the reply was at fault
            raise
        except BaseException:
            self._breaker.abandon()
            raise
        finally:
            cost = self._cost(tally)
            self._totals.add(
                calls=int(returned),
                prompt_tokens=tally.prompt_tokens,
                completion_tokens=tally.completion_tokens,
                cost=cost,
            )
        return Reply(
            text=text,
            data=data,
            model=tally.model or tally.asked,
            prompt_tokens=tally.prompt_tokens,
            completion_tokens=tally.completion_tokens,
            cost_usd=cost,
            attempts=tally.attempts,
            latency_ms=(self._clock() - started) * 1000.0,
        )

    def _cost(self, tally: _Tally) -> float:
        # Prices are keyed by the name configured; fall back to the name the server reported.
        prices = self.settings.prices
        model = tally.asked if tally.asked in prices else tally.model
        return cost_usd(prices, model, tally.prompt_tokens, tally.completion_tokens)

    def close(self) -> None:
        self._openai.close()

    def __enter__(self) -> "ModelClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _converse(
        self, messages: list[dict], schema: dict | None, want_json: bool, call_key: str | None, tally: _Tally
    ) -> tuple[str, Any]:
        """Ask; if JSON was wanted and the reply is unusable, ask once more saying what was wrong."""
        text = self._exchange(messages, schema, want_json, call_key, tally)
        if not want_json:
            return text, None
        try:
            return text, parse_structured(text, schema)
        except ValueError as problem:
            log.info("model reply unusable (%s); asking once more", problem)
            messages = messages + [
                {"role": "assistant", "content": text},
                {"role": "user", "content": repair_request(str(problem), schema)},
            ]
        text = self._exchange(messages, schema, want_json, call_key, tally)
        try:
            return text, parse_structured(text, schema)
        except ValueError as problem:
            raise ModelReplyInvalid(str(problem), text) from None

    def _exchange(
        self, messages: list[dict], schema: dict | None, want_json: bool, call_key: str | None, tally: _Tally
    ) -> str:
        """One request, stepping down the response_format if the server does not support it."""
        level = self._formats.level_for(schema=schema, json=want_json)
        while True:
            try:
                return self._send(messages, response_format(level, schema), call_key, tally)
            except _Refused as refused:
                lower = self._formats.step_down(level) if rejects_response_format(refused.status, refused.message) else None
                if lower is None:
                    raise ModelRequestRejected(
                        self.endpoint, refused.status, refused.message, self.settings.api_key_env
                    ) from None
                log.info("endpoint %s refused response_format %s; using %s from now on", self.endpoint, level, lower)
                level = lower

    def _send(self, messages: list[dict], fmt: dict | None, call_key: str | None, tally: _Tally) -> str:
        """One request with retries and backoff; raises _NoAnswer when every attempt failed."""
        last: _Retryable | None = None
        tries = self.settings.max_retries + 1
        for retry in range(tries):
            if last is not None:
                delay = backoff_delay(
                    retry - 1,
                    base_s=self.settings.backoff_base_s,
                    max_s=self.settings.backoff_max_s,
                    retry_after_s=last.retry_after_s,
                    rng=self._rng,
                )
                log.warning("model request failed (%s); retry %d/%d in %.2fs", last.reason, retry, tries - 1, delay)
                self._sleep(delay)
            self._limiter.acquire()
            tally.attempts += 1
            try:
                return self._attempt(messages, fmt, call_key, tally)
            except _Retryable as failure:
                last = failure
        raise _NoAnswer(tries, last.reason if last else "no attempt made")

    def _attempt(self, messages: list[dict], fmt: dict | None, call_key: str | None, tally: _Tally) -> str:
        """One HTTP request; classifies every failure as _Retryable or _Refused."""
        request: dict[str, Any] = {
            "model": tally.asked or self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature,
        }
        if fmt is not None:
            request["response_format"] = fmt
        if call_key is not None:
            request["extra_headers"] = {CALL_KEY_HEADER: call_key}
        try:
            completion = self._openai.chat.completions.create(**request)
        except openai.APIStatusError as error:
            status = error.status_code
            if status == 429 or status == 408 or status >= 500:
                raise _Retryable(error.message, retry_after_seconds(error.response.headers)) from None
            raise _Refused(status, error.message) from None  # the message carries the server's error body
        except openai.APITimeoutError:
            raise _Retryable(f"timed out after {self.settings.timeout_s}s") from None
        except openai.APIConnectionError as error:
            cause = error.__cause__ or error
            raise _Retryable(f"connection failed or reply cut off: {type(cause).__name__}: {cause}") from None
        except Exception as error:  # a body that is not a chat completion: bad JSON, cut off mid-way, ...
            raise _Retryable(f"malformed response: {type(error).__name__}: {error}") from None
        return _read_completion(completion, tally)


def _read_completion(completion: Any, tally: _Tally) -> str:
    """The reply text of a chat completion, adding its usage to `tally`; _Retryable if the shape is wrong."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise _Retryable(f"malformed response: no choices in {str(completion)[:120]!r}")
    content = getattr(getattr(choices[0], "message", None), "content", None)
    if not isinstance(content, str):
        raise _Retryable("malformed response: the first choice has no text content")
    usage = getattr(completion, "usage", None)
    tally.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
    tally.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
    tally.model = getattr(completion, "model", None) or tally.model
    return content
