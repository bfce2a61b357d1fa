"""`swarm scripts list|show|test|disable|enable|rollback`: the node scripts and tools, built-in, plugin or generated."""

from __future__ import annotations

import json

from swarm.cli.common import configuration
from swarm.config import Config
from swarm.errors import SwarmError, UnknownScript
from swarm.render import printable


def register(sub) -> None:
    scripts = sub.add_parser("scripts", help="list, show, test, disable, enable or roll back node scripts and tools")
    scripts_sub = scripts.add_subparsers(dest="scripts_command", metavar="COMMAND", required=True)
    slist = scripts_sub.add_parser("list", help="every script and tool: built-in, plugin or generated")
    slist.add_argument("--json", action="store_true", help="print the list as JSON")
    slist.set_defaults(func=cmd_scripts_list)
    for name, helptext in (("show", "a generated script's metadata and code"),
                           ("test", "re-run a generated script's stored tests in the sandbox"),
                           ("disable", "stop offering and registering a generated script"),
                           ("enable", "offer and register a disabled generated script again"),
                           ("rollback", "make the previously active version active again")):
        cmd = scripts_sub.add_parser(name, help=helptext)
        cmd.add_argument("name", help="the script's or tool's name, as `swarm scripts list` shows it")
        if name in ("show", "test"):
            cmd.add_argument("--version", type=int, help="this version instead of the active one")
        cmd.set_defaults(func=cmd_scripts)


def cmd_scripts_list(args) -> int:
    from swarm.toolsmith import Toolsmith

    smith = Toolsmith.standalone(configuration(args))
    rows = smith.listing()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print(f"{'NAME':<20} {'KIND':<6} {'ORIGIN':<9} {'VERSION':<12}{'STATE':<9} DESCRIPTION")
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        print(f"{r['name']:<20} {r['kind']:<6} {r['origin']:<9} {r['version'] or '-':<12}{state:<9} "
              f"{printable(r['description'])[:90]}")
    print("see one with `swarm scripts show NAME`")
    return 0


def _show_registered(described: dict) -> None:
    """`swarm scripts show` of a built-in or plugin script or tool: where its code is, what it does, what it takes."""
    d = described
    print(f"{d['name']}: {d['origin']} {d['kind']}" + (f", version {d['version']}" if d["version"] else ""))
    print(f"source: {d['source'] or '(no source file)'}")
    print(f"description: {printable(d['description'])}")
    if d["kind"] == "tool":
        print(f"call: {d['signature']}")
        return
    print("input schema:\n" + json.dumps(d["input_schema"], indent=2, ensure_ascii=False))
    if d["examples"]:
        print("examples:\n" + "\n".join(json.dumps(e, ensure_ascii=False) for e in d["examples"]))


def cmd_scripts(args) -> int:
    from swarm.toolsmith import Toolsmith

    smith = Toolsmith.standalone(configuration(args))
    library, name, command = smith.library, args.name, args.scripts_command
    if name not in library.names():
        described = smith.describe(name)
        if described is None:
            raise UnknownScript(name, [r["name"] for r in smith.listing()])
        if command == "show" and args.version is None:
            _show_registered(described)
            return 0
        what = "--version" if command == "show" else f"`swarm scripts {command}`"
        raise SwarmError(f"{name} is a {described['origin']} {described['kind']} (its code is {described['source']}); "
                         f"{what} works on generated scripts and tools only (origin `generated` in `swarm scripts list`)")
    if command == "show":
        g = library.get(name, args.version)
        print(printable(json.dumps({**g.meta, "state": library.state(name), "versions": library.versions(name)},
                                   indent=2, ensure_ascii=False)))
        code = printable(g.code)  # written by the model
        print(f"\n# {g.path / 'code.py'}\n{code}", end="" if code.endswith("\n") else "\n")
    elif command == "test":
        g = library.get(name, args.version)
        try:
            failures = smith.test(name, args.version, smith.catalogue.tools)
        finally:
            smith.close()
        for failure in failures:
            print(f"FAIL {failure}")
        print(f"{name} v{g.version}: " + (f"{len(failures)} problem(s)" if failures else f"{len(g.meta['tests'])} test(s) passed"))
        return 1 if failures else 0
    elif command in ("disable", "enable"):
        smith.disable(name, command == "disable")
        forgotten = _forget_routes(configuration(args), name) if command == "disable" else 0  # enabled again, it starts afresh
        print(f"{name} {command}d" + ("; route will not offer it and it is not registered" if command == "disable" else "")
              + (f"; forgot {forgotten} route example(s) of it" if forgotten else ""))
    elif command == "rollback":
        version = smith.rollback(name)
        forgotten = _forget_routes(configuration(args), name)  # they confirmed the version rolled back from
        print(f"{name}: v{version} is active again" + (f"; forgot {forgotten} route example(s) of it" if forgotten else ""))
    return 0


def _forget_routes(cfg: Config, name: str) -> int:
    """Drop the routing history of a script (a rolled-back one: its examples were of another version)."""
    from swarm.store import open_store

    store = open_store(cfg)
    try:
        return store.forget_route_examples(script=name)
    finally:
        store.close()
