"""Docs kept honest: api_docs/, swarm.toml and README.md fail here when they drift from the code."""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import re
import tomllib
import types
from pathlib import Path

import pytest

from swarm import hookspecs
from swarm.catalogue import Catalogue
from swarm.cli import build_parser
from swarm.config import SECTIONS, Config, load_config
from swarm.context import NodeContext

REPO = Path(__file__).resolve().parent.parent
API_DOCS = REPO / "api_docs"
SWARM_TOML = REPO / "swarm.toml"

# Called by the lifecycle, not by scripts: deliberately left out of what scripts read.
LIFECYCLE_ONLY = {"cancel"}


def headings(path: Path) -> set[str]:
    return {m.group(1).strip() for m in re.finditer(r"^###\s+(.+?)\s*$", path.read_text(encoding="utf-8"), re.M)}


def public_context_names() -> set[str]:
    """Methods and properties of NodeContext, plus the attributes its __init__ sets."""
    names = {n for n in vars(NodeContext) if not n.startswith("_")}
    init = ast.parse(inspect.getsource(NodeContext.__init__).strip())
    for node in ast.walk(init):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "self":
                names.add(t.attr)
    return {n for n in names if not n.startswith("_")} - LIFECYCLE_ONLY


def hook_names() -> set[str]:
    return {name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "swarm_spec")}


def config_defaults() -> dict[str, dict[str, object]]:
    out = {}
    for section, cls in SECTIONS.items():
        out[section] = {
            f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            for f in dataclasses.fields(cls)
        }
    return out


def subcommands() -> list[str]:
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


# --- api_docs/context.md ------------------------------------------------------------------


def test_the_context_has_public_names_to_check():
    names = public_context_names()
    assert {"llm", "spawn", "goal", "data", "reports"} <= names  # the scan itself works
    assert "cancel" not in names


@pytest.mark.parametrize("name", sorted(public_context_names()))
def test_every_public_context_attribute_has_an_entry_in_context_md(name):
    assert f"ctx.{name}" in headings(API_DOCS / "context.md"), (
        f"NodeContext.{name} is public but api_docs/context.md has no `### ctx.{name}` entry; "
        "document it (what it does and a short example), or rename it with a leading _"
    )


def test_context_md_documents_nothing_that_is_gone():
    documented = {h.removeprefix("ctx.") for h in headings(API_DOCS / "context.md") if h.startswith("ctx.")}
    assert documented - public_context_names() == set()


def test_every_context_entry_has_an_example():
    text = (API_DOCS / "context.md").read_text(encoding="utf-8")
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        name = section.splitlines()[0]
        assert "```python" in section, f"the entry {name} of api_docs/context.md has no example"


# --- api_docs/plugins.md --------------------------------------------------------------------


def test_hookspecs_are_found():
    assert "swarm_node_scripts" in hook_names()


@pytest.mark.parametrize("hook", sorted(hook_names()))
def test_every_hook_has_an_entry_in_plugins_md(hook):
    assert hook in headings(API_DOCS / "plugins.md"), (
        f"swarm/hookspecs.py declares {hook} but api_docs/plugins.md has no `### {hook}` entry"
    )


def test_plugins_md_documents_every_nodescript_field():
    from swarm.plugin import NodeScript

    text = (API_DOCS / "plugins.md").read_text(encoding="utf-8")
    for f in dataclasses.fields(NodeScript):
        assert f"| `{f.name}` |" in text, f"NodeScript.{f.name} is missing from the field table of api_docs/plugins.md"


def test_the_example_plugin_in_plugins_md_registers():
    text = (API_DOCS / "plugins.md").read_text(encoding="utf-8")
    source = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    module = types.ModuleType("count_words_example")
    exec(compile(source, "api_docs/plugins.md", "exec"), module.__dict__)
    catalogue = Catalogue(builtins=False, entry_points=False)
    assert catalogue.register(module) == ["count_words"]
    script = catalogue.get("count_words")
    assert script.examples and script.description


def test_api_docs_index_links_every_page():
    index = (API_DOCS / "README.md").read_text(encoding="utf-8")
    for page in API_DOCS.glob("*.md"):
        if page.name != "README.md":
            assert f"({page.name})" in index, f"api_docs/README.md does not link {page.name}"


# --- swarm.toml -------------------------------------------------------------------------------


