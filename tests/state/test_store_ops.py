"""The Store Protocol's operations, on both stores (``store``: SQLite, then Redis)."""

from __future__ import annotations

import time

import anyio
import pytest

from builder.state.crypto import token_hash
from builder.state.store import CodeRecord, Grant, Pending, Store, TokenRecord

pytestmark = pytest.mark.anyio


def pending(pending_id: str = "p1", *, state: str | None = "st1", ttl: float = 60) -> Pending:
    return Pending(
        id=pending_id,
        client_id="c",
        redirect_uri="http://127.0.0.1/cb",
        redirect_uri_explicit=True,
        code_challenge="x",
        state="client-state",
        scopes=["a"],
        resource=None,
        expires_at=time.time() + ttl,
        csrf="csrf",
        upstream_state=state,
        upstream_verifier="v",
    )


def tokens(prefix: str, grant_id: str = "g1", ttl: float | None = 60) -> list[TokenRecord]:
    expires = time.time() + ttl if ttl is not None else None
    return [
        TokenRecord(token_hash(f"{prefix}-{kind}"), kind, "c", grant_id, ["a"], None, expires)  # type: ignore[arg-type]
        for kind in ("access", "refresh")
    ]


async def test_pending_is_taken_by_its_state_once(store: Store) -> None:
    saved = pending()
    await store.save_pending(saved)
    taken: list[Pending | None] = []

    async def take() -> None:
        taken.append(await store.take_pending_by_state("st1"))

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(take)
    assert [p for p in taken if p is not None] == [saved]
    assert await store.get_pending("p1") is None
    assert await store.take_pending_by_state("st1") is None
    assert await store.take_pending_by_state("never") is None


async def test_pending_round_trips_and_expires_and_deletes(store: Store) -> None:
    saved = pending()
    await store.save_pending(saved)
    assert await store.get_pending("p1") == saved
    saved.user, saved.binding = "alice", "cookie-hash"
    await store.save_pending(saved)  # updated in place: the consent step adds to it
    assert await store.get_pending("p1") == saved
    await store.delete_pending("p1")
    assert await store.get_pending("p1") is None
    assert await store.take_pending_by_state("st1") is None
    await store.save_pending(pending("p2", state="st2", ttl=-1))
    assert await store.get_pending("p2") is None
    assert await store.take_pending_by_state("st2") is None
    await store.save_pending(pending("p3", state=None))
    assert (await store.get_pending("p3")) is not None
    await store.delete_pending("p3")
    await store.delete_pending("never")


async def test_tokens_round_trip_and_revoke(store: Store) -> None:
    access, refresh = tokens("t", ttl=None)
    access.auth_time = 1712345678.123456
    await store.save_token(access)
    assert await store.get_token(access.token_hash) == access
    assert await store.get_token(refresh.token_hash) is None
    revoked = await store.revoke_token(access.token_hash)
    assert revoked is not None
    assert revoked.grant_id == "g1"
    again = await store.get_token(access.token_hash)
    assert again is not None
    assert again.revoked
    assert again.auth_time == 1712345678.123456  # timestamps keep every digit
    assert await store.revoke_token(token_hash("never")) is None


async def test_refresh_is_rotated_once_even_under_concurrency(store: Store) -> None:
    await store.save_grant(Grant("g1", "c", ["a"], "enc-a", "enc-r", None))
    for record in tokens("r0"):
        await store.save_token(record)
    old = token_hash("r0-refresh")
    now = time.time()
    outcomes: list[str] = []

    async def rotate(n: int) -> None:
        result = await store.rotate_refresh(
            old, issued=tokens(f"n{n}"), answer=f"A{n}", window=30, now=now
        )
        outcomes.append(f"{result.outcome}:{result.answer}")

    async with anyio.create_task_group() as tg:
        for n in range(20):
            tg.start_soon(rotate, n)
    stored = [n for n in range(20) if await store.get_token(token_hash(f"n{n}-refresh"))]
    assert len(stored) == 1
    assert sorted(outcomes) == sorted(["first:None"] + [f"again:A{stored[0]}"] * 19)


