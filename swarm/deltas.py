"""What an event records of its node: the fields that changed since the node's previous event, not its whole state.

A node's first event of a drive (a run's line of writes, see store.WriteLine) is a keyframe: the fields that
differ from a new TaskNode's defaults, with "id" (a delta never holds "id"). Every later event holds only what
changed: a field's new value, `"+children": [...]` for items appended to a list, `"-planned": n` for the n first
items taken off it. A keyframe again once the deltas since the last one outweigh it (see Recorder), so a state
is rebuilt from a bounded amount of history. Rebuilding applies them in order (`apply`); the result is the node's whole state, with
every field of TaskNode.FIELDS, as `TaskNode.state()` gave it when the event was recorded.

Compared by identity: values the lifecycle replaces but never changes in place (data, output, answer, approval);
lists are kept as tuples, so a later append is seen.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from itertools import compress
from operator import is_, is_not, itemgetter
from typing import Any

from swarm.node import TaskNode

KEYFRAME_BYTES = 1024
RECORDED_NODES = 40_000  # live nodes whose last values a line keeps (about 400 bytes each)
KEYFRAME = "*"  # marks a keyframe stored beside its node's id (an event's node_id, a nodes-table row's id)

FIELDS: tuple[str, ...] = TaskNode.FIELDS
_LISTS = frozenset({"children", "group", "planned"})
_VALUES = frozenset({"data", "output", "answer", "approval"})
_DICTS = frozenset({"approved"})
_KIND = tuple("list" if f in _LISTS else "value" if f in _VALUES else "dict" if f in _DICTS else "scalar" for f in FIELDS)
_ID, _RUN_ID, _PARENT, _DEPTH = (FIELDS.index(f) for f in ("id", "run_id", "parent", "depth"))
_STATUS = FIELDS.index("status")


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(TaskNode):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            out[f.name] = f.default_factory()  # type: ignore[misc]
        else:
            out[f.name] = None
    out["status"] = str(out["status"])
    return {k: out[k] for k in FIELDS}


DEFAULTS = _defaults()


_GET = itemgetter(*FIELDS)
_COPY_LISTS = tuple(i for i, k in enumerate(_KIND) if k == "list")
_COPY_DICTS = tuple(i for i, k in enumerate(_KIND) if k == "dict")


def capture(node: TaskNode) -> tuple:
    """The node's fields as they are now, in FIELDS order; lists and the approved dict copied."""
    values = list(_GET(node.__dict__))
    for i in _COPY_LISTS:
        values[i] = tuple(values[i])
    for i in _COPY_DICTS:
        values[i] = tuple(values[i].items())
    return tuple(values)


def full_state(values: tuple) -> dict[str, Any]:
    """The whole state (as TaskNode.state() gives it) of captured values."""
    return {f: (list(v) if k == "list" else dict(v) if k == "dict" else v) for f, k, v in zip(FIELDS, _KIND, values)}


def _same_scalar(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b) or (isinstance(a, str) and isinstance(b, str) and a == b)


# (index, field, kind, default) of every field; run_id never matches its placeholder (a keyframe holds it only
# when it is not the event's run)
_PLAN = tuple((i, f, k, DEFAULTS[f]) for i, (f, k) in enumerate(zip(FIELDS, _KIND)))
_NOT_A_VALUE = object()
_DEFAULT_VALUES = tuple(_NOT_A_VALUE if f in ("id", "data") else None if f == "run_id" else DEFAULTS[f] for f in FIELDS)
_INDEXES = tuple(range(len(FIELDS)))


def keyframe(values: tuple, run_id: str) -> dict[str, Any]:
    """The fields that differ from a new node's (run_id only when it is not the event's run)."""
    out: dict[str, Any] = {}
    for i, f, k, d in compress(_PLAN, map(is_not, values, _DEFAULT_VALUES)):  # (all in C) the fields not default
        v = values[i]
        if k == "scalar":
            if type(v) is type(d) and v == d or (isinstance(v, str) and isinstance(d, str) and v == d):
                continue
            out[f] = v
        elif k == "list":
            if v:
                out[f] = list(v)
        elif k == "dict":
            if v:
                out[f] = dict(v)
        else:
            out[f] = v  # a value field (default None) that is not None
    if values[_RUN_ID] != run_id:
        out["run_id"] = values[_RUN_ID]
    else:
        out.pop("run_id", None)
    _leave_out_derived(out, values[_ID], values[_PARENT], values[_DEPTH])
    return out


def beside_id(frame: dict[str, Any]) -> dict[str, Any]:
    """A keyframe kept where its node's id is stored apart: KEYFRAME instead of the id."""
    out = {KEYFRAME: 1}
    out.update(frame)
    del out["id"]
    return out


def _derived(node_id: str) -> tuple[str | None, int]:
    """The parent and depth a node's id says (1.2.3: 1.2, depth 2)."""
    dot = node_id.rfind(".")
    return (node_id[:dot] if dot > 0 else None), node_id.count(".")


def _leave_out_derived(out: dict[str, Any], node_id: str, parent: Any, depth: Any) -> None:
    """A keyframe holds parent and depth only where they are not what the id says."""
    said_parent, said_depth = _derived(node_id)
    if parent == said_parent and (parent is None or type(parent) is str):
        out.pop("parent", None)
    else:
        out["parent"] = parent
    if depth == said_depth and type(depth) is int:
        out.pop("depth", None)
    else:
        out["depth"] = depth