def test_swarm_toml_has_exactly_the_sections_of_the_config():
    raw = tomllib.loads(SWARM_TOML.read_text(encoding="utf-8"))
    assert list(raw) == list(SECTIONS)


@pytest.mark.parametrize("section", list(SECTIONS))
def test_swarm_toml_has_every_setting_and_no_other(section):
    raw = tomllib.loads(SWARM_TOML.read_text(encoding="utf-8"))[section]
    defaults = config_defaults()[section]
    unset = {k for k, v in defaults.items() if v is None}  # left commented out: "not set" has no TOML value
    assert set(raw) == set(defaults) - unset, (
        f"[{section}] of swarm.toml: missing {sorted(set(defaults) - unset - set(raw))}, "
        f"unknown {sorted(set(raw) - set(defaults))}"
    )
    text = SWARM_TOML.read_text(encoding="utf-8")
    for key in unset:
        assert re.search(rf"^# {key} = ", text, re.M), f"swarm.toml should show [{section}].{key} commented out"


@pytest.mark.parametrize("section", list(SECTIONS))
def test_swarm_toml_values_are_the_defaults(section):
    raw = tomllib.loads(SWARM_TOML.read_text(encoding="utf-8"))[section]
    defaults = config_defaults()[section]
    for key, value in raw.items():
        if key not in defaults:
            continue  # reported by test_swarm_toml_has_every_setting_and_no_other
        assert value == defaults[key] and type(value) is type(defaults[key]), (
            f"swarm.toml [{section}].{key} = {value!r}, but the default in the code is {defaults[key]!r}"
        )


def test_swarm_toml_loads_to_the_built_in_defaults():
    cfg = load_config(str(SWARM_TOML), env={})
    for section in SECTIONS:
        assert getattr(cfg, section) == getattr(Config(), section)


def test_model_base_url_is_left_unset_so_the_demo_model_is_used():
    cfg = load_config(str(SWARM_TOML), env={})
    assert cfg.model.base_url is None
    assert not cfg.endpoint_configured


def test_every_setting_has_a_comment_naming_its_environment_override():
    lines = SWARM_TOML.read_text(encoding="utf-8").splitlines()
    section = None
    for i, line in enumerate(lines):
        if m := re.match(r"^\[(\w+)\]", line):
            section = m.group(1)
        elif m := re.match(r"^(?:# )?(\w+) = ", line):
            if section is None or m.group(1) not in config_defaults()[section]:
                continue
            comment = []
            j = i - 1
            while j >= 0 and lines[j].startswith("#") and not re.match(r"^# \w+ = ", lines[j]):
                comment.insert(0, lines[j])
                j -= 1
            var = f"SWARM_{section.upper()}_{m.group(1).upper()}"
            assert comment, f"swarm.toml [{section}].{m.group(1)} has no comment above it"
            assert var in " ".join(comment), f"the comment of [{section}].{m.group(1)} should name {var}"


def test_swarm_toml_mentions_the_environment_shortcuts():
    text = SWARM_TOML.read_text(encoding="utf-8")
    for name in ("OPENAI_BASE_URL", "SWARM_MODEL=scripted:", "SWARM_STORE", "SWARM_CONFIG"):
        assert name in text
    assert re.search(r"^#\s+prices = \{", text, re.M), "swarm.toml should show an example of [model].prices"


# --- README.md ---------------------------------------------------------------------------------


def test_subcommands_are_found():
    assert "run" in subcommands()


@pytest.mark.parametrize("command", subcommands())
def test_every_subcommand_is_in_the_readme(command):
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(rf"`swarm {command}\b", readme), f"README.md does not mention `swarm {command}`"


# --- api_docs/python_api.md -------------------------------------------------------------------


def test_every_public_method_of_swarm_has_an_entry_in_python_api_md():
    from swarm.api import Swarm

    public = {name for name in vars(Swarm) if not name.startswith("_")}
    documented = {h.removeprefix("Swarm.") for h in headings(API_DOCS / "python_api.md") if h.startswith("Swarm.")}
    assert public - documented == set(), f"api_docs/python_api.md lacks entries for Swarm.{sorted(public - documented)}"
    assert documented - public == set(), f"api_docs/python_api.md documents what Swarm no longer has: {sorted(documented - public)}"
