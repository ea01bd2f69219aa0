"""The test rig itself: a real authorization server (oidc-provider) and the notes API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest

from tests.notes_api import NotesState, notes_app
from tests.provider_fixture import (
    RunningProvider,
    authorize_headless,
    pkce_pair,
    running_provider,
)
from tests.servers import running

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module scope, so that one provider serves the module's tests


@pytest.fixture(scope="module")
async def provider() -> AsyncIterator[RunningProvider]:
    async with running_provider(access_token_ttl=2) as p:
        yield p


@pytest.fixture
async def user(provider: RunningProvider, request: pytest.FixtureRequest) -> str:
    """A user of this test only, logged in automatically; counters reset; access tokens
    that outlive a slow test (the expiry test shortens them)."""
    name = str(request.node.name).removeprefix("test_")[:40]
    await provider.set_auto_login(name)
    await provider.set_access_token_ttl(30)
    await provider.allow_redirect_uris([])
    await provider.reset_stats()
    return name


@pytest.fixture
async def notes(provider: RunningProvider) -> AsyncIterator[tuple[str, NotesState]]:
    app, state = notes_app(
        provider.introspection_endpoint,
        provider.client_id,
        provider.client_secret,
        audience=provider.resource,
    )
    async with running(app) as base:
        yield base, state


async def get_code(
    provider: RunningProvider, http: httpx.AsyncClient, scope: str = "notes.read notes.write"
) -> tuple[str, str]:
    """Run the authorization request; return (code, code_verifier)."""
    verifier, challenge = pkce_pair()
    url = provider.authorization_url(code_challenge=challenge, state="xyz", scope=scope)
    result = await authorize_headless(http, url, provider.redirect_uri)
    assert result["state"] == "xyz"
    assert result["iss"] == provider.issuer
    return result["code"], verifier


async def token_request(
    provider: RunningProvider, http: httpx.AsyncClient, data: dict[str, str], *, post: bool = False
) -> httpx.Response:
    if post:  # client_secret_post
        data = {**data, "client_id": provider.client_id, "client_secret": provider.client_secret}
        return await http.post(provider.token_endpoint, data=data)
    return await http.post(
        provider.token_endpoint, data=data, auth=(provider.client_id, provider.client_secret)
    )


async def tokens(
    provider: RunningProvider, http: httpx.AsyncClient, scope: str = "notes.read notes.write"
) -> dict[str, Any]:
    code, verifier = await get_code(provider, http, scope)
    response = await token_request(
        provider,
        http,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": provider.redirect_uri,
        },
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def refresh(
    provider: RunningProvider, http: httpx.AsyncClient, refresh_token: str
) -> httpx.Response:
    return await token_request(
        provider, http, {"grant_type": "refresh_token", "refresh_token": refresh_token}, post=True
    )


async def wait_inactive(provider: RunningProvider, token: str) -> None:
    with anyio.fail_after(provider.access_token_ttl + 5):
        while (await provider.introspect(token))["active"]:
            await anyio.sleep(0.05)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_code_flow_issues_opaque_tokens_the_api_accepts(
    provider: RunningProvider, user: str, notes: tuple[str, NotesState]
) -> None:
    base, state = notes
    async with httpx.AsyncClient() as http:
        t = await tokens(provider, http)
        assert t["token_type"].lower() == "bearer"
        assert set(t["scope"].split()) == {"notes.read", "notes.write"}
        assert 0 < t["expires_in"] <= 30
        assert t["refresh_token"]
        assert "id_token" not in t
        assert t["access_token"].count(".") == 0  # opaque, not a JWT

        info = await provider.introspect(t["access_token"])
        assert info["active"] is True
        assert info["sub"] == user
        assert info["client_id"] == provider.client_id
        assert set(info["scope"].split()) == {"notes.read", "notes.write"}
        assert info["aud"] == provider.resource

        created = await http.post(
            f"{base}/api/notes",
            json={"title": "t1", "body": "b1"},
            headers=bearer(t["access_token"]),
        )
        assert created.status_code == 201, created.text
        note = created.json()
        listed = await http.get(f"{base}/api/notes", headers=bearer(t["access_token"]))
        assert listed.status_code == 200
        assert listed.json() == {"notes": [note]}
        one = await http.get(f"{base}/api/notes/{note['id']}", headers=bearer(t["access_token"]))
        assert one.json()["title"] == "t1"
        gone = await http.delete(
            f"{base}/api/notes/{note['id']}", headers=bearer(t["access_token"])
        )
        assert gone.status_code == 204
        missing = await http.get(
            f"{base}/api/notes/{note['id']}", headers=bearer(t["access_token"])
        )
        assert missing.status_code == 404

        anonymous = await http.get(f"{base}/api/notes")
        assert anonymous.status_code == 401
        assert anonymous.headers["www-authenticate"].startswith("Bearer")

    assert state.bearer_tokens() == [t["access_token"]] * 5
    assert state.authorizations()[-1] is None
    assert state.counts["GET /api/notes"] == 2
    assert state.requests == 6
    stats = await provider.stats()
    assert stats["token_requests"] == {"authorization_code": 1}
    assert stats["token_errors"] == {}
    assert stats["authorization_requests"] == 1


async def test_expiry_refresh_rotation_and_reuse(
    provider: RunningProvider, user: str, notes: tuple[str, NotesState]
) -> None:
    base, _state = notes
    await provider.set_access_token_ttl(2)
    async with httpx.AsyncClient() as http:
        t = await tokens(provider, http)
        assert 0 < t["expires_in"] <= 2
        assert (await http.get(f"{base}/api/notes", headers=bearer(t["access_token"]))).is_success

        await wait_inactive(provider, t["access_token"])
        expired = await http.get(f"{base}/api/notes", headers=bearer(t["access_token"]))
        assert expired.status_code == 401
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]

        rotated = await refresh(provider, http, t["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        t2 = rotated.json()
        assert t2["refresh_token"] != t["refresh_token"]
        assert t2["access_token"] != t["access_token"]
        assert set(t2["scope"].split()) == {"notes.read", "notes.write"}
        assert (await http.get(f"{base}/api/notes", headers=bearer(t2["access_token"]))).is_success

        reused = await refresh(provider, http, t["refresh_token"])
        assert reused.status_code == 400
        assert reused.json()["error"] == "invalid_grant"
        # Reuse detection: the provider revoked the whole grant, the newest tokens included.
        assert (await provider.introspect(t2["access_token"]))["active"] is False
        after = await refresh(provider, http, t2["refresh_token"])
        assert after.json()["error"] == "invalid_grant"

    stats = await provider.stats()
    assert stats["token_requests"] == {"authorization_code": 1, "refresh_token": 3}
    assert stats["token_errors"] == {"refresh_token": 2}


async def test_revoked_user_grant_fails_the_next_refresh(
    provider: RunningProvider, user: str
) -> None:
    async with httpx.AsyncClient() as http:
        t = await tokens(provider, http)
        first = await refresh(provider, http, t["refresh_token"])
        assert first.status_code == 200, first.text
        t2 = first.json()

        assert await provider.revoke_user("nobody") == 0
        assert await provider.revoke_user(user) == 1
        assert (await provider.introspect(t2["access_token"]))["active"] is False
        failed = await refresh(provider, http, t2["refresh_token"])
        assert failed.status_code == 400
        assert failed.json()["error"] == "invalid_grant"

        # A new authorization gives a new grant that works.
        t3 = await tokens(provider, http)
        assert (await refresh(provider, http, t3["refresh_token"])).status_code == 200

    stats = await provider.stats()
    assert stats["token_requests"] == {"authorization_code": 2, "refresh_token": 3}
    assert stats["token_errors"] == {"refresh_token": 1}
    await provider.reset_stats()
    assert (await provider.stats())["token_requests"] == {}


async def test_pkce_is_required_and_checked(provider: RunningProvider, user: str) -> None:
    async with httpx.AsyncClient() as http:
        url = provider.authorization_url(code_challenge="x" * 43)
        no_pkce = url.replace("code_challenge=", "ignored=").replace(
            "code_challenge_method=S256", "ignored2=S256"
        )
        result = await authorize_headless(http, no_pkce, provider.redirect_uri)
        assert result["error"] == "invalid_request"

        plain = provider.authorization_url(code_challenge="x" * 43, code_challenge_method="plain")
        result = await authorize_headless(http, plain, provider.redirect_uri)
        assert result["error"] == "invalid_request"

        code, _verifier = await get_code(provider, http)
        wrong = await token_request(
            provider,
            http,
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": pkce_pair()[0],
                "redirect_uri": provider.redirect_uri,
            },
        )
        assert wrong.status_code == 400
        assert wrong.json()["error"] == "invalid_grant"

        bad_secret = await http.post(
            provider.token_endpoint,
            data={"grant_type": "refresh_token", "refresh_token": "x"},
            auth=(provider.client_id, "wrong"),
        )
        assert bad_secret.status_code == 401
        assert bad_secret.json()["error"] == "invalid_client"


async def test_read_only_token_gets_insufficient_scope(
    provider: RunningProvider, user: str, notes: tuple[str, NotesState]
) -> None:
    base, state = notes
    state.add(user, "seeded")
    state.add("someone-else", "not theirs")
    async with httpx.AsyncClient() as http:
        t = await tokens(provider, http, scope="notes.read")
        assert t["scope"] == "notes.read"
        assert t["refresh_token"]
        listed = await http.get(f"{base}/api/notes", headers=bearer(t["access_token"]))
        assert [n["title"] for n in listed.json()["notes"]] == ["seeded"]
        denied = await http.post(
            f"{base}/api/notes", json={"title": "no"}, headers=bearer(t["access_token"])
        )
        assert denied.status_code == 403
        assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
        assert 'scope="notes.write"' in denied.headers["www-authenticate"]


async def test_form_mode_login_and_consent(provider: RunningProvider, user: str) -> None:
    await provider.set_auto_login(None)
    async with httpx.AsyncClient() as http:
        verifier, challenge = pkce_pair()
        url = provider.authorization_url(code_challenge=challenge)
        first = await http.get(url, follow_redirects=True)
        assert first.status_code == 200
        assert 'name="login"' in first.text
        assert first.url.path.startswith("/interaction/")

        result = await authorize_headless(http, url, provider.redirect_uri, user=user)
        response = await token_request(
            provider,
            http,
            {
                "grant_type": "authorization_code",
                "code": result["code"],
                "code_verifier": verifier,
                "redirect_uri": provider.redirect_uri,
            },
        )
        assert response.status_code == 200, response.text
        info = await provider.introspect(response.json()["access_token"])
        assert info["sub"] == user

        # Switch to auto mode at run time (a fresh browser, no session).
        await provider.set_auto_login("carol")
        async with httpx.AsyncClient() as other:
            code, verifier = await get_code(provider, other)
            assert code


async def test_denied_consent_and_late_redirect_uris(provider: RunningProvider, user: str) -> None:
    await provider.set_auto_login(None)
    async with httpx.AsyncClient() as http:
        _verifier, challenge = pkce_pair()
        url = provider.authorization_url(code_challenge=challenge)
        page = await http.get(url, follow_redirects=True)
        denied = await http.post(f"{page.url}/abort", follow_redirects=False)
        assert denied.is_redirect
        result = await authorize_headless(http, denied.headers["location"], provider.redirect_uri)
        assert result["error"] == "access_denied"

        late = "http://127.0.0.1:12345/oauth/callback"
        url = provider.authorization_url(code_challenge=challenge, redirect_uri=late)
        refused = await http.get(url, follow_redirects=False)
        assert refused.status_code == 400  # not redirected to an unregistered URI
        await provider.allow_redirect_uris([late])
        await provider.set_auto_login(user)
        result = await authorize_headless(http, url, late)
        assert result["code"]


async def test_discovery_lists_the_notes_scopes(provider: RunningProvider) -> None:
    meta = provider.metadata
    assert meta["issuer"] == provider.issuer
    assert provider.issuer.startswith("http://127.0.0.1:")
    assert {"notes.read", "notes.write"} <= set(meta["scopes_supported"])
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"client_secret_basic", "client_secret_post"} <= set(
        meta["token_endpoint_auth_methods_supported"]
    )
    async with httpx.AsyncClient() as http:
        oidc = await http.get(provider.issuer + "/.well-known/openid-configuration")
        assert oidc.json()["token_endpoint"] == provider.token_endpoint


async def test_openid_and_offline_access_are_optional_extras(
    provider: RunningProvider, user: str
) -> None:
    async with httpx.AsyncClient() as http:
        t = await tokens(provider, http, scope="openid offline_access notes.read notes.write")
        assert t["id_token"].count(".") == 2
        assert t["refresh_token"]
        # The access token is for the notes resource: only its scopes, no OIDC ones.
        assert set(t["scope"].split()) == {"notes.read", "notes.write"}
        info = await provider.introspect(t["access_token"])
        assert set(info["scope"].split()) == {"notes.read", "notes.write"}
        rotated = await refresh(provider, http, t["refresh_token"])
        assert set(rotated.json()["scope"].split()) == {"notes.read", "notes.write"}
