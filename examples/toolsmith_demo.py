"""The toolsmith, end to end, with a scripted model: two goals through one Engine.

1. "Build a tool that makes URL slugs": route finds no script for it and picks make_tool; the
   model's first version fails its tests in the sandbox, a fix_tool child corrects it, and the
   script `slugify` is saved (v1) and registered, with no restart.
2. "Make a URL slug of ...": route now sees `slugify` and hands the goal to it; it runs in the
   sandbox. Nothing is written again, and the routing index took in `slugify` alone: one entry
   added and embedded, no rebuild.

    .venv/bin/python examples/toolsmith_demo.py [--folder DIR]

By default the store and the generated folder go to a fresh temporary folder, so the demo can
be run again and again; `--folder DIR` keeps them there (see them with `swarm scripts list`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path

from swarm.config import load_config
from swarm.engine import Engine

MODEL = Path(__file__).resolve().parent / "toolsmith_model.jsonl"
GOALS = ["Build a tool that makes URL slugs", "Make a URL slug of 'Hello, Swarm World!'"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", help="where the store and the generated scripts go (default: a temporary folder)")
    args = parser.parse_args(argv)
    folder = Path(args.folder or tempfile.mkdtemp(prefix="swarm-toolsmith-")).resolve()
    config = load_config(env={"SWARM_MODEL": f"scripted:{MODEL}", "SWARM_STORE": str(folder / "swarm.db"),
                              "SWARM_TOOLSMITH_FOLDER": str(folder / "generated")})
    engine = Engine(config)
    results = []
    try:
        for n, goal in enumerate(GOALS):
            if n:  # the routing index follows the catalogue: the new script is added alone, nothing rebuilt
                index = engine.routing_index  # as the first goal left it, before slugify was registered
                before_scripts, before_embedded = len(index), index.embedded
            run_id, status = asyncio.run(engine.run(goal, script="route"))
            note = (f"\n  routing index: {len(index)} scripts; {len(index) - before_scripts} added, "
                    f"{index.embedded - before_embedded} text(s) embedded for it (no rebuild)") if n else ""
            run = engine.store.run(run_id)
            result = json.loads(run["result"]) if run["result"] else None
            scripts = [n["script"] for n in engine.store.node_states(run_id)]
            print(f"goal: {goal}\n  run {run_id}: {status}; nodes: {' -> '.join(scripts)}\n  result: {json.dumps(result)}{note}")
            if status != "done":
                print(f"  error: {run['error']}", file=sys.stderr)
            results.append(status)
    finally:
        engine.close()
    print(f"generated scripts are in {folder / 'generated'}")
    return 0 if all(s == "done" for s in results) else 1


if __name__ == "__main__":
    sys.exit(main())
