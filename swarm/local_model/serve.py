"""The local model's server process: llama.cpp's OpenAI-compatible server (xllamacpp) on loopback.

Started by `swarm.local_model.server` as `python -m swarm.local_model.serve --gguf FILE ...`. Once the
model is loaded it prints one line, `swarm-local-model: listening on http://127.0.0.1:PORT` (or
`swarm-local-model: failed: WHY`), and serves until SIGTERM or SIGINT — or until the process that
started it is gone (its stdin closes, or --parent is no longer its parent), so no orphan server keeps
the cores and 1–2 GB of memory.
Only the standard library before xllamacpp: OMP_WAIT_POLICY must be in the environment before the
OpenMP runtime loads (its default spinning starves generation on a busy machine).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

READY = "swarm-local-model: listening on "
FAILED = "swarm-local-model: failed: "  # then why, on the same line (the log's order is the C++ logger's)
RUNTIME_MISSING_EXIT = 3


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m swarm.local_model.serve", description=__doc__.splitlines()[0])
    p.add_argument("--gguf", required=True, help="the model file")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = a free port (the line printed says which)")
    p.add_argument("--slots", type=int, default=1, help="requests served at the same time")
    p.add_argument("--context", type=int, default=4096, help="tokens of context per slot (prompt + reply)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--max-tokens", type=int, default=1024, help="cap of a reply when the request sets no max_tokens")
    p.add_argument("--alias", default=None, help="the model name the server reports (default: the file's stem)")
    p.add_argument("--watch-stdin", action="store_true", help="stop when stdin closes (the starter is gone)")
    p.add_argument("--parent", type=int, default=0, help="stop when this process is no longer the parent")
    p.add_argument("--log-file", help="where stderr goes: removed when the starter is gone (it cannot remove it then)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse(argv)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import xllamacpp as xlc
    except ImportError:
        from swarm.local_model.errors import RuntimeMissing

        print(f"swarm: error: {RuntimeMissing()}", file=sys.stderr)
        return RUNTIME_MISSING_EXIT
    stop = threading.Event()  # asked to stop
    orphaned = threading.Event()  # the starter is gone
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if a.watch_stdin:
        threading.Thread(target=_until_eof, args=(stop, orphaned), name="swarm-local-model-stdin", daemon=True).start()

    p = xlc.CommonParams()
    p.model.path = a.gguf
    p.hostnames = [a.host]
    p.port = a.port
    p.n_parallel = a.slots
    p.n_ctx = a.slots * a.context  # the KV cache is shared out: each slot gets `context`
    p.n_predict = a.max_tokens
    p.cpuparams.n_threads = a.threads
    p.cpuparams_batch.n_threads = a.threads
    p.n_batch = 512
    p.n_ubatch = 512
    p.use_jinja = True  # the model's own chat template
    p.model_alias = {a.alias or os.path.basename(a.gguf).removesuffix(".gguf")}
    p.warmup = True
    p.endpoint_metrics = True
    try:
        server = xlc.Server(p)  # returns once the model is loaded and the port listens
    except Exception as exc:  # noqa: BLE001  (the library's errors are plain RuntimeErrors)
        print(f"{FAILED}llama.cpp could not serve {a.gguf}: {exc}", flush=True)
        return 1
    print(READY + server.listening_address, flush=True)
    while not stop.wait(1.0):
        if a.parent and os.getppid() != a.parent:
            orphaned.set()
            break
    del server  # stops the server's loop and frees the model
    if orphaned.is_set() and a.log_file:
        try:
            os.unlink(a.log_file)
        except OSError:
            pass
    return 0


def _until_eof(stop: threading.Event, orphaned: threading.Event) -> None:
    # os.read, not sys.stdin: a thread blocked in a buffered read aborts the interpreter's exit.
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    orphaned.set()
    stop.set()


if __name__ == "__main__":
    sys.exit(main())
