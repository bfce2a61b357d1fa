"""Traces: OpenTelemetry spans of a real scripted run, caught by the SDK's in-memory exporter
(and once by a real OTLP/HTTP receiver on loopback)."""

from __future__ import annotations

import asyncio
import gzip
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from lifecycle_support import make_engine, run  # noqa: F401
from obs_support import backend_store, scenario_engine, scenario_run
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from swarm.config import load_config
from swarm.errors import ConfigError
from swarm.testing.pytest_plugin import backends
from swarm.tracing import NO_TRACING, Tracing, span_id, trace_id
from timeouts import scaled

REPO = Path(__file__).resolve().parent.parent
SECRET = "sk-test-0123456789-SECRET"

# Every test that runs an engine runs on SQLite and on PostgreSQL: those of the traced scenario through its
# fixture's parameters (one run per backend for the module), the others through store_url.
both_backends = pytest.mark.usefixtures("store_url")


@pytest.fixture(scope="module", params=backends())
def traced(tmp_path_factory, request):
    """The scenario run with tracing on, on each backend: (engine, run id, finished spans)."""
    exporter = InMemorySpanExporter()
    old = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = SECRET  # the model client sends it; no span may show it
    folder = tmp_path_factory.mktemp("traced")
    try:
        with backend_store(request, folder) as url, \
                scenario_run(folder, tracing=Tracing(exporter=exporter), store_url=url) as (engine, run_id):
            yield engine, run_id, exporter.get_finished_spans()
    finally:
        if old is None:
            os.environ.pop("OPENAI_API_KEY", None)
        else:
            os.environ["OPENAI_API_KEY"] = old


def by_name(spans, prefix: str) -> list:
    return [s for s in spans if s.name.startswith(prefix)]


def node_spans(spans) -> dict[str, object]:
    return {s.attributes["swarm.node.id"]: s for s in by_name(spans, "node ")}


def test_a_run_is_one_trace_under_one_run_span(traced):
    _, run_id, spans = traced
    assert {s.context.trace_id for s in spans} == {trace_id(run_id)}
    roots = [s for s in spans if s.parent is None]
    assert [r.name for r in roots] == ["run plan"]
    root = roots[0]
    assert root.context.span_id == span_id(run_id)
    assert root.attributes["swarm.run.id"] == run_id and root.attributes["swarm.run.status"] == "done"
    assert root.attributes["swarm.usage.input_tokens"] == 22 and root.attributes["swarm.run.nodes"] == 6


def test_every_node_has_a_span_under_its_parent_nodes_span(traced):
    engine, run_id, spans = traced
    nodes = node_spans(spans)
    assert sorted(nodes) == ["1", "1.1", "1.2", "1.3", "1.4", "1.5"]
    run_span = by_name(spans, "run ")[0]
    assert nodes["1"].parent.span_id == run_span.context.span_id
    for node_id, span in nodes.items():
        assert span.context.span_id == span_id(run_id, node_id)
        if node_id != "1":
            assert span.parent.span_id == nodes[node_id.rsplit(".", 1)[0]].context.span_id
    assert nodes["1.1"].name == "node ask" and nodes["1"].attributes["swarm.node.policy"] == "all"
    assert nodes["1"].attributes["swarm.node.rounds"] == 2


def test_child_spans_lie_within_their_parents(traced):
    _, _, spans = traced
    by_id = {s.context.span_id: s for s in spans}
    for span in spans:
        if span.parent is not None:
            parent = by_id[span.parent.span_id]
            assert parent.start_time <= span.start_time and span.end_time <= parent.end_time, (span.name, parent.name)


def test_a_failed_node_span_has_error_status_and_type(traced):
    nodes = node_spans(traced[2])
    failed = nodes["1.4"]
    assert failed.status.status_code == StatusCode.ERROR and "no luck today" in failed.status.description
    assert failed.attributes["error.type"] == "ValueError" and failed.attributes["swarm.node.attempts"] == 2
    assert nodes["1.1"].status.status_code == StatusCode.UNSET


