"""Error types of the swarm: each says what is wrong and what to do next."""


class SwarmError(Exception):
    """Base of every error the swarm reports to a person.

    The message is one line: what is wrong, then what to do about it.
    """

    exit_code = 1
    # True when executing the same node again with the same input cannot change the outcome: the
    # lifecycle then fails the node at once instead of retrying it ([run].node_max_attempts).
    final = False


class ConfigError(SwarmError):
    """swarm.toml or an environment override is invalid."""

    exit_code = 2


class UnknownRun(SwarmError):
    exit_code = 2

    def __init__(self, run_id: str):
        super().__init__(f"no run {run_id!r} in the store; list runs with `swarm runs`")


class UnknownNode(SwarmError):
    exit_code = 2

    def __init__(self, run_id: str, node_id: str):
        super().__init__(f"run {run_id} has no node {node_id!r}; see its nodes with `swarm show {run_id}`")


class UnknownScript(SwarmError):
    exit_code = 2

    def __init__(self, name: str, known: list[str]):
        super().__init__(
            f"no node script named {name!r}; registered scripts: {', '.join(sorted(known)) or 'none'}"
        )


class SnapshotError(SwarmError):
    """A snapshot file could not be read or is not a swarm snapshot."""

    exit_code = 2


class StoreError(SwarmError):
    """The SQLite store could not be opened or is not a swarm store."""

    exit_code = 2


class StoreDamaged(StoreError):
    """The store's file is damaged (SQLite's integrity check failed, or a read met a malformed page)."""

    exit_code = 1  # not a usage error: the file needs repair

    def __init__(self, path, detail: str):
        import shlex

        path = shlex.quote(str(path))
        super().__init__(
            f"the store {path} is damaged ({detail}); swarm writes nothing new to it. Restore it from a backup, "
            f"or copy out what is readable: sqlite3 {path} \".recover\" | sqlite3 fixed.db (where that sqlite3's "
            f".recover fails: sqlite3 {path} .dump | sed 's/^ROLLBACK; -- due to errors$/COMMIT;/' | sqlite3 fixed.db), "
            "then use fixed.db (--store fixed.db or [store].path)"
        )


class ScriptContractError(SwarmError):
    """A node script broke the rules of the lifecycle (second LLM call, bad return value...)."""


class SecondModelCall(ScriptContractError):
    def __init__(self, node_id: str, script: str):
        super().__init__(
            f"node {node_id} (script {script!r}) called ctx.llm twice in one execution; "
            "a node makes at most one model call: return ctx.spawn(...) to ask a child to make the next one"
        )


class FinalFailure(SwarmError):
    """A failure that running the same execution again cannot change: the script already used what it
    knew (a child's failure it reports, code it repaired as often as allowed). The lifecycle fails the
    node at once instead of retrying it with the same input ([run].node_max_attempts is for the rest)."""

    final = True


class NodeTimeout(SwarmError):
    def __init__(self, node_id: str, seconds: float):
        super().__init__(f"node {node_id} ran longer than its timeout of {seconds:g}s; raise [run].node_timeout_s in swarm.toml if it needs longer")


class NodeCancelled(SwarmError):
    """Raised inside a script's thread when its node was cancelled meanwhile."""


class RunNotResumable(SwarmError):
    exit_code = 2


class SandboxUnavailable(SwarmError):
    """The isolation layer that [sandbox].layer asks for cannot run here; untrusted code is refused."""

    exit_code = 2


class RetrievalError(SwarmError):
    """A catalogue or query file, or the embedder, cannot be used for retrieval."""

    exit_code = 2


class TimeTravelError(SwarmError):
    """A checkout, fork or diff was asked for something the history does not hold (event, node, edit)."""

    exit_code = 2


class UnknownApproval(SwarmError):
    """No approval request has this number."""

    exit_code = 2

    def __init__(self, approval_id: object):
        super().__init__(f"no approval request {approval_id!r}; list the pending ones with `swarm approvals`")


class AlreadyDecided(SwarmError):
    """The approval request was decided already (by a person, inline, or by the timeout)."""

    exit_code = 2


def database_errors() -> tuple[type[BaseException], ...]:
    """What the databases of the stores opened in this process raise (sqlite3's errors; psycopg's once a
    PostgreSQL store was opened): for `except database_errors() as exc`, evaluated when something is raised."""
    import sqlite3
    import sys

    psycopg = sys.modules.get("psycopg")
    return (sqlite3.Error,) if psycopg is None else (sqlite3.Error, psycopg.Error)
