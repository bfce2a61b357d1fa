"""ModelClient: calls one OpenAI-compatible endpoint with retries, rate limit, circuit breaker,
structured (JSON) replies and token/cost accounting. Safe to share between threads.

Every wait is bounded and says what it waits on: one request may take [model].timeout_s from
sending to the last byte (a watchdog shuts its connection down then, however slowly bytes
trickle in); one call, retries included, [model].call_timeout_s; a call still waiting after
[model].notice_after_s logs one line naming the endpoint and the model. A call given a
Cancellation ends its request in flight when cancelled, so a timed-out node frees its thread.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import openai

from swarm.model.backoff import backoff_delay, retry_after_seconds
from swarm.model.breaker import CircuitBreaker
from swarm.model.cancel import Cancellation
from swarm.model.errors import (
    ModelCallCancelled,
    ModelError,
    ModelReplyInvalid,
    ModelReplyTruncated,
    ModelRequestRejected,
    ModelUnavailable,
    NoModelConfigured,
)
from swarm.model.inflight import CANCELLED, DEADLINE, PendingCall, PendingRequest
from swarm.model.ratelimit import RateLimiter
from swarm.model.reply import Reply
from swarm.model.response_format import FormatLadder, rejects_response_format, response_format
from swarm.model.settings import ModelSettings
from swarm.model.structured import parse_structured, repair_request, repaired_json
from swarm.model.usage import Totals, cost_usd
from swarm.model.watchdog import Watchdog

log = logging.getLogger(__name__)

CALL_KEY_HEADER = "X-Swarm-Call-Key"
CONNECT_TIMEOUT_S = 15.0  # a TCP/TLS connect this slow means nothing is there; the reply gets timeout_s


class _Retryable(Exception):
    """One HTTP attempt failed in a way another attempt may fix (429, 5xx, timeout, bad body).

    `kind` says what failed, for the final message: "connect" (nothing answered at the address),
    "timeout" (no complete reply in time), "status" (an HTTP error status), "malformed".
    """

    def __init__(self, reason: str, kind: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.status = status
        self.retry_after_s = retry_after_s


class _Refused(Exception):
    """The endpoint answered 4xx (not 429): the same request will be refused again."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class _NoAnswer(Exception):
    """Every attempt of one request failed (or the call ran out of time for more)."""

    def __init__(self, tries: int, last: _Retryable, out_of_time: bool) -> None:
        super().__init__(last.reason)
        self.tries = tries
        self.last = last
        self.out_of_time = out_of_time


@dataclass
class _Tally:
    """What one `complete` call has used so far, across retries and the corrective retry."""

    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model: str = ""
    asked: str = ""  # the model name sent: [model].model, or the one a run asked for
    deadline: float | None = None  # on the client's clock: no try starts after it, none runs past it
    json_repaired: bool = False
    temperature: float | None = None  # this call's own, when not [model].temperature


