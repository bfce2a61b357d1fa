"""Traces: OpenTelemetry spans of runs, nodes, model calls, tool calls and sandbox executions.

One run is one trace. A span is made when what it describes has ended, from the times the
swarm recorded, so the lifecycle only reports endings and never waits on a span: a node's span
when the node terminates, the run's when the run ends. Span ids are derived from the run id and
the node id, so a child's span names its parent's span before the parent has ended, whatever
thread, process or resume made it. Model calls follow the GenAI semantic conventions
(`chat MODEL`, `gen_ai.*` attributes); prompts, replies and keys are never put in a span.

Off (the default) the engine holds `NO_TRACING`: every method returns at once and
OpenTelemetry is not even imported.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol
from urllib.parse import urlsplit

from swarm.metrics import error_type

if TYPE_CHECKING:
    from swarm.config import TelemetrySettings
    from swarm.node import TaskNode
    from swarm.sandbox import SandboxResult

log = logging.getLogger("swarm.tracing")

PROVIDER = "openai"  # every endpoint swarm talks to speaks the OpenAI-compatible API
GOAL_CHARS = 200


class Execution(Protocol):
    """What a span needs of one execution of a node (a `NodeContext` is one)."""

    run_id: str
    node_id: str

    @property
    def config(self) -> Any:
        """The swarm's settings (`swarm.config.Config`)."""


class NoTracing:
    """Tracing switched off: the hooks of the lifecycle, the context and the engine do nothing."""

    enabled = False

    def node_ended(self, node: TaskNode) -> None:
        """A node reached a final status (done, failed, cancelled)."""

    def run_ended(self, run: dict[str, Any]) -> None:
        """A run ended; `run` is its row of the runs table."""

    def model_call(self, ctx: Execution, row: dict[str, Any], started: float, model: Callable[[], Any]) -> None:
        """A model call finished (or failed); `row` is what llm_calls records of it, `model()` the provider asked."""

    def tool_call(self, ctx: Execution, tool: str, started: float, error: str | None) -> None:
        """A tool ran on the host for a node (directly, or for code in the sandbox)."""

    def sandbox_run(self, ctx: Execution, started: float, result: SandboxResult) -> None:
        """Code ran in the sandbox for a node (`ctx.run_python`)."""

    def shutdown(self) -> None:
        """Send what is still buffered and stop."""


NO_TRACING = NoTracing()


def from_settings(settings: TelemetrySettings) -> NoTracing:
    """The tracing the [telemetry] settings ask for: `NO_TRACING` unless enabled."""
    if not settings.enabled:
        return NO_TRACING
    try:
        import opentelemetry.sdk.trace  # noqa: F401 — an optional extra
    except ImportError:
        from swarm.errors import ConfigError

        raise ConfigError("[telemetry].enabled = true needs OpenTelemetry, an optional extra: "
                          "pip install 'swarm[otel]' (or set [telemetry].enabled = false)") from None
    return Tracing(settings)


def trace_id(run_id: str) -> int:
    """The trace id of a run: the same in every process that drives it."""
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:16], "big") or 1


def span_id(run_id: str, node_id: str | None = None) -> int:
    """The span id of a run (node_id None) or of one of its nodes."""
    return int.from_bytes(hashlib.sha256(f"{run_id}/{node_id or ''}".encode()).digest()[:8], "big") or 1


def _never_raises(hook):
    """A span that cannot be made is lost, never the node or the run that it describes."""

    @functools.wraps(hook)
    def guarded(self, *args, **kwargs):
        try:
            hook(self, *args, **kwargs)
        except Exception as exc:  # a tracing bug or an exporter failure must not change what the swarm does
            log.warning("tracing: %s failed (%s: %s); the span is dropped", hook.__name__, type(exc).__name__, exc)

    return guarded


