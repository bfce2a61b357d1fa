"""OpenAI chat-completions wire shapes: what a request says and what a response looks like."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from typing import Any

MODEL_ID = "scripted"


class BadRequest(ValueError):
    """The request is not a chat-completions request the scripted model can answer."""


@dataclass(frozen=True)
class ChatRequest:
    """The parts of a chat-completions request the scripted model looks at."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None

    @property
    def last_user(self) -> str:
        """Text of the last message with role "user" ("" when there is none)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return content_text(message.get("content"))
        return ""

    @property
    def prompt_text(self) -> str:
        """All message contents joined, for estimating prompt tokens."""
        return "".join(content_text(message.get("content")) for message in self.messages)


def parse_chat_request(body: bytes) -> ChatRequest:
    """Decode a chat-completions request body; raise BadRequest with the reason if it is unusable."""
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"scripted model: request body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise BadRequest("scripted model: request body must be a JSON object")
    if payload.get("stream"):
        raise BadRequest("scripted model: stream=true is not supported; call without streaming")
    messages = payload.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise BadRequest("scripted model: \"messages\" must be a list of message objects")
    model = payload.get("model")
    max_tokens = payload.get("max_tokens")
    temperature = payload.get("temperature")
    return ChatRequest(model=model if isinstance(model, str) else MODEL_ID, messages=messages,
                       max_tokens=max_tokens if isinstance(max_tokens, int) else None,
                       temperature=temperature if isinstance(temperature, (int, float)) else None)


def content_text(content: Any) -> str:
    """Flatten message content (a string or a list of content parts) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return json.dumps(content)


def estimate_tokens(text: str) -> int:
    """Rough token count: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def usage(request: ChatRequest, reply: str, scripted: dict[str, int] | None) -> dict[str, int]:
    """Token usage for a reply: the script's numbers if given, else an estimate."""
    counts = scripted or {
        "prompt_tokens": estimate_tokens(request.prompt_text),
        "completion_tokens": estimate_tokens(reply),
    }
    return {**counts, "total_tokens": counts["prompt_tokens"] + counts["completion_tokens"]}


def chat_completion(*, n: int, model: str, content: str, usage: dict[str, int], finish_reason: str = "stop") -> dict[str, Any]:
    """A standard non-streaming chat.completion response body."""
    return {
        "id": f"chatcmpl-scripted-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": usage,
    }


def error_body(message: str, kind: str = "invalid_request_error") -> dict[str, Any]:
    """An OpenAI-style error body."""
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def models_list() -> dict[str, Any]:
    """The /v1/models listing: the one scripted model."""
    return {
        "object": "list",
        "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "swarm.testing"}],
    }
