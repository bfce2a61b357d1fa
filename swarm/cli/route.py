"""`swarm route`: retrieve the scripts that fit a sub-goal, measure retrieval, and keep routing's history and
decisions (what it learned from, what people confirmed or rejected)."""

from __future__ import annotations

import json
import sys

from swarm.cli.common import configuration
from swarm.config import Config
from swarm.errors import SwarmError


def register(sub) -> None:
    route = sub.add_parser("route", help="retrieve the scripts that fit a sub-goal; `route eval` measures retrieval",
                           description="swarm route TEXT: the top-k scripts of the live catalogue for TEXT. "
                                       "swarm route eval --catalogue FILE --queries FILE: recall@1/5/10 and latency "
                                       "of retrieval over a catalogue file (a throw-away index). "
                                       "swarm route history [--script NAME]: the sub-goals routing learned from "
                                       "(positive) or recorded as refused (negative); "
                                       "swarm route forget (--script NAME | --all) drops them. "
                                       "swarm route decisions [RUN_ID]: the logged route decisions (goal, candidates "
                                       "with scores, pick, outcome). swarm route confirm|reject RUN_ID NODE_ID "
                                       "[--script NAME]: a person's verdict on one, an example (or a negative) at once. "
                                       "swarm route describe [--script NAME] [--again]: the model writes a few requests "
                                       "each script would answer (synthetic examples, one call a script; those that "
                                       "have them are skipped unless --again).")
    route.add_argument("text", nargs="+", help="the sub-goal (quote it), or eval, history, forget, decisions, confirm, reject, describe")
    route.add_argument("--top-k", type=int, help="candidates to return (default [retrieval].top_k)")
    route.add_argument("--catalogue", help="eval: JSON lines {\"name\", \"description\"}")
    route.add_argument("--queries", help="eval: JSON lines {\"query\", \"expected\"}")
    route.add_argument("--pick", action="store_true",
                       help="eval: also let the configured model choose among the top-k, as the route node does, "
                            "and report the accuracy of its pick (one model call per query)")
    route.add_argument("--sample", type=int, metavar="N", help="eval --pick: N queries taken evenly across the file")
    route.add_argument("--history", metavar="FILE",
                       help="eval: JSON lines {\"query\", \"expected\"} taken as confirmed routing history "
                            "(examples of their expected script) before evaluating; no query may also be history")
    route.add_argument("--script", metavar="NAME", help="history/forget: only this script's examples; "
                                                        "confirm/reject: the script it was for (default: the pick)")
    route.add_argument("--all", action="store_true", help="forget: drop every recorded route example")
    route.add_argument("--again", action="store_true", help="describe: write new requests for scripts that have them")
    route.add_argument("--synthetic", metavar="FILE",
                       help="eval: JSON lines {\"name\", \"requests\"}: synthetic requests of catalogue scripts "
                            "(bench/routing_synthetic.py writes them)")
    route.add_argument("--json", action="store_true", help="print JSON")
    route.set_defaults(func=cmd_route)


def _route_pick(cfg: Config, args, top_k: int, options: dict) -> int:
    """`swarm route eval --pick`: retrieval's top-k, then the model's choice, over (a sample of) the queries."""
    from swarm.model_endpoint import ModelEndpoint
    from swarm.retrieval import HybridIndex, make_embedder, read_catalogue
    from swarm.retrieval.evaluate import read_jsonl
    from swarm.retrieval.pick import evaluate_pick, sample, stderr_progress

    if args.sample is not None and args.sample < 1:
        raise SwarmError(f"--sample must be 1 or more (got {args.sample})")
    queries = sample(read_jsonl(args.queries, ("query", "expected"), "query"), args.sample)
    index = HybridIndex(read_catalogue(args.catalogue), make_embedder(cfg.retrieval), **options)
    endpoint = ModelEndpoint(cfg)
    try:
        print(f"swarm: model {endpoint.describe()}", file=sys.stderr, flush=True)
        result = evaluate_pick(index, queries, endpoint.client(), top_k, stderr_progress)
    finally:
        endpoint.close()
    print(json.dumps(result) if args.json else "\n".join(f"{k:<18} {v}" for k, v in result.items()))
    return 0


def _route_history(cfg, args) -> int:
    """`swarm route history` lists the recorded route examples; `swarm route forget` drops them."""
    from swarm.store import open_store

    if args.text == ["forget"] and not args.script and not args.all:
        raise SwarmError("swarm route forget needs --script NAME (that script's examples) or --all (every example)")
    if args.text == ["forget"] and args.script and args.all:
        raise SwarmError("swarm route forget takes --script NAME or --all, not both")
    store = open_store(cfg)
    try:
        if args.text == ["forget"]:
            n = store.forget_route_examples(script=args.script)
            print(f"forgot {n} route example(s)" + (f" of {args.script}" if args.script else ""))
            return 0
        rows = store.route_examples(args.script)
    finally:
        store.close()
    if args.json:
        print(json.dumps([{k: r[k] for k in ("script", "text", "kind", "run_id", "node_id", "at")} for r in rows]))
    elif not rows:
        print("no route examples recorded" + (f" for {args.script}" if args.script else "")
              + "; a sub-goal becomes one when its routed script ends well in a run that ends done")
    else:
        for r in rows:
            print(f"{r['kind']:<8}  {r['script']:<24}  {r['text'][:80]}  ({r['run_id'] or '-'} {r['node_id'] or ''})")
    return 0