class Tracing(NoTracing):
    """Spans through an OpenTelemetry SDK TracerProvider of its own (the global one is left alone).

    `exporter` (e.g. the SDK's InMemorySpanExporter) replaces the one the settings name and
    receives every span as soon as it ends.
    """

    enabled = True

    def __init__(self, settings: TelemetrySettings | None = None, exporter=None):
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        from swarm.config import TelemetrySettings

        settings = settings or TelemetrySettings(enabled=True, exporter="none")
        self.settings = settings
        self._ids = _FixedIds()
        self.provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}),
                                       id_generator=self._ids)
        if exporter is not None:
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        elif settings.exporter == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.endpoint)))
        elif settings.exporter == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            # stderr: stdout belongs to the command's own output (`--json`)
            self.provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        from swarm import __version__

        self.tracer = self.provider.get_tracer("swarm", __version__)

    # --- the hooks -------------------------------------------------------------------------

    @_never_raises
    def node_ended(self, node: TaskNode) -> None:
        attributes = {
            "swarm.run.id": node.run_id, "swarm.node.id": node.id, "swarm.node.script": node.script,
            "swarm.node.status": str(node.status), "swarm.node.depth": node.depth, "swarm.node.rounds": node.round + 1,
            "swarm.node.attempts": node.attempts, "swarm.node.children": len(node.children),
            "swarm.usage.input_tokens": node.prompt_tokens, "swarm.usage.output_tokens": node.completion_tokens,
            "swarm.cost_usd": node.cost_usd,
        }
        if node.policy:
            attributes["swarm.node.policy"] = node.policy
        if node.started_at:
            attributes["swarm.node.last_started_at"] = node.started_at
        error = node.error if str(node.status) == "failed" else None
        self._span(f"node {node.script}", node.run_id, node.parent or None, node.created_at,
                   node.finished_at or time.time(), attributes, error, own=node.id)

    @_never_raises
    def run_ended(self, run: dict[str, Any]) -> None:
        attributes = {
            "swarm.run.id": run["id"], "swarm.run.status": run["status"], "swarm.run.script": run["script"],
            "swarm.run.goal": str(run["goal"])[:GOAL_CHARS], "swarm.run.nodes": run.get("nodes") or 0,
            "swarm.usage.input_tokens": run.get("prompt_tokens") or 0,
            "swarm.usage.output_tokens": run.get("completion_tokens") or 0,
            "swarm.cost_usd": run.get("cost_usd") or 0.0, "swarm.run.active_s": run.get("active_s") or 0.0,
        }
        if run.get("stop_reason"):
            attributes["swarm.run.stop_reason"] = run["stop_reason"]
        error = (run.get("error") or "run failed") if run["status"] == "failed" else None
        self._span(f"run {run['script']}", run["id"], None, run["created_at"], run.get("finished_at") or time.time(),
                   attributes, error, own="", root=True)

    @_never_raises
    def model_call(self, ctx: Execution, row: dict[str, Any], started: float, model: Callable[[], Any]) -> None:
        settings = getattr(model(), "settings", None)
        request_model = getattr(settings, "model", None) or row.get("model") or "unknown"
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": PROVIDER, "gen_ai.system": PROVIDER,
            "gen_ai.request.model": request_model,
            "gen_ai.usage.input_tokens": row["prompt_tokens"], "gen_ai.usage.output_tokens": row["completion_tokens"],
            "swarm.run.id": ctx.run_id, "swarm.node.id": ctx.node_id, "swarm.llm.call_key": row["key"],
            "swarm.cost_usd": row["cost_usd"],
        }
        if row.get("model"):
            attributes["gen_ai.response.model"] = row["model"]
        if getattr(settings, "temperature", None) is not None:
            attributes["gen_ai.request.temperature"] = settings.temperature
        attributes.update(_server(getattr(settings, "base_url", None)))
        self._span(f"chat {request_model}", ctx.run_id, ctx.node_id, started, row["at"], attributes, row.get("error"),
                   kind="client")

    @_never_raises
    def tool_call(self, ctx: Execution, tool: str, started: float, error: str | None) -> None:
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool, "gen_ai.tool.type": "function",
                      "swarm.run.id": ctx.run_id, "swarm.node.id": ctx.node_id}
        self._span(f"execute_tool {tool}", ctx.run_id, ctx.node_id, started, time.time(), attributes, error)

    @_never_raises
    def sandbox_run(self, ctx: Execution, started: float, result: SandboxResult) -> None:
        attributes = {"swarm.sandbox.layer": ctx.config.sandbox.layer, "swarm.sandbox.ok": bool(result.ok),
                      "swarm.run.id": ctx.run_id, "swarm.node.id": ctx.node_id}
        if result.limit:
            attributes["swarm.sandbox.limit"] = result.limit
        self._span("sandbox run_python", ctx.run_id, ctx.node_id, started, time.time(), attributes,
                   None if result.ok else (result.error or "failed"))

    def shutdown(self) -> None:
        self.provider.shutdown()

    # --- making one span ----------------------------------------------------------------------

    def _span(self, name: str, run_id: str, parent: str | None, start: float, end: float, attributes: dict,
              error: str | None, own: str | None = None, root: bool = False, kind: str = "internal") -> None:
        """One finished span. `parent` is a node id (None: the run's span); `own` fixes this span's id
        to the one derived from (run_id, own); `root` makes it the trace's root."""
        from opentelemetry import trace
        from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, StatusCode, TraceFlags

        context = None
        if not root:
            parent_context = SpanContext(trace_id(run_id), span_id(run_id, parent), is_remote=False,
                                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
            context = trace.set_span_in_context(NonRecordingSpan(parent_context))
        if error:
            attributes["error.type"] = error_type(error)
        self._ids.fix(trace_id(run_id) if root else None, span_id(run_id, own) if own is not None else None)
        try:
            span = self.tracer.start_span(name, context=context, attributes=attributes, start_time=_ns(start),
                                          kind=SpanKind.CLIENT if kind == "client" else SpanKind.INTERNAL)
        finally:
            self._ids.fix(None, None)
        if error:
            span.set_status(StatusCode.ERROR, str(error)[:500])
        span.end(end_time=max(_ns(end), _ns(start)))


class _FixedIds:
    """The SDK's id generator, told per thread which ids the next span gets (random ones otherwise)."""

    def __init__(self):
        from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

        self._random = RandomIdGenerator()
        self._next = threading.local()

    def fix(self, trace: int | None, span: int | None) -> None:
        self._next.trace, self._next.span = trace, span

    def generate_trace_id(self) -> int:
        return getattr(self._next, "trace", None) or self._random.generate_trace_id()

    def generate_span_id(self) -> int:
        return getattr(self._next, "span", None) or self._random.generate_span_id()

    def is_trace_id_random(self) -> bool:
        return False


def _server(base_url: str | None) -> dict[str, Any]:
    """server.address/port of an endpoint URL; never its user or password."""
    if not base_url:
        return {}
    parts = urlsplit(base_url)
    out: dict[str, Any] = {}
    if parts.hostname:
        out["server.address"] = parts.hostname
    try:
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        port = None
    if port:
        out["server.port"] = port
    return out


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)
