"""`swarm memory`: add files to the swarm's memory, search it, list it, forget items."""

from __future__ import annotations

import json

from swarm.cli.common import configuration


def register(sub) -> None:
    memory = sub.add_parser("memory", help="the swarm's memory: add files, search, list, remove")
    msub = memory.add_subparsers(dest="memory_command", metavar="ACTION", required=True)
    add = msub.add_parser("add", help="keep text files (or every text file of a folder), cut into chunks")
    add.add_argument("paths", nargs="+", metavar="PATH", help="text files or folders (their text files, recursively)")
    add.add_argument("--json", action="store_true", help="print what was kept as JSON")
    add.set_defaults(func=cmd_memory_add)
    search = msub.add_parser("search", help="the items that fit a text best, by retrieval")
    search.add_argument("text", nargs="+", help="what to look for")
    search.add_argument("--top-k", type=int, dest="top_k", help="how many (default [memory].top_k)")
    search.add_argument("--json", action="store_true", help="print the items and their scores as JSON")
    search.set_defaults(func=cmd_memory_search)
    listing = msub.add_parser("list", help="the newest items first")
    listing.add_argument("--kind", choices=["run", "file"], help="only results of runs, or only chunks of files")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.add_argument("--json", action="store_true", help="print the items as JSON")
    listing.set_defaults(func=cmd_memory_list)
    remove = msub.add_parser("remove", help="forget an item by id, or everything under a key or of a file")
    remove.add_argument("ref", metavar="ID|KEY|FILE", help="an item's number (#ID in the list), a key, or a file that was added")
    remove.set_defaults(func=cmd_memory_remove)


def _memory(args):
    from swarm.memory import Memory
    from swarm.retrieval import make_embedder
    from swarm.store import open_store

    cfg = configuration(args)
    store = open_store(cfg)
    return store, Memory(store, lambda: make_embedder(cfg.retrieval), fusion=cfg.retrieval.fusion,
                         bm25_weight=cfg.retrieval.bm25_weight, max_file_kb=cfg.memory.max_file_kb,
                         top_k=cfg.memory.top_k)


def _preview(text: str, width: int = 100) -> str:
    from swarm.render import printable

    line = " ".join(printable(text).split())
    return line if len(line) <= width else line[:width - 1] + "…"


def _label(item: dict) -> str:
    meta = item["meta"]
    if meta.get("kind") == "file":
        return f"{meta['source']} [{meta['chunk']}/{meta['chunks']}]"
    return item["key"] or "-"


def cmd_memory_add(args) -> int:
    store, memory = _memory(args)
    try:
        added = memory.add_files(args.paths)
    finally:
        store.close()
    if args.json:
        print(json.dumps(added))
    else:
        for a in added:
            print(f"kept {a['source']}: {a['chunks']} chunk(s)")
    return 0


def cmd_memory_search(args) -> int:
    from swarm.errors import SwarmError

    if args.top_k is not None and args.top_k < 1:
        raise SwarmError(f"--top-k must be 1 or more (got {args.top_k})")
    store, memory = _memory(args)
    try:
        found = memory.search(" ".join(args.text), args.top_k)
    finally:
        store.close()
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
    elif not found:
        print("nothing in memory fits; add files with `swarm memory add PATH`")
    else:
        for m in found:
            print(f"{m['score']:7.4f}  #{m['id']}  {_label(m)}\n         {_preview(m['text'])}")
    return 0


def cmd_memory_list(args) -> int:
    store, memory = _memory(args)
    try:
        items = memory.items(args.limit, args.kind)
    finally:
        store.close()
    if args.json:
        print(json.dumps(items, ensure_ascii=False))
    elif not items:
        print("memory is empty; add files with `swarm memory add PATH`, finished runs add their results")
    else:
        for m in items:
            print(f"#{m['id']:<6} {_label(m)}\n        {_preview(m['text'])}")
    return 0


def cmd_memory_remove(args) -> int:
    store, memory = _memory(args)
    try:
        gone = memory.remove(args.ref)
    finally:
        store.close()
    print(f"forgot {gone} item(s)")
    return 0
