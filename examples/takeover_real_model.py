"""Two daemons on one PostgreSQL store with a real model: one is killed while it drives a goal, the other takes
the run over once the lease lapses and finishes it. Prints what happened, one line per goal and per run.

    python examples/takeover_real_model.py [--model-url http://127.0.0.1:8088/v1] [--model NAME] [--ttl 10]

Needs PostgreSQL's server binaries (Debian's postgresql package: a throwaway cluster is started in a temporary
folder and stopped at the end) and an OpenAI-compatible model server at --model-url (the local model of
../shared/local-model, or any endpoint; OPENAI_API_KEY is passed on as it is set).

It counts the requests the model server answered (from --server-log, llama.cpp's log, when given) against the
calls the store recorded: they differ only by the calls in flight when the daemon was killed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from swarm.store import open_store  # noqa: E402
from swarm.testing.postgres import ThrowawayPostgres  # noqa: E402

GOALS = [
    "Write a Python function is_prime(n) and use it to count the prime numbers below 100.",
    "Write a Python function that reverses the words of a sentence, and apply it to 'the quick brown fox'.",
    "What is the sum of the squares of the integers from 1 to 20?",
]
SWARM = [sys.executable, "-m", "swarm.cli"]


def served(log: Path | None) -> int | None:
    """Requests llama.cpp's server finished so far, by its log; None without one."""
    return log.read_text(errors="replace").count("stop processing") if log else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-url", default="http://127.0.0.1:8088/v1")
    parser.add_argument("--model", default="qwen2.5-coder-1.5b-instruct")
    parser.add_argument("--ttl", default="10", help="[store].lease_ttl_s of both daemons")
    parser.add_argument("--server-log", type=Path, help="llama.cpp's log, to count the requests it answered")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="swarm-takeover-"))
    cluster = ThrowawayPostgres().start()
    daemons: dict[str, subprocess.Popen] = {}
    try:
        env = {**os.environ, "SWARM_STORE_URL": cluster.url, "OPENAI_BASE_URL": args.model_url,
               "SWARM_MODEL": args.model, "OPENAI_API_KEY": os.environ.get("OPENAI_API_KEY", "local"),
               "SWARM_STORE_LEASE_TTL_S": args.ttl}
        for name in ("a", "b"):
            daemons[name] = subprocess.Popen([*SWARM, "daemon", "--no-folder", "--host-id", name], env=env, cwd=folder,
                                             stdout=open(folder / f"daemon-{name}.log", "w"), stderr=subprocess.STDOUT)
        before = served(args.server_log)
        started = time.time()
        submits = [subprocess.Popen([*SWARM, "submit", "--queue", "--wait", "--json", goal], env=env, cwd=folder,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for goal in GOALS]
        store = open_store(cluster.url)
        killed = None
        seen: dict[str, float] = {}  # run id -> when it was first seen driven by a
        while killed is None and any(s.poll() is None for s in submits):
            # Kill a while it drives a run: at once when the run has a recorded (paid) call and is not done yet (b
            # must replay that call, not pay it again), else once its model call has been in flight for 5 s (b asks
            # it again: the one call paid twice, as it was never recorded).
            for run in store.runs(limit=10):
                if run.get("lease_owner") != "a" or run["status"] != "running":
                    continue
                recorded = bool(store.llm_calls(run["id"]))
                if recorded or time.time() - seen.setdefault(run["id"], time.time()) >= 5:
                    daemons["a"].send_signal(signal.SIGKILL)
                    daemons["a"].wait(10)
                    killed = [r["id"] for r in store.runs(limit=10) if r.get("lease_owner") == "a" and r["status"] == "running"]
                    why = "with a recorded call" if recorded else "with its model call in flight"
                    print(f"killed daemon a at {time.time() - started:.1f} s, {why}; the runs it held: {killed}", flush=True)
                    break
            time.sleep(0.2)
        for submit in submits:
            out, err = submit.communicate(timeout=1800)
            result = json.loads(out) if out.strip().startswith("{") else {"error": (out + err)[-300:]}
            print(f"{time.time() - started:.1f} s", json.dumps({k: result.get(k) for k in ("goal", "status", "result", "error")})[:400])
        calls = sum(len(store.llm_calls(run["id"])) for run in store.runs(limit=10))
        after = served(args.server_log)
        print("calls recorded", calls, "requests the model server answered", None if before is None else after - before)
        for run in store.runs(limit=10):
            print(run["id"], run["status"], "lease epoch", run["lease_epoch"], "nodes", run["nodes"], run["goal"][:60])
        print("daemon logs:", folder)
        store.close()
    finally:
        for proc in daemons.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        cluster.stop()


if __name__ == "__main__":
    main()
