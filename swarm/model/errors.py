"""Errors the model client raises: each says what went wrong and what to do next."""

from __future__ import annotations

from swarm.errors import SwarmError

_WHERE_TO_SET_URL = "set [model].base_url in swarm.toml or OPENAI_BASE_URL"


class ModelError(SwarmError):
    """Base of every error raised by `swarm.model`."""


class NoModelConfigured(ModelError):
    """No model name was configured, so there is nothing to call."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "no model configured; set [model].model in swarm.toml "
            "(and [model].base_url for a local OpenAI-compatible server)"
        )


class ModelUnavailable(ModelError):
    """The endpoint gave no usable answer (after retries), or its circuit breaker is open.

    The message says which: nothing listening (check the address), no reply in time (slow or
    stuck), the server failing (HTTP 5xx: its log says why), rate limited, or not a chat API.
    """

    def __init__(self, url: str, problem: str, advice: str = _WHERE_TO_SET_URL) -> None:
        self.url = url
        super().__init__(f"{problem}; {advice}")

    @classmethod
    def no_answer(cls, url: str, tries: int, last_error: str) -> "ModelUnavailable":
        """Nothing answered at the address: it is wrong, or the server is not running."""
        return cls(url, f"no model endpoint answered at {url} after {_tries(tries)} (last error: {_one_line(last_error)})")

    @classmethod
    def no_reply_in_time(cls, url: str, model: str, tries: int, limit_s: float, last_error: str) -> "ModelUnavailable":
        """The server took the request but sent no complete reply before the deadline."""
        return cls(
            url,
            f"the model at {url} (model {model}) sent no complete reply within {limit_s:g} s, after {_tries(tries)} "
            f"(last error: {_one_line(last_error)})",
            "the server accepts requests but is stuck or slow: check that it is running the model and is not "
            "overloaded; for a slow model (e.g. on a CPU) raise [model].timeout_s (SWARM_MODEL_TIMEOUT_S), "
            "and [run].node_timeout_s above it",
        )

    @classmethod
    def server_failed(cls, url: str, status: int, tries: int, last_error: str) -> "ModelUnavailable":
        """The server answered, with an error of its own (HTTP 5xx or 408): the address is right."""
        return cls(
            url,
            f"the model server at {url} failed with HTTP {status} after {_tries(tries)} "
            f"(last error: {_one_line(last_error)})",
            "the address is right, the server itself failed: look at the model server's log for why, "
            "and retry later",
        )

    @classmethod
    def rate_limited(cls, url: str, tries: int, last_error: str) -> "ModelUnavailable":
        """HTTP 429 to every try."""
        return cls(
            url,
            f"the model server at {url} still answered HTTP 429 (too many requests) after {_tries(tries)} "
            f"(last error: {_one_line(last_error)})",
            "lower [model].rate_per_s or [run].concurrency, check the account's rate limit and quota, or retry later",
        )

    @classmethod
    def not_a_chat_api(cls, url: str, tries: int, last_error: str) -> "ModelUnavailable":
        """Something answered, but not with a chat completion, or it dropped the connection mid-reply."""
        return cls(
            url,
            f"the model endpoint at {url} answered, but with no usable chat completion after {_tries(tries)} "
            f"(last error: {_one_line(last_error)})",
            "check that [model].base_url is an OpenAI-compatible API (it usually ends in /v1) "
            "and look at the server's log",
        )

    @classmethod
    def circuit_open(cls, url: str, failures: int, retry_in_s: float | None) -> "ModelUnavailable":
        when = f"for {retry_in_s:.1f}s" if retry_in_s is not None else "until the trial call in flight answers"
        return cls(
            url,
            f"model endpoint {url} failed {failures} calls in a row, not calling it again {when}",
            "the errors logged before say why; if the address is wrong, " + _WHERE_TO_SET_URL,
        )


class ModelRequestRejected(ModelError):
    """The endpoint answered with a 4xx (other than 429): retrying the same request won't help."""

    def __init__(self, url: str, status: int, detail: str, api_key_env: str) -> None:
        self.url = url
        self.status = status
        if status in (401, 403):
            advice = f"check the API key in the environment variable {api_key_env} ([model].api_key_env)"
        elif status == 404:
            advice = "check [model].model and [model].base_url (it usually ends in /v1)"
        else:
            advice = "check [model] settings in swarm.toml and the request being sent"
        super().__init__(f"model endpoint {url} rejected the request with HTTP {status}: {_one_line(detail)}; {advice}")


class ModelReplyInvalid(ModelError):
    """The reply was not the JSON asked for, even after one corrective retry (or with no time left for one)."""

    final = True  # it was already sent back to the model once: the same prompt again cannot help

    def __init__(self, problem: str, reply: str, *, corrected: bool = True) -> None:
        self.problem = problem
        self.reply = reply
        after = " even after a corrective retry" if corrected else ""
        super().__init__(
            f"model reply was not valid JSON for the request{after}: {_one_line(problem)}; "
            f"reply began {reply[:200]!r}; try a stronger [model].model or a simpler schema"
        )


class ModelReplyTruncated(ModelError):
    """The model stopped because it reached its token limit (finish_reason "length"): the reply is cut off.

    Not retried: the same request would be cut at the same limit, and a cut-off reply is never
    taken for a whole one (nor, for JSON, blamed on the model's JSON).
    """

    def __init__(self, url: str, max_tokens: int, reply: str, completion_tokens: int) -> None:
        self.url = url
        self.max_tokens = max_tokens
        self.reply = reply
        if max_tokens:
            where = f"at max_tokens={max_tokens}"
            advice = "raise [model].max_tokens (SWARM_MODEL_MAX_TOKENS), or ask for a shorter answer"
        else:
            where = f"at the server's own token limit, after {completion_tokens} tokens" if completion_tokens else (
                "at the server's own token limit")
            advice = ("set [model].max_tokens (SWARM_MODEL_MAX_TOKENS) above that limit, or raise the server's limit "
                      "(e.g. Ollama's num_predict, llama.cpp's --n-predict), or ask for a shorter answer")
        super().__init__(
            f"the model's reply from {url} was cut off {where} (finish_reason \"length\"); "
            f"it ends {_one_line(reply[-80:], 100)!r}; {advice}"
        )


class ModelCallCancelled(ModelError):
    """The call was cancelled while in flight (its node timed out or was cancelled): its HTTP request was closed."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(f"the model call to {url} was cancelled before it finished; its request was closed")


def _tries(tries: int) -> str:
    return "1 try" if tries == 1 else f"{tries} tries"


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
