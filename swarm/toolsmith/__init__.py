"""Self-extension: the scripts and tools the swarm writes, tests in the sandbox, versions and registers for itself.

`library` keeps them on disk, `program` builds the sandboxed programs that run them,
`smith` tests, saves and runs them, and `plugin` offers the active ones through pluggy.
The node scripts `make_tool` and `fix_tool` (node_scripts/) drive it; `swarm scripts` manages it.
"""

from swarm.toolsmith.library import Generated, Library, UnknownGenerated
from swarm.toolsmith.plugin import PLUGIN_NAME, GeneratedPlugin
from swarm.toolsmith.smith import GeneratedCodeFailed, Toolsmith

__all__ = ["Generated", "GeneratedCodeFailed", "GeneratedPlugin", "Library", "PLUGIN_NAME", "Toolsmith", "UnknownGenerated"]
