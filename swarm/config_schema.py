"""The JSON Schema of swarm.toml, for editors (completion and checks as you type) and for other tools.

Made from the models the loader checks with (swarm/config_model.py: each section's keys, types, defaults,
bounds and allowed words, as pydantic writes them), and the comment above each key in the shipped swarm.toml
gives its description. An unknown key or section is refused, as the loader refuses it.
The committed copy (swarm/config.schema.json; `python -m swarm.config_schema` prints it) is checked against this
by a test, so it cannot drift.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from swarm.config_model import SECTION_MODELS
from swarm.mcp.settings import McpServer

SCHEMA_FILE = Path(__file__).with_name("config.schema.json")
DEFAULT_TOML = Path(__file__).resolve().parent.parent / "swarm.toml"
KEY_LINE = re.compile(r"^#?\s*([a-z_][a-z0-9_]*)\s*=\s*\S")
SECTION_LINE = re.compile(r"^\[([a-z_.]+)\]\s*$")


def config_schema(toml_text: str | None = None) -> dict[str, Any]:
    """The whole schema: one object per section, each key typed, bounded, described."""
    described = descriptions(toml_text if toml_text is not None else _default_toml())
    sections: dict[str, Any] = {}
    for name, model in SECTION_MODELS.items():
        section = model.model_json_schema()
        section.pop("title", None)
        for key, prop in section.get("properties", {}).items():
            prop.pop("title", None)
            if text := described.get((name, key)):
                prop["description"] = text
        sections[name] = section
    _servers_as_a_table(sections["mcp"])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/swarm/swarm/swarm.toml.schema.json",
        "title": "swarm.toml",
        "description": "The configuration of the swarm daemon and CLI; every key can also be set with "
                       "SWARM_<SECTION>_<KEY> in the environment.",
        "type": "object",
        "additionalProperties": False,
        "properties": sections,
    }


def descriptions(toml_text: str) -> dict[tuple[str, str], str]:
    """(section, key) -> the comment block right above that key (or above its commented-out example)."""
    found: dict[tuple[str, str], str] = {}
    section, comment = "", []
    for raw in toml_text.splitlines():
        line = raw.strip()
        if match := SECTION_LINE.match(line):
            section, comment = match.group(1).split(".")[0], []
        elif section and (match := KEY_LINE.match(line)):  # `key = value`, or `# key = value` (an example)
            if comment:
                found.setdefault((section, match.group(1)), " ".join(comment))
            comment = []
        elif line.startswith("#"):
            comment.append(line.lstrip("#").strip())
        else:
            comment = []
    return found


def _servers_as_a_table(mcp: dict[str, Any]) -> None:
    """[mcp.servers.NAME] tables: the server's own keys under its name (the loader passes them to McpServer)."""
    from pydantic import TypeAdapter

    servers = mcp["properties"]["servers"]
    server = TypeAdapter(McpServer).json_schema()
    server.get("properties", {}).pop("name", None)
    if "required" in server:
        server["required"] = [k for k in server["required"] if k != "name"]
        if not server["required"]:
            server.pop("required")
    server.pop("title", None)
    server["additionalProperties"] = False
    for prop in server.get("properties", {}).values():
        prop.pop("title", None)
    if "env" in server.get("properties", {}):  # a table of NAME = "value" in the file
        server["properties"]["env"] = {"type": "object", "additionalProperties": {"type": "string"}, "default": {}}
    mcp["properties"]["servers"] = {"type": "object", "additionalProperties": server,
                                    "description": servers.get("description", "MCP servers, one table each: "
                                                               "[mcp.servers.NAME] with command/args or url")}


def _default_toml() -> str:
    return DEFAULT_TOML.read_text(encoding="utf-8") if DEFAULT_TOML.is_file() else ""


def main() -> int:
    print(json.dumps(config_schema(), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
