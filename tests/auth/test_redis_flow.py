"""The whole sign-in and tool calls with ``--store redis://``: the official MCP SDK client,
oidc-provider upstream, the notes API, and two mcpbuild servers on one redis-server (two
replicas behind one public URL), so a token issued by one is honoured by the other."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from builder.auth.limits import AuthLimits
from builder.connector import load_connector
from builder.server.serve import ServeOptions, open_connector
from builder.state.crypto import generate_key
from tests.auth.stack import SPEC, notes_api, spec_env
from tests.oauth_client import OAuthUser, raw_tool_call
from tests.provider_fixture import RunningProvider
from tests.servers import bound_socket, running
from tests.state.redis_server import RedisServer, redis_service

__all__ = ["redis_service"]  # the fixture, imported for this module

pytestmark = pytest.mark.anyio


@contextlib.asynccontextmanager
async def serve(
    provider: RunningProvider, notes_url: str, store: str, key: str, public_url: str | None
) -> AsyncIterator[str]:
    """``mcpbuild serve`` of tests/assets/notes.yaml with ``--store`` ``store``."""
    sock = bound_socket()
    port = sock.getsockname()[1]
    await provider.allow_redirect_uris(
        [(public_url or f"http://127.0.0.1:{port}") + "/oauth/callback"]
    )
    options = ServeOptions(
        port=port,
        store=store,
        public_url=public_url,
        auth_limits=AuthLimits(register_burst=1000),
    )
    env = {**spec_env(provider, notes_url), "MCPBUILD_SECRET_KEY": key}
    served = open_connector(load_connector(str(SPEC)), options, env)
    # The app's shutdown closes the store: an unclosed Redis connection fails the test.
    async with running(served.http_app(options), sock=sock) as url:
        yield url


async def test_sign_in_and_tool_calls_on_redis_from_either_replica(
    provider: RunningProvider, redis_service: RedisServer
) -> None:
    store = redis_service.url(prefix="e2e")
    key = generate_key()
    async with (
        notes_api(provider) as (notes, notes_url),
        serve(provider, notes_url, store, key, None) as first,
    ):
        user = OAuthUser()
        async with user.client(first + "/mcp") as client:
            created = await client.call_tool("create_note", {"title": "On Redis"})
            listed = await client.call_tool("list_notes", {})
        assert not created.is_error, created.content
        assert '"title":"On Redis"' in listed.content[0].text  # type: ignore[union-attr]
        assert user.browser.consent_pages == 1
        assert user.storage.tokens is not None
        token = user.storage.tokens.access_token

        # A second process on the same Redis, behind the same public URL, has no state
        # of its own: the token issued by the first works there.
        async with (
            serve(provider, notes_url, store, key, first) as second,
            httpx.AsyncClient(timeout=30) as http,
        ):
            response = await raw_tool_call(http, second + "/mcp", token, "list_notes")
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert not result.get("isError"), result
        assert "On Redis" in result["content"][0]["text"]

    # What the store holds: our tokens by hash, the upstream ones encrypted, never in clear.
    raw = aioredis.Redis.from_url(redis_service.url(), decode_responses=True)
    try:
        keys = await raw.keys("e2e:*")
        kinds = {k.split(":")[1] for k in keys}
        assert {"client", "clients", "code", "token", "grant", "grant-tokens"} <= kinds
        dump = " ".join(
            [str(await raw.hgetall(k)) for k in keys if await raw.type(k) == "hash"]
            + [str(await raw.zrange(k, 0, -1)) for k in keys if await raw.type(k) == "zset"]
        )
        for upstream in set(notes.bearer_tokens()):
            assert upstream not in dump
        assert token not in dump
    finally:
        await raw.aclose()
