"""The storage ports: what the swarm asks of its store, one Protocol for each part, with no SQL in them.

A backend implements each of them in its adapter package (SQLite: swarm/adapters/sqlite/, PostgreSQL:
swarm/adapters/postgres/); no SQL lives anywhere else. Callers hold a port and call its methods; they never see
a connection, a lock or a query. The store `swarm.store.open_store(URL or path or configuration)` opens is the
run store and hands out the others:

    store.goals        GoalLedger      the daemon's goal files and the runs they became
    store.queue        GoalQueue       the goals table as the work queue every daemon on the store shares
    store.leases       RunLeases       who drives which run, until when, and the fence of every commit
    store.memories     MemoryStore     the texts of `swarm memory`
    store.metrics      MetricsReader   the raw counts behind `swarm stats` and /metrics
    store.event_tail() EventTail       new events of every run, in order, on a connection of its own
    store.wakeups      Wakeups         who is told at once of a write another process waits for (LISTEN/NOTIFY)
    store.rate_buckets RateBuckets     the shared rate limit of the model endpoints ([model].rate_per_s)

Rows are plain dicts (column -> value), JSON columns as JSON text, as the store keeps them.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

# The channels of Wakeups: a run's cancel, pause or a person's decision (payload: the run id); work for a daemon: a goal
# submitted to the store's queue (payload: the goal id), a new run or one whose lease was given up unfinished
# (payload: run:ID).
RUN_WAKEUPS = "swarm_runs"
GOAL_WAKEUPS = "swarm_goals"
WAKEUP_CHANNELS = (RUN_WAKEUPS, GOAL_WAKEUPS)


class RunStore(Protocol):
    """Runs, their nodes and their append-only history (the part the lifecycle writes and time travel reads).

    Only the part that every caller outside the runtime uses is listed here; the full surface is `Store`'s."""

    def run(self, run_id: str) -> dict[str, Any]:
        """A run's row by id or unique prefix; UnknownRun when there is none."""

    def runs(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The newest runs first (of one status, or of all)."""

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set columns of a run's row."""

    def node_states(self, run_id: str) -> list[dict[str, Any]]:
        """Every node's whole state as of its last event."""

    def node_rows(self, run_id: str, *, around: str | None = None, script: str | None = None,
                  parents: list[str] | None = None, states: bool = True) -> list[dict[str, Any]]:
        """Rows of the nodes table (id, parent, script, status, state as stored) of a run: all of them, or one node
        (`around`) and its children, or those running `script`, or the children of `parents`."""

    def events(self, run_id: str, after: int = 0, until: int | None = None, *, node_id: str | None = None,
               limit: int | None = None, states: bool = True) -> list[dict[str, Any]]:
        """A run's events after `after` up to `until`, oldest first."""

    def person_rejected_route(self, goal: str, script: str) -> bool:
        """Whether a person rejected this sub-goal for this script (`swarm route reject`)."""


class GoalLedger(Protocol):
    """Which goal file became which run (the daemon's `goals` table): rows of id, folder, name, original,
    sha256, run_id, state, outcome, dest, error, claimed_at, finished_at."""

    def goal_rows(self, folder: str | None = None, *, unfinished: bool = False) -> list[dict[str, Any]]:
        """Goal rows, oldest first: of one folder (or all); `unfinished`: only those whose state is not 'finished'."""

    def goal_row(self, goal_id: int) -> dict[str, Any]:
        """One goal row; KeyError when there is none."""

    def add_goal(self, row: dict[str, Any]) -> int:
        """Record a new goal row (without its id); returns its id."""

    def update_goal(self, goal_id: int, **fields: Any) -> None:
        """Set columns of a goal row (only those given)."""


class GoalQueue(Protocol):
    """The goals table as a queue shared by every daemon on one store (swarm/daemon/queue.py says who does what)."""

    def submit(self, name: str, original: str, sha256: str, run_id: str, spec: str, now: float) -> int:
        """A goal for any daemon (folder ''), in state `queued`, its goal as JSON in `spec`; returns its id."""

    def take_submitted(self, owner: str, now: float, stale_before: float) -> dict[str, Any] | None:
        """Atomically take the oldest queued goal (or one taken before `stale_before` whose run was never
        created): goal_id, name, original, run_id, spec; None when there is none."""

    def open_goals(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Every goal not finished, oldest first, with its run's status and lease columns (NULL: no run yet)."""

    def close(self, goal_id: int, outcome: str, error: str | None, now: float) -> bool:
        """A submitted goal whose run ended: finished; False when another daemon closed it first."""

    def hand_back(self, goal_id: int, outcome: str, error: str | None) -> bool:
        """A folder's goal whose run ended elsewhere: `finishing`, for its folder's daemon to file."""

    def goal(self, goal_id: int) -> dict[str, Any] | None:
        """One goal row with its spec and claimed_by."""


class RunLeases(Protocol):
    """The lease columns of runs (lease_owner, lease_expires, lease_epoch): swarm/leases.py is the policy."""

    def lease_row(self, run_id: str) -> dict[str, Any] | None:
        """id, status, lease_owner, lease_expires, lease_epoch of a run."""

    def claim(self, run_id: str, owner: str, expires: float, now: float, lapsed_epoch: int | None = None) -> int | None:
        """Atomically take a lease nobody holds, or one lapsed before `now` (or still at `lapsed_epoch`: a holder
        known to be gone); the new epoch, or None when another worker holds it."""

    def renew(self, leases: list[tuple[str, str, int]], expires: float, now: float) -> list[str]:
        """Push on (run id, owner, epoch) leases; the run ids no longer held so (taken over)."""

    def release(self, run_id: str, owner: str, epoch: int) -> bool:
        """Give a lease up; False when it was not held so."""

    def fence(self, c: Any, run_id: str) -> None:
        """Inside the transaction that writes a turn: LeaseLost unless the run's lease is still this worker's."""


class MemoryStore(Protocol):
    """The texts memory keeps: rows of id, key, text, meta (JSON text), run_id, created_at."""

    def add_memory(self, row: dict[str, Any], replace_key: bool = True) -> int:
        """Keep one item (a row without its id); with a key, first forget what was kept under it. Returns its id."""

    def replace_memory_prefix(self, key_prefix: str, rows: list[dict[str, Any]]) -> list[int]:
        """In one transaction: forget every item whose key starts with `key_prefix`, keep `rows`; their ids."""

    def remove_memory(self, item_id: int | None = None, key: str | None = None, key_prefix: str | None = None) -> int:
        """Forget an item by id, or the items under a key or whose key starts with a prefix; how many went."""

    def memory_text(self, key: str) -> str | None:
        """The text last kept under `key`."""

    def memory_items(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Items, newest first (at most `limit`; None: all)."""

    def memory_rows(self, ids: list[int]) -> list[dict[str, Any]]:
        """The items of these ids (any order; those gone are absent)."""

    def memory_ids(self) -> list[int]:
        """The ids of every item kept."""

    def memory_count(self) -> int:
        """How many items are kept."""


class MetricsReader(Protocol):
    """What metrics read of the history: runs, and one run's raw counts."""

    def runs_by_age(self) -> list[dict[str, Any]]:
        """Every run's row, oldest first."""

    def tally_rows(self, run_id: str) -> dict[str, Any]:
        """The rows a run's tally is counted from:
        nodes: [(script, status, count)]; scripts: [(node id, script)];
        events: [(kind, node id, detail JSON or None)] of its execute, retry and tool_calls events;
        failed_errors: [error] of its failed nodes; json_repaired: how many replies were mended;
        calls: [(model or 'unknown', error, prompt_tokens, completion_tokens, cost_usd, latency_ms)]."""

    def calls_span(self, run_id: str | None = None) -> tuple[float | None, float | None, int]:
        """(first, last, count) of the model calls of a run (None: of every run): when they were made."""

    def calls_by_bucket(self, start: float, width: float, run_id: str | None = None) -> list[tuple]:
        """The model calls of a run (None: of every run) summed per time bucket of `width` seconds from `start`:
        [(bucket number, calls, prompt_tokens, completion_tokens, cost_usd)], buckets without calls left out."""


class EventTail(Protocol):
    """A reader that follows the whole history as it grows, on a connection of its own (one thread uses it).

    A read that meets a store gone away (closed, deleted) raises StoreError."""

    def last_seq(self) -> int:
        """The number of the newest event now (0: none yet): where following starts."""

    def changed(self) -> bool:
        """Whether anything was committed since the last call (cheap: no table read); True at the first call."""

    def after(self, seq: int, limit: int) -> list[tuple]:
        """Up to `limit` events after `seq`, oldest first: (seq, run_id, node_id, kind, at, state, detail), with
        `state` the node's whole state after the event as JSON (None for a run-level event)."""

    def close(self) -> None:
        """Let go of the connection."""



class Wakeups(Protocol):
    """Wake-ups between processes: a writer notifies inside the transaction that writes what a reader waits for; a
    subscriber is called as soon as it commits. `instant` False (SQLite): nothing is delivered, readers read the
    store on their tick; True (PostgreSQL, LISTEN/NOTIFY): readers poll only slowly, as a fallback."""

    instant: bool
    received: int  # notifications delivered to this process so far

    def written_elsewhere(self) -> bool:
        """Whether another connection may have committed to the store since this one last asked (True the first
        time): a reader that polls skips the read when not."""

    def notify(self, c: Any, channel: str, payload: str) -> None:
        """Inside a writing transaction (`c`): tell the subscribers of `channel` once it commits."""

    def subscribe(self, channel: str, callback: Callable[[str | None], None]) -> Callable[[], None]:
        """Call `callback(payload)`, from another thread, for each notification on `channel` (None: some may have
        been missed, read the store); returns what unsubscribes."""

    def close(self) -> None:
        """Stop listening."""


class RateBuckets(Protocol):
    """Token buckets in the store, one per model endpoint: a rate limit every process on the store shares."""

    def take(self, name: str, rate_per_s: float, burst: int, now: float) -> float:
        """Atomically take a token of bucket `name` at `now` (epoch seconds); the seconds to wait before using it."""
