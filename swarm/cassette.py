"""A run's cassette: the model replies its loop replays instead of asking the model again.

A resumed run replays the calls its unfinished nodes had completed (at-least-once execution, each
call paid once). A fork also replays its parent's calls, each only where the fork asks exactly
the same (NodeContext.llm compares the request byte for byte).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from swarm.store import loads

if TYPE_CHECKING:
    from swarm.store import Store


def cassette_for(store: Store, run: dict[str, Any], unfinished: list[str]) -> dict[str, dict]:
    """The replies a run's loop starts with, by call key: its own completed calls of `unfinished` nodes,
    and for a fork its parent's (its own win where both answer one key)."""
    cassette = store.recorded_replies(run["id"], unfinished)
    if run.get("forked_from"):
        cassette = {**inherited_calls(store, run), **cassette}
    return cassette


def inherited_calls(store: Store, run: dict[str, Any]) -> dict[str, dict]:
    """A fork's cassette from its parent: every completed call of the parent under the key the fork's
    node would use, with the request it answered (`_request`) and the parent's key (`_from`).

    NodeContext.llm replays one only for a byte-identical request (and then records it as the fork's)."""
    out: dict[str, dict] = {}
    for row in store.llm_calls(run["forked_from"]):
        if row["reply"] is not None:
            key = f"{run['id']}/{row['node_id']}/r{row['round']}/a{row['attempt']}"
            out[key] = {**loads(row["reply"]), "_request": row["request"], "_from": row["key"]}
    return out
