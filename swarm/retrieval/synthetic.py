"""Synthetic requests: short user-style requests a script would answer, written by the model from its
description ("doc2query", as in Re-Invoke and Tool2Vec).

A script's description is written like a blurb; sub-goals are written like requests. Before a script
has any confirmed routing history, a few requests the model imagines for it bridge that gap. They are
stored as route examples of kind 'synthetic': they count in the script's prototype vector with a lower
weight than confirmed examples, never teach the query adapter, never count as confirmed history, and
go when the script is disabled or rolled back. Once a script has confirmed history they no longer count
(swarm/retrieval/live.py says what they gained on MetaTool).
"""

from __future__ import annotations

SYNTHETIC_COUNT = 5  # requests asked of the model per script, in one call
SYNTHETIC_TEMPERATURE = 0.7  # some variety between the requests of one call


def request_messages(name: str, description: str, count: int = SYNTHETIC_COUNT) -> list[dict]:
    """The one prompt that asks for `count` requests a script would answer."""
    return [{"role": "user", "content": (
        f"A chatbot can use this tool.\nTool: {name}: {description}\n"
        f"Write {count} different short requests a user might type to the chatbot that this tool would answer. "
        f"Vary the wording and the situation; do not name the tool. Reply with a JSON list of {count} strings.")}]


def request_schema(count: int = SYNTHETIC_COUNT) -> dict:
    return {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": count}


def synthetic_requests(client, name: str, description: str, count: int = SYNTHETIC_COUNT) -> list[str]:
    """`count` (or fewer) distinct requests for one script, from one call of a ModelClient."""
    if not description.strip():
        raise ValueError(f"script {name!r} has no description to write requests from; give it one first")
    reply = client.complete(request_messages(name, description, count), schema=request_schema(count),
                            temperature=SYNTHETIC_TEMPERATURE)
    return clean_requests(reply.data, count)


def clean_requests(data, count: int = SYNTHETIC_COUNT) -> list[str]:
    """The model's list as distinct, non-empty one-line strings, at most `count`."""
    seen, out = set(), []
    for item in data if isinstance(data, list) else []:
        text = " ".join(str(item).split()) if isinstance(item, (str, int, float)) else ""
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return out[:count]


def describe_scripts(store, client, scripts: list[dict], *, again: bool = False, count: int = SYNTHETIC_COUNT,
                     progress=None) -> list[dict]:
    """Write and store synthetic requests for scripts ({"name", "description"} rows) that have none yet (all of
    them with `again`, their old requests dropped first). One model call per script; each script's requests are
    stored as soon as they come, so a failure later keeps them. Returns {"name", "requests"} per script written."""
    have = {r["script"] for r in store.route_examples() if r["kind"] == "synthetic"}
    written = []
    for script in scripts:
        name, description = script["name"], (script.get("description") or "").strip()
        if not description or (name in have and not again):
            continue
        requests = synthetic_requests(client, name, description, count)
        if again:
            store.forget_route_examples(script=name, kind="synthetic")
        for text in requests:
            store.add_route_example(name, text, "synthetic")
        written.append({"name": name, "requests": requests})
        if progress is not None:
            progress(name, requests)
    return written
