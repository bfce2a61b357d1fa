"""The systems the task benchmark compares, each given one goal at a time on the same endpoint.

- SwarmSystem: the swarm's own Engine in-process, its default root script, a fresh store per suite;
  calls and tokens come from the store's `llm_calls` rows of the run.
- CodeAgentSystem: smolagents' CodeAgent with no tools; calls and tokens are counted at its model.
- SingleCall: one chat completion, the floor.

Every system answers `attempt(goal) -> Attempt`, and never raises for a failed goal: the error is
recorded in the attempt, so one goal's failure never stops the benchmark.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Attempt:
    answer: str = ""  # the final answer as text
    code: str | None = None  # code the system handed back (HumanEval), when it is apart from the answer
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    run_id: str | None = None
    status: str | None = None
    steps_code: list[str] | None = None  # CodeAgent: the code of each of its steps, last one last
    answer_value: Any = None


def as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)


class SwarmSystem:
    name = "swarm"

    def __init__(self, base_url: str, model: str, store_dir: Path, max_calls: int, timeout_s: float):
        from swarm.config import load_config
        from swarm.engine import Engine

        cfg = load_config()
        cfg.base_dir = store_dir  # the store, workspaces and generated tools of this suite live here, not in the repo
        cfg.store.path = str(store_dir / "swarm.db")
        cfg.model.base_url = base_url
        cfg.model.model = model
        # A slow local model may need a whole goal's time for one call; never cut a call shorter than that.
        cfg.model.timeout_s = max(cfg.model.timeout_s, timeout_s)
        cfg.model.call_timeout_s = max(cfg.model.call_timeout_s, timeout_s)
        cfg.run.node_timeout_s = max(cfg.run.node_timeout_s, timeout_s)
        cfg.memory.keep_run_results = False  # goals stay independent: no run finds an earlier goal's result
        self.config = cfg
        self.engine = Engine(cfg)
        self.budgets = {"max_nodes": max_calls * 2, "max_wall_s": timeout_s}

    def attempt(self, goal: str) -> Attempt:
        attempt = Attempt()
        try:
            attempt.run_id, attempt.status = asyncio.run(self.engine.run(goal, budgets=self.budgets))
        except Exception as exc:  # noqa: BLE001 — a goal the swarm could not even start is a failed goal
            attempt.error = f"{type(exc).__name__}: {exc}"
            return attempt
        run = self.engine.store.run(attempt.run_id)
        result = json.loads(run["result"]) if run.get("result") else None
        if isinstance(result, dict):
            attempt.answer_value = result.get("answer")
            attempt.answer = as_text(result.get("answer"))
            attempt.code = result.get("code") if isinstance(result.get("code"), str) else None
        else:
            attempt.answer_value = result
            attempt.answer = as_text(result)
        if attempt.status != "done":
            attempt.error = run.get("error") or f"the run ended {attempt.status}"
        calls = self.engine.store.llm_calls(attempt.run_id)
        attempt.calls = len(calls)
        attempt.prompt_tokens = sum(c.get("prompt_tokens") or 0 for c in calls)
        attempt.completion_tokens = sum(c.get("completion_tokens") or 0 for c in calls)
        return attempt

    def close(self) -> None:
        self.engine.close()


class CodeAgentSystem:
    name = "codeagent"

    def __init__(self, base_url: str, model: str, max_calls: int, timeout_s: float, temperature: float,
                 max_tokens: int, authorized_imports: list[str]):
        self.base_url, self.model_id = base_url, model
        self.max_calls, self.timeout_s = max_calls, timeout_s
        self.temperature, self.max_tokens = temperature, max_tokens
        self.authorized_imports = authorized_imports

    def _model(self):
        from smolagents import OpenAIServerModel

        class CountingModel(OpenAIServerModel):
            """Counts every call and its tokens where all of the agent's calls pass: generate()."""

            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                self.calls = self.prompt_tokens = self.completion_tokens = 0

            def generate(self, *args, **kwargs):
                self.calls += 1
                message = super().generate(*args, **kwargs)
                if message.token_usage is not None:
                    self.prompt_tokens += message.token_usage.input_tokens
                    self.completion_tokens += message.token_usage.output_tokens
                return message

        extra = {"max_tokens": self.max_tokens} if self.max_tokens else {}
        return CountingModel(model_id=self.model_id, api_base=self.base_url, api_key="x",
                             client_kwargs={"timeout": self.timeout_s}, temperature=self.temperature, **extra)

    def attempt(self, goal: str) -> Attempt:
        from smolagents import CodeAgent
        from smolagents.memory import ActionStep

        model = self._model()
        started = time.monotonic()

        def deadline(step, agent=None):  # smolagents has no wall-clock limit: stop after the step that crosses it
            if agent is not None and time.monotonic() - started > self.timeout_s:
                agent.interrupt()

        agent = CodeAgent(tools=[], model=model, max_steps=self.max_calls, verbosity_level=-1,
                          additional_authorized_imports=self.authorized_imports, step_callbacks=[deadline])
        attempt = Attempt()
        try:
            value = agent.run(goal)
            attempt.answer_value = value
            attempt.answer = as_text(value) if not callable(value) else repr(value)
        except Exception as exc:  # noqa: BLE001 — interrupted, model unreachable, ...: a failed goal
            attempt.error = f"{type(exc).__name__}: {str(exc)[:500]}"
        attempt.steps_code = [s.code_action for s in agent.memory.steps
                              if isinstance(s, ActionStep) and getattr(s, "code_action", None)]
        attempt.calls, attempt.prompt_tokens, attempt.completion_tokens = (
            model.calls, model.prompt_tokens, model.completion_tokens)
        return attempt

    def close(self) -> None:
        pass


class SingleCall:
    name = "single"

    def __init__(self, base_url: str, model: str, timeout_s: float, temperature: float, max_tokens: int):
        import openai

        self.client = openai.OpenAI(base_url=base_url, api_key="x", timeout=timeout_s, max_retries=2)
        self.model, self.temperature, self.max_tokens = model, temperature, max_tokens

    def attempt(self, goal: str) -> Attempt:
        attempt = Attempt(calls=1)
        extra = {"max_tokens": self.max_tokens} if self.max_tokens else {}
        try:
            reply = self.client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": goal}], temperature=self.temperature, **extra)
        except Exception as exc:  # noqa: BLE001
            attempt.error = f"{type(exc).__name__}: {str(exc)[:500]}"
            return attempt
        attempt.answer = reply.choices[0].message.content or ""
        if reply.usage is not None:
            attempt.prompt_tokens = reply.usage.prompt_tokens or 0
            attempt.completion_tokens = reply.usage.completion_tokens or 0
        return attempt

    def close(self) -> None:
        self.client.close()
