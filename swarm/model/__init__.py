"""The model client: how swarm talks to any OpenAI-compatible LLM endpoint."""

from swarm.model.client import ModelClient
from swarm.model.errors import (
    ModelError,
    ModelReplyInvalid,
    ModelRequestRejected,
    ModelUnavailable,
    NoModelConfigured,
)
from swarm.model.reply import Reply
from swarm.model.settings import ModelSettings
from swarm.model.structured import extract_json, validate

__all__ = [
    "ModelClient",
    "ModelSettings",
    "Reply",
    "ModelError",
    "ModelUnavailable",
    "ModelReplyInvalid",
    "ModelRequestRejected",
    "NoModelConfigured",
    "extract_json",
    "validate",
]
