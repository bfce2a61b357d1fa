"""Run leases: which worker drives a run, until when, and the fence that keeps a worker that lost it from writing.

Whoever drives a run holds its lease, three columns of the run's row: `lease_owner` (the worker's name:
`host:pid` by default, `swarm daemon --host-id NAME` names it), `lease_expires` (a time; once it passed,
any worker may take the run over) and `lease_epoch` (raised by every claim). So any number of processes,
on any hosts, can share one store and never drive one run twice at once:

- claim: one atomic statement takes a lease nobody holds, or one whose holder let it lapse, and raises
  the epoch; of two workers claiming together one wins, the other is told who holds it;
- renew: a thread of the worker's own pushes the expiry on every ttl/3 ([store].lease_ttl_s), so a long
  model call or a busy loop never loses it; a killed or frozen worker stops renewing, and after the ttl
  another takes the run over (the nodes it was running are executed again; the calls it had paid for are
  in the store and are replayed, not paid again);
- fence: every commit of a turn checks, inside its own transaction, that the run's epoch is still the one
  this worker claimed; if another worker took the run over meanwhile (a worker frozen past its lease, then
  woken), the commit raises LeaseLost: nothing of the turn is recorded and its loop stops.

On one host the kernel can say at once that a holder is gone: a lease whose owner is `host:pid` of this
host with no such process is taken without waiting for its expiry (what `swarm resume` right after a
crash relies on). Across hosts only the expiry counts, so the hosts' clocks must agree to well within
the ttl (NTP does).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from swarm import pids
from swarm.errors import SwarmError

DEFAULT_TTL_S = 10.0
_worker: str | None = None


def worker_name() -> str:
    """This process's name as a lease holder: set_worker_name()'s, else `host:pid`."""
    return _worker or f"{socket.gethostname()}:{os.getpid()}"


def set_worker_name(name: str | None) -> None:
    """Name this process's worker (`swarm daemon --host-id NAME`); None: back to `host:pid`."""
    global _worker
    if name is not None and not name.strip():
        raise SwarmError("--host-id is empty; give the worker a name, e.g. --host-id build-box-2")
    _worker = name.strip() if name else None


class LeaseHeld(SwarmError):
    """Another worker drives the run now."""

    exit_code = 3

    def __init__(self, run_id: str, owner: str, expires: float | None):
        self.run_id, self.owner, self.expires = run_id, owner, expires
        super().__init__(f"run {run_id} is being driven by {held_by_text(owner, expires)}; it goes on there. "
                         "If that worker is gone, the run can be taken over once its lease lapses: "
                         f"`swarm resume {run_id}` then")


class LeaseLost(SwarmError):
    """Another worker took the run over while this one held it (this one was frozen or cut off past its lease)."""

    def __init__(self, run_id: str, owner: str, epoch: int, now_owner: str | None, now_epoch: int | None,
                 expires: float | None):
        self.run_id, self.epoch, self.now_owner, self.now_epoch = run_id, epoch, now_owner, now_epoch
        if now_epoch is None:
            how = "it lapsed before this worker could renew it (frozen or cut off past [store].lease_ttl_s)"
        else:
            who = f"{held_by_text(now_owner, expires)}, epoch {now_epoch}" if now_owner else "nobody now"
            how = f"it was taken over ({who})"
        super().__init__(f"run {run_id}: lease lost — {owner} held it at epoch {epoch}, but {how}; this turn was not "
                         "recorded and this worker stops driving the run")


@dataclass
class Lease:
    run_id: str
    owner: str
    epoch: int
    expires: float
    lost: bool = False  # the keeper found it taken over


def held_by_text(owner: str | None, expires: float | None) -> str:
    """`worker W (lease until 17:03:12)`, for messages."""
    if not owner:
        return "nobody"
    until = time.strftime("%H:%M:%S", time.localtime(expires)) if expires else "?"
    return f"worker {owner} (lease until {until})"


def _local_pid(owner: str) -> int | None:
    """The pid in a `host:pid` owner name of this host, else None."""
    host, _, pid = owner.rpartition(":")
    return int(pid) if host == socket.gethostname() and pid.isdigit() else None


def holder_gone(row: dict[str, Any]) -> bool:
    """The lease's holder is known to be gone: a `host:pid` of this host with no such process."""
    owner = row.get("lease_owner")
    pid = _local_pid(owner) if owner else None
    return pid is not None and pid != os.getpid() and not pids.exists(pid)


def free(row: dict[str, Any], now: float | None = None) -> bool:
    """Whether a worker may claim this run now: nobody holds its lease, it lapsed, or its holder is gone."""
    if not row.get("lease_owner") or row.get("lease_expires") is None:
        return True
    return row["lease_expires"] < (time.time() if now is None else now) or holder_gone(row)


def held(run: dict[str, Any], now: float | None = None) -> bool:
    """Whether a live worker (this process included) drives the run now."""
    return not free(run, now)