async def test_end_grant_revokes_every_token_of_the_grant_and_no_other(store: Store) -> None:
    await store.save_grant(Grant("g1", "c", ["a"], "enc-a", "enc-r", None))
    await store.save_grant(Grant("g2", "c", ["a"], "enc-a", "enc-r", None))
    for record in [*tokens("a"), *tokens("b", ttl=None), *tokens("other", grant_id="g2")]:
        await store.save_token(record)
    await store.end_grant("g1")
    await store.end_grant("never")  # unknown: nothing happens, nothing is created
    assert await store.get_grant("never") is None
    for name in ("a-access", "a-refresh", "b-access", "b-refresh"):
        record = await store.get_token(token_hash(name))
        assert record is not None
        assert record.revoked, name
    for name in ("other-access", "other-refresh"):
        record = await store.get_token(token_hash(name))
        assert record is not None
        assert not record.revoked, name
    ended = await store.get_grant("g1")
    assert ended is not None
    assert not ended.active
    assert not await store.replace_grant_tokens(
        "g1", expected_version=1, access_token="x", refresh_token=None, expires_at=None
    )
    # A new sign-in under the same id (``mcpbuild login``) replaces the ended grant.
    await store.save_grant(Grant("g1", "c", ["a"], "enc-new", None, None))
    fresh = await store.get_grant("g1")
    assert fresh is not None
    assert (fresh.active, fresh.access_token, fresh.version) == (True, "enc-new", 1)


async def test_grant_round_trips_and_compare_and_set_is_one_winner(store: Store) -> None:
    grant = Grant(
        "g1", "c", ["a", "b"], "enc-a", "enc-r", 1712345678.5, 1712340000.25, extra={"user": "u"}
    )
    await store.save_grant(grant)
    assert await store.get_grant("g1") == grant
    results: list[bool] = []

    async def replace(n: int) -> None:
        results.append(
            await store.replace_grant_tokens(
                "g1",
                expected_version=1,
                access_token=f"a{n}",
                refresh_token=None,
                expires_at=2.5,
                issued_at=3.25,
            )
        )

    async with anyio.create_task_group() as tg:
        for n in range(10):
            tg.start_soon(replace, n)
    assert sorted(results) == [False] * 9 + [True]
    after = await store.get_grant("g1")
    assert after is not None
    assert (after.version, after.refresh_token, after.expires_at, after.issued_at) == (
        2,
        None,
        2.5,
        3.25,
    )
    assert after.extra == {"user": "u"}
    assert after.scopes == ["a", "b"]
    assert await store.get_grant("never") is None


async def test_clients_are_saved_updated_and_marked_used(store: Store) -> None:
    assert await store.get_client("c") is None
    await store.save_client("c", {"client_id": "c", "redirect_uris": ["http://127.0.0.1/cb"]})
    assert not await store.client_used("c")
    await store.touch_client("c")
    assert await store.client_used("c")
    await store.save_client("c", {"client_id": "c", "client_name": "renamed"})
    assert await store.get_client("c") == {"client_id": "c", "client_name": "renamed"}
    assert await store.client_used("c")  # an update keeps the use
    assert not await store.client_used("never")


async def test_code_round_trips(store: Store) -> None:
    code = CodeRecord(
        code_hash=token_hash("code"),
        client_id="c",
        grant_id="g1",
        scopes=["a"],
        resource="https://mcp.example.com/mcp",
        redirect_uri="http://127.0.0.1/cb",
        redirect_uri_explicit=False,
        code_challenge="x",
        expires_at=time.time() + 60,
    )
    await store.save_code(code)
    assert await store.get_code(code.code_hash) == code
    assert await store.get_code(token_hash("never")) is None
