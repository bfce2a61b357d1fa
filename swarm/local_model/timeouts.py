"""Timeouts that suit a model on a CPU: what [model].gguf changes among the defaults.

A 500-token prompt takes 40–100 s on the 1.5B model on two busy cores, and a long reply as much
again, so the defaults made for a hosted API (a request in 60 s) would fail every call. With
[model].gguf set, each setting below that swarm.toml and the environment leave unset gets the
longer value; a value set explicitly is kept.
"""

from __future__ import annotations

CPU_MODEL_DEFAULTS = {
    ("model", "timeout_s"): 600.0,  # one request: a long prompt, then a long reply, with all slots busy
    ("model", "call_timeout_s"): 1200.0,  # one call: room for a retry after a timed-out request
    ("model", "notice_after_s"): 60.0,  # waiting a minute is normal here; say so only after that
    ("run", "node_timeout_s"): 1500.0,  # a node's one model call plus its code running in the sandbox
}


def apply_cpu_model_defaults(config, explicit: set[tuple[str, str]]) -> None:
    """With [model].gguf set, give every setting of CPU_MODEL_DEFAULTS not in `explicit` its CPU value."""
    if not config.model.gguf:
        return
    for (section, key), value in CPU_MODEL_DEFAULTS.items():
        if (section, key) not in explicit:
            setattr(getattr(config, section), key, value)
