"""The model client: how swarm talks to any OpenAI-compatible LLM endpoint (one `ModelProvider` among others)."""

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
from swarm.model.provider import ModelProvider
from swarm.model.reply import Reply
from swarm.model.settings import ModelSettings
from swarm.model.structured import extract_json, validate


def __getattr__(name: str):
    # The client pulls in the openai package (half a second): only load it when a model is used.
    if name == "ModelClient":
        from swarm.model.client import ModelClient

        return ModelClient
    raise AttributeError(name)


__all__ = [
    "ModelClient",
    "ModelProvider",
    "ModelSettings",
    "Reply",
    "ModelError",
    "ModelUnavailable",
    "ModelReplyInvalid",
    "ModelReplyTruncated",
    "ModelCallCancelled",
    "Cancellation",
    "ModelRequestRejected",
    "NoModelConfigured",
    "extract_json",
    "validate",
]
