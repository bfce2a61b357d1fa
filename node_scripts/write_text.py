"""write_text: answer a goal with prose written by the model."""

from swarm import NodeScript, hookimpl

PROMPT = """Write the text this goal asks for. Be concrete and brief.
Goal: {goal}
{context}"""


def execute(ctx):
    context = f"Context: {ctx.data['context']}" if ctx.data.get("context") else ""
    reply = ctx.llm(PROMPT.format(goal=ctx.goal, context=context).strip())
    return {"text": reply.text.strip()}


@hookimpl
def swarm_node_scripts():
    return [NodeScript(
        name="write_text",
        description="Write prose: explanations, summaries, plans, messages, research notes from the model's knowledge.",
        input_schema={"type": "object", "properties": {"goal": {"type": "string"}, "context": {"type": "string"}}, "required": ["goal"]},
        execute=execute,
        examples=[{"goal": "Explain what a write-ahead log is in two sentences"}],
    )]
