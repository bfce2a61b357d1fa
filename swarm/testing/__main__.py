"""Command line: `python -m swarm.testing serve SCRIPT.jsonl` runs the scripted model in the foreground."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from swarm.testing.script import ScriptError
from swarm.testing.server import ScriptedModelServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m swarm.testing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve a script until SIGTERM/SIGINT")
    serve_cmd.add_argument("script", help="JSONL script file")
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    serve_cmd.add_argument("--log", default=None, help="append one JSON line per request to this file")
    serve_cmd.add_argument("--delay", type=float, default=0.0, help="default seconds to wait before answering")
    args = parser.parse_args(argv)
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    """Run the server until a signal arrives; 0 on clean exit, 2 on a bad script or address."""
    try:
        server = ScriptedModelServer(
            args.script, host=args.host, port=args.port, default_delay_s=args.delay, log_path=args.log
        ).start()
    except ScriptError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}")
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"scripted model listening on {server.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def _fail(message: str) -> int:
    print("error: " + " ".join(message.split()), file=sys.stderr, flush=True)
    return 2


if __name__ == "__main__":
    sys.exit(main())
