"""The limits on the authorization server: body caps, the registration rate per address,
the expiry and the cap of registered clients, and the bounded maps behind them.

HTTP tests run ``mcpbuild serve``'s app (or the OAuth routes alone, for a small client
cap) on 127.0.0.1; the second client address is 127.0.0.2, which Linux routes to loopback.
Nothing here needs the provider: registration and the refusals never reach it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from starlette.applications import Starlette

from builder.auth.limits import RateLimit, client_key
from builder.auth.setup import OAuth
from builder.connector import load_connector
from builder.connector.resolved import resolve_connector
from builder.provider.client import UpstreamTokens
from builder.provider.grants import GrantManager
from builder.server.serve import ServeOptions, open_connector
from builder.state.crypto import Cipher, generate_key
from builder.state.sqlite import UNUSED_CLIENT_SECONDS, SQLiteStore
from builder.state.store import ClientLimitReached
from tests.servers import bound_socket, running
from tests.state.redis_server import StoreFactory, make_store, redis_service, store_kind

__all__ = ["make_store", "redis_service", "store_kind"]  # fixtures: the client cap on both stores

pytestmark = pytest.mark.anyio

SPEC = Path(__file__).resolve().parents[1] / "assets" / "notes.yaml"
ENV = {
    "PROVIDER_AUTHORIZE_URL": "https://provider.example.com/authorize",
    "PROVIDER_TOKEN_URL": "https://provider.example.com/token",
    "NOTES_CLIENT_ID": "notes-client",
    "NOTES_CLIENT_SECRET": "notes-secret",
    "NOTES_URL": "https://notes.example.com",
}
LIMIT = 16 * 1024
TOO_LARGE = {
    "error": "invalid_request",
    "error_description": f"request body too large: limit {LIMIT} bytes",
}


def registration(**extra: Any) -> dict[str, Any]:
    return {
        "client_name": "limits test client",
        "redirect_uris": ["http://127.0.0.1:33418/callback"],
        "token_endpoint_auth_method": "none",
        **extra,
    }


@pytest.fixture
async def base(tmp_path: Path) -> AsyncIterator[str]:
    """``mcpbuild serve`` of tests/assets/notes.yaml with its default limits."""
    sock = bound_socket()
    options = ServeOptions(port=sock.getsockname()[1], store=f"sqlite:///{tmp_path / 's.db'}")
    served = open_connector(
        load_connector(str(SPEC)), options, {**ENV, "MCPBUILD_SECRET_KEY": generate_key()}
    )
    async with running(served.http_app(options), sock=sock) as url:
        yield url


async def test_register_body_over_the_cap_is_413(base: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(base + "/register", json=registration(client_name="x" * LIMIT))
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_chunked_register_body_over_the_cap_is_413(base: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"client_name": "'
        for _ in range(8):
            yield b"x" * 4096
        yield b'", "redirect_uris": ["http://127.0.0.1:33418/callback"]}'

    async with httpx.AsyncClient() as http:
        response = await http.post(base + "/register", content=chunks())
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_a_register_body_under_the_cap_still_registers(base: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            base + "/register", json=registration(client_name="x" * (LIMIT - 1024))
        )
    assert response.status_code == 201


@pytest.mark.parametrize("path", ["/token", "/revoke", "/consent"])
async def test_token_revoke_and_consent_bodies_are_capped(base: str, path: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(base + path, data={"token": "x" * LIMIT})
    assert response.status_code == 413
    assert response.json() == TOO_LARGE


async def test_a_flood_from_one_address_does_not_lock_out_another(base: str) -> None:
    other = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
    async with httpx.AsyncClient() as flood, httpx.AsyncClient(transport=other) as user:
        for _ in range(10):
            assert (await flood.post(base + "/register", json=registration())).status_code == 201
        refused = await flood.post(
            base + "/register", json=registration(), headers={"Origin": "https://app.example"}
        )
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"] == "temporarily_unavailable"
        assert "limit 10 per minute, bursts of 10" in refused.json()["error_description"]
        # Refused inside the SDK's CORS layer: a browser-based client can read the 429.
        assert refused.headers["access-control-allow-origin"] == "*"
        assert (await user.post(base + "/register", json=registration())).status_code == 201


async def test_registration_at_a_full_client_store_is_503(make_store: StoreFactory) -> None:
    store = make_store(max_clients=2)
    sock = bound_socket()
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    oauth = OAuth.create(
        resolve_connector(load_connector(str(SPEC)), ENV),
        public_url=public,
        store=store,
        cipher=Cipher(generate_key()),
    )
    app = Starlette(routes=oauth.routes())
    async with (
        running(app, sock=sock, ready_path="/.well-known/oauth-authorization-server") as base,
        httpx.AsyncClient() as http,
    ):
        for _ in range(2):
            response = await http.post(base + "/register", json=registration())
            assert response.status_code == 201
            await store.touch_client(response.json()["client_id"])
        full = await http.post(base + "/register", json=registration())
    assert full.status_code == 503
    assert full.json() == {
        "error": "temporarily_unavailable",
        "error_description": "cannot register another client: expected fewer than 2 "
        "registered clients, got 2, every one of them in use",
    }


async def test_unused_clients_expire_in_cleanup_and_used_ones_survive(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    await store.save_client("unused", {"client_id": "unused"})
    await store.save_client("used", {"client_id": "used"})
    await store.touch_client("used")
    await store.touch_client("unknown")  # a metadata-document client: not stored, ignored
    now = time.time()
    assert await store.cleanup(now + UNUSED_CLIENT_SECONDS - 60) == 0
    assert await store.cleanup(now + UNUSED_CLIENT_SECONDS + 60) == 1
    assert await store.get_client("unused") is None
    assert await store.get_client("used") == {"client_id": "used"}


async def test_at_the_cap_the_oldest_unused_client_makes_room(make_store: StoreFactory) -> None:
    store = make_store(max_clients=3)
    for name in ("first", "second", "third"):
        await store.save_client(name, {"client_id": name})
    await store.touch_client("first")
    await store.save_client("fourth", {"client_id": "fourth"})
    assert await store.get_client("second") is None
    for name in ("first", "third", "fourth"):
        assert await store.get_client(name) == {"client_id": name}


async def test_at_the_cap_with_every_client_used_registration_is_refused(
    make_store: StoreFactory,
) -> None:
    store = make_store(max_clients=2)
    for name in ("a", "b"):
        await store.save_client(name, {"client_id": name})
        await store.touch_client(name)
    with pytest.raises(ClientLimitReached, match="expected fewer than 2 registered clients"):
        await store.save_client("c", {"client_id": "c"})
    await store.save_client("a", {"client_id": "a", "client_name": "updated"})  # not new
    assert await store.get_client("c") is None


async def test_clients_from_before_usage_tracking_count_as_used(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE clients (id TEXT PRIMARY KEY, info TEXT NOT NULL, created REAL)")
    db.execute("INSERT INTO clients VALUES ('old', '{}', 0)")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert await store.cleanup(time.time()) == 0
    assert await store.get_client("old") == {}
    await store.close()


def test_rate_limit_refills_and_says_how_long_to_wait() -> None:
    now = [0.0]
    limit = RateLimit(per_minute=60, burst=2, clock=lambda: now[0])
    assert limit.take("a") == limit.take("a") == 0.0
    assert limit.take("a") == pytest.approx(1.0)
    now[0] = 1.0
    assert limit.take("a") == 0.0


def test_rate_limit_keeps_a_bounded_map_least_recently_seen_out_first() -> None:
    now = [0.0]
    limit = RateLimit(per_minute=1, burst=1, max_keys=100, clock=lambda: now[0])
    assert limit.take("flooder") == 0.0
    for i in range(1_000):
        limit.take(f"10.0.{i // 256}.{i % 256}")
        assert limit.take("flooder") > 0  # seen again each time: never the one evicted
    assert len(limit) == 100


def test_rate_limit_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="expected per_minute > 0"):
        RateLimit(per_minute=0)


@pytest.mark.parametrize(
    ("client", "key"),
    [
        (("203.0.113.7", 5000), "203.0.113.7"),
        (("2001:db8:1:2:aaaa::1", 5000), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:bbbb::2", 5000), "2001:db8:1:2::/64"),
        (("::ffff:203.0.113.7", 5000), "203.0.113.7"),
        (None, "unknown"),
    ],
)
def test_addresses_are_counted_by_host_and_ipv6_by_64(client: Any, key: str) -> None:
    assert client_key({"type": "http", "client": client}) == key


class _Upstream:
    """The provider's refresh, counted; held on ``gate`` until the test lets it go."""

    def __init__(self) -> None:
        self.calls = 0
        self.gate = anyio.Event()
        self.gate.set()

    async def refresh(self, refresh_token: str) -> UpstreamTokens:
        self.calls += 1
        await self.gate.wait()
        return UpstreamTokens("new-access", "new-refresh", time.time() + 3600, None)


