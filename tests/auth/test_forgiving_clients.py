"""Real clients' slips, against ``mcpbuild serve`` as a real process with oidc-provider and
the notes API behind it: each is forgiven where the client proves it is the same client,
and still punished where it could be a thief.

Raw HTTP plays the clients that misbehave (the SDK clients cannot be made to); the
official Python SDK client plays the normal path through an ended upstream grant.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import anyio
import httpx
import httpx2
import pytest

from builder.state.crypto import generate_key
from tests.auth.stack import SPEC, notes_api, spec_env
from tests.notes_api import NotesState
from tests.oauth_client import OAuthUser, RawClient, pkce, raw_tool_call
from tests.provider_fixture import RunningProvider
from tests.servers import free_port, wait_for_http

pytestmark = pytest.mark.anyio

REUSE = 3.0
"""--refresh-reuse-interval of the served process: short, so a test can outlast it."""


@dataclass
class Served:
    base: str
    log: Path
    provider: RunningProvider
    notes: NotesState

    @property
    def mcp_url(self) -> str:
        return self.base + "/mcp"

    def logs(self, text: str) -> list[dict[str, Any]]:
        """The JSON log lines of the process whose message contains ``text``."""
        lines = []
        for line in self.log.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if text in str(entry.get("msg", "")):
                lines.append(entry)
        return lines


@pytest.fixture(scope="module")
async def served(
    provider: RunningProvider, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Served]:
    folder = tmp_path_factory.mktemp("forgiving")
    async with notes_api(provider) as notes:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        await provider.allow_redirect_uris([base + "/oauth/callback"])
        env = {
            **os.environ,
            **spec_env(provider, notes[1]),
            "MCPBUILD_SECRET_KEY": generate_key(),
        }
        log = folder / "serve.log"
        command = [
            sys.executable,
            "-m",
            "builder.cli",
            "serve",
            str(SPEC),
            "--port",
            str(port),
            "--store",
            f"sqlite:///{folder / 's.db'}",
            "--refresh-reuse-interval",
            str(REUSE),
            "--log-format",
            "json",
        ]
        with log.open("w") as stderr:
            process = subprocess.Popen(
                command, env=env, stdout=subprocess.DEVNULL, stderr=stderr, cwd=folder
            )
        try:
            await wait_for_http(base + "/healthz")
            yield Served(base, log, provider, notes[0])
        finally:
            process.terminate()
            process.wait(timeout=15)


@pytest.fixture(scope="module")
async def client_id(served: Served) -> str:
    """One registered client for the module (registration is rate-limited per address)."""
    async with httpx.AsyncClient(timeout=15) as http:
        raw = RawClient(served.base, http)
        assert (await raw.register()).status_code == 201
        return raw.client_id


@pytest.fixture
async def raw(served: Served, client_id: str) -> AsyncIterator[RawClient]:
    async with httpx.AsyncClient(timeout=15) as http:
        yield RawClient(served.base, http, client_id=client_id)


async def signed_in(raw: RawClient, scope: str = "notes.read notes.write") -> dict[str, Any]:
    code, verifier = await raw.code(scope)
    response = await raw.exchange(code, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def refresh(raw: RawClient, refresh_token: str, **extra: str) -> httpx.Response:
    return await raw.token(grant_type="refresh_token", refresh_token=refresh_token, **extra)


async def works(
    served: Served, raw: RawClient, access_token: str, tool: str = "list_notes"
) -> bool:
    response = await raw_tool_call(raw.http, served.mcp_url, access_token, tool)
    if response.status_code != 200:
        return False
    return response.json()["result"].get("isError") is not True


async def wait_past(deadline: float) -> None:
    """Until the monotonic clock passes ``deadline`` (a window to outlast), bounded."""
    with anyio.fail_after(max(0.0, deadline - time.monotonic()) + 5):
        while time.monotonic() <= deadline:
            await anyio.sleep(0.05)


# 1. Refresh rotation with a reuse interval


async def test_rotated_refresh_token_sent_again_within_the_interval_gets_the_same_tokens(
    served: Served, raw: RawClient
) -> None:
    tokens = await signed_in(raw)
    rotated = await refresh(raw, tokens["refresh_token"])
    assert rotated.status_code == 200
    again = await refresh(raw, tokens["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json() == rotated.json()
    # The grant is alive: the successor works, and rotates in turn.
    assert await works(served, raw, rotated.json()["access_token"])
    onwards = await refresh(raw, rotated.json()["refresh_token"])
    assert onwards.status_code == 200
    assert await works(served, raw, onwards.json()["access_token"])
    assert served.logs("presented again")


async def test_rotated_refresh_token_sent_again_after_the_interval_ends_the_grant(
    served: Served, raw: RawClient
) -> None:
    tokens = await signed_in(raw)
    rotated = await refresh(raw, tokens["refresh_token"])
    rotated_by = time.monotonic()
    assert rotated.status_code == 200
    new = rotated.json()
    assert await works(served, raw, new["access_token"])
    await wait_past(rotated_by + REUSE + 0.2)
    late = await refresh(raw, tokens["refresh_token"])
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"
    # Taken as theft: the whole grant is gone, the newest tokens too, and the log says so.
    assert not await works(served, raw, new["access_token"])
    assert (await refresh(raw, new["refresh_token"])).json()["error"] == "invalid_grant"
    stolen = served.logs("taken as stolen, grant ended")
    assert stolen
    assert stolen[-1]["level"] == "warning"


async def test_rotated_refresh_token_from_another_client_is_theft_even_within_the_interval(
    served: Served, raw: RawClient
) -> None:
    tokens = await signed_in(raw)
    rotated = await refresh(raw, tokens["refresh_token"])
    assert rotated.status_code == 200
    thief = RawClient(served.base, raw.http)
    assert (await thief.register()).status_code == 201
    stolen = await thief.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert "access_token" not in stolen.text
    # The owner's newest tokens went with the grant.
    assert not await works(served, raw, rotated.json()["access_token"])


async def test_two_concurrent_refreshes_get_one_answer_and_cause_one_upstream_refresh(
    served: Served, raw: RawClient
) -> None:
    await served.provider.set_access_token_ttl(2)
    try:
        tokens = await signed_in(raw)
    finally:
        await served.provider.set_access_token_ttl(30)
    assert await works(served, raw, tokens["access_token"])
    upstream = served.notes.bearer_tokens()[-1]
    with anyio.fail_after(15):
        while (await served.provider.introspect(upstream)).get("active"):
            await anyio.sleep(0.2)
    await served.provider.reset_stats()
    # Two processes of one client, sharing one token file, refresh at the same moment.
    first, second = await asyncio.gather(
        refresh(raw, tokens["refresh_token"]), refresh(raw, tokens["refresh_token"])
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.json() == second.json()
    access = first.json()["access_token"]
    # Both keep working, and the expired upstream token is refreshed once for both.
    assert all(await asyncio.gather(works(served, raw, access), works(served, raw, access)))
    stats = await served.provider.stats()
    assert stats["token_requests"].get("refresh_token") == 1, stats


# 2. Duplicate code redemption


async def test_code_posted_twice_with_its_verifier_gets_the_same_tokens(
    served: Served, raw: RawClient
) -> None:
    code, verifier = await raw.code()
    first = await raw.exchange(code, verifier)
    second = await raw.exchange(code, verifier)
    assert first.status_code == second.status_code == 200, second.text
    assert first.json() == second.json()
    assert await works(served, raw, first.json()["access_token"])
    assert (await refresh(raw, first.json()["refresh_token"])).status_code == 200
    assert served.logs("posted again by its client")


async def test_code_sent_again_with_another_verifier_is_refused_and_revokes(
    served: Served, raw: RawClient
) -> None:
    code, verifier = await raw.code()
    first = await raw.exchange(code, verifier)
    assert first.status_code == 200
    assert await works(served, raw, first.json()["access_token"])
    wrong, _ = pkce()
    second = await raw.exchange(code, wrong)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert not await works(served, raw, first.json()["access_token"])
    assert (await refresh(raw, first.json()["refresh_token"])).json()["error"] == "invalid_grant"


# 3. Sign-ins that race in one browser


async def _to_callback(http: httpx.AsyncClient, url: str, callback: str) -> str:
    """Follow the provider's redirects up to (not into) our callback."""
    for _ in range(10):
        if url.startswith(callback):
            return url
        response = await http.get(url)
        assert response.status_code in (302, 303), (url, response.status_code)
        url = urljoin(url, response.headers["location"])
    raise AssertionError("the provider never redirected back")


