"""Shared by the daemon tests: a scripted model in its own process, a real `swarm daemon` subprocess, the folder's state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lifecycle_support import wait_for  # noqa: F401  (the daemon tests import it from here)

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "examples" / "demo_model.jsonl"


class ModelServer:
    """`python -m swarm.testing serve` with a request log: outlives the daemons that get killed."""

    def __init__(self, tmp_path: Path, delay: float):
        self.log = tmp_path / f"requests-{delay}.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "swarm.testing", "serve", str(DEMO), "--log", str(self.log), "--delay", str(delay)],
            stdout=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        assert "listening on" in line, line
        self.url = line.rsplit(" ", 1)[1].strip()

    def served(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def daemon_env(tmp_path: Path, url: str, **settings: object) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(OPENAI_BASE_URL=url, SWARM_MODEL="demo-model", SWARM_STORE=str(tmp_path / "swarm.db"),
               SWARM_RUN_ROOT_SCRIPT="break_down_goal",
               SWARM_MODEL_MAX_RETRIES="0", SWARM_TOOLSMITH_FOLDER=str(tmp_path / "generated"),
               # Routing by keywords alone and no run results in memory: no embedding model to load in every
               # daemon process. The daemon is under test here, not retrieval (tests/test_retrieval.py is).
               SWARM_RETRIEVAL_FUSION="bm25", SWARM_MEMORY_KEEP_RUN_RESULTS="false")
    env.update({f"SWARM_DAEMON_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def swarm(args: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], env=env, capture_output=True, text=True,
                          timeout=60, **kw)


def daemon_command(folder: Path, log: Path | None = None) -> list[str]:
    """`swarm daemon --folder FOLDER [--log-file LOG]` (no log file: the log is its stderr)."""
    return [sys.executable, "-m", "swarm.cli", "daemon", "--folder", str(folder), *(["--log-file", str(log)] if log else [])]


def start_daemon(folder: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(daemon_command(folder, log), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def files(folder: Path, sub: str) -> list[str]:
    path = folder / sub
    return sorted(p.name for p in path.iterdir() if not p.name.startswith(".")) if path.exists() else []


def log_events(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")] if log.exists() else []


def every_line_json(log: Path) -> list[dict]:
    """The log's events, failing on any line that is not a JSON object (the daemon's log is JSON lines only)."""
    events = []
    for n, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"line {n} of {log.name} is not JSON: {line!r}") from None
        assert isinstance(event, dict) and "event" in event, f"line {n} of {log.name} is not an event: {line!r}"
        events.append(event)
    return events
