"""Token material at rest, and the SQLite store's atomic operations."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import anyio
import pytest

from builder.auth.redirects import check_redirect_uri
from builder.errors import ConfigError
from builder.state.crypto import Cipher, generate_key, load_or_create_dev_key, token_hash
from builder.state.sqlite import SQLiteStore
from builder.state.store import CodeRecord, Grant, TokenRecord

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


async def test_code_is_single_use_even_under_concurrency(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    await store.save_code(_code())
    results: list[bool] = []

    async def take() -> None:
        record, first = await store.take_code(token_hash("code"))
        assert record is not None
        results.append(first)

    async with anyio.create_task_group() as tg:
        for _ in range(10):
            tg.start_soon(anyio.to_thread.run_sync, lambda: anyio.from_thread.run(take))
    assert sorted(results) == [False] * 9 + [True]
    assert await store.take_code(token_hash("unknown")) == (None, False)


async def test_refresh_rotation_and_grant_end(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    grant = Grant("g1", "c", ["a"], "enc-a", "enc-r", time.time() + 60)
    await store.save_grant(grant)
    for name, kind in (("access", "access"), ("refresh", "refresh")):
        await store.save_token(
            TokenRecord(token_hash(name), kind, "c", "g1", ["a"], None, time.time() + 60)  # type: ignore[arg-type]
        )
    record, first = await store.take_refresh(token_hash("refresh"))
    assert record is not None
    assert first
    again, first_again = await store.take_refresh(token_hash("refresh"))
    assert again is not None
    assert not first_again
    await store.end_grant("g1")
    ended = await store.get_grant("g1")
    assert ended is not None
    assert not ended.active
    access = await store.get_token(token_hash("access"))
    assert access is not None
    assert access.revoked


async def test_grant_tokens_compare_and_set(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
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