async def _grants(tmp_path: Path, count: int) -> tuple[GrantManager, _Upstream, list[str]]:
    upstream = _Upstream()
    manager = GrantManager(SQLiteStore(tmp_path / "s.db"), Cipher(generate_key()), upstream)  # type: ignore[arg-type]
    ids = [f"grant-{i}" for i in range(count)]
    for grant_id in ids:
        expired = UpstreamTokens("old-access", "old-refresh", time.time() - 1, None)
        await manager.create(grant_id, "client", expired, ["notes.read"])
    return manager, upstream, ids


async def test_refresh_locks_do_not_outlive_the_refreshes(tmp_path: Path) -> None:
    manager, upstream, ids = await _grants(tmp_path, 300)
    async with anyio.create_task_group() as tg:
        for grant_id in ids:
            tg.start_soon(partial(manager.refresh, grant_id, seen_version=1))
    assert upstream.calls == 300
    assert manager._locks == {}


async def test_refresh_lock_still_serialises_one_grant(tmp_path: Path) -> None:
    manager, upstream, (grant_id,) = await _grants(tmp_path, 1)
    upstream.gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(manager.access_token, grant_id)
        await anyio.wait_all_tasks_blocked()
        assert list(manager._locks) == [grant_id]
        upstream.gate.set()
    assert upstream.calls == 1
    assert manager._locks == {}
