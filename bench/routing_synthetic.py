"""Write synthetic requests for every tool of a routing catalogue with a real model, once, into a cache
that bench/routing_cv.py reads (so cross-validation is reproducible without the model).

    python bench/routing_synthetic.py --base-url http://127.0.0.1:8088/v1 --model qwen2.5-coder-1.5b-instruct \
        [--catalogue ../shared/eval/routing_catalogue.jsonl] [--out bench/data/metatool_synthetic_<model>.jsonl]
        [--count 5] [--parallel 2]

One call per tool (swarm/retrieval/synthetic.py: the same prompt and client the product uses); a line
{"name", "requests", "model", "seconds", "prompt_tokens", "completion_tokens"} per tool. Tools already
in the file are skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from swarm.model.client import ModelClient  # noqa: E402
from swarm.model.settings import ModelSettings  # noqa: E402
from swarm.retrieval.evaluate import read_catalogue  # noqa: E402
from swarm.retrieval.synthetic import SYNTHETIC_COUNT, request_messages, request_schema, clean_requests, SYNTHETIC_TEMPERATURE  # noqa: E402

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "eval"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--catalogue", default=str(SHARED / "routing_catalogue.jsonl"))
    parser.add_argument("--out")
    parser.add_argument("--count", type=int, default=SYNTHETIC_COUNT)
    parser.add_argument("--parallel", type=int, default=2)
    args = parser.parse_args()
    out = Path(args.out or Path(__file__).parent / "data" / f"metatool_synthetic_{args.model}.jsonl")
    done = {json.loads(line)["name"] for line in out.read_text().splitlines()} if out.exists() else set()
    todo = [e for e in read_catalogue(args.catalogue) if e.name not in done]
    client = ModelClient(ModelSettings(base_url=args.base_url, model=args.model, max_tokens=60 * args.count,
                                       timeout_s=600, call_timeout_s=1800, notice_after_s=0))
    lock, started = threading.Lock(), time.monotonic()

    def one(entry):
        t = time.monotonic()
        reply = client.complete(request_messages(entry.name, entry.description, args.count),
                                schema=request_schema(args.count), temperature=SYNTHETIC_TEMPERATURE)
        line = {"name": entry.name, "requests": clean_requests(reply.data, args.count), "model": args.model,
                "seconds": round(time.monotonic() - t, 1), "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens}
        with lock:
            with out.open("a") as f:
                f.write(json.dumps(line) + "\n")
            done.add(entry.name)
            print(f"{len(done)} {entry.name} {line['seconds']}s elapsed {time.monotonic() - started:.0f}s", flush=True)

    with ThreadPoolExecutor(args.parallel) as pool:
        list(pool.map(one, todo))


if __name__ == "__main__":
    main()
