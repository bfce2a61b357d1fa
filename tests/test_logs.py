"""swarm's logs (issue 15): the standard logging tree under "swarm", JSON lines for services, and the CLI's
--log-format / --log-level."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

from swarm.logs import JSONFormatter
from timeouts import scaled


def test_an_embedding_program_routes_swarms_logs_with_its_own_handler():
    import swarm.logs  # noqa: F401 — installs the library's NullHandler

    seen = io.StringIO()
    handler = logging.StreamHandler(seen)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("swarm.model.client")
    logging.getLogger("swarm").addHandler(handler)
    try:
        logger.warning("model call %s retried", "1/r0/a0", extra={"run_id": "r1", "attempt": 2})
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")
    finally:
        logging.getLogger("swarm").removeHandler(handler)
    first, second = [json.loads(line) for line in seen.getvalue().splitlines()]
    assert first["level"] == "warning" and first["logger"] == "swarm.model.client"
    assert first["message"] == "model call 1/r0/a0 retried" and first["run_id"] == "r1" and first["attempt"] == 2
    assert first["time"].endswith("Z")
    assert second["level"] == "error" and "ValueError: boom" in second["traceback"]


def _swarm(args, tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], cwd=tmp_path, env={**clean, **env},
                          capture_output=True, text=True, timeout=scaled(120))


def test_the_cli_writes_its_log_lines_as_json_when_asked(tmp_path):
    script = tmp_path / "model.jsonl"
    script.write_text(json.dumps({"fault": "500", "repeat": True}) + "\n")
    done = _swarm(["--log-format", "json", "--log-level", "info", "run", "What is 2 + 2?"], tmp_path,
                  SWARM_MODEL=f"scripted:{script}", SWARM_MODEL_MAX_RETRIES="1", SWARM_RUN_NODE_MAX_ATTEMPTS="1")
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines, done.stderr
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["logger"].startswith("swarm.") for line in lines)


def test_a_bad_log_setting_is_one_clear_error(tmp_path):
    done = _swarm(["runs"], tmp_path, SWARM_LOG_FORMAT="xml")
    assert done.returncode != 0
    assert "SWARM_LOG_FORMAT must be text or json" in done.stderr and "Traceback" not in done.stderr
