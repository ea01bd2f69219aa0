"""``mcpbuild_active_grants``: counted in the store at scrape time, remembered a few
seconds, absent while the store does not answer."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from builder.server.operations import Metrics

pytestmark = pytest.mark.anyio


async def scrape(metrics: Metrics) -> str:
    response = await metrics.endpoint(Request({"type": "http", "method": "GET", "headers": []}))
    return bytes(response.body).decode()


async def test_the_gauge_counts_in_the_store_and_remembers_briefly() -> None:
    metrics = Metrics()
    assert "mcpbuild_active_grants" not in await scrape(metrics)  # no store: no gauge
    counts = iter([3, 5])

    async def count() -> int:
        return next(counts)

    metrics.active_grants.count = count
    assert "mcpbuild_active_grants 3.0" in await scrape(metrics)
    assert "mcpbuild_active_grants 3.0" in await scrape(metrics)  # remembered, not asked
    metrics.active_grants.remember = 0.0
    assert "mcpbuild_active_grants 5.0" in await scrape(metrics)


async def test_the_gauge_is_absent_while_the_store_fails() -> None:
    metrics = Metrics()

    async def count() -> int:
        raise ConnectionError("store down")

    metrics.active_grants.count = count
    text = await scrape(metrics)
    assert "mcpbuild_active_grants" not in text
    assert "mcpbuild_tool_calls" in text  # the rest is still served
