"""The model-provider seam: what the swarm asks of whatever answers its model calls.

`ModelClient` (swarm/model/client.py, any OpenAI-compatible endpoint) is one provider; an in-process
model (a benchmark's, a test's) or a client of another API is another, given to `Engine(model=...)`.
A node's one model call (`ctx.llm`) goes to `complete`, and the Reply it returns is recorded and replayed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from swarm.model.cancel import Cancellation
    from swarm.model.reply import Reply


@runtime_checkable
class ModelProvider(Protocol):
    def complete(self, messages: list[dict], *, schema: dict | None = None, json: bool = False,
                 call_key: str | None = None, cancel: Cancellation | None = None, **options: Any) -> Reply:
        """Answer one chat conversation (a list of {"role", "content"}) with a `Reply`.

        With `schema` (a JSON schema) or `json=True`, `Reply.data` holds the parsed JSON. `call_key` names the
        call (RUN/NODE/rROUND/aATTEMPT) for logs and idempotent servers; `cancel`, when raised, should end the
        call at once. `options` may hold `model` (another model name for this call) and `temperature`; a
        provider ignores what it cannot honour. Errors are `swarm.model.ModelError`s (ModelUnavailable, ...).
        A provider may carry `settings` (`swarm.model.ModelSettings`): traces name its model and endpoint.
        """
        ...


def check_provider(model: Any) -> Any:
    """`model` if it can answer model calls, else a SwarmError that says what is missing."""
    if model is not None and not isinstance(model, ModelProvider):
        from swarm.errors import SwarmError

        raise SwarmError(f"the model given to the engine ({type(model).__name__}) has no complete(messages, *, schema, "
                         "json, call_key, cancel, ...) method; give a swarm.model.ModelClient or any object with one "
                         "(see swarm.model.provider.ModelProvider)")
    return model