def test_model_calls_are_chat_spans_with_genai_attributes(traced):
    _, run_id, spans = traced
    nodes = node_spans(spans)
    chats = sorted(by_name(spans, "chat "), key=lambda s: s.attributes["swarm.node.id"])
    assert [c.name for c in chats] == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    tokens = []
    for chat in chats:
        a = chat.attributes
        assert chat.kind == SpanKind.CLIENT
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
        assert a["gen_ai.request.model"] == "gpt-4o-mini" and a["gen_ai.response.model"] == "gpt-4o-mini"
        assert a["server.address"] == "127.0.0.1" and a["server.port"] > 0
        assert chat.parent.span_id == nodes[a["swarm.node.id"]].context.span_id
        tokens.append((a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]))
    assert tokens == [(10, 2), (12, 3)]


def test_a_sandbox_execution_is_a_span_under_its_node(traced):
    nodes = node_spans(traced[2])
    (sandbox,) = by_name(traced[2], "sandbox ")
    assert sandbox.parent.span_id == nodes["1.5"].context.span_id
    assert sandbox.attributes["swarm.sandbox.layer"] == "process" and sandbox.attributes["swarm.sandbox.ok"] is True


def test_tool_calls_are_execute_tool_spans(traced):
    nodes = node_spans(traced[2])
    tools = by_name(traced[2], "execute_tool ")
    assert sorted(t.attributes["gen_ai.tool.name"] for t in tools) == ["read_file", "read_file", "write_file"]
    assert all(t.parent.span_id == nodes["1.3"].context.span_id for t in tools)
    assert sum(t.status.status_code == StatusCode.ERROR for t in tools) == 1


def test_no_secret_reaches_a_span(traced):
    _, _, spans = traced
    for span in spans:
        seen = [span.name, *map(str, span.attributes.keys()), *map(str, span.attributes.values()),
                *map(str, span.resource.attributes.values()), span.status.description or ""]
        assert not any(SECRET in text for text in seen), span.name
        assert not any("messages" in key or "prompt" in key for key in span.attributes), span.name


def test_spans_of_a_resumed_node_name_the_same_parent_in_another_process():
    """Span ids depend only on the run and node ids: any process computes the same parent link."""
    code = "from swarm.tracing import span_id, trace_id; print(span_id('r1', '1.2'), trace_id('r1'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stdout.split()
    assert out == [str(span_id("r1", "1.2")), str(trace_id("r1"))]
    assert span_id("r1", "1.2") != span_id("r1", "1.3") != span_id("r2", "1.2")


# --- off by default ----------------------------------------------------------------------------------


@both_backends
def test_tracing_is_off_by_default_and_makes_no_spans(make_engine):
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # a global provider, should swarm ever use it by mistake
    engine = scenario_engine(make_engine)
    assert engine.tracing is NO_TRACING and not engine.tracing.enabled
    assert run(engine, "no traces", "plan")[1] == "done"
    assert exporter.get_finished_spans() == ()


def test_a_run_with_tracing_off_never_imports_opentelemetry(tmp_path, store_url):
    (tmp_path / "model.jsonl").write_text('{"reply": "hello", "repeat": true}\n')
    code = (
        "import asyncio, sys\n"
        "from swarm import NodeScript, hookimpl\n"
        "from swarm.catalogue import Catalogue\n"
        "from swarm.config import load_config\n"
        "from swarm.engine import Engine\n"
        "class Plugin:\n"
        "    @hookimpl\n"
        "    def swarm_node_scripts(self):\n"
        "        return [NodeScript(name='ask', description='ask', execute=lambda ctx: ctx.llm('hi').text)]\n"
        "catalogue = Catalogue(entry_points=False)\n"
        "catalogue.register(Plugin())\n"
        "engine = Engine(load_config(), catalogue=catalogue)\n"
        "run_id, status = asyncio.run(engine.run('say hello', script='ask'))\n"
        "engine.close()\n"
        "print(status, any(m.startswith('opentelemetry') for m in sys.modules))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWARM_", "OPENAI_"))}
    env.update(PYTHONPATH=str(REPO), SWARM_STORE=str(tmp_path / "swarm.db"), SWARM_STORE_URL=store_url, SWARM_MODEL=f"scripted:{tmp_path / 'model.jsonl'}")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip().splitlines()[-1:] == ["done False"], done.stderr[-2000:]


