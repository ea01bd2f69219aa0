"""OpenTelemetry spans of tool calls, with the SDK's in-memory exporter: one server span per
call continuing the client's ``_meta`` trace, the upstream request under it with its
``traceparent`` sent along, and no argument value anywhere in them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from builder.connector import load_connector
from builder.server import serve
from builder.server.serve import ServeOptions, open_connector
from builder.tools.tracing import Tracing
from tests.server.calls import GENERATIONS, call_tool
from tests.server.conftest import API_KEY, Stack
from tests.servers import running
from tests.upstream import Upstream, upstream_app

pytestmark = pytest.mark.anyio

SPEC = Path(__file__).resolve().parents[1] / "assets" / "upstream.yaml"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
SECRET_ARGUMENT = "arg-value-7e3a91"  # an argument value: in no span


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    yield spans
    spans.shutdown()


@pytest.fixture
async def traced(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Stack]:
    """``serve`` of the test connector as if OTEL_* variables had configured this provider."""
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(serve.Tracing, "from_env", classmethod(lambda cls, env: Tracing(provider)))
    state = Upstream()
    options = ServeOptions()
    async with running(upstream_app(state)) as upstream_url:
        served = open_connector(
            load_connector(str(SPEC)),
            options,
            {"UPSTREAM_URL": upstream_url, "TEST_API_KEY": API_KEY},
        )
        async with running(served.http_app(options)) as base:
            yield Stack(state, upstream_url, served, f"{base}/mcp")
    provider.shutdown()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


def all_values(spans: tuple[ReadableSpan, ...]) -> list[str]:
    return [str(v) for span in spans for v in (span.attributes or {}).values()] + [
        span.name for span in spans
    ]


@pytest.mark.parametrize("generation", GENERATIONS)
async def test_a_tool_call_continues_the_clients_trace(
    traced: Stack, exporter: InMemorySpanExporter, generation: str
) -> None:
    async with httpx.AsyncClient() as http:
        await call_tool(
            http,
            traced.url,
            "echo_path",
            {"value": SECRET_ARGUMENT},
            generation=generation,
            headers={"X-Request-Id": "req-1"},
            meta={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "tracestate": "vendor=1"},
        )
    spans = exporter.get_finished_spans()
    found = by_name(spans)
    call, upstream = found["tools/call echo_path"], found["GET /echo/{value}"]
    assert call.kind is SpanKind.SERVER
    assert upstream.kind is SpanKind.CLIENT
    assert call.context is not None
    assert upstream.context is not None
    assert f"{call.context.trace_id:032x}" == TRACE_ID
    assert call.parent is not None
    assert f"{call.parent.span_id:016x}" == PARENT_ID
    assert upstream.parent is not None
    assert upstream.parent.span_id == call.context.span_id
    assert dict(call.attributes or {}) == {
        "mcp.method.name": "tools/call",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "echo_path",
        "mcpbuild.request_id": "req-1",
        "mcpbuild.tool.outcome": "ok",
        "mcpbuild.upstream.status_code": 200,
    }
    assert (upstream.attributes or {})["http.response.status_code"] == 200
    # The upstream continues the trace from the upstream request's span.
    sent = traced.upstream.last.headers["traceparent"]
    assert sent == f"00-{TRACE_ID}-{upstream.context.span_id:016x}-01"
    assert SECRET_ARGUMENT in traced.upstream.last.raw_path  # it did go upstream...
    assert not [v for v in all_values(spans) if SECRET_ARGUMENT in v]  # ...and in no span


async def test_without_a_client_trace_a_call_starts_one(
    traced: Stack, exporter: InMemorySpanExporter
) -> None:
    async with httpx.AsyncClient() as http:
        await call_tool(http, traced.url, "get_status", {"code": 503})
    found = by_name(exporter.get_finished_spans())
    call = found["tools/call get_status"]
    assert call.parent is None
    assert call.status.status_code is StatusCode.ERROR
    assert (call.attributes or {})["mcpbuild.tool.outcome"] == "error"
    assert (call.attributes or {})["mcpbuild.upstream.status_code"] == 503
    retries = [s for s in exporter.get_finished_spans() if s.name == "GET /status/{code}"]
    assert len(retries) == 3  # one span per attempt, each a child of the call
    assert call.context is not None
    assert {s.parent.span_id for s in retries if s.parent is not None} == {call.context.span_id}


async def test_a_refused_call_is_a_span_without_the_name_it_asked_for(
    traced: Stack, exporter: InMemorySpanExporter
) -> None:
    async with httpx.AsyncClient() as http:
        await call_tool(http, traced.url, "no_such_tool", {"x": SECRET_ARGUMENT})
    [span] = exporter.get_finished_spans()
    assert span.name == "tools/call ?"
    assert (span.attributes or {})["mcpbuild.tool.outcome"] == "refused"
    assert not [v for v in all_values((span,)) if "no_such_tool" in v or SECRET_ARGUMENT in v]


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"OTEL_SERVICE_NAME": "x"},
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        {"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"},
    ],
)
def test_tracing_is_off_unless_the_environment_asks(env: dict[str, str]) -> None:
    assert Tracing.from_env(env) is None


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_TRACES_EXPORTER": "console"},
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9/v1/traces"},
    ],
)
def test_the_standard_variables_turn_it_on(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK reads the service name itself, from the process's environment.
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    tracing = Tracing.from_env(env)
    assert tracing is not None
    assert isinstance(tracing.provider, TracerProvider)
    assert tracing.provider.resource.attributes["service.name"] == "mcpbuild"
    tracing.provider.shutdown()


async def test_serve_without_otel_variables_pays_nothing(stack: Stack) -> None:
    assert stack.served.runner.tracing is None