def _route_describe(cfg, args) -> int:
    """`swarm route describe [--script NAME] [--again]`: synthetic requests for the registered scripts, from the model."""
    from swarm.model_endpoint import ModelEndpoint
    from swarm.retrieval.synthetic import describe_scripts
    from swarm.store import open_store
    from swarm.toolsmith import Toolsmith

    rows = [r for r in Toolsmith.standalone(cfg).listing() if not r["disabled"]]
    if args.script:
        rows = [r for r in rows if r["name"] == args.script]
        if not rows:
            raise SwarmError(f"no active script is named {args.script!r}; `swarm scripts list` shows them")
    store = open_store(cfg)
    endpoint = ModelEndpoint(cfg)
    try:
        print(f"swarm: model {endpoint.describe()}", file=sys.stderr, flush=True)
        progress = None if args.json else lambda name, requests: print(f"{name}: {len(requests)} request(s)", flush=True)
        written = describe_scripts(store, endpoint.client(), rows, again=args.again, progress=progress)
    finally:
        endpoint.close()
        store.close()
    if args.json:
        print(json.dumps(written))
    elif not written:
        print("every script has synthetic requests already (or no description); --again writes them anew")
    return 0


def _route_decisions(cfg, args) -> int:
    """`swarm route decisions [RUN_ID]`: the decision log, oldest first."""
    from swarm.store import open_store

    store = open_store(cfg)
    try:
        run_id = store.run(args.text[1])["id"] if len(args.text) == 2 else None
        rows = store.route_decisions(run_id)
    finally:
        store.close()
    if args.json:
        print(json.dumps([{k: r[k] for k in ("run_id", "node_id", "goal", "candidates", "pick", "outcome", "outcome_by", "at")}
                          for r in rows]))
    elif not rows:
        print("no route decisions logged" + (f" in run {run_id}" if run_id else "") + "; a route node logs each one")
    else:
        for r in rows:
            offered = ", ".join(f"{c['name']} {c['score']}" for c in r["candidates"][:5])
            verdict = f"{r['outcome']} ({r['outcome_by']})" if r["outcome"] else "open"
            print(f"{r['run_id']} {r['node_id']:<8} {r['goal'][:60]!r} -> {r['pick'] or '-'}  [{verdict}]  offered: {offered}")
    return 0


def _route_verdict(cfg, args) -> int:
    """`swarm route confirm|reject RUN_ID NODE_ID [--script NAME]`: a person's verdict on one route decision."""
    from swarm.routing_history import judge
    from swarm.store import open_store

    command = args.text[0]
    if len(args.text) != 3:
        raise SwarmError(f"swarm route {command} takes RUN_ID NODE_ID (got {' '.join(args.text[1:])!r}); "
                         "`swarm route decisions` lists them. To route a text that starts with this word, quote it")
    store = open_store(cfg)
    try:
        verdict = "positive" if command == "confirm" else "negative"
        script, goal = judge(store, args.text[1], args.text[2], verdict, args.script)
    finally:
        store.close()
    print(f"{command}ed: {goal[:80]!r} " + ("is now an example of " if verdict == "positive" else "is a negative of ") + script)
    return 0


def cmd_route(args) -> int:
    from swarm.retrieval import make_embedder, run_eval

    cfg = configuration(args)
    settings = cfg.retrieval
    top_k = settings.top_k if args.top_k is None else args.top_k
    if top_k < 1:
        raise SwarmError(f"--top-k must be 1 or more (got {top_k})")
    options = {"fusion": settings.fusion, "bm25_weight": settings.bm25_weight}
    if args.text in (["history"], ["forget"]):
        return _route_history(cfg, args)
    if args.text[0] == "decisions" and len(args.text) <= 2:
        return _route_decisions(cfg, args)
    if args.text[0] in ("confirm", "reject") and len(args.text) > 1:
        return _route_verdict(cfg, args)
    if args.text == ["describe"]:
        return _route_describe(cfg, args)
    if args.text == ["eval"]:
        if not args.catalogue or not args.queries:
            raise SwarmError("swarm route eval needs --catalogue FILE.jsonl and --queries FILE.jsonl")
        if args.pick:
            return _route_pick(cfg, args, top_k, options)
        result = run_eval(args.catalogue, args.queries, make_embedder(settings), top_k, history=args.history,
                          synthetic=args.synthetic,
                          examples_per_script=settings.examples_per_script, **options)
        print(json.dumps(result) if args.json else "\n".join(f"{k:<10} {v}" for k, v in result.items()))
        return 0
    from swarm.retrieval import Entry, LiveIndex
    from swarm.store import open_store
    from swarm.toolsmith import Toolsmith

    rows = [r for r in Toolsmith.standalone(cfg).listing() if not r["disabled"]]
    store = open_store(cfg)
    try:  # the store caches the embeddings: the next call embeds only scripts it has not seen
        from swarm.retrieval.live import stored_history

        history = stored_history(store)  # what routing learned from use counts here too
        synthetic = stored_history(store, "synthetic")
        index = LiveIndex(make_embedder(settings), store, examples_per_script=settings.examples_per_script, **options)
        index.sync([Entry(r["name"], r["description"], history=history.get(r["name"], []),
                          synthetic=synthetic.get(r["name"], [])) for r in rows])
        hits = index.search(" ".join(args.text), top_k)
    finally:
        store.close()
    if args.json:
        print(json.dumps([{"name": h.name, "score": round(h.score, 4)} for h in hits]))
    else:
        for h in hits:
            print(f"{h.score:7.4f}  {h.name}")
    return 0
