"""`serve` of a connector with a provider: the key, the store and the redirect URI."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from builder.cli import app
from builder.state.crypto import Cipher
from tests.auth.stack import SPEC
from tests.servers import free_port, wait_for_http

pytestmark = pytest.mark.anyio
ENV = {
    "PROVIDER_AUTHORIZE_URL": "http://127.0.0.1:9/authorize",
    "PROVIDER_TOKEN_URL": "http://127.0.0.1:9/token",
    "NOTES_CLIENT_ID": "client",
    "NOTES_CLIENT_SECRET": "client-secret-value",
    "NOTES_URL": "http://127.0.0.1:9",
}


def serve(tmp_path: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if k != "MCPBUILD_SECRET_KEY"}
    return subprocess.Popen(
        [sys.executable, "-m", "builder.cli", "serve", str(SPEC), *extra],
        env={**base, **ENV, **(env or {})},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_keygen_prints_a_usable_key() -> None:
    result = CliRunner().invoke(app, ["keygen"])
    assert result.exit_code == 0
    Cipher(result.stdout.strip())


def test_refuses_to_start_without_a_key(tmp_path: Path) -> None:
    proc = serve(tmp_path, "--port", str(free_port()))
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "MCPBUILD_SECRET_KEY is not set" in err
    assert "mcpbuild keygen" in err
    assert "Traceback" not in err


async def test_dev_generates_a_private_key_and_prints_the_redirect_uri(tmp_path: Path) -> None:
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    proc = serve(tmp_path, "--port", str(port), "--dev", "--store", "sqlite:///state/s.db")
    try:
        await wait_for_http(f"{public}/healthz")
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    key = tmp_path / "state" / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert "--dev: generated an encryption key in state/secret.key (mode 0600)" in err
    assert f"register this redirect URI with the provider: {public}/oauth/callback" in err
    assert "client-secret-value" not in err
    assert key.read_text().strip() not in err


async def test_public_url_sets_issuer_redirect_uri_and_allowed_host(tmp_path: Path) -> None:
    port = free_port()
    proc = serve(
        tmp_path,
        "--port",
        str(port),
        "--dev",
        env={"MCPBUILD_PUBLIC_URL": "https://connector.example.com"},
    )
    try:
        await wait_for_http(f"http://127.0.0.1:{port}/healthz")
        import httpx

        async with httpx.AsyncClient() as http:
            meta = await http.get(
                f"http://127.0.0.1:{port}/.well-known/oauth-authorization-server",
                headers={"Host": "connector.example.com"},
            )
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert meta.status_code == 200
    assert meta.json()["issuer"] == "https://connector.example.com/"
    assert meta.json()["token_endpoint"] == "https://connector.example.com/token"
    assert "https://connector.example.com/oauth/callback" in err
