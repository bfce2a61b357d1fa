"""CPU time of a process and of everything it starts, for the benchmarks (bench/daemon.py, bench/sandbox.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CGROUP_ROOTS = (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


class CpuMeter:
    """CPU seconds of a process (the daemon, the benchmark itself) and of every process it starts, however they end.

    A cgroup of its own counts them all: bubblewrap does not wait for its namespace's init, so the
    sandbox workers' time never reaches their starter's children counters (getrusage(RUSAGE_CHILDREN)
    or /proc's cutime miss it). Without a writable cgroup the live process tree under the root is
    summed instead (`cpu_source` says which), which misses processes that ended unwaited.
    """

    def __init__(self):
        self.group: Path | None = None
        for root in CGROUP_ROOTS:
            if (root / "cgroup.procs").exists() and ((root / "cpuacct.usage").exists() or (root / "cgroup.controllers").exists()):
                try:
                    group = root / f"swarm-bench-{os.getpid()}-{time.monotonic_ns()}"
                    group.mkdir()
                except OSError:
                    continue
                if (group / "cpuacct.usage").exists() or (group / "cpu.stat").exists():
                    self.group = group
                    break
                group.rmdir()
        self.source = "cgroup" if self.group else "proc"

    def enter(self) -> None:
        """Move the calling process (e.g. a child before its exec, as preexec_fn) into the cgroup."""
        if self.group:
            (self.group / "cgroup.procs").write_text(str(os.getpid()))

    def leave(self) -> None:
        """Move the calling process back to the cgroup root, so the group can be removed."""
        if self.group:
            (self.group.parent / "cgroup.procs").write_text(str(os.getpid()))

    def total_s(self, root: int) -> float:
        """CPU seconds of everything in the cgroup (without one: of the live tree under `root`)."""
        if self.group is None:
            return sum(tree_cpu_s(root))
        if (self.group / "cpuacct.usage").exists():
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        usage = dict(line.split() for line in (self.group / "cpu.stat").read_text().splitlines())
        return int(usage["usage_usec"]) / 1e6

    def close(self) -> None:
        if self.group:
            try:
                self.group.rmdir()
            except OSError:
                pass


def own_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_cpu_s(root: int) -> tuple[float, float]:
    """(CPU seconds of `root` itself, of the processes under it): live ones, and those their parents waited for."""
    stats, children = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        pid, ppid = int(entry), int(fields[1])
        stats[pid] = [int(x) / CLOCK_TICKS for x in fields[11:15]]  # utime stime cutime cstime
        children.setdefault(ppid, []).append(pid)
    if root not in stats:
        return 0.0, 0.0
    own = stats[root][0] + stats[root][1]
    below = stats[root][2] + stats[root][3]
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        below += sum(stats[pid])
        todo.extend(children.get(pid, []))
    return own, below