class BrokenExporter(InMemorySpanExporter):
    def export(self, spans):
        raise RuntimeError("the collector is on fire")


@both_backends
def test_a_failing_exporter_or_span_changes_nothing_in_the_run(make_engine, caplog):
    plain, exporting, making = (scenario_engine(make_engine) for _ in range(3))
    exporting.tracing = Tracing(exporter=BrokenExporter())
    making.tracing = Tracing(exporter=InMemorySpanExporter())
    making.tracing.tracer = None  # every span fails while it is being made
    outcomes = []
    for engine in (plain, exporting, making):
        run_id, status = run(engine, "same either way", "plan")
        outcomes.append((status, {n["id"]: (n["status"], n["output"]) for n in engine.store.node_states(run_id)},
                         [e["kind"] for e in engine.store.events(run_id)]))
    assert outcomes[0][0] == "done" and outcomes[0][:2] == outcomes[1][:2] == outcomes[2][:2]
    assert sorted(outcomes[0][2]) == sorted(outcomes[1][2]) == sorted(outcomes[2][2])
    assert "the span is dropped" in caplog.text


# --- switched on in swarm.toml ---------------------------------------------------------------------


def test_telemetry_settings_switch_tracing_on(make_engine):
    engine = make_engine(settings={"SWARM_TELEMETRY_ENABLED": "true", "SWARM_TELEMETRY_EXPORTER": "none"})
    assert isinstance(engine.tracing, Tracing) and engine.tracing.enabled


def test_an_unknown_exporter_is_refused():
    with pytest.raises(ConfigError, match=r"\[telemetry\]\.exporter"):
        load_config(env={"SWARM_TELEMETRY_EXPORTER": "jaeger"})


class OTLPReceiver(http.server.BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP collector: keeps what is POSTed to /v1/traces."""

    bodies: list[tuple[str, bytes]] = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        self.bodies.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@both_backends
def test_the_otlp_exporter_sends_the_runs_spans_to_a_collector(make_engine):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    OTLPReceiver.bodies = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OTLPReceiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        engine = scenario_engine(make_engine, SWARM_TELEMETRY_ENABLED="true", SWARM_TELEMETRY_EXPORTER="otlp",
                                 SWARM_TELEMETRY_ENDPOINT=endpoint, SWARM_TELEMETRY_SERVICE_NAME="swarm-test")
        run_id, status = asyncio.run(engine.run("export me", script="plan"))
        assert status == "done"
        engine.tracing.shutdown()  # what Engine.close does: the batch goes out before the process ends
    finally:
        server.shutdown()
        server.server_close()
    names, services = [], set()
    for path, body in OTLPReceiver.bodies:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            services |= {a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"}
            names += [s.name for scope in resource_spans.scope_spans for s in scope.spans]
    assert services == {"swarm-test"}
    assert "run plan" in names and names.count("chat gpt-4o-mini") == 2 and "sandbox run_python" in names
    assert len([n for n in names if n.startswith("node ")]) == 6


def test_tracing_on_without_the_optional_extra_says_how_to_install_it(tmp_path):
    # OpenTelemetry is the `otel` extra: a process without it gets one clear message, not an ImportError.
    probe = ("import sys; sys.modules['opentelemetry'] = None; sys.modules['opentelemetry.sdk'] = None\n"
             "from swarm.config import TelemetrySettings\nfrom swarm.tracing import from_settings\n"
             "from swarm.errors import ConfigError\n"
             "try:\n    from_settings(TelemetrySettings(enabled=True))\nexcept ConfigError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=scaled(60))
    assert done.returncode == 0, done.stderr
    assert "pip install 'swarm[otel]'" in done.stdout