async def test_two_sign_ins_racing_in_one_browser_both_work(served: Served, raw: RawClient) -> None:
    """A desktop app that started twice: two authorization flows of one client, in one
    browser, each step of one between the same steps of the other."""
    flows = {name: pkce() for name in ("first", "second")}
    async with httpx.AsyncClient(timeout=15, follow_redirects=False) as browser:
        consent: dict[str, str] = {}
        for name, (_, challenge) in flows.items():
            url = raw.authorize_url(challenge, "notes.read notes.write", state=name)
            consent[name] = urljoin(url, (await browser.get(url)).headers["location"])
        forms: dict[str, dict[str, str]] = {}
        for name, url in consent.items():
            page = await browser.get(url)
            assert page.status_code == 200
            forms[name] = dict(re.findall(r'name="(request|csrf)" value="([^"]*)"', page.text))
        upstream: dict[str, str] = {}
        for name, form in forms.items():
            answer = await browser.post(
                served.base + "/consent", data={**form, "decision": "approve"}
            )
            assert answer.status_code == 303, answer.text
            upstream[name] = answer.headers["location"]
        callbacks = {
            name: await _to_callback(browser, url, served.base + "/oauth/callback")
            for name, url in upstream.items()
        }
        codes: dict[str, str] = {}
        for name in ("second", "first"):  # back in the other order
            back = await browser.get(callbacks[name])
            assert back.status_code == 302, back.text
            query = parse_qs(urlsplit(back.headers["location"]).query)
            assert query["state"] == [name]
            codes[name] = query["code"][0]
    for name, (verifier, _) in flows.items():
        tokens = await raw.exchange(codes[name], verifier)
        assert tokens.status_code == 200, tokens.text
        assert await works(served, raw, tokens.json()["access_token"])