def delta(old: tuple, new: tuple) -> dict[str, Any]:
    """What changed from `old` to `new` (both from capture)."""
    out: dict[str, Any] = {}
    for i in compress(_INDEXES, map(is_not, old, new)):  # (all in C) the fields whose value is another object
        f, k, a, b = FIELDS[i], _KIND[i], old[i], new[i]
        if k == "scalar":
            if type(a) is type(b) and a == b or (isinstance(a, str) and isinstance(b, str) and a == b):
                continue
            out[f] = b
        elif k == "value":
            out[f] = b
        elif k == "list":
            la, lb = len(a), len(b)
            if la == lb and all(map(is_, a, b)):
                continue
            if lb > la and all(map(is_, a, b)):
                out["+" + f] = list(b[la:])
            elif lb < la and all(map(is_, a[la - lb:], b)):
                out["-" + f] = la - lb
            else:
                out[f] = list(b)
        else:  # the approved dict, as items
            try:
                same = a == b
            except Exception:  # noqa: BLE001  (a value whose == does not give a bool)
                same = False
            if not same:
                out[f] = dict(b)
    return out


def whole(frame: dict[str, Any], run_id: str, node_id: str | None = None) -> dict[str, Any]:
    """The whole state a keyframe stands for (a new node's defaults, then the keyframe), keys in FIELDS order.

    Every list and dict in it is its own (a new one, or the keyframe's), so a caller may take it over as
    a TaskNode's own (TaskNode.adopt). Called once for each node of a run that is loaded: kept to C-level
    dict operations."""
    node_id = frame.get("id", node_id)
    state = DEFAULTS.copy()
    dot = node_id.rfind(".")
    state["id"] = node_id
    state["run_id"] = run_id
    state["parent"] = node_id[:dot] if dot > 0 else None
    state["depth"] = node_id.count(".")
    state["children"] = []
    state["planned"] = []
    state["group"] = []
    state["approved"] = {}
    state.update(frame)
    state.pop(KEYFRAME, None)
    return state


def apply(base: dict[str, Any] | None, patch: dict[str, Any], run_id: str, node_id: str | None = None) -> dict[str, Any]:
    """The state after an event: `base` (the state after the node's previous event) with `patch` applied.

    A keyframe (a patch with "id", or with KEYFRAME and the node's id given apart) starts from a new node's
    defaults; `base` is then not needed."""
    if "id" in patch or KEYFRAME in patch:  # a keyframe: no "+" or "-" keys
        return whole(patch, run_id, node_id)
    return _with_delta(base, patch)


def patched(base: dict[str, Any] | None, patch: dict[str, Any], run_id: str, node_id: str) -> dict[str, Any]:
    """As apply, on partial states: a node's fields that differ from a new node's (with its id), as keyframes
    hold them, and after them whatever the deltas changed. `whole(patched(...))` is what apply gives, without
    making every field of every node: a summary of a big run needs only a few. Takes `patch` over."""
    if "id" in patch or KEYFRAME in patch:
        patch.pop(KEYFRAME, None)
        patch.setdefault("id", node_id)
        return patch
    return _with_delta(base, patch)


def _with_delta(base: dict[str, Any] | None, patch: dict[str, Any]) -> dict[str, Any]:
    """`base` with a delta applied: "+name" appends to a list, "-name" drops its first items, other keys are
    set. A list a partial state does not hold yet starts empty."""
    if base is None:
        raise KeyError("a delta without the state it applies to")
    state = dict(base)
    for key, value in patch.items():
        head = key[0]
        if head == "+":
            name = key[1:]
            state[name] = state.get(name, []) + value
        elif head == "-":
            name = key[1:]
            state[name] = state.get(name, [])[value:]
        else:
            state[key] = value
    return state


def compact(state: dict[str, Any], run_id: str) -> dict[str, Any]:
    """A whole state as a keyframe (for snapshots): only what differs from a new node's defaults."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if key == "run_id":
            if value != run_id:
                out[key] = value
        elif key in ("id", "data") or key not in DEFAULTS:
            out[key] = value
        elif value is None or value == [] or value == {}:
            if DEFAULTS[key] is None or DEFAULTS[key] == [] or DEFAULTS[key] == {}:
                continue
            out[key] = value
        elif not _same_scalar(value, DEFAULTS[key]):
            out[key] = value
    if "id" not in out:
        raise KeyError("a node state without an id")
    _leave_out_derived(out, out["id"], state.get("parent"), state.get("depth", 0))
    return out


class Recorder:
    """The last recorded values of each live node of one line of writes; makes each event's patch (as JSON).

    A keyframe again once the deltas since the last one add up to more than it (at least KEYFRAME_BYTES): the
    history of a node stays within twice what its deltas take, and rebuilding any of its states reads at most
    about twice its size. A node that ended is forgotten, and so is the one recorded longest ago once more than
    RECORDED_NODES are held (a tree of 100,000 spawns them all before most run): their next event is a keyframe."""

    __slots__ = ("last",)

    def __init__(self) -> None:
        # id -> its values, then the bytes of its deltas since its keyframe and the keyframe's bytes (one tuple:
        # a hundred thousand of them are held), the most recently recorded last
        self.last: OrderedDict[str, tuple] = OrderedDict()

    def patch(self, node_id: str, values: tuple, run_id: str, encode) -> str:
        seen = self.last.pop(node_id, None)
        if seen is not None and seen[-2] <= max(KEYFRAME_BYTES, seen[-1]):
            text = encode(delta(seen[:-2], values))
            since, key = seen[-2] + len(text), seen[-1]
        else:
            text = encode(beside_id(keyframe(values, run_id)))
            since, key = 0, len(text)
        if values[_STATUS] not in ("done", "failed", "cancelled"):
            self.last[node_id] = (*values, since, key)
            if len(self.last) > RECORDED_NODES:
                self.last.popitem(last=False)
        return text
