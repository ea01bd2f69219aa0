"""Client token lifetimes: the refresh token's idle and absolute lifetimes, and their flags."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import AnyUrl
from typer.testing import CliRunner

from builder.auth.server import AuthorizationServer, Lifetimes
from builder.cli import app
from builder.errors import ConfigError
from builder.state.crypto import token_hash
from builder.state.sqlite import SQLiteStore
from builder.state.store import Grant, Pending
from tests.auth.stack import SPEC

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_refresh_tokens_live_idle_seconds_but_never_past_the_absolute_lifetime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr("builder.auth.server.time.time", clock)
    store = SQLiteStore(tmp_path / "s.db")
    server = AuthorizationServer(
        store,
        issuer="http://127.0.0.1:1",
        resource="http://127.0.0.1:1/mcp",
        scopes=["a"],
        default_scopes=["a"],
        lifetimes=Lifetimes(access_token=600, refresh_idle=100, refresh_absolute=150),
    )
    client = OAuthClientInformationFull(
        client_id="c", redirect_uris=[AnyUrl("http://127.0.0.1:2/cb")]
    )
    await store.save_grant(Grant("g", "c", ["a"], "enc", None, None))
    pending = Pending(
        id="p",
        client_id="c",
        redirect_uri="http://127.0.0.1:2/cb",
        redirect_uri_explicit=True,
        code_challenge="x",
        state=None,
        scopes=["a"],
        resource=None,
        expires_at=clock.now + 60,
        csrf="x",
    )
    code = await server.issue_code(pending, "g")
    loaded = await server.load_authorization_code(client, code)
    assert loaded is not None
    signed_in_at = clock.now
    tokens = await server.exchange_authorization_code(client, loaded)
    # The client's access token lives its own lifetime; the upstream one has none here.
    assert tokens.expires_in == 600

    async def refresh_expiry(refresh_token: str) -> tuple[str, float | None]:
        loaded = await server.load_refresh_token(client, refresh_token)
        assert loaded is not None
        new = await server.exchange_refresh_token(client, loaded, ["a"])
        assert new.refresh_token is not None
        record = await store.get_token(token_hash(new.refresh_token))
        assert record is not None
        return new.refresh_token, record.expires_at

    first = await store.get_token(token_hash(tokens.refresh_token or ""))
    assert first is not None
    assert first.expires_at == signed_in_at + 100  # idle
    clock.now += 40
    second, expiry = await refresh_expiry(tokens.refresh_token or "")
    assert expiry == clock.now + 100  # used: another idle period
    clock.now += 80
    _, expiry = await refresh_expiry(second)
    assert expiry == signed_in_at + 150  # capped by the absolute lifetime


def test_lifetimes_refuse_nonsense() -> None:
    with pytest.raises(ConfigError, match="at least the idle one"):
        Lifetimes(refresh_idle=200, refresh_absolute=100)
    with pytest.raises(ConfigError, match="refresh_reuse window"):
        Lifetimes(refresh_reuse=-1)


def test_serve_flags_for_lifetimes_are_checked() -> None:
    result = CliRunner().invoke(
        app, ["serve", str(SPEC), "--refresh-idle", "7200", "--refresh-lifetime", "3600"]
    )
    assert result.exit_code == 2
    assert "--refresh-lifetime" in result.output
    assert "Traceback" not in result.output
