"""Token material at rest, and the stores' atomic operations (each store test runs on
SQLite and on Redis: the ``store`` fixture, tests/state/conftest.py)."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import anyio
import pytest

from builder.auth.redirects import check_redirect_uri
from builder.errors import ConfigError
from builder.state.crypto import (
    Cipher,
    generate_key,
    load_or_create_dev_key,
    open_answer,
    seal_answer,
    token_hash,
)
from builder.state.sqlite import SQLiteStore
from builder.state.store import CodeRecord, Grant, Store, TokenRecord

pytestmark = pytest.mark.anyio


def test_cipher_round_trip_and_binding() -> None:
    cipher = Cipher(generate_key())
    sealed = cipher.encrypt("upstream-token-123", context="grant-a")
    assert "upstream-token-123" not in sealed
    assert cipher.decrypt(sealed, context="grant-a") == "upstream-token-123"
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        cipher.decrypt(sealed, context="grant-b")
    with pytest.raises(ConfigError, match="cannot be decrypted") as info:
        Cipher(generate_key()).decrypt(sealed, context="grant-a")
    assert "upstream-token-123" not in str(info.value)


@pytest.mark.parametrize("key", ["", "short", "x" * 80, "not base64 !!"])
def test_bad_key_is_a_clear_config_error(key: str) -> None:
    with pytest.raises(ConfigError, match="expected 32 bytes in URL-safe base64"):
        Cipher(key)


def test_dev_key_file_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "state" / "secret.key"
    key, created = load_or_create_dev_key(path)
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_dev_key(path) == (key, False)
    Cipher(key)


@pytest.mark.parametrize(
    ("uri", "ok"),
    [
        ("https://client.example.com/cb", True),
        ("http://127.0.0.1:3000/callback", True),
        ("http://localhost/cb", True),
        ("http://[::1]:9/cb", True),
        ("http://client.example.com/cb", False),
        ("https://client.example.com/cb#frag", False),
        ("javascript:alert(1)", False),
        ("myapp://callback", False),
    ],
)
def test_redirect_uri_rules(uri: str, ok: bool) -> None:
    assert (check_redirect_uri(uri) is None) is ok


def _code(grant_id: str = "g1") -> CodeRecord:
    return CodeRecord(
        code_hash=token_hash("code"),
        client_id="c",
        grant_id=grant_id,
        scopes=["a"],
        resource=None,
        redirect_uri="http://127.0.0.1/cb",
        redirect_uri_explicit=True,
        code_challenge="x",
        expires_at=time.time() + 60,
    )


def _tokens(prefix: str, grant_id: str = "g1") -> list[TokenRecord]:
    return [
        TokenRecord(
            token_hash(f"{prefix}-{kind}"), kind, "c", grant_id, ["a"], None, time.time() + 60
        )  # type: ignore[arg-type]
        for kind in ("access", "refresh")
    ]


async def test_code_is_redeemed_once_even_under_concurrency(store: Store) -> None:
    await store.save_code(_code())
    outcomes: list[str] = []

    async def redeem(n: int) -> None:
        result = await store.redeem_code(
            token_hash("code"),
            issued=_tokens(f"t{n}"),
            answer=f"answer-{n}",
            window=60,
            now=time.time(),
        )
        assert result.record is not None
        outcomes.append(f"{result.outcome}:{result.answer}")

    async with anyio.create_task_group() as tg:
        for n in range(10):
            tg.start_soon(anyio.to_thread.run_sync, lambda n=n: anyio.from_thread.run(redeem, n))
    firsts = [o for o in outcomes if o.startswith("first")]
    assert len(firsts) == 1
    # Every later one is given what the first stored, and only the first's tokens exist.
    stored = [n for n in range(10) if await store.get_token(token_hash(f"t{n}-refresh"))]
    assert len(stored) == 1
    winner = stored[0]
    assert sorted(outcomes) == sorted(["first:None"] + [f"again:answer-{winner}"] * 9)
    unknown = await store.redeem_code(token_hash("x"), issued=[], answer="", window=60, now=0)
    assert unknown.outcome == "unknown"


async def test_a_code_used_again_after_the_window_or_after_its_refresh_moved_on(
    store: Store,
) -> None:
    await store.save_code(_code())
    now = time.time()
    first = await store.redeem_code(
        token_hash("code"), issued=_tokens("t"), answer="A", window=2, now=now
    )
    assert first.outcome == "first"
    inside = await store.redeem_code(
        token_hash("code"), issued=_tokens("u"), answer="B", window=2, now=now + 1
    )
    assert (inside.outcome, inside.answer, inside.age) == ("again", "A", 1)
    assert await store.get_token(token_hash("u-refresh")) is None
    late = await store.redeem_code(token_hash("code"), issued=[], answer="", window=2, now=now + 3)
    assert late.outcome == "reused"
    await store.revoke_token(token_hash("t-refresh"))
    moved = await store.redeem_code(token_hash("code"), issued=[], answer="", window=2, now=now + 1)
    assert moved.outcome == "reused"


async def test_refresh_rotation_again_reuse_and_grant_end(store: Store) -> None:
    await store.save_grant(Grant("g1", "c", ["a"], "enc-a", "enc-r", time.time() + 60))
    for record in _tokens("r0"):
        await store.save_token(record)
    now = time.time()
    old = token_hash("r0-refresh")
    first = await store.rotate_refresh(old, issued=_tokens("r1"), answer="A1", window=30, now=now)
    assert first.outcome == "first"
    rotated = await store.get_token(old)
    assert rotated is not None
    assert rotated.revoked
    assert rotated.rotated_at == now
    again = await store.rotate_refresh(old, issued=_tokens("x"), answer="X", window=30, now=now + 5)
    assert (again.outcome, again.answer) == ("again", "A1")
    assert await store.get_token(token_hash("x-refresh")) is None
    late = await store.rotate_refresh(old, issued=[], answer="", window=30, now=now + 31)
    assert late.outcome == "reused"
    # Once the successor is rotated in turn, the first token's window is closed.
    await store.rotate_refresh(
        token_hash("r1-refresh"), issued=_tokens("r2"), answer="A2", window=30, now=now + 6
    )
    after = await store.rotate_refresh(old, issued=[], answer="", window=30, now=now + 7)
    assert after.outcome == "reused"
    await store.end_grant("g1")
    ended = await store.get_grant("g1")
    assert ended is not None
    assert not ended.active
    access = await store.get_token(token_hash("r2-access"))
    assert access is not None
    assert access.revoked
    never_rotated = await store.rotate_refresh(
        token_hash("r2-refresh"), issued=[], answer="", window=30, now=now + 8
    )
    assert never_rotated.outcome == "ended"


async def test_answers_open_only_with_the_secret_they_answer() -> None:
    sealed = seal_answer("the-code", '{"access_token": "t"}')
    assert "access_token" not in sealed
    assert open_answer("the-code", sealed) == '{"access_token": "t"}'
    assert open_answer("another-code", sealed) is None
    assert open_answer("the-code", "not base64 at all!") is None
    # The store keeps token_hash(code); that is not the key.
    assert open_answer(token_hash("the-code"), sealed) is None


async def test_grant_tokens_compare_and_set(store: Store) -> None:
    await store.save_grant(Grant("g1", "c", ["a"], "a1", "r1", None))
    assert await store.replace_grant_tokens(
        "g1", expected_version=1, access_token="a2", refresh_token="r2", expires_at=5.0
    )
    assert not await store.replace_grant_tokens(
        "g1", expected_version=1, access_token="a3", refresh_token="r3", expires_at=6.0
    )
    grant = await store.get_grant("g1")
    assert grant is not None
    assert (grant.access_token, grant.refresh_token, grant.version) == ("a2", "r2", 2)


async def test_state_survives_a_restart_and_expired_rows_go(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = SQLiteStore(path)
    await store.save_grant(Grant("g1", "c", ["a"], "a1", "r1", None))
    await store.save_token(
        TokenRecord(token_hash("old"), "access", "c", "g1", ["a"], None, time.time() - 1)
    )
    await store.close()
    reopened = SQLiteStore(path)
    assert (await reopened.get_grant("g1")) is not None
    assert await reopened.cleanup(time.time()) == 1
    assert await reopened.get_token(token_hash("old")) is None
    await reopened.close()