# 4. Refresh without scope, narrower, wider


async def test_refresh_scope_absent_narrower_and_wider(served: Served, raw: RawClient) -> None:
    tokens = await signed_in(raw, "notes.read notes.write")
    plain = await refresh(raw, tokens["refresh_token"])
    assert plain.status_code == 200
    assert plain.json()["scope"] == "notes.read notes.write"
    narrow = await refresh(raw, plain.json()["refresh_token"], scope="notes.read")
    assert narrow.status_code == 200
    assert narrow.json()["scope"] == "notes.read"
    # The narrower access token cannot write; the refresh token kept the whole grant.
    create = await raw_tool_call(
        raw.http, served.mcp_url, narrow.json()["access_token"], "create_note"
    )
    assert create.status_code == 403
    wide_again = await refresh(raw, narrow.json()["refresh_token"])
    assert wide_again.json()["scope"] == "notes.read notes.write"
    read_only = await signed_in(raw, "notes.read")
    wider = await refresh(raw, read_only["refresh_token"], scope="notes.read notes.write")
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"
    # A refused widening ends nothing.
    assert (await refresh(raw, read_only["refresh_token"])).status_code == 200


# 5 and 6. An upstream grant that truly ends


async def test_ended_upstream_grant_is_one_401_then_a_working_sign_in(served: Served) -> None:
    await served.provider.set_access_token_ttl(2)
    user = OAuthUser()
    challenges: list[str] = []

    async def count(response: httpx2.Response) -> None:
        if response.status_code == 401 and response.request.url.path == "/mcp":
            challenges.append(response.headers.get("www-authenticate", ""))

    try:
        async with user.client(served.mcp_url, event_hooks={"response": [count]}) as client:
            assert not (await client.call_tool("list_notes", {})).is_error
            # The upstream token expires, then the user's grant is revoked at the provider:
            # the next call's refresh is refused there.
            upstream = served.notes.bearer_tokens()[-1]
            with anyio.fail_after(15):
                while (await served.provider.introspect(upstream)).get("active"):
                    await anyio.sleep(0.2)
            assert await served.provider.revoke_user("alice") >= 1
            challenges.clear()  # the first sign-in began with one too
            ended_before = len(served.logs("sign-in with the provider ended"))
            result = await client.call_tool("list_notes", {})
            again = await client.call_tool("list_notes", {})
    finally:
        await served.provider.set_access_token_ttl(30)
    assert not result.is_error, result.content
    assert not again.is_error
    # One challenge, answered by signing in again (consent shown twice in all), no loop.
    assert len(challenges) == 1, challenges
    assert 'error="invalid_token"' in challenges[0]
    assert "sign in again" in challenges[0]
    assert user.browser.consent_pages == 2
    assert len(served.logs("sign-in with the provider ended")) == ended_before + 1


async def test_refresh_of_an_ended_grant_says_sign_in_again_and_accuses_nobody(
    served: Served, raw: RawClient
) -> None:
    tokens = await signed_in(raw)
    assert await works(served, raw, tokens["access_token"])
    # Revoked at the provider while the upstream token still lives: the API refuses it in
    # the middle of a call, whose answer is already under way, so that call is a tool
    # error, and the next request the one 401.
    await served.provider.revoke_user("alice")
    stolen_before = len(served.logs("taken as stolen"))
    ended = await raw_tool_call(raw.http, served.mcp_url, tokens["access_token"], "list_notes")
    assert ended.status_code == 200
    assert "reconnect to sign in again" in ended.json()["result"]["content"][0]["text"]
    challenge = await raw_tool_call(raw.http, served.mcp_url, tokens["access_token"], "list_notes")
    assert challenge.status_code == 401
    answer = await refresh(raw, tokens["refresh_token"])
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "invalid_grant",
        "error_description": "this sign-in has ended; authorize again",
    }
    assert len(served.logs("taken as stolen")) == stolen_before
    # Signing in again works at once.
    assert await works(served, raw, (await signed_in(raw))["access_token"])
