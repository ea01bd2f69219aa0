"""OpenTelemetry spans of tool calls: on when the ``opentelemetry-sdk`` is installed
(``pip install 'mcpbuild[otel]'``) and its standard variables ask for traces, else absent.

The decision is taken once, at start-up (:meth:`Tracing.from_env`); with tracing off the
server holds ``None`` and a call pays one ``is None`` test. When on, each ``tools/call``
is a server span ``tools/call TOOL`` that continues the W3C trace context the client sent
in the request's ``_meta`` (``traceparent``, ``tracestate``), and each upstream request a
client span under it whose context goes upstream in ``traceparent``. Spans carry the tool
name, the outcome, the upstream status and the request id: never argument values (not
even in a URL, hence ``url.template``), tokens or bodies.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from builder import __version__
from builder.tools.request_id import REQUEST_ID

__all__ = ["Tracing", "UpstreamSpan"]

logger = logging.getLogger("mcpbuild.tracing")

_W3C = TraceContextTextMapPropagator()
_CARRIED = ("traceparent", "tracestate")
_OUTCOME = "mcpbuild.tool.outcome"
_UPSTREAM_STATUS = "mcpbuild.upstream.status_code"


@dataclass(slots=True)
class UpstreamSpan:
    """The span of one upstream request: the headers that carry it, and its answer."""

    span: trace.Span
    headers: dict[str, str] = field(default_factory=dict)

    def answered(self, status: int) -> None:
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            self.span.set_status(StatusCode.ERROR)
            self.span.set_attribute("error.type", str(status))


class Tracing:
    """Makes the spans of tool calls with ``provider`` (an SDK ``TracerProvider``)."""

    def __init__(self, provider: trace.TracerProvider) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("mcpbuild", __version__)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Tracing | None:
        """A tracer when the standard variables ask for traces: ``OTEL_TRACES_EXPORTER``
        (``otlp``, ``console``; ``none`` is off) or an ``OTEL_EXPORTER_OTLP_(TRACES_)
        ENDPOINT``; ``OTEL_SDK_DISABLED=true`` turns it off. The SDK reads the rest itself
        (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``,
        the exporter's endpoint, headers and timeout). ``otlp`` is OTLP over HTTP unless
        ``OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL`` is ``grpc``."""
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        names = [n.strip() for n in env.get("OTEL_TRACES_EXPORTER", "").split(",") if n.strip()]
        if not names:
            endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
                "OTEL_EXPORTER_OTLP_ENDPOINT"
            )
            names = ["otlp"] if endpoint else []
        names = [n for n in names if n != "none"]
        if not names:
            return None
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError:
            logger.warning(
                "OTEL_* variables ask for traces but opentelemetry-sdk is not installed "
                "(pip install 'mcpbuild[otel]'); tracing is off"
            )
            return None
        resource = Resource.create()
        if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
            resource = resource.merge(Resource({"service.name": "mcpbuild"}))
        provider = TracerProvider(resource=resource)
        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
        )
        exporting = False
        for name in names:
            if name == "otlp":
                name = "otlp_proto_grpc" if protocol == "grpc" else "otlp_proto_http"
            found = entry_points(group="opentelemetry_traces_exporter", name=name)
            if not found:
                logger.warning(
                    "OTEL_TRACES_EXPORTER: no installed exporter is called '%s' "
                    "(pip install 'mcpbuild[otel]' brings otlp over HTTP and console)",
                    name,
                )
                continue
            exporter = next(iter(found)).load()()
            provider.add_span_processor(BatchSpanProcessor(exporter))
            exporting = True
        if not exporting:
            return None
        logger.info("tracing on", extra={"exporters": ",".join(names)})
        return cls(provider)

    @contextlib.contextmanager
    def tool_call(self, tool: str, meta: Mapping[str, Any] | None) -> Iterator[trace.Span]:
        """The span of one ``tools/call`` (``tool``: a name the server has, or ``?``), a
        child of the trace in ``meta`` when the client sent one."""
        carrier = {k: v for k in _CARRIED if isinstance(v := (meta or {}).get(k), str)}
        parent = _W3C.extract(carrier) if carrier else None
        attributes = {
            "mcp.method.name": "tools/call",
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": tool,
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            attributes["mcpbuild.request_id"] = request_id
        with self._tracer.start_as_current_span(
            f"tools/call {tool}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            record_exception=False,  # an exception's message may quote an argument
            set_status_on_exception=False,
        ) as span:
            yield span
            if _OUTCOME not in (getattr(span, "attributes", None) or {}):
                # The handler refused it before the runner ran (unknown tool, missing scope).
                span.set_attribute(_OUTCOME, "refused")
                span.set_status(StatusCode.ERROR)

    def finished(self, outcome: str, status: int | None) -> None:
        """Record a call's outcome and last upstream status on the current tool span."""
        span = trace.get_current_span()
        span.set_attribute(_OUTCOME, outcome)
        if status is not None:
            span.set_attribute(_UPSTREAM_STATUS, status)
        if outcome != "ok":
            span.set_status(StatusCode.ERROR)
            span.set_attribute("error.type", "tool_error")

    @contextlib.contextmanager
    def upstream(self, method: str, netloc: str, template: str) -> Iterator[UpstreamSpan]:
        """The client span of one upstream request to ``netloc`` (host and port) for the
        tool's path ``template``, and its ``traceparent`` to send along."""
        where = urlsplit(f"//{netloc}")
        attributes: dict[str, str | int] = {
            "http.request.method": method,
            "server.address": where.hostname or netloc,
            "url.template": template,
        }
        if where.port is not None:
            attributes["server.port"] = where.port
        with self._tracer.start_as_current_span(
            f"{method} {template}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            out = UpstreamSpan(span)
            _W3C.inject(out.headers)
            try:
                yield out
            except BaseException as exc:  # the type only: a message may quote the URL
                span.set_status(StatusCode.ERROR)
                span.set_attribute("error.type", type(exc).__name__)
                raise
