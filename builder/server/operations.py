"""What operators watch: readiness (``/readyz``) and Prometheus metrics (``/metrics``).

``/healthz`` says the process is up; ``/readyz`` says it can serve a sign-in and a tool
call: the store answers, and the provider's token endpoint answers at all (any HTTP
status counts: reachable is the question, not whether it likes an empty request). The
provider's answer is remembered for a few seconds, so probes do not become load on it.

Metrics are off unless ``serve --metrics``: tool names and call counts are not for the
public. They live in this app's own registry (several apps in one process, as in tests,
do not mix), and count what an operator needs to see a problem coming: tool calls by tool
and outcome with their latency, upstream HTTP statuses, upstream token refreshes by
result, and client registrations; and the active grants, counted in the store when
``/metrics`` is scraped (remembered a few seconds).

With ``serve --workers N`` each process counts its own calls into files in
``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode, set by
:mod:`builder.server.workers` before the workers start), and whichever process answers
``/metrics`` sums them all. The active grants come from the shared store, so any process
gives the same count: it is computed by the one answering, never summed.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterator

import anyio
import httpx
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

__all__ = ["MULTIPROCESS_DIR_VARIABLE", "Check", "Metrics", "Readiness", "reachable"]

logger = logging.getLogger("mcpbuild.metrics")

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The counters of one served connector, and the ``/metrics`` endpoint."""

    def __init__(self) -> None:
        self.multiprocess_dir = os.environ.get(MULTIPROCESS_DIR_VARIABLE) or None
        """Set (by ``serve --workers``): the counters of every worker are read from here."""
        self.active_grants = _ActiveGrants()
        """Set its ``count`` (the store's ``count_active_grants``) to export the gauge."""
        self.registry = CollectorRegistry(auto_describe=True)
        self.tool_calls = Counter(
            "mcpbuild_tool_calls",
            "Tool calls, by tool and outcome (ok or error).",
            ["tool", "outcome"],
            registry=self.registry,
        )
        self.tool_seconds = Histogram(
            "mcpbuild_tool_call_seconds",
            "Time from a tool call's arguments to its result, upstream included.",
            ["tool"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.upstream_statuses = Counter(
            "mcpbuild_upstream_responses",
            "The API's final answers to tool calls, by HTTP status.",
            ["status"],
            registry=self.registry,
        )
        self.refreshes = Counter(
            "mcpbuild_upstream_refreshes",
            "Refreshes of users' upstream tokens, by result (ok, failed, ended).",
            ["result"],
            registry=self.registry,
        )
        self.registrations = Counter(
            "mcpbuild_client_registrations",
            "MCP clients registered (dynamic client registration).",
            registry=self.registry,
        )
        self.registry.register(self.active_grants)

    def tool_call(self, tool: str, outcome: str, status: int | None, seconds: float) -> None:
        """One tool call ended (see ``ToolRunner(on_call=...)``)."""
        self.tool_calls.labels(tool, outcome).inc()
        self.tool_seconds.labels(tool).observe(seconds)
        if status is not None:
            self.upstream_statuses.labels(str(status)).inc()

    def refresh(self, result: str) -> None:
        self.refreshes.labels(result).inc()

    def registration(self) -> None:
        self.registrations.inc()

    async def endpoint(self, _: Request) -> Response:
        await self.active_grants.update()
        registry = self.registry
        if self.multiprocess_dir is not None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]
            registry.register(self.active_grants)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


class _ActiveGrants(Collector):
    """``mcpbuild_active_grants``: ``count()`` at scrape time, remembered ``remember``
    seconds so that scrapes do not become load on the store; absent when the store does
    not answer (an absent series is what alerts look for, a stale number would hide it)."""

    def __init__(self, *, remember: float = 5.0, timeout: float = 2.0) -> None:
        self.count: Callable[[], Awaitable[int]] | None = None
        self.remember = remember
        self.timeout = timeout
        self.value: int | None = None
        self._at = -remember

    async def update(self) -> None:
        if self.count is None or time.monotonic() - self._at < self.remember:
            return
        try:
            with anyio.fail_after(self.timeout):
                self.value = await self.count()
            self._at = time.monotonic()
        except Exception as exc:  # the store is down: /readyz says so; here, no value
            self.value = None
            logger.warning("active grants not counted", extra={"error": type(exc).__name__})

    def collect(self) -> Iterator[Metric]:
        if self.value is not None:
            yield GaugeMetricFamily(
                "mcpbuild_active_grants",
                "Grants (users signed in through a client) not ended, counted in the store.",
                value=self.value,
            )


Check = Callable[[], Awaitable[None]]


class Readiness:
    """``/readyz``: each check must finish without raising within ``timeout`` seconds."""

    def __init__(self, checks: dict[str, Check], *, timeout: float = 3.0) -> None:
        self.checks = checks
        self.timeout = timeout

    async def endpoint(self, _: Request) -> Response:
        results: dict[str, str] = {}
        for name, check in self.checks.items():
            try:
                with anyio.fail_after(self.timeout):
                    await check()
                results[name] = "ok"
            except TimeoutError:
                results[name] = f"no answer within {self.timeout:g} s"
            except Exception as exc:  # any failure means not ready: say which
                results[name] = f"failed ({type(exc).__name__})"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"ready": ready, "checks": results},
            status_code=200 if ready else 503,
            headers={"Cache-Control": "no-store"},
        )


def reachable(url: str, *, remember: float = 10.0) -> Check:
    """A check that ``url`` answers HTTP at all, its success remembered ``remember`` s."""
    last_ok = 0.0

    async def check() -> None:
        nonlocal last_ok
        if time.monotonic() - last_ok < remember:
            return
        async with httpx.AsyncClient(timeout=2.0, follow_redirects=False) as http:
            await http.head(url)  # any status: the endpoint is there
        last_ok = time.monotonic()

    return check
