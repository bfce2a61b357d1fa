"""`swarm ui`: serve the web UI and the REST API for the store until Ctrl-C (SIGTERM too)."""

from __future__ import annotations

import signal
import sys

from swarm.cli.common import configuration, use_demo_model


def register(sub) -> None:
    ui = sub.add_parser("ui", help="serve the web UI and REST API: submit goals, live execution graphs, node details, history, approvals")
    ui.add_argument("--host", help="address to listen on (default [ui].host, 127.0.0.1); another needs [ui].token")
    ui.add_argument("--port", type=int, help="port (default [ui].port, 8765; 0 = any free port)")
    ui.add_argument("--open", action="store_true", help="open the page in the default browser")
    ui.set_defaults(func=cmd_ui)


def cmd_ui(args) -> int:
    from swarm.ui import UIServer

    cfg = configuration(args)
    use_demo_model(cfg)  # a goal submitted or a fork made from the page runs like `swarm run` would
    server = UIServer(cfg, host=args.host, port=args.port)
    print(f"swarm: the web UI is at {server.page_url}", flush=True)
    print(f"swarm: the link holds the UI token; the REST API is described at {server.url}api/openapi.json "
          "(`swarm submit GOAL` hands it a goal); press Ctrl-C to stop", file=sys.stderr, flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.page_url)
    signal.signal(signal.SIGTERM, _stop)  # like Ctrl-C (uvicorn's handlers while it serves): runs driven here are
    # recorded and stay resumable
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt
