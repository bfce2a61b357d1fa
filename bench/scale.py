"""Scale benchmark: what a run costs as it grows (issue 13). Prints one JSON line.

    python bench/scale.py [--sizes 1111,11111,111111] [--keep DIR | --reuse DIR]
                          [--store-url postgresql://USER@HOST:PORT/DB | --store-url throwaway]

The store is an SQLite file in a temporary folder, or (--store-url) a PostgreSQL database: `throwaway` starts a
throwaway cluster for the benchmark (swarm.testing.postgres; Debian's postgresql package), fsync off; a URL names
a server where the benchmark may CREATE DATABASE. Either way each size gets a new database of its own, dropped
once measured (bench/databases.py). `store` in the output says which: "sqlite" or "postgres".

For each size N (a tree of fan-out 10: 1,111 = three levels below the root, 11,111 = four,
111,111 = five), scripted and instant: every execution makes one call to an instant in-process
model (a paid reply, recorded like any other), the last leaf asks a person, so the run ends
paused with every other node done. Each size runs in its own process, so its peak RSS is its own.

Keys, suffixed with N:
- wall_ms_per_node_N: the run's wall time (history writes and snapshots included) / nodes.
- bytes_per_node_N: the store file plus its WAL, after the run, / nodes; on PostgreSQL the database's size
  (pg_database_size, which counts the ~8 MB an empty store's database has, its catalogue and empty tables: ~7.4 KB
  a node at 1,111 nodes).
- rss_mb_N: peak RSS (ru_maxrss) of the process that ran it.
- snapshots_N, snapshot_bytes_N: snapshots the store holds for the run, and their size.
- events_N: events recorded.
- resume_s_N: a new process that answers the question and drives the run to its end
  (imports, store open, state load, the remaining executions), wall time.
- history_s_N: `swarm history RUN` (a new process, output discarded; the store given by --store PATH, or on
  PostgreSQL by SWARM_STORE_URL, kept out of the command line with its password), wall time.
- checkout_s_N: `swarm checkout RUN --at E` at the middle event of the history, wall time (past 200 nodes it
  prints the top of the tree and counts of what is under it: swarm.checkout.checkout_top); checkout_call_s_N: the
  checkout() call alone at that event (every node's whole state), in a new process.
- cpu_ms_per_node_N, resume_cpu_s_N, history_cpu_s_N, checkout_cpu_s_N: the same in CPU seconds (user + system
  of the process), which a busy machine changes less than wall time.
--keep DIR keeps each size's store (DIR/N/scale.db, paused as the run left it: resume runs on a copy) and what its
run measured (DIR/N/run.json); --reuse DIR measures the commands again on the stores kept there, without running
the trees again (the run's own figures are those kept), and builds only the sizes missing. Both keep SQLite files:
they do not go with --store-url.
growth = wall_ms_per_node at the largest size / at the smallest (1,111 when measured); growth_cpu the same in CPU.
`load` is the 1-minute load average at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from databases import Databases  # noqa: E402

SWARM = [sys.executable, "-c", "import sys; from swarm.cli import main; sys.exit(main())"]


def levels_for(size: int) -> int:
    from lifecycle import tree_size

    levels = 1
    while tree_size(levels, 10) < size:
        levels += 1
    if tree_size(levels, 10) != size:
        raise SystemExit(f"--sizes: {size} is not a full tree of fan-out 10 (1111, 11111, 111111, ...)")
    return levels


def last_leaf(levels: int) -> str:
    return ".".join(["1"] + ["10"] * levels)


def store_bytes(db: Path) -> int:
    return sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists())


class InstantModel:
    """An in-process model that answers every call at once (a paid reply of 10 + 2 tokens)."""

    def complete(self, messages, *, schema=None, json=False, call_key=None, **_):
        from swarm.model import Reply

        return Reply(text="ok", data={"ok": True} if (schema or json) else None, model="bench", prompt_tokens=10,
                     completion_tokens=2)


def store_url() -> str:
    """In a process of one size: its PostgreSQL database, given by the parent in SWARM_STORE_URL ("" on SQLite)."""
    return os.environ.get("SWARM_STORE_URL", "")


def bench_engine(folder: Path, **options):
    """The engine of lifecycle.py, on the SQLite file folder/scale.db or on this size's PostgreSQL database."""
    import lifecycle

    lifecycle.STORE_URL = store_url()
    return lifecycle.engine(folder, "scale", InstantModel(), concurrency=8, **options)


def one_run(folder: Path, size: int) -> dict:
    """In its own process: the run of `size` nodes, paused at its last leaf."""
    levels = levels_for(size)
    e = bench_engine(folder)
    started, cpu = time.perf_counter(), time.process_time()
    run_id, status = asyncio.run(e.run("bench", script="fan", data={"levels": levels, "fanout": 10,
                                                                       "ask": last_leaf(levels)}))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert status == "awaiting_approval", status
    nodes = e.store.run(run_id)["nodes"]
    first, last = e.store.event_range(run_id)
    snaps = e.store._query("SELECT count(*) AS n, COALESCE(sum(length(data)), 0) AS b FROM snapshots WHERE run_id=?",
                           (run_id,))[0]
    size_bytes = e.store._query("SELECT pg_database_size(current_database()) AS b")[0]["b"] if store_url() else None
    e.close()
    if size_bytes is None:
        size_bytes = store_bytes(folder / "scale.db")
    return {"run": run_id, "nodes": nodes, "wall_s": wall, "cpu_s": cpu, "first": first, "last": last, "bytes": size_bytes,
            "snapshots": snaps["n"], "snapshot_bytes": snaps["b"],
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def resume_run(folder: Path, run_id: str) -> dict:
    """In its own process: answer the paused leaf and drive the run to its end."""
    from swarm.human import PreparedAnswers

    e = bench_engine(folder, human=PreparedAnswers({"*": "yes"}))
    status = asyncio.run(e.drive(run_id))
    e.close()
    assert status == "done", status
    return {"status": status}


def checkout_call(folder: Path, run_id: str, at: int) -> dict:
    """In its own process: the time of the checkout() call alone (no imports, no printing)."""
    from swarm.checkout import checkout
    from swarm.store import open_store

    store = open_store(store_url() or folder / "scale.db", check="if_small")
    started, cpu = time.perf_counter(), time.process_time()
    view = checkout(store, run_id, at)
    out = {"s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu, "nodes": len(view["nodes"])}
    store.close()
    return out


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of a command in a new process."""
    started, cpu = time.perf_counter(), _children_cpu()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    return time.perf_counter() - started, _children_cpu() - cpu


def measure(size: int, folder: Path, reuse: bool = False, keep: bool = False, url: str = "") -> dict:
    """One size, on the SQLite file folder/scale.db, or on the new PostgreSQL database `url`."""
    here = [sys.executable, str(Path(__file__).resolve())]
    db, kept = folder / "scale.db", folder / "run.json"
    env = {k: v for k, v in os.environ.items() if k != "SWARM_STORE_URL"}
    env.update(SWARM_STORE=str(db), **({"SWARM_STORE_URL": url} if url else {}))  # the URL (password and all) not in argv
    store = ["--store", str(db)] if not url else []  # the CLI takes SWARM_STORE_URL over [store].path
    if reuse and db.exists() and kept.exists():
        r = json.loads(kept.read_text())
    else:
        for stale in folder.glob("scale.db*"):
            stale.unlink()
        out = subprocess.run(here + ["--one", str(size), "--dir", str(folder)], check=True, capture_output=True, text=True,
                             env=env)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        kept.write_text(json.dumps(r))
    history_s = timed(SWARM + store + ["history", r["run"]], env)
    checkout_s = timed(SWARM + store + ["checkout", r["run"], "--at", str((r["first"] + r["last"]) // 2)], env)
    call = subprocess.run(here + ["--checkout", r["run"], "--at", str((r["first"] + r["last"]) // 2), "--dir", str(folder)],
                          check=True, capture_output=True, text=True, env=env)
    call = json.loads(call.stdout.strip().splitlines()[-1])
    with tempfile.TemporaryDirectory(dir=folder if keep else None) as spare:
        where = folder
        if keep:  # the kept store stays paused, to be measured again with --reuse
            where = Path(spare)
            shutil.copyfile(db, where / "scale.db")
        resume_s = timed(here + ["--resume", r["run"], "--dir", str(where)], env)
    n = r["nodes"]
    return {
        f"wall_ms_per_node_{size}": round(r["wall_s"] * 1000 / n, 4),
        f"cpu_ms_per_node_{size}": round(r["cpu_s"] * 1000 / n, 4),
        f"bytes_per_node_{size}": round(r["bytes"] / n),
        f"rss_mb_{size}": round(r["rss_mb"], 1),
        f"snapshots_{size}": r["snapshots"],
        f"snapshot_bytes_{size}": r["snapshot_bytes"],
        f"events_{size}": r["last"] - r["first"] + 1,
        f"resume_s_{size}": round(resume_s[0], 3),
        f"history_s_{size}": round(history_s[0], 3),
        f"checkout_s_{size}": round(checkout_s[0], 3),
        f"resume_cpu_s_{size}": round(resume_s[1], 3),
        f"history_cpu_s_{size}": round(history_s[1], 3),
        f"checkout_cpu_s_{size}": round(checkout_s[1], 3),
        f"checkout_call_s_{size}": round(call["s"], 3),
        f"checkout_call_cpu_s_{size}": round(call["cpu_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1111,11111,111111", help="comma-separated tree sizes (fan-out 10)")
    parser.add_argument("--keep", metavar="DIR", help="keep each size's store under DIR (default: a temporary folder)")
    parser.add_argument("--reuse", metavar="DIR", help="measure the commands again on the stores --keep left in DIR")
    parser.add_argument("--store-url", default="", metavar="URL",
                        help="a postgresql:// server to make each size's database on, or `throwaway` (a cluster of its own)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--resume", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    parser.add_argument("--checkout", help=argparse.SUPPRESS)
    parser.add_argument("--at", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_run(Path(args.dir), args.one)))
        return
    if args.resume:
        print(json.dumps(resume_run(Path(args.dir), args.resume)))
        return
    if args.checkout:
        print(json.dumps(checkout_call(Path(args.dir), args.checkout, args.at)))
        return
    if args.store_url and (args.keep or args.reuse):
        parser.error(f"--{'keep' if args.keep else 'reuse'} keeps SQLite files and does not go with --store-url (each size's "
                     "PostgreSQL database is dropped once measured); drop one of the two")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    for size in sizes:
        levels_for(size)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp, Databases(args.store_url) as databases:
        kept = args.reuse or args.keep
        base = Path(kept) if kept else Path(tmp)
        for size in sizes:
            folder = base / str(size)
            folder.mkdir(parents=True, exist_ok=True)
            url = databases.fresh()
            try:
                out.update(measure(size, folder, reuse=bool(args.reuse), keep=bool(kept), url=url))
            finally:
                databases.drop(url)
    small, large = min(sizes), max(sizes)
    if small != large:
        out["growth"] = round(out[f"wall_ms_per_node_{large}"] / out[f"wall_ms_per_node_{small}"], 3)
        out["growth_sizes"] = f"{large}/{small}"
        out["growth_cpu"] = round(out[f"cpu_ms_per_node_{large}"] / out[f"cpu_ms_per_node_{small}"], 3)
    out["store"] = databases.kind
    out["load"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