def holder(run: dict[str, Any]) -> str:
    """Who drives the run, for messages: `worker W (lease until T)`."""
    return held_by_text(run.get("lease_owner"), run.get("lease_expires"))


class FencedModel:
    """A model provider that asks the lease keeper before each call (`call_key` begins with the run's id): a worker
    that lost a run's lease never pays for one of its calls again. Everything else is the provider's."""

    def __init__(self, provider, keeper: LeaseKeeper):
        self.provider, self.keeper = provider, keeper

    def complete(self, messages, *, call_key: str | None = None, **options):
        if call_key:
            self.keeper.confirm(call_key.split("/", 1)[0])
        return self.provider.complete(messages, call_key=call_key, **options)

    def __getattr__(self, name: str):
        return getattr(self.provider, name)


class LeaseKeeper:
    """The leases one Engine holds, renewed every ttl/3 from a thread of their own.

    `claim()` takes a run's lease (LeaseHeld when another worker has it), `release()` gives it up when the drive
    ends. The thread runs whatever the event loop does (a long model call, a slow turn): only a frozen or dead
    process stops renewing."""

    def __init__(self, store, ttl_s: float = DEFAULT_TTL_S, on_lost: Callable[[Lease], None] | None = None):
        self.store = store
        self.ttl_s = float(ttl_s)
        self.owner: str | None = None  # the worker's name in its leases; None: worker_name() at each claim
        self.on_lost = on_lost  # from the keeper's thread: a lease found taken over
        # after each claim: the lease, and the run's lease columns before it (who held it, until when)
        self.on_claim: Callable[[Lease, dict[str, Any]], None] | None = None
        self.leases: dict[str, Lease] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def table(self):
        return self.store.leases

    def claim(self, run_id: str) -> Lease:
        now = time.time()
        owner = self.owner or worker_name()
        row = self.table.lease_row(run_id)
        gone = row.get("lease_epoch") if row and row.get("lease_owner") and holder_gone(row) else None
        epoch = self.table.claim(run_id, owner, now + self.ttl_s, now, gone)
        if epoch is None:
            row = self.table.lease_row(run_id) or {}
            raise LeaseHeld(run_id, row.get("lease_owner") or "?", row.get("lease_expires"))
        lease = Lease(run_id, owner, epoch, now + self.ttl_s)
        with self.lock:
            self.leases[run_id] = lease
        self._start()
        if self.on_claim is not None:
            self.on_claim(lease, row or {})
        return lease

    def release(self, lease: Lease) -> None:
        with self.lock:
            if self.leases.get(lease.run_id) is lease:
                del self.leases[lease.run_id]
        if not lease.lost:
            self.table.release(lease.run_id, lease.owner, lease.epoch)

    def renew(self, only: list[Lease] | None = None) -> list[Lease]:
        """Push on every lease held (or `only` these); returns those found taken over (marked lost)."""
        with self.lock:
            held = [x for x in (self.leases.values() if only is None else only) if not x.lost]
        if not held:
            return []
        now = time.time()
        lost_ids = set(self.table.renew([(x.run_id, x.owner, x.epoch) for x in held], now + self.ttl_s, now))
        lost = []
        for lease in held:
            if lease.run_id in lost_ids:
                lease.lost = True
                lost.append(lease)
            else:
                lease.expires = now + self.ttl_s
        for lease in lost:
            if self.on_lost is not None:
                self.on_lost(lease)
        return lost

    def confirm(self, run_id: str) -> None:
        """Before paying for a model call of a run: LeaseLost when this worker no longer holds its lease. Free
        while the lease was renewed lately; when renewals fell behind (the process was frozen, or starved of CPU),
        it is renewed first, so a worker woken after losing the run never pays for a call the new holder pays for."""
        lease = self.leases.get(run_id)  # one dict read: atomic, no lock on every model call
        if lease is None:  # not driven through a lease here (a loop driven directly, a test)
            return
        if not lease.lost and time.time() > lease.expires - self.ttl_s / 3:  # a renewal or more overdue
            self.renew([lease])
        if lease.lost:
            raise LeaseLost(run_id, lease.owner, lease.epoch, None, None, None)

    def _start(self) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="swarm-leases", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(self.ttl_s / 3):
            try:
                self.renew()
            except Exception as exc:  # noqa: BLE001 — a store busy or briefly unwritable: the next round tries again
                if self.stopping.is_set():  # stopped meanwhile (its store may be closing): nothing to say
                    return
                import logging

                reason = " ".join(str(exc).split()) or type(exc).__name__
                logging.getLogger("swarm").warning("could not renew the run leases (%s); trying again in %.1f s",
                                                   reason, self.ttl_s / 3)

    def stop(self) -> None:
        """Stop renewing; the thread has ended when this returns (call it before the store closes: Engine.close)."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)
