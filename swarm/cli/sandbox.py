"""`swarm sandbox exec FILE.py`: run a Python file through the configured sandbox and print its result."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from swarm.cli.common import configuration, one_line, result_text
from swarm.errors import SwarmError


def register(sub) -> None:
    sandbox = sub.add_parser("sandbox", help="run code through the configured sandbox")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", metavar="COMMAND", required=True)
    sexec = sandbox_sub.add_parser("exec", help="run a Python file in the sandbox and print its result")
    sexec.add_argument("file", metavar="FILE.py", help="the Python file; the value of its last expression is the result")
    sexec.add_argument("--json", action="store_true", help='print {"ok", "output", "logs", "error"} as JSON')
    sexec.add_argument("--allow-import", nargs="+", action="extend", default=[], metavar="MODULE",
                       help="widen the import allowlist for this call (the process layer still holds)")
    sexec.set_defaults(func=cmd_sandbox_exec)


def cmd_sandbox_exec(args) -> int:
    from swarm.sandbox import Sandbox

    cfg = configuration(args)
    try:
        code = Path(args.file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SwarmError(f"cannot read {args.file} ({exc.strerror if isinstance(exc, OSError) else exc}); pass a Python file")
    with Sandbox(cfg.sandbox, cfg.python.authorized_imports, pool_size=0) as sandbox:
        result = sandbox.run(code, allow_imports=args.allow_import)
    if args.json:
        print(json.dumps({k: getattr(result, k) for k in ("ok", "output", "logs", "error")}, ensure_ascii=False))
    else:
        if result.logs:
            print(result.logs, end="" if result.logs.endswith("\n") else "\n")
        if result.ok:
            print(result_text(result.output) if result.output is not None else "", end="\n" if result.output is not None else "")
        else:
            print(f"swarm: error: {one_line(result.error)}", file=sys.stderr)
    return 0 if result.ok else 1
