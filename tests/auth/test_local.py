"""`mcpbuild login`, `mcpbuild call` and `serve --transport stdio` with a stored grant,
as real processes against oidc-provider and the notes API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import anyio
import httpx
import pytest
from mcp import Client, StdioServerParameters

from builder.connector.load import load_connector
from builder.errors import ConfigError
from builder.pages import PAGE_HEADERS
from builder.provider.login import login
from tests.auth.stack import SPEC, notes_api, spec_env
from tests.notes_api import NotesState
from tests.provider_fixture import RunningProvider, running_provider
from tests.servers import free_port

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def world(
    tmp_path: Path,
) -> AsyncIterator[tuple[RunningProvider, NotesState, dict[str, str]]]:
    async with running_provider(auto_login="alice") as provider, notes_api(provider) as notes:
        env = {
            **os.environ,
            **spec_env(provider, notes[1]),
            "PYTHONPATH": str(ROOT),
        }
        env.pop("MCPBUILD_SECRET_KEY", None)
        env["STORE"] = f"sqlite:///{tmp_path / 'state' / 'local.db'}"
        yield provider, notes[0], env


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "builder.cli", *args]


async def sign_in(provider: RunningProvider, env: dict[str, str]) -> str:
    port = free_port()
    await provider.allow_redirect_uris([f"http://127.0.0.1:{port}/oauth/callback"])
    process = await anyio.open_process(
        cli(
            "login",
            str(SPEC),
            "--no-browser",
            "--port",
            str(port),
            "--store",
            env["STORE"],
            "--timeout",
            "30",
        ),
        env=env,
    )
    assert process.stderr is not None
    assert process.stdout is not None
    seen = b""
    marker = b"open this URL to sign in:\n"
    with anyio.fail_after(20):
        async for chunk in process.stderr:
            seen += chunk
            if marker in seen and seen.split(marker, 1)[1].endswith(b"\n"):
                break
    url = seen.decode().split("open this URL to sign in:\n", 1)[1].splitlines()[0]
    async with httpx.AsyncClient(follow_redirects=False) as http:
        for _ in range(10):
            response = await http.get(url)
            if url.startswith(f"http://127.0.0.1:{port}/oauth/callback"):
                assert response.status_code == 200, response.text
                assert "Signed in. You can close this tab" in response.text
                break
            url = urljoin(url, response.headers["location"])
    with anyio.fail_after(20):
        await process.wait()
    out = (await process.stdout.receive()).decode() if process.returncode == 0 else ""
    assert process.returncode == 0
    return out


async def test_login_then_call_then_stdio(
    world: tuple[RunningProvider, NotesState, dict[str, str]],
) -> None:
    provider, notes, env = world
    # Long enough that neither process refreshes: both use the one token login stored.
    await provider.set_access_token_ttl(300)
    out = await sign_in(provider, env)
    assert "signed in to Test notes (scopes: notes.read notes.write)" in out
    created = await anyio.run_process(
        cli(
            "call",
            str(SPEC),
            "create_note",
            "--arg",
            "title=From the shell",
            "--store",
            env["STORE"],
        ),
        env=env,
        check=False,
    )
    assert created.returncode == 0, created.stderr.decode()
    assert json.loads(created.stdout)["title"] == "From the shell"
    params = StdioServerParameters(
        command=sys.executable,
        args=[
            "-m",
            "builder.cli",
            "serve",
            str(SPEC),
            "--transport",
            "stdio",
            "--store",
            env["STORE"],
        ],
        env=env,
        cwd=str(ROOT),
    )
    async with Client(params, mode="legacy") as client:
        listed = await client.call_tool("list_notes", {})
    assert "From the shell" in listed.content[0].text  # type: ignore[union-attr]
    tokens = notes.bearer_tokens()
    assert len(tokens) == 2  # one request from `call`, one from the stdio server
    assert len(set(tokens)) == 1
    stored = (Path(env["STORE"].removeprefix("sqlite:///"))).read_bytes()
    assert tokens[0].encode() not in stored  # the upstream token is stored encrypted


async def test_call_without_login_says_what_to_do(
    world: tuple[RunningProvider, NotesState, dict[str, str]],
) -> None:
    _, notes, env = world
    result = await anyio.run_process(
        cli("call", str(SPEC), "list_notes", "--store", env["STORE"]), env=env, check=False
    )
    assert result.returncode == 1
    assert "not signed in to 'test-notes': run `mcpbuild login" in result.stderr.decode()
    assert notes.requests == 0


async def test_bad_call_arguments_exit_2_or_1(
    world: tuple[RunningProvider, NotesState, dict[str, str]],
) -> None:
    _, _, env = world
    usage = subprocess.run(
        cli("call", str(SPEC), "nope"), env=env, capture_output=True, text=True, check=False
    )
    assert usage.returncode == 2
    assert "no tool 'nope'; the tools are: list_notes, create_note, delete_note" in usage.stderr
    malformed = subprocess.run(
        cli("call", str(SPEC), "create_note", "--arg", "title"),
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert malformed.returncode == 2
    assert "expected NAME=VALUE" in malformed.stderr


async def test_the_callback_page_escapes_the_providers_error(tmp_path: Path) -> None:
    """The loopback callback's pages, in process: no provider is needed to be refused."""
    env = {
        "PROVIDER_AUTHORIZE_URL": "http://127.0.0.1:9/authorize",
        "PROVIDER_TOKEN_URL": "http://127.0.0.1:9/token",
        "NOTES_CLIENT_ID": "client",
        "NOTES_CLIENT_SECRET": "secret",
        "NOTES_URL": "http://127.0.0.1:9",
    }
    pages: list[httpx.Response] = []

    async def browser(url: str) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
        callback = query["redirect_uri"]
        async with httpx.AsyncClient() as http:
            with anyio.fail_after(10):
                while True:  # until the listener accepts connections
                    try:
                        pages.append(await http.get(callback, params={"state": "forged"}))
                        break
                    except httpx.ConnectError:
                        await anyio.sleep(0.01)
            refused = {"state": query["state"], "error": "<script>alert(1)</script>"}
            pages.append(await http.get(callback, params=refused))

    with pytest.raises(ConfigError, match="the provider refused the sign-in: <script>"):
        await login(
            load_connector(str(SPEC)),
            env,
            store_url=f"sqlite:///{tmp_path / 'state' / 'local.db'}",
            port=0,
            open_browser=browser,
            timeout=20,
        )
    forged, refused = pages
    assert forged.status_code == 400
    assert "This sign-in answer does not match the request in progress." in forged.text
    assert refused.status_code == 400
    assert "<script" not in refused.text
    assert (
        "<p>Sign-in failed: <code>&lt;script&gt;alert(1)&lt;/script&gt;</code>. "
        "You can close this tab.</p>"
    ) in refused.text
    for page in pages:
        for name, value in PAGE_HEADERS.items():
            assert page.headers[name] == value
