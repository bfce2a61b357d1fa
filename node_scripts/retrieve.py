"""retrieve: answer a question from the swarm's memory (what runs produced and what people added).

Retrieval finds the items of memory that fit the question ([memory].top_k, or data["top_k"]),
keeping only those that score at least [memory].min_score; the one model call answers from those
passages only, citing them by number. When memory holds nothing that fits, the node says so
without calling the model.
"""

from swarm import NodeScript, hookimpl

PROMPT = """Answer the question using only these passages from the swarm's memory.
Cite the passages you use by their number, like [2]. If they do not hold the answer, say so.

Question: {goal}

Passages:
{passages}"""


def execute(ctx):
    found = ctx.memory.search(ctx.goal, limit=ctx.data.get("top_k"))  # None: [memory].top_k
    floor = ctx.config.memory.min_score  # an unrelated passage (an old run's error) is no answer
    found = [m for m in found if m["score"] >= floor]
    sources = [{"n": n, "id": m["id"], "key": m["key"], "source": m["meta"].get("source") or m["meta"].get("goal"),
                "score": m["score"]} for n, m in enumerate(found, 1)]
    if not found:
        return {"goal": ctx.goal, "answer": None, "sources": [], "note": "nothing in memory fits this question"}
    passages = "\n\n".join(f"[{n}] {m['text']}" for n, m in enumerate(found, 1))
    reply = ctx.llm(PROMPT.format(goal=ctx.goal, passages=passages))
    return {"goal": ctx.goal, "answer": reply.text, "sources": sources}


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="retrieve",
        description="Answer a question from the swarm's memory: earlier runs' results, documents and notes people "
                    "added; cites the passages it used.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}, "top_k": {"type": "integer"}},
                      "required": ["goal"]},
        execute=execute,
        examples=[{"goal": "What did we find out about the budget last time?"}],
    )]
