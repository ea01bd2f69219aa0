from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from builder.connector import load_connector
from builder.connector.models import Connector
from builder.connector.resolved import resolve_connector
from builder.tools.call import ToolRunner
from builder.tools.transport import AiohttpUpstream, UpstreamClient
from tests.servers import running
from tests.upstream import Upstream, upstream_app

ASSETS = Path(__file__).resolve().parents[1] / "assets"
API_KEY = "test-api-key-7f3a9c"


@dataclass
class Rig:
    upstream: Upstream
    url: str
    runner: ToolRunner
    sleeps: list[float]
    """The back-off waits the runner asked for (its sleep is replaced, so none happen)."""


@pytest.fixture
def connector() -> Connector:
    return load_connector(str(ASSETS / "upstream.yaml"))


@pytest.fixture
def make_client() -> Callable[[], UpstreamClient]:
    """The upstream client of tool calls (the real one, against a real local upstream)."""
    return AiohttpUpstream


@pytest.fixture
async def rig(
    connector: Connector, make_client: Callable[[], UpstreamClient]
) -> AsyncIterator[Rig]:
    state = Upstream()
    async with running(upstream_app(state)) as url:
        sleeps: list[float] = []

        async def no_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        runner = ToolRunner(
            resolve_connector(connector, {"UPSTREAM_URL": url, "TEST_API_KEY": API_KEY}),
            make_client(),
            sleep=no_sleep,
        )
        try:
            yield Rig(state, url, runner, sleeps)
        finally:
            await runner.client.aclose()
