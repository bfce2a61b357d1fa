"""Scripted OpenAI-compatible model server for tests and demos: real HTTP, answers from a script."""

from swarm.testing.script import ScriptError, ScriptLine, load_script
from swarm.testing.server import ScriptedModelServer

__all__ = ["ScriptedModelServer", "ScriptLine", "load_script", "ScriptError"]
