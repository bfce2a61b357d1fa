"""The `swarm` command line: its parser and `main`, which turns every error into one `swarm: error:` line."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from swarm.cli import approvals, daemon, memory, model, obs, route, runs, sandbox, scripts, submit, timetravel, ui
from swarm.cli.common import one_line, store_failure, warnings_to_stderr
from swarm.errors import SwarmError, database_errors


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    warnings = None
    try:
        warnings = warnings_to_stderr(args.log_format or os.environ.get("SWARM_LOG_FORMAT") or "text",
                                       args.log_level or os.environ.get("SWARM_LOG_LEVEL") or "warning")
        return args.func(args) or 0
    except SwarmError as exc:
        print(f"swarm: error: {one_line(exc)}", file=sys.stderr)
        return exc.exit_code
    except database_errors() as exc:  # met while reading or writing the store, past the checks at its open
        failure = store_failure(args, exc)
        print(f"swarm: error: {one_line(failure)}", file=sys.stderr)
        return failure.exit_code
    except BrokenPipeError:  # `swarm history RUN | head`: the reader has all it wants
        sys.stdout = open(os.devnull, "w")  # so the exit does not fail flushing the closed pipe
        return 1
    except KeyboardInterrupt:
        print("swarm: interrupted; the run is kept in the store: continue it with `swarm resume RUN`", file=sys.stderr)
        return 130
    finally:
        if warnings is not None:
            logging.getLogger("swarm").removeHandler(warnings)


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one `swarm: error:` line saying where to read more (as every other error)."""

    def error(self, message: str):
        self.exit(2, f"swarm: error: {self.prog}: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="swarm", description="A self-extending agent runtime.")
    p.add_argument("--config", help="path of swarm.toml (default: $SWARM_CONFIG, then ./swarm.toml)")
    p.add_argument("--store", help="path of the SQLite store (overrides [store].path)")
    p.add_argument("--log-format", choices=("text", "json"),
                   help="how swarm's log lines on stderr look: `swarm: ...` text, or one JSON object a line "
                        "(default: $SWARM_LOG_FORMAT, else text)")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"),
                   help="the least level logged to stderr (default: $SWARM_LOG_LEVEL, else warning)")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    # Each module adds its commands; the order is the order `swarm --help` lists them in.
    runs.register(sub)
    sandbox.register(sub)
    scripts.register(sub)
    route.register(sub)
    memory.register(sub)
    timetravel.register(sub)
    obs.register(sub)
    approvals.register(sub)
    daemon.register(sub)
    ui.register(sub)
    submit.register(sub)
    model.register(sub)
    return p
