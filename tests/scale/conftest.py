"""One cluster for the whole folder: oidc-provider, a persistent redis-server, the notes
API, the token gate, the proxy and two ``mcpbuild serve`` replicas. Tests that stop or kill
a part leave it to the next test's set-up to start it again."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.provider_fixture import running_provider
from tests.scale.cluster import Cluster, running_cluster
from tests.state.redis_server import redis_available, redis_server


@pytest.fixture(scope="package")
def anyio_backend() -> str:
    # Package scope, so that one cluster serves every module of the folder.
    return "asyncio"


@pytest.fixture(scope="package")
async def cluster(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cluster]:
    if not redis_available():
        pytest.fail("redis-server is not installed: run `make system-deps` (as root) first")
    folder = tmp_path_factory.mktemp("scale")
    (folder / "redis").mkdir()
    with redis_server(folder / "redis", persistent=True) as redis:
        # Upstream tokens live an hour: a test that wants one expired says so in the store.
        async with (
            running_provider(auto_login="alice", access_token_ttl=3600) as provider,
            running_cluster(provider, redis, folder) as running,
        ):
            yield running


@pytest.fixture(autouse=True)
async def fresh(cluster: Cluster) -> Cluster:
    """Every part up, no pinned route, no hop recorded, the gate open."""
    await cluster.ready()
    cluster.proxy.reset()
    cluster.gate.reset()
    await cluster.provider.reset_stats()
    return cluster
