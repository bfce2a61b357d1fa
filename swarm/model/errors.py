"""Errors the model client raises: each says what went wrong and what to do next."""

from __future__ import annotations

from swarm.errors import SwarmError

_WHERE_TO_SET_URL = "set [model].base_url in swarm.toml or OPENAI_BASE_URL"


class ModelError(SwarmError):
    """Base of every error raised by `swarm.model`."""


class NoModelConfigured(ModelError):
    """No model name was configured, so there is nothing to call."""

    def __init__(self) -> None:
        super().__init__(
            "no model configured; set [model].model in swarm.toml "
            "(and [model].base_url for a local OpenAI-compatible server)"
        )


class ModelUnavailable(ModelError):
    """The endpoint did not answer (after retries), or its circuit breaker is open."""

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        super().__init__(f"{problem}; {_WHERE_TO_SET_URL}")

    @classmethod
    def no_answer(cls, url: str, tries: int, last_error: str) -> "ModelUnavailable":
        return cls(url, f"no model endpoint answered at {url} after {tries} tries (last error: {_one_line(last_error)})")

    @classmethod
    def circuit_open(cls, url: str, failures: int, retry_in_s: float | None) -> "ModelUnavailable":
        when = f"for {retry_in_s:.1f}s" if retry_in_s is not None else "until the trial call in flight answers"
        return cls(url, f"model endpoint {url} failed {failures} calls in a row, not calling it again {when}")


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
    """The reply was not the JSON asked for, even after one corrective retry."""

    def __init__(self, problem: str, reply: str) -> None:
        self.problem = problem
        self.reply = reply
        super().__init__(
            f"model reply was not valid JSON for the request even after a corrective retry: {_one_line(problem)}; "
            f"reply began {reply[:200]!r}; try a stronger [model].model or a simpler schema"
        )


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