class ModelClient:
    """The one way swarm talks to an LLM. Create one per endpoint and share it between threads."""

    def __init__(
        self,
        settings: ModelSettings,
        *,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        limiter: Any = None,
    ) -> None:
        """`limiter`: what spaces the calls out (anything with `acquire()`, e.g. SharedRateLimiter over the store);
        None: a bucket of this client's own, of [model].rate_per_s."""
        if not settings.model:
            raise NoModelConfigured()
        self.settings = settings
        self._sleep = sleep  # None: wait between tries on the call, so a cancel ends the wait too
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_thread = threading.local()  # the request this thread is sending, for the request hook
        # The key is handed to the openai client only; we keep no copy and never log it.
        self._openai = openai.OpenAI(
            base_url=settings.base_url,
            api_key=os.environ.get(settings.api_key_env) or "not-needed",
            timeout=settings.timeout_s,
            max_retries=0,  # retries are ours: backoff, breaker and accounting must see every attempt
            http_client=openai.DefaultHttpxClient(event_hooks={"request": [self._on_request]}),
        )
        self._completions = self._openai.chat.completions  # loaded now, not within the first request's time
        self.endpoint = str(self._openai.base_url).rstrip("/")
        self._limiter = limiter or RateLimiter(settings.rate_per_s, clock=clock, sleep=sleep or time.sleep)
        self._breaker = CircuitBreaker(
            settings.breaker_failures, settings.breaker_reset_s, endpoint=self.endpoint, clock=clock
        )
        self._formats = FormatLadder(settings.structured)
        self._totals = Totals()
        self._watchdog = Watchdog(f"swarm-model-watchdog:{self.endpoint}")
        self._waiting = 0  # calls in flight, for the waiting notice
        self._noticed_at = float("-inf")  # when the last waiting notice was logged (monotonic)
        self._notice_lock = threading.Lock()

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
        cancel: Cancellation | None = None,
        temperature: float | None = None,
    ) -> Reply:
        """Send a chat conversation and return the model's Reply.

        With `schema` (or `json=True`), the reply is parsed tolerantly into
        `Reply.data` and checked against the schema; one corrective request is
        made if it does not parse. `call_key` is sent as the X-Swarm-Call-Key header. `model` asks for
        another model name than [model].model on the same endpoint (same rate limit and breaker).
        `cancel`, when raised, ends the call at once: its request in flight is closed. `temperature`, when
        given, replaces [model].temperature for this call (a fresh attempt after a failed one wants variety).

        Raises ModelUnavailable (no usable answer in time, or circuit open), ModelRequestRejected
        (4xx other than 429), ModelReplyInvalid, ModelReplyTruncated (cut at the token limit),
        ModelCallCancelled.
        """
        started = self._clock()
        self._breaker.before_call()
        budget = self.settings.call_budget_s
        tally = _Tally(asked=model or self.settings.model, deadline=None if budget is None else started + budget,
                       temperature=temperature)
        call = PendingCall()
        forget_cancel = cancel.on_cancel(call.cancel) if cancel is not None else None
        notice = self._watchdog.after(self.settings.notice_after_s, lambda: self._notice(tally)) if (
            self.settings.notice_after_s) else None
        self._count_waiting(+1)
        returned = False
        try:
            text, data = self._converse(list(messages), schema, json or schema is not None, call_key, tally, call)
            self._breaker.record_success()
            returned = True
        except _NoAnswer as failure:
            self._breaker.record_failure()
            raise self._unavailable(failure, tally) from None
        except ModelCallCancelled:
            self._breaker.abandon()  # says nothing about the endpoint
            raise
        except ModelError:
            self._breaker.record_success()  # the endpoint answered; the request or the reply was at fault
            raise
        except BaseException:
            self._breaker.abandon()
            raise
        finally:
            self._count_waiting(-1)
            if notice is not None:
                notice.cancel()
            if forget_cancel is not None:
                forget_cancel()
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
            json_repaired=tally.json_repaired,
        )

    def _cost(self, tally: _Tally) -> float:
        # Prices are keyed by the name configured; fall back to the name the server reported.
        prices = self.settings.prices
        model = tally.asked if tally.asked in prices else tally.model
        return cost_usd(prices, model, tally.prompt_tokens, tally.completion_tokens)

    def close(self) -> None:
        self._watchdog.close()
        self._openai.close()

    def __enter__(self) -> "ModelClient":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- saying what a call waits on, and why it gave up --------------------------------

    def _count_waiting(self, change: int) -> None:
        with self._notice_lock:
            self._waiting += change

    def _notice(self, tally: _Tally) -> None:
        """On the watchdog's thread: this call has waited notice_after_s. One line, at most one per
        notice_after_s for the whole client, so many nodes waiting on one slow model make one line."""
        settings = self.settings
        now = time.monotonic()
        with self._notice_lock:
            if now - self._noticed_at < settings.notice_after_s:
                return
            self._noticed_at = now
            waiting = self._waiting
        others = f"; {waiting} calls are waiting" if waiting > 1 else ""
        log.warning("waiting for the model at %s (model %s): %g s so far, gives up after %g s at most%s",
                    self.endpoint, tally.asked, settings.notice_after_s, self._worst_wait_s(), others)

    def _worst_wait_s(self) -> float:
        """The longest one call can take: call_timeout_s, or less when the tries and the waits between them end sooner."""
        settings = self.settings
        tries_end = (settings.max_retries + 1) * settings.timeout_s + settings.max_retries * settings.backoff_max_s
        budget = settings.call_budget_s
        return tries_end if budget is None else min(budget, tries_end)

    def _unavailable(self, failure: _NoAnswer, tally: _Tally) -> ModelUnavailable:
        last, tries = failure.last, failure.tries
        reason = last.reason + ("; no time left for another try within [model].call_timeout_s="
                                f"{self.settings.call_budget_s:g} s" if failure.out_of_time else "")
        if last.kind == "timeout":
            return ModelUnavailable.no_reply_in_time(self.endpoint, tally.asked, tries, self.settings.timeout_s, reason)
        if last.kind == "status" and last.status == 429:
            return ModelUnavailable.rate_limited(self.endpoint, tries, reason)
        if last.kind == "status":
            return ModelUnavailable.server_failed(self.endpoint, last.status or 0, tries, reason)
        if last.kind == "malformed":
            return ModelUnavailable.not_a_chat_api(self.endpoint, tries, reason)
        return ModelUnavailable.no_answer(self.endpoint, tries, reason)

    # --- one call: the conversation, its requests, their tries ------------------------------

    def _converse(
        self, messages: list[dict], schema: dict | None, want_json: bool, call_key: str | None, tally: _Tally,
        call: PendingCall,
    ) -> tuple[str, Any]:
        """Ask; if JSON was wanted and the reply is unusable, ask once more saying what was wrong."""
        text = self._exchange(messages, schema, want_json, call_key, tally, call)
        if not want_json:
            return text, None
        try:
            return text, parse_structured(text, schema)
        except ValueError as problem:
            if (mended := repaired_json(text, schema)) is not None:
                tally.json_repaired = True  # read by json-repair: no corrective call paid for
                return text, mended
            left = self._time_left(tally)
            if left is not None and left <= 0:
                raise ModelReplyInvalid(f"{problem}; no time was left for a corrective request within "
                                        f"[model].call_timeout_s={self.settings.call_budget_s:g} s", text,
                                        corrected=False) from None
            log.info("model reply unusable (%s); asking once more", problem)
            messages = messages + [
                {"role": "assistant", "content": text},
                {"role": "user", "content": repair_request(str(problem), schema)},
            ]
        text = self._exchange(messages, schema, want_json, call_key, tally, call)
        try:
            return text, parse_structured(text, schema)
        except ValueError as problem:
            raise ModelReplyInvalid(str(problem), text) from None

    def _exchange(
        self, messages: list[dict], schema: dict | None, want_json: bool, call_key: str | None, tally: _Tally,
        call: PendingCall,
    ) -> str:
        """One request, stepping down the response_format if the server does not support it."""
        level = self._formats.level_for(schema=schema, json=want_json)
        while True:
            try:
                return self._send(messages, response_format(level, schema), call_key, tally, call)
            except _Refused as refused:
                lower = self._formats.step_down(level) if rejects_response_format(refused.status, refused.message) else None
                if lower is None:
                    raise ModelRequestRejected(
                        self.endpoint, refused.status, refused.message, self.settings.api_key_env
                    ) from None
                log.info("endpoint %s refused response_format %s; using %s from now on", self.endpoint, level, lower)
                level = lower

    def _send(self, messages: list[dict], fmt: dict | None, call_key: str | None, tally: _Tally,
              call: PendingCall) -> str:
        """One request with retries and backoff, within the call's deadline; _NoAnswer when every try failed."""
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
                left = self._time_left(tally)
                if left is not None and delay >= left:
                    raise _NoAnswer(retry, last, out_of_time=True)
                log.warning("model request to %s failed (%s); retry %d/%d in %.2fs%s", self.endpoint, last.reason,
                            retry, tries - 1, delay, self._capped(last.retry_after_s))
                self._pause(delay, call)
            left = self._time_left(tally)
            if last is not None and left is not None and left <= 0:
                raise _NoAnswer(retry, last, out_of_time=True)
            if call.cancelled:
                raise ModelCallCancelled(self.endpoint)
            self._limiter.acquire()
            tally.attempts += 1
            limit = self.settings.timeout_s if left is None else max(0.001, min(self.settings.timeout_s, left))
            try:
                return self._attempt(messages, fmt, call_key, tally, call, limit)
            except _Retryable as failure:
                last = failure
        assert last is not None
        raise _NoAnswer(tries, last, out_of_time=False)

    def _time_left(self, tally: _Tally) -> float | None:
        return None if tally.deadline is None else tally.deadline - self._clock()

    def _capped(self, retry_after_s: float | None) -> str:
        if retry_after_s is None or retry_after_s <= self.settings.backoff_max_s:
            return ""
        return (f" (the server asked for {retry_after_s:g} s with Retry-After; [model].backoff_max_s="
                f"{self.settings.backoff_max_s:g} caps it)")

    def _pause(self, seconds: float, call: PendingCall) -> None:
        if self._sleep is not None:
            self._sleep(seconds)
        else:
            call.woken.wait(seconds)

    def _on_request(self, request: Any) -> None:
        """httpx request hook, on the sending thread: let the request's socket be shut down from another thread."""
        pending = getattr(self._on_thread, "request", None)
        if pending is None:
            return
        if pending.ended is not None:  # cancelled before a byte went out: do not even connect
            raise ModelCallCancelled(self.endpoint)
        request.extensions["trace"] = pending.trace
        request.headers["Connection"] = "close"  # a connection of its own, so its socket is seen (swarm.model.inflight)
        if pending.deadline is None:  # counted from here, as the HTTP timeouts are (not from building the request)
            pending.deadline = self._watchdog.after(pending.limit_s, lambda: pending.end(DEADLINE))

    def _attempt(self, messages: list[dict], fmt: dict | None, call_key: str | None, tally: _Tally,
                 call: PendingCall, limit_s: float) -> str:
        """One HTTP request, ended after `limit_s` in all; classifies every failure as _Retryable or _Refused."""
        request: dict[str, Any] = {
            "model": tally.asked or self.settings.model,
            "messages": messages,
            "temperature": self.settings.temperature if tally.temperature is None else tally.temperature,
            "timeout": openai.Timeout(limit_s, connect=min(limit_s, CONNECT_TIMEOUT_S)),
        }
        if self.settings.max_tokens:
            request["max_tokens"] = self.settings.max_tokens
        if fmt is not None:
            request["response_format"] = fmt
        if call_key is not None:
            request["extra_headers"] = {CALL_KEY_HEADER: call_key}
        pending = PendingRequest(limit_s)
        call.sending(pending)
        self._on_thread.request = pending
        try:
            completion = self._completions.create(**request)
        except openai.APIStatusError as error:
            status = error.status_code
            if status == 429 or status == 408 or status >= 500:
                retry_after = retry_after_seconds(error.response.headers)
                raise _Retryable(error.message, "status", status=status,
                                 retry_after_s=retry_after) from None
            raise _Refused(status, error.message) from None  # the message carries the server's error body
        except Exception as error:
            raise self._failed(error, pending, limit_s) from None
        finally:
            if pending.deadline is not None:
                pending.deadline.cancel()
            self._on_thread.request = None
            call.sending(None)
        return self._read_completion(completion, tally)

    def _failed(self, error: Exception, pending: PendingRequest, limit_s: float) -> Exception:
        """What a request that got no HTTP status means: cancelled, out of time, unreachable, or a bad body."""
        if pending.ended == CANCELLED:
            return ModelCallCancelled(self.endpoint)
        cause = error.__cause__ or error
        if type(cause).__name__ in ("ConnectError", "ConnectTimeout"):
            return _Retryable(f"cannot connect: {type(cause).__name__}: {cause}", "connect")
        if pending.ended == DEADLINE or isinstance(error, openai.APITimeoutError):
            return _Retryable(f"no complete reply within {round(limit_s, 1):g} s", "timeout")
        if isinstance(error, openai.APIConnectionError):
            return _Retryable(f"the connection was dropped before the reply was complete: {type(cause).__name__}: "
                              f"{cause}", "malformed")
        # a body that is not a chat completion: bad JSON, cut off mid-way, ...
        return _Retryable(f"malformed response: {type(error).__name__}: {error}", "malformed")

    def _read_completion(self, completion: Any, tally: _Tally) -> str:
        """The reply text of a chat completion, adding its usage to `tally`.

        _Retryable if the shape is wrong; ModelReplyTruncated if the model hit its token limit
        (the tokens were paid for, so they are counted first).
        """
        choices = getattr(completion, "choices", None)
        if not choices:
            raise _Retryable(f"malformed response: no choices in {str(completion)[:120]!r}", "malformed")
        usage = getattr(completion, "usage", None)
        tally.prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
        tally.completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
        tally.model = getattr(completion, "model", None) or tally.model
        content = getattr(getattr(choices[0], "message", None), "content", None)
        if getattr(choices[0], "finish_reason", None) == "length":
            completion_tokens = int(getattr(usage, "completion_tokens", 0) or 0)
            raise ModelReplyTruncated(self.endpoint, self.settings.max_tokens, content or "", completion_tokens)
        if not isinstance(content, str):
            raise _Retryable("malformed response: the first choice has no text content", "malformed")
        return content
