"""What only the Redis store must show: several processes on one Redis (one winner per
code and refresh token, a revocation seen at once), keys that expire with their objects,
a restart that loses nothing, and prefixes that keep connectors apart."""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis

from builder.errors import ConfigError
from builder.state import open_store
from builder.state.crypto import token_hash
from builder.state.redis import RedisStore
from builder.state.store import CodeRecord, Grant, Pending, TokenRecord
from tests.servers import bound_socket
from tests.state.redis_server import RedisServer, redis_server

pytestmark = pytest.mark.anyio

WINDOW = 30.0


@pytest.fixture
async def raw(redis_service: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_service.url(), decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
async def two(
    redis_service: RedisServer, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    """Two stores on one Redis and prefix, as two processes of one connector have."""
    url = redis_service.url(prefix=f"two-{request.node.name[:40]}")
    a, b = RedisStore.connect(url), RedisStore.connect(url)
    yield a, b
    await a.close()
    await b.close()


def code(name: str = "code", ttl: float = 60) -> CodeRecord:
    return CodeRecord(
        code_hash=token_hash(name),
        client_id="c",
        grant_id="g1",
        scopes=["a"],
        resource=None,
        redirect_uri="http://127.0.0.1/cb",
        redirect_uri_explicit=True,
        code_challenge="x",
        expires_at=time.time() + ttl,
    )


def tokens(prefix: str, grant_id: str = "g1", ttl: float | None = 60) -> list[TokenRecord]:
    expires = time.time() + ttl if ttl is not None else None
    return [
        TokenRecord(token_hash(f"{prefix}-{kind}"), kind, "c", grant_id, ["a"], None, expires)  # type: ignore[arg-type]
        for kind in ("access", "refresh")
    ]


async def test_two_processes_redeem_one_code_once(two: tuple[RedisStore, RedisStore]) -> None:
    await two[0].save_code(code())
    now = time.time()
    outcomes: list[str] = []

    async def redeem(n: int) -> None:
        result = await two[n % 2].redeem_code(
            token_hash("code"), issued=tokens(f"t{n}"), answer=f"A{n}", window=WINDOW, now=now
        )
        outcomes.append(f"{result.outcome}:{result.answer}")

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(redeem, n)
    winners = [n for n in range(20) if await two[1].get_token(token_hash(f"t{n}-refresh"))]
    assert len(winners) == 1
    assert sorted(outcomes) == sorted(["first:None"] + [f"again:A{winners[0]}"] * 19)


async def test_two_processes_rotate_one_refresh_token_once(
    two: tuple[RedisStore, RedisStore],
) -> None:
    await two[0].save_grant(Grant("g1", "c", ["a"], "enc-a", "enc-r", None))
    for record in tokens("r0"):
        await two[0].save_token(record)
    now = time.time()
    outcomes: list[str] = []

    async def rotate(n: int) -> None:
        result = await two[n % 2].rotate_refresh(
            token_hash("r0-refresh"), issued=tokens(f"n{n}"), answer=f"A{n}", window=WINDOW, now=now
        )
        outcomes.append(f"{result.outcome}:{result.answer}")

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(rotate, n)
    winners = [n for n in range(20) if await two[0].get_token(token_hash(f"n{n}-refresh"))]
    assert len(winners) == 1
    assert sorted(outcomes) == sorted(["first:None"] + [f"again:A{winners[0]}"] * 19)
    # The winner's successor is live in both processes; its rotation ends the window.
    await two[1].rotate_refresh(
        token_hash(f"n{winners[0]}-refresh"), issued=[], answer="", window=WINDOW, now=now + 1
    )
    late = await two[0].rotate_refresh(
        token_hash("r0-refresh"), issued=[], answer="", window=WINDOW, now=now + 2
    )
    assert late.outcome == "reused"


async def test_a_revocation_in_one_process_is_seen_by_the_other_at_once(
    two: tuple[RedisStore, RedisStore],
) -> None:
    await two[0].save_grant(Grant("g1", "c", ["a"], "enc-a", "enc-r", None))
    access, _ = tokens("t")
    await two[0].save_token(access)
    seen = await two[1].get_token(access.token_hash)  # read, so a cache would hold it
    assert seen is not None
    assert not seen.revoked
    assert (await two[1].get_grant("g1")) is not None
    await two[0].end_grant("g1")
    after = await two[1].get_token(access.token_hash)
    assert after is not None
    assert after.revoked
    grant = await two[1].get_grant("g1")
    assert grant is not None
    assert not grant.active


async def test_keys_expire_with_their_objects(
    redis_service: RedisServer, raw: aioredis.Redis
) -> None:
    store = RedisStore.connect(redis_service.url(prefix="ttl"))
    now = time.time()
    await store.save_client("c", {"client_id": "c"})
    await store.save_code(code(ttl=60))
    sign_in = Pending("p1", "c", "http://127.0.0.1/", True, "x", None, ["a"], None, now + 600, "f")
    sign_in.upstream_state = "st1"
    await store.save_pending(sign_in)
    await store.save_grant(Grant("g1", "c", ["a"], "enc-a", "enc-r", now + 3600))
    access, refresh = tokens("t", ttl=300)
    refresh.expires_at = now + 7200
    await store.save_token(access)
    await store.save_token(refresh)
    forever = tokens("forever", grant_id="g2", ttl=None)[0]
    await store.save_token(forever)

    async def expires(key: str) -> int:
        return int(await raw.execute_command("PEXPIRETIME", "ttl:" + key))

    saved = await store.get_code(token_hash("code"))
    assert saved is not None
    used_code_memory = 3600_000
    assert await expires(f"code:{saved.code_hash}") == (
        math.ceil(saved.expires_at * 1000) + used_code_memory
    )
    assert await expires("pending:p1") == math.ceil((now + 600) * 1000)
    assert await expires("pending-state:st1") == math.ceil((now + 600) * 1000)
    assert await expires(f"token:{access.token_hash}") == math.ceil(access.expires_at * 1000)  # type: ignore[operator]
    assert await expires(f"token:{refresh.token_hash}") == math.ceil((now + 7200) * 1000)
    assert await expires("grant-tokens:g1") == math.ceil((now + 7200) * 1000)  # the last one
    assert await expires(f"token:{forever.token_hash}") == -1
    assert await expires("grant-tokens:g2") == -1
    assert await expires("grant:g1") == -1  # active: no expiry
    assert await expires("client:c") == -1  # never-used clients go in cleanup
    # An ended grant is kept an hour past its last token, then goes.
    await store.end_grant("g1")
    assert await expires("grant:g1") == pytest.approx((now + 7200 + 3600) * 1000, abs=2000)
    # And a key really goes when its object expires.
    short = tokens("short", ttl=0.2)[0]
    await store.save_token(short)
    with anyio.fail_after(5):
        while await store.get_token(short.token_hash) is not None:
            await anyio.sleep(0.02)
    await store.close()


async def test_expired_members_of_a_grants_token_set_are_forgotten(
    redis_service: RedisServer, raw: aioredis.Redis
) -> None:
    store = RedisStore.connect(redis_service.url(prefix="prune"))
    for record in tokens("old", ttl=-10):  # already expired: never live
        await store.save_token(record)
    assert await store.get_token(token_hash("old-access")) is None
    for record in tokens("new"):
        await store.save_token(record)
    members = await raw.zrange("prune:grant-tokens:g1", 0, -1)
    assert sorted(members) == sorted(token_hash(f"new-{k}") for k in ("access", "refresh"))
    await store.close()


async def test_a_restarted_redis_loses_no_grant(tmp_path: Path) -> None:
    with redis_server(tmp_path, persistent=True) as server:
        store = RedisStore.connect(server.url())
        grant = Grant("g1", "c", ["a"], "enc-a", "enc-r", None, 1.5, extra={"user": "u"})
        await store.save_grant(grant)
        assert await store.replace_grant_tokens(
            "g1", expected_version=1, access_token="enc-a2", refresh_token=None, expires_at=9.0
        )
        await store.save_client("c", {"client_id": "c"})
        await store.touch_client("c")
        for record in tokens("t"):
            await store.save_token(record)
        await store.close()
        server.restart()
        reopened = RedisStore.connect(server.url())
        after = await reopened.get_grant("g1")
        assert after is not None
        assert (after.access_token, after.refresh_token, after.version) == ("enc-a2", None, 2)
        assert after.extra == {"user": "u"}
        assert await reopened.client_used("c")
        assert await reopened.get_token(token_hash("t-refresh")) is not None
        await reopened.close()


async def test_a_prefix_keeps_two_connectors_apart(
    redis_service: RedisServer, raw: aioredis.Redis
) -> None:
    notes = open_store(redis_service.url(prefix="notes"))
    mail = open_store(redis_service.url(prefix="mail"))
    await notes.save_grant(Grant("g1", "c", ["a"], "notes-token", None, None))
    await mail.save_grant(Grant("g1", "c", ["a"], "mail-token", None, None))
    await notes.save_client("c", {"client_id": "c"})
    await notes.end_grant("g1")
    mine = await mail.get_grant("g1")
    assert mine is not None
    assert (mine.active, mine.access_token) == (True, "mail-token")
    assert await mail.get_client("c") is None
    assert await mail.cleanup(time.time() + 10 * 86400) == 0
    assert await notes.cleanup(time.time() + 10 * 86400) == 1
    assert all(key.startswith("mail:") for key in await raw.keys("*mail*"))
    assert await raw.exists("mcpbuild:grant:g1") == 0  # the default prefix is another one
    await notes.close()
    await mail.close()


async def test_the_default_prefix_and_other_url_options(redis_service: RedisServer) -> None:
    store = open_store(redis_service.url(db=1) + "?socket_timeout=3")
    assert isinstance(store, RedisStore)
    assert store.prefix == "mcpbuild"
    await store.save_client("c", {})
    assert await store.get_client("c") == {}
    await store.close()


def test_an_unreachable_redis_is_a_clear_error_at_start() -> None:
    sock = bound_socket()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    for scheme in ("redis", "rediss"):
        with pytest.raises(ConfigError, match=rf"--store: cannot reach Redis at {scheme}://127"):
            open_store(f"{scheme}://:hunter2@127.0.0.1:{port}/0")
    with pytest.raises(ConfigError) as info:
        open_store(f"redis://:hunter2@127.0.0.1:{port}/0")
    assert "hunter2" not in str(info.value)


def test_store_urls_that_are_not_understood() -> None:
    with pytest.raises(ConfigError, match="expected a prefix of letters"):
        RedisStore("redis://127.0.0.1:1/0", prefix="has space")
    with pytest.raises(ConfigError, match=r"expected sqlite:///PATH, redis://HOST:PORT/DB"):
        open_store("memcached://127.0.0.1")
