"""/readyz of a connector with a provider: the store and the provider's token endpoint."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from builder.connector import load_connector
from builder.server.serve import ServeOptions, open_connector
from builder.state.crypto import generate_key
from tests.auth.stack import SPEC, Stack
from tests.oauth_client import RawClient
from tests.servers import running

pytestmark = pytest.mark.anyio


async def test_ready_when_the_store_and_the_provider_answer(stack: Stack) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(stack.base + "/readyz")
    assert response.status_code == 200
    assert response.json() == {"ready": True, "checks": {"store": "ok", "provider": "ok"}}


async def test_not_ready_while_the_provider_or_the_store_does_not_answer(tmp_path: Path) -> None:
    env = {
        "PROVIDER_AUTHORIZE_URL": "http://127.0.0.1:9/authorize",
        "PROVIDER_TOKEN_URL": "http://127.0.0.1:9/token",  # nothing listens on port 9
        "NOTES_CLIENT_ID": "client",
        "NOTES_CLIENT_SECRET": "secret-value",
        "NOTES_URL": "http://127.0.0.1:9",
        "MCPBUILD_SECRET_KEY": generate_key(),
    }
    options = ServeOptions(store=f"sqlite:///{tmp_path / 's.db'}", metrics=True)
    served = open_connector(load_connector(str(SPEC)), options, env)
    async with running(served.http_app(options)) as base, httpx.AsyncClient() as http:
        unreachable = await http.get(base + "/readyz")
        assert (await RawClient(base, http).register()).status_code == 201
        metrics = (await http.get(base + "/metrics")).text
        assert served.oauth is not None
        await served.oauth.server.store.close()
        closed = await http.get(base + "/readyz")
    assert unreachable.status_code == 503
    assert unreachable.json() == {
        "ready": False,
        "checks": {"store": "ok", "provider": "failed (ConnectError)"},
    }
    assert closed.json()["checks"]["store"].startswith("failed (")
    assert "mcpbuild_client_registrations_total 1.0" in metrics
