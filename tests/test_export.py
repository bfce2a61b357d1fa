"""Export: `swarm export RUN --html FILE` writes one self-contained, escaped HTML page of a run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from lifecycle_support import make_engine, run, script  # noqa: F401
from obs_support import backend_store, cli_store, scenario_run

from swarm.export_html import embed_json, export_html, run_data
from swarm.testing.pytest_plugin import backends

REPO = Path(__file__).resolve().parent.parent
EVIL_OUTPUT = "<script>alert(1)</script>"
EVIL_GOAL = "</script><script>alert(2)</script> & <!-- more"
EVIL_REPLY = '<img src=x onerror="alert(3)">'


@pytest.fixture(scope="module", params=backends())
def exported(tmp_path_factory, request):
    """The scenario run exported, once from an SQLite store and once from a PostgreSQL one: (engine, run id,
    the page's text)."""
    folder = tmp_path_factory.mktemp("export")
    (folder / "report").mkdir()
    with backend_store(request, folder) as url, scenario_run(folder, store_url=url) as (engine, run_id):
        path = export_html(engine.store, run_id, folder / "report" / "run.html")
        yield engine, run_id, path.read_text(encoding="utf-8")


@pytest.fixture
def evil_page(make_engine, tmp_path, store_url):
    """A run whose goal, model reply, output and error are all attempts to inject markup: (run id, page)."""
    def leaf(ctx):
        reply = ctx.llm("say something").text
        if ctx.data.get("fail"):
            raise ValueError(f"<b>bad</b> {reply}")
        return EVIL_OUTPUT

    def root(ctx):
        if ctx.reports is None:
            return ctx.spawn([ctx.child("leaf"), ctx.child("leaf", fail=True)])
        return {"said": [r.output for r in ctx.reports]}

    engine = make_engine(script("root", root), script("leaf", leaf), model=[{"reply": EVIL_REPLY, "repeat": True}],
                         node_max_attempts=1)
    run_id, status = run(engine, EVIL_GOAL, "root")
    assert status == "done"
    return run_id, export_html(engine.store, run_id, tmp_path / "evil.html").read_text(encoding="utf-8")


class Elements(HTMLParser):
    """The tags and attributes of a page, as a browser's tokenizer sees them."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def embedded(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="swarm-run">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def test_the_page_has_every_node_of_the_run(exported):
    engine, run_id, page = exported
    ids = {n["id"] for n in engine.store.node_states(run_id)}
    assert ids == {"1", "1.1", "1.2", "1.3", "1.4", "1.5"}
    shown = {attrs["id"].removeprefix("node-") for tag, attrs in Elements(page).tags
             if tag == "details" and "node" in attrs.get("class", "")}
    assert shown == ids
    assert f"run {run_id}" in page


def test_the_tree_nests_children_inside_their_parents(exported):
    _, _, page = exported
    root = page.index('id="node-1"')
    for child in ("1.1", "1.5"):
        assert page.index(f'id="node-{child}"') > root
    statuses = {a["id"]: a["data-status"] for t, a in Elements(page).tags if t == "details" and "data-status" in a}
    assert statuses["node-1.4"] == "failed" and statuses["node-1"] == "done"


def test_node_details_show_prompt_reply_output_error_tokens_and_cost(exported):
    _, _, page = exported
    for text in ("Name a colour", "blue", "Lisbon", "remember the milk", "ValueError: no luck today",
                 "10+2 tok", "$0.000014", "model call · round 0 · attempt 0 · gpt-4o-mini", "tool calls (3)",
                 "execution r0 a1"):
        assert text in page, text


def test_the_page_loads_nothing_from_outside(exported):
    _, _, page = exported
    for tag, attrs in Elements(page).tags:
        assert tag not in ("link", "img", "iframe", "object", "embed"), tag
        for name in ("src", "href", "action", "data"):
            assert not attrs.get(name), (tag, name, attrs.get(name))
    assert not re.search(r"""url\(\s*['"]?(https?:)?//""", page)
    assert "@import" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I)
    assert "default-src 'none'" in page  # and the page says so to the browser


def test_the_embedded_json_holds_the_run(exported):
    engine, run_id, page = exported
    data = embedded(page)
    assert data["run"]["id"] == run_id and len(data["nodes"]) == 6
    assert data == json.loads(json.dumps(run_data(engine.store, run_id) | {"exported_at": data["exported_at"]}))
    ask = next(n for n in data["nodes"] if n["id"] == "1.1")
    assert ask["calls"][0]["messages"] == [{"role": "user", "content": "Name a colour"}]
    assert ask["calls"][0]["reply"] == "blue"


def test_markup_in_outputs_goals_replies_and_errors_is_escaped(evil_page):
    run_id, page = evil_page
    assert EVIL_OUTPUT not in page and "alert(2)</script>" not in page and EVIL_REPLY not in page
    assert "<b>bad</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bad&lt;/b&gt;" in page
    tags = Elements(page).tags
    assert [t for t, _ in tags].count("script") == 2  # the JSON and the page's own code, nothing else
    assert not [t for t, a in tags if t == "img" or (t == "b" and a.get("class") != "id")]  # <b class=id> is the page's
    assert not any(name.startswith("on") for _, attrs in tags for name in attrs)
    data = embedded(page)  # the JSON still reads back to exactly what was recorded
    assert data["run"]["goal"] == EVIL_GOAL
    assert {n["id"]: n["output"] for n in data["nodes"]}["1.1"] == EVIL_OUTPUT
    assert EVIL_REPLY in {n["id"]: n["error"] for n in data["nodes"]}["1.2"]


def test_embedded_json_cannot_close_its_script_element():
    text = embed_json({"a": "</script><!-- \u2028 & >"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"a": "</script><!-- \u2028 & >"}


# --- the command line --------------------------------------------------------------------------------


def swarm(engine, *args: str) -> subprocess.CompletedProcess:
    """`swarm ARGS` in another process, on the engine's store (its SQLite file or its PostgreSQL database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(cli_store(engine), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "swarm.cli", *args], env=env, cwd=Path(env["SWARM_STORE"]).parent,
                          capture_output=True, text=True, timeout=60)


def test_swarm_export_writes_the_file(exported, tmp_path):
    engine, run_id, _ = exported
    target = tmp_path / "bug.html"
    done = swarm(engine, "export", run_id[:12], "--html", str(target))
    assert done.returncode == 0, done.stderr
    assert str(target) in done.stdout
    page = target.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'id="node-1.5"' in page


def test_swarm_export_of_an_unknown_run_is_an_error(exported, tmp_path):
    engine, _, _ = exported
    done = swarm(engine, "export", "no-such-run", "--html", str(tmp_path / "x.html"))
    assert done.returncode != 0 and done.stderr.startswith("swarm: error:")
    assert not (tmp_path / "x.html").exists()


def test_swarm_export_needs_html(exported):
    engine, run_id, _ = exported
    done = swarm(engine, "export", run_id)
    assert done.returncode == 2 and "--html" in done.stderr


def test_swarm_export_into_an_unwritable_place_says_so(exported, tmp_path):
    engine, run_id, _ = exported
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    done = swarm(engine, "export", run_id, "--html", str(blocker / "x.html"))
    assert done.returncode != 0 and done.stderr.startswith("swarm: error: cannot write")


def test_swarm_export_into_a_folder_that_does_not_exist_refuses_and_makes_no_folder(exported, tmp_path):
    engine, run_id, _ = exported
    missing = tmp_path / "no-such-dir"
    done = swarm(engine, "export", run_id, "--html", str(missing / "x.html"))
    assert done.returncode != 0
    assert done.stderr.startswith(f"swarm: error: the folder {missing} does not exist") and "create it first" in done.stderr
    assert not missing.exists()
