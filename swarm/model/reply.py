"""Reply: what one model call produced, and what it cost, in a form the store can record and replay."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any


@dataclass
class Reply:
    """The outcome of `ModelClient.complete`.

    `data` holds the parsed JSON when JSON or a schema was requested.
    `attempts` counts HTTP requests made (retries and the corrective retry included);
    tokens and cost cover all of them.
    """

    text: str
    data: Any = None
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 1
    latency_ms: float = 0.0
    json_repaired: bool = False  # the JSON was mended by json-repair instead of a corrective call

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict, for recording."""
        return dict(self.__dict__)  # shallow: `data` is recorded as it is, never changed afterwards

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> "Reply":
        """Rebuild a recorded Reply; unknown keys are ignored so old and new records both load."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in record.items() if key in known})
