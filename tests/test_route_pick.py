"""`swarm route eval --pick`: routing measured end to end — retrieval's top-k, then the model's choice
among them with the route node's own prompt and reply schema."""

# SQLite only: --pick reads its catalogue and queries from files; nothing of it is in the store.

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from timeouts import scaled

CATALOGUE = [
    {"name": "weather", "description": "Current weather and forecasts for a city."},
    {"name": "restaurants", "description": "Find restaurants near a place and book a table."},
    {"name": "stocks", "description": "Stock prices (the price of a stock today), market data and company financials."},
]
QUERIES = [
    {"query": "Will it rain in Lisbon tomorrow?", "expected": "weather"},
    {"query": "Book a table for two at a sushi place", "expected": "restaurants"},
    {"query": "What is the Apple stock price today?", "expected": "stocks"},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def pick(tmp_path: Path, model_lines: list[dict], *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(SWARM_STORE=str(tmp_path / "swarm.db"), SWARM_RETRIEVAL_FUSION="bm25",
               SWARM_MODEL=f"scripted:{write_jsonl(tmp_path / 'model.jsonl', model_lines)}")
    return subprocess.run(
        [sys.executable, "-m", "swarm.cli", "route", "eval", "--pick", "--json", "--top-k", "2",
         "--catalogue", str(write_jsonl(tmp_path / "catalogue.jsonl", CATALOGUE)),
         "--queries", str(write_jsonl(tmp_path / "queries.jsonl", QUERIES)), *extra],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=scaled(120))


def test_pick_accuracy_counts_the_models_choice_among_the_retrieved_candidates(tmp_path):
    model = [  # right for the weather and the stocks, wrong for the table
        {"match": "Sub-goal: Will it rain", "reply": {"script": "weather"}, "repeat": True},
        {"match": "Sub-goal: Book a table", "reply": {"script": "none"}, "repeat": True},
        {"match": "Sub-goal: What is the Apple", "reply": {"script": "stocks"}, "repeat": True},
    ]
    done = pick(tmp_path, model)

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n"] == 3 and result["top_k"] == 2
    assert result["pick_accuracy"] == round(2 / 3, 4)
    assert result["failed_calls"] == 0 and result["prompt_tokens_mean"] > 0
    assert "pick 2/3: miss expected=restaurants chose=none" in done.stderr


def test_a_sample_takes_queries_evenly_across_the_file(tmp_path):
    done = pick(tmp_path, [{"reply": {"script": "none"}, "repeat": True}], "--sample", "2")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n"] == 2
    assert "expected=weather" in done.stderr and "expected=restaurants" in done.stderr


def test_a_bad_sample_size_is_one_clear_error(tmp_path):
    done = pick(tmp_path, [{"reply": {"script": "none"}, "repeat": True}], "--sample", "0")

    assert done.returncode != 0
    assert "--sample must be 1 or more" in done.stderr and "Traceback" not in done.stderr
