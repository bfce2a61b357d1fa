"""ModelSettings: everything the model client needs to know, as filled from swarm.toml [model]."""

from __future__ import annotations

from dataclasses import dataclass, field

STRUCTURED_MODES = ("auto", "json_schema", "json_object", "off")


@dataclass
class ModelSettings:
    """How to reach and use one OpenAI-compatible endpoint.

    The config loader fills this from swarm.toml `[model]` plus environment
    overrides. The API key itself is never stored here, only the name of the
    environment variable that holds it.
    """

    base_url: str | None = None  # None: the openai package's default (OPENAI_BASE_URL or api.openai.com)
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    temperature: float = 0.2
    max_tokens: int = 0  # sent as max_tokens when > 0; 0 = the server's own limit
    timeout_s: float = 60.0  # one HTTP request, from sending it to the reply's last byte (a total, not per read)
    call_timeout_s: float = 180.0  # one call, all its tries and the waits between them (never less than timeout_s)
    notice_after_s: float = 10.0  # a call waiting this long logs one line saying what it waits on; 0 = never
    max_retries: int = 5
    rate_per_s: float = 0.0  # 0 = unlimited
    prices: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> {"input"|"output": USD per 1M tokens}
    structured: str = "auto"  # "auto" | "json_schema" | "json_object" | "off"
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    # A local model instead of base_url: swarm serves this GGUF file with llama.cpp (the `local` extra).
    gguf: str = ""  # "" = none; a path (relative to swarm.toml) starts the server on it and uses it
    threads: int = 0  # CPU threads of the local model's server; 0 = every core
    context_per_slot: int = 4096  # tokens of context (prompt + reply) of each parallel request of the local server

    @property
    def call_budget_s(self) -> float | None:
        """Most seconds one call may take, retries included: call_timeout_s, but at least one timeout_s
        (raising timeout_s alone for a slow model is enough); None when only max_retries limits it."""
        return max(self.call_timeout_s, self.timeout_s) if self.call_timeout_s else None

    def __post_init__(self) -> None:
        if self.structured not in STRUCTURED_MODES:
            raise ValueError(
                f"[model].structured must be one of {', '.join(STRUCTURED_MODES)} (got {self.structured!r}); "
                "fix it in swarm.toml"
            )
        if not self.timeout_s > 0:
            raise ValueError(f"[model].timeout_s must be more than 0 seconds (got {self.timeout_s}); fix it in swarm.toml")
        for key in ("call_timeout_s", "notice_after_s", "max_tokens"):
            if getattr(self, key) < 0:
                raise ValueError(f"[model].{key} must be 0 or more (got {getattr(self, key)}); fix it in swarm.toml")
        if self.threads < 0:
            raise ValueError(f"[model].threads must be 0 (every core) or more (got {self.threads}); fix it in swarm.toml")
        if self.context_per_slot < 512:
            raise ValueError(f"[model].context_per_slot must be 512 tokens or more (got {self.context_per_slot}); "
                             "fix it in swarm.toml")
        if self.max_retries < 0:
            raise ValueError(f"[model].max_retries must be 0 or more (got {self.max_retries}); fix it in swarm.toml")
        if self.rate_per_s < 0:
            raise ValueError(f"[model].rate_per_s must be 0 (unlimited) or more (got {self.rate_per_s}); fix it in swarm.toml")
