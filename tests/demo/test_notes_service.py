"""The demo notes service on its own: its Authlib authorization server (PKCE, rotation,
revocation, client authentication, the sign-in form) and its bearer-protected notes API,
running under uvicorn on 127.0.0.1 and driven over HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import anyio
import httpx
import pytest

from builder.demo.service import DemoConfig, NotesService
from tests.oauth_client import pkce
from tests.servers import running

pytestmark = pytest.mark.anyio
REDIRECT_URI = "http://127.0.0.1:8000/oauth/callback"
BOTH = "notes.read notes.write"


@dataclass
class Notes:
    """A running notes service and an HTTP client playing mcpbuild and the browser."""

    base: str
    service: NotesService
    http: httpx.AsyncClient

    @property
    def auth(self) -> tuple[str, str]:
        return self.service.config.client_id, self.service.config.client_secret

    def authorize_url(self, challenge: str | None, scope: str = BOTH, **extra: str) -> str:
        params = {
            "response_type": "code",
            "client_id": self.service.config.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": "st-1",
            **({"code_challenge": challenge, "code_challenge_method": "S256"} if challenge else {}),
            **extra,
        }
        return f"{self.base}/oauth/authorize?{urlencode(params)}"

    async def sign_in(
        self, url: str, username: str = "demo-user", decision: str = "approve"
    ) -> httpx.Response:
        page = await self.http.get(url)
        assert page.status_code == 200, page.text
        assert "Sign in to Demo notes as:" in page.text
        ticket = re.search(r'name="ticket" value="([^"]+)"', page.text)
        assert ticket is not None
        return await self.http.post(
            self.base + "/oauth/authorize",
            data={"ticket": ticket.group(1), "username": username, "decision": decision},
        )

    async def code(self, scope: str = BOTH, username: str = "demo-user") -> tuple[str, str]:
        verifier, challenge = pkce()
        answer = await self.sign_in(self.authorize_url(challenge, scope), username)
        assert answer.status_code == 302, answer.text
        query = redirected(answer)
        assert query["state"] == "st-1"
        return query["code"], verifier

    async def token(self, **form: str) -> httpx.Response:
        return await self.http.post(self.base + "/oauth/token", data=form, auth=self.auth)

    async def exchange(self, code: str, verifier: str) -> httpx.Response:
        return await self.token(
            grant_type="authorization_code",
            code=code,
            code_verifier=verifier,
            redirect_uri=REDIRECT_URI,
        )

    async def tokens(self, scope: str = BOTH, username: str = "demo-user") -> dict[str, Any]:
        response = await self.exchange(*await self.code(scope, username))
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def api(self, method: str, path: str, token: str | None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.request(method, self.base + "/api" + path, headers=headers, **kwargs)


def redirected(response: httpx.Response) -> dict[str, str]:
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI + "?"), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def start(ttl: int = 3600) -> AsyncIterator[Notes]:
    service = NotesService(DemoConfig(redirect_uri=REDIRECT_URI, access_token_ttl=ttl))
    async with running(service.app()) as base, httpx.AsyncClient(timeout=10) as http:
        yield Notes(base, service, http)


@pytest.fixture
async def notes() -> AsyncIterator[Notes]:
    async for running_notes in start():
        yield running_notes


async def test_sign_in_code_tokens_and_notes(notes: Notes) -> None:
    tokens = await notes.tokens()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["scope"] == BOTH
    assert tokens["refresh_token"]
    listed = await notes.api("GET", "/notes", tokens["access_token"])
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 3  # seeded
    assert set(body["items"][0]) == {"id", "title", "body", "created_at", "updated_at"}


async def test_pkce_is_required_and_s256_only(notes: Notes) -> None:
    without = await notes.http.get(notes.authorize_url(None))
    plain = await notes.http.get(
        notes.authorize_url(None, code_challenge="x" * 43, code_challenge_method="plain")
    )
    for answer in (without, plain):
        assert answer.status_code == 302  # back to the verified redirect URI, no sign-in page
        query = redirected(answer)
        assert query["error"] == "invalid_request"
        assert query["state"] == "st-1"
    assert "PKCE" in redirected(without)["error_description"]


async def test_wrong_or_missing_verifier_is_refused_and_burns_the_code(notes: Notes) -> None:
    code, verifier = await notes.code()
    wrong = await notes.exchange(code, pkce()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    right_too_late = await notes.exchange(code, verifier)
    assert right_too_late.status_code == 400
    assert right_too_late.json()["error"] == "invalid_grant"
    code, _ = await notes.code()
    missing = await notes.token(
        grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
    )
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"


async def test_code_is_single_use(notes: Notes) -> None:
    code, verifier = await notes.code()
    assert (await notes.exchange(code, verifier)).status_code == 200
    again = await notes.exchange(code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


async def test_refresh_rotates_and_a_reused_refresh_token_ends_the_sign_in(notes: Notes) -> None:
    first = await notes.tokens()
    refreshed = await notes.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 200, refreshed.text
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == BOTH
    assert (await notes.api("GET", "/notes", second["access_token"])).status_code == 200
    assert (await notes.api("GET", "/notes", first["access_token"])).status_code == 401
    reused = await notes.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # The reuse looks like theft: everything of that sign-in is revoked.
    assert (await notes.api("GET", "/notes", second["access_token"])).status_code == 401
    latest = await notes.token(grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert latest.status_code == 400


async def test_api_without_or_with_a_bad_token_is_401_with_a_challenge(notes: Notes) -> None:
    missing = await notes.api("GET", "/notes", None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="demo-notes"'
    bad = await notes.api("GET", "/notes", "not-a-token")
    assert bad.status_code == 401
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    basic = await notes.http.get(notes.base + "/api/notes", auth=("demo-user", "x"))
    assert basic.status_code == 401
    assert basic.headers["www-authenticate"].startswith("Bearer ")


async def test_missing_scope_is_403_naming_the_scope(notes: Notes) -> None:
    tokens = await notes.tokens(scope="notes.read")
    assert tokens["scope"] == "notes.read"
    token = tokens["access_token"]
    assert (await notes.api("GET", "/notes", token)).status_code == 200
    for answer in (
        await notes.api("POST", "/notes", token, json={"title": "nope"}),
        await notes.api("DELETE", "/notes/1", token),
    ):
        assert answer.status_code == 403
        challenge = answer.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge
        assert 'scope="notes.write"' in challenge


async def test_notes_are_per_user_and_crud_works(notes: Notes) -> None:
    alice = (await notes.tokens(username="alice"))["access_token"]
    bob = (await notes.tokens(username="bob"))["access_token"]
    created = await notes.api("POST", "/notes", alice, json={"title": " Plan ", "body": "x"})
    assert created.status_code == 201
    note = created.json()
    assert note["title"] == "Plan"
    assert created.headers["location"] == f"/api/notes/{note['id']}"
    listed = (await notes.api("GET", "/notes", alice, params={"limit": 2})).json()
    assert listed["items"][0]["id"] == note["id"]  # newest first
    assert len(listed["items"]) == 2
    assert listed["count"] == 4
    found = (await notes.api("GET", "/notes", alice, params={"q": "plan"})).json()
    assert [n["id"] for n in found["items"]] == [note["id"]]
    assert (await notes.api("GET", f"/notes/{note['id']}", alice)).json() == note
    assert (await notes.api("GET", f"/notes/{note['id']}", bob)).status_code == 404
    assert (await notes.api("DELETE", f"/notes/{note['id']}", bob)).status_code == 404
    assert (await notes.api("DELETE", f"/notes/{note['id']}", alice)).status_code == 204
    gone = await notes.api("GET", f"/notes/{note['id']}", alice)
    assert gone.status_code == 404
    assert gone.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"json": {"body": "no title"}}, "title"),
        ({"json": {"title": ""}}, "title"),
        ({"json": {"title": "x", "body": 3}}, "body"),
        ({"json": ["title"]}, "JSON object"),
        ({"content": b"{not json", "headers": {"content-type": "application/json"}}, "JSON"),
    ],
)
async def test_bad_note_bodies_are_400(notes: Notes, kwargs: dict[str, Any], message: str) -> None:
    token = (await notes.tokens())["access_token"]
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    answer = await notes.http.post(notes.base + "/api/notes", headers=headers, **kwargs)
    assert answer.status_code == 400
    assert message in answer.json()["error_description"]


async def test_limit_out_of_range_is_400(notes: Notes) -> None:
    token = (await notes.tokens())["access_token"]
    for limit in ("0", "101", "many"):
        answer = await notes.api("GET", "/notes", token, params={"limit": limit})
        assert answer.status_code == 400


async def test_revocation(notes: Notes) -> None:
    tokens = await notes.tokens()
    revoked = await notes.http.post(
        notes.base + "/oauth/revoke", data={"token": tokens["access_token"]}, auth=notes.auth
    )
    assert revoked.status_code == 200
    assert (await notes.api("GET", "/notes", tokens["access_token"])).status_code == 401
    # The refresh token still works after the access token alone was revoked...
    fresh = await notes.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
    assert fresh.status_code == 200
    # ...and revoking a refresh token ends the sign-in, its access token included.
    second = fresh.json()
    await notes.http.post(
        notes.base + "/oauth/revoke",
        data={"token": second["refresh_token"], "token_type_hint": "refresh_token"},
        auth=notes.auth,
    )
    assert (await notes.api("GET", "/notes", second["access_token"])).status_code == 401
    again = await notes.token(grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert again.status_code == 400
    unauthenticated = await notes.http.post(
        notes.base + "/oauth/revoke", data={"token": second["access_token"]}
    )
    assert unauthenticated.status_code == 401


async def test_client_must_authenticate_and_use_its_redirect_uri(notes: Notes) -> None:
    code, verifier = await notes.code()
    wrong = await notes.http.post(
        notes.base + "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI,
        },
        auth=(notes.service.config.client_id, "wrong"),
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    _, challenge = pkce()
    elsewhere = await notes.http.get(
        notes.authorize_url(challenge, redirect_uri="http://127.0.0.1:9/evil")
    )
    unknown = await notes.http.get(notes.authorize_url(challenge, client_id="someone-else"))
    for answer in (elsewhere, unknown):
        assert answer.status_code == 400  # shown to the user, never redirected
        assert "location" not in answer.headers
        assert "Sign-in refused" in answer.text


async def test_cancel_bad_name_and_replayed_form(notes: Notes) -> None:
    _, challenge = pkce()
    cancelled = await notes.sign_in(notes.authorize_url(challenge), decision="deny")
    denied = redirected(cancelled)
    assert (denied["error"], denied["state"]) == ("access_denied", "st-1")
    assert "code" not in denied
    page = await notes.http.get(notes.authorize_url(challenge))
    ticket = re.search(r'name="ticket" value="([^"]+)"', page.text)
    assert ticket is not None
    form = {"ticket": ticket.group(1), "username": "No Spaces!"}
    bad = await notes.http.post(notes.base + "/oauth/authorize", data=form)
    assert bad.status_code == 400
    assert "Pick a name" in bad.text
    form["username"] = "carol"
    assert (await notes.http.post(notes.base + "/oauth/authorize", data=form)).status_code == 302
    replay = await notes.http.post(notes.base + "/oauth/authorize", data=form)
    assert replay.status_code == 400
    assert "Sign-in expired" in replay.text


async def test_metadata_and_host_check(notes: Notes) -> None:
    meta = (await notes.http.get(notes.base + "/.well-known/oauth-authorization-server")).json()
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint"] == notes.base + "/oauth/token"
    rebound = await notes.http.get(notes.base + "/api/notes", headers={"Host": "evil.example"})
    assert rebound.status_code == 400


async def test_access_token_expires() -> None:
    async for notes in start(ttl=1):
        tokens = await notes.tokens()
        assert tokens["expires_in"] == 1
        with anyio.fail_after(5):
            while (await notes.api("GET", "/notes", tokens["access_token"])).status_code == 200:
                await anyio.sleep(0.1)
        expired = await notes.api("GET", "/notes", tokens["access_token"])
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]


async def test_a_rejected_name_comes_back_escaped(notes: Notes) -> None:
    _, challenge = pkce()
    page = await notes.http.get(notes.authorize_url(challenge))
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-frame-options"] == "DENY"
    ticket = re.search(r'name="ticket" value="([^"]+)"', page.text)
    assert ticket is not None
    name = '"><script>alert(1)</script>'
    form = {"ticket": ticket.group(1), "username": name}
    bad = await notes.http.post(notes.base + "/oauth/authorize", data=form)
    assert bad.status_code == 400
    assert "Pick a name" in bad.text
    assert "<script" not in bad.text
    assert 'value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in bad.text
    assert bad.headers["cache-control"] == "no-store"
    assert "data-demo-sign-in" in bad.text  # the same form, to try another name
