"""`swarm model serve`: the local model's llama.cpp server in the foreground, for other tools to use."""

from __future__ import annotations

import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from swarm.cli.common import configuration
from swarm.errors import SwarmError


def register(sub) -> None:
    model = sub.add_parser("model", help="the local model: `swarm model serve` runs its llama.cpp server in the foreground")
    msub = model.add_subparsers(dest="model_command", metavar="ACTION", required=True)
    serve = msub.add_parser(
        "serve", help="serve a GGUF model on loopback as an OpenAI-compatible endpoint until Ctrl-C",
        description="Runs llama.cpp's server on a GGUF file (default [model].gguf) with the settings swarm would use "
                    "([model].threads, context_per_slot, max_tokens; one slot per [run].concurrency, at most 4), "
                    "prints its base URL, and serves until Ctrl-C or SIGTERM.")
    serve.add_argument("--gguf", help="the model file (default: [model].gguf)")
    serve.add_argument("--port", type=int, default=0, help="loopback port (default: a free one; the URL printed says which)")
    serve.add_argument("--slots", type=int, help="requests served at the same time (default: [run].concurrency, at most 4)")
    serve.add_argument("--quiet", action="store_true", help="keep llama.cpp's own log off stderr")
    serve.set_defaults(func=cmd_model_serve)


def cmd_model_serve(args) -> int:
    from swarm.local_model.server import LocalServer, ServerOptions

    cfg = configuration(args)
    if args.gguf:
        cfg.model.gguf = str(Path(args.gguf).resolve())
    if not cfg.model.gguf:
        raise SwarmError("no model file to serve: pass --gguf FILE.gguf or set [model].gguf (SWARM_MODEL_GGUF); "
                         "fetch one with `bash .ci/setup-local-model`")
    if not 0 <= args.port <= 65535:
        raise SwarmError(f"--port must be 0..65535 (got {args.port})")
    if args.slots is not None and args.slots < 1:
        raise SwarmError(f"--slots must be 1 or more (got {args.slots})")
    options = ServerOptions.from_config(cfg, port=args.port)
    if args.slots:
        options = replace(options, slots=args.slots)
    print(f"swarm: loading {options.gguf} ({options.slots} slot(s), {options.threads} thread(s))", file=sys.stderr, flush=True)
    try:
        server = LocalServer(options, quiet=args.quiet).start()  # Ctrl-C while loading stops the child too
    except KeyboardInterrupt:
        print("swarm: interrupted while loading; nothing is served", file=sys.stderr)
        return 130
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop.set())
    try:
        print(f"swarm: serving {options.alias} (load took {server.load_s:.1f} s); Ctrl-C stops it", file=sys.stderr, flush=True)
        print(server.url, flush=True)
        while not stop.wait(1.0):
            if not server.alive():
                raise SwarmError(f"the llama.cpp server stopped by itself (exit code {server.process.returncode}); "
                                 "its log says why" + ("" if not args.quiet else f": {server.log_path}"))
    finally:
        server.stop(keep_log=not stop.is_set())
    print("swarm: stopped", file=sys.stderr)
    return 0
