"""ask_human: put a question to a person and wait for the answer."""

from swarm import NodeScript, hookimpl


def execute(ctx):
    question = ctx.data.get("question") or ctx.goal
    if ctx.answer is None:
        return ctx.ask_human(question, ctx.data.get("proposal"))
    return {"question": question, "answer": ctx.answer}


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="ask_human",
        description="Ask a person what only that person knows (their decision, preference, approval or private "
                    "facts) and wait for the answer; never for general knowledge or anything that can be computed.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}, "question": {"type": "string"}}},
        execute=execute,
        examples=[{"question": "Which city should the trip go to?"}],
    )]
