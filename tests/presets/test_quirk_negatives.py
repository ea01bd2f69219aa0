"""A preset that omits its provider's quirk fails against the simulator, with the
provider's error and no traceback or secret: one test per quirk family. Also: the
simulator itself refuses what the providers refuse, and GitHub's form-encoded and HTTP
200 answers reach the user as GitHub wrote them."""

from __future__ import annotations

import base64
import hashlib
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from tests.presets.conftest import Flow, Start
from tests.presets.profiles import PROFILES
from tests.presets.simulator import CLIENT_ID, simulate

pytestmark = pytest.mark.anyio


async def refused_at_sign_in(flow: Flow, error: str) -> None:
    """`mcpbuild login` exits 1 and names the provider's ``error``."""
    ran = await flow.login()
    assert ran.code == 1, ran.out + ran.err
    assert error in ran.err, ran.err
    assert (await flow.stats())["refreshes"] == 0
    flow.assert_clean()


async def no_refresh_after_expiry(flow: Flow) -> None:
    """Sign-in and a call work, but no refresh token came: after a forced expiry the call
    fails and says to sign in again (no refresh was possible)."""
    signed_in = await flow.login()
    assert signed_in.code == 0, signed_in.err
    first = await flow.call()
    assert first.code == 0, first.out + first.err
    await flow.expire()
    second = await flow.call()
    assert second.code == 1, second.out + second.err
    assert "sign in again" in second.out + second.err
    stats = await flow.stats()
    assert stats["refreshes"] == 0
    assert stats["refresh_rejected"] == 0
    flow.assert_clean()


@pytest.mark.parametrize(
    ("name", "method", "error"),
    [
        ("zoom", "client_secret_post", "invalid_client"),  # Basic only
        ("notion", "client_secret_post", "invalid_client"),  # Basic only
        ("hubspot", "client_secret_basic", "BAD_CLIENT_ID"),  # body only
    ],
)
async def test_client_authentication(start: Start, name: str, method: str, error: str) -> None:
    flow = await start(name)
    flow.write(flow.provider(token_endpoint_auth_method=method))
    await refused_at_sign_in(flow, error)
    (request,) = (await flow.stats())["token_requests"]
    assert request["auth"] == ("post" if method == "client_secret_post" else "basic")


async def test_body_encoding(start: Start) -> None:
    """Notion reads a JSON body only."""
    flow = await start("notion")
    flow.write(flow.provider(token_request_format="form"))
    await refused_at_sign_in(flow, "invalid_request")
    (request,) = (await flow.stats())["token_requests"]
    assert request["format"] == "form"


async def test_token_location(start: Start) -> None:
    """Slack's user token is only inside authed_user: read at the top, there is none."""
    flow = await start("slack")
    flow.write(flow.without("token_response_path"))
    ran = await flow.login()
    assert ran.code == 1, ran.out + ran.err
    assert "access_token" in ran.err, ran.err
    flow.assert_clean()


@pytest.mark.parametrize(
    ("name", "change", "scopes"),
    [
        # User scopes asked for as bot scopes: search:read is no bot scope.
        ("slack", {"scope_param": "scope"}, None),
        # Space-separated where the provider splits on commas.
        ("slack", {"scope_separator": " "}, ["search:read", "users:read"]),
        ("linear", {"scope_separator": " "}, ["read", "write"]),
        # Comma-separated where the provider splits on spaces.
        ("spotify", {"scope_separator": ","}, ["user-read-private", "user-read-email"]),
    ],
)
async def test_scope_parameter_and_separator(
    start: Start, name: str, change: dict[str, str], scopes: list[str] | None
) -> None:
    flow = await start(name)
    provider = flow.provider(**change)
    if scopes:
        provider["scopes"] = {s: f"Simulated {s}" for s in scopes}
    flow.write(provider, tool_scopes=scopes)
    await refused_at_sign_in(flow, "invalid_scope")


async def test_always_requested_scopes(start: Start) -> None:
    """HubSpot refuses an install URL without the `oauth` scope."""
    flow = await start("hubspot")
    flow.write(flow.without("always_request"))
    await refused_at_sign_in(flow, "invalid_scope")
    (asked,) = (await flow.stats())["authorize_requests"]
    assert "oauth" not in asked["scope"].split()


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("google", {"authorize_params": {"access_type": "online"}}),
        # A user who approved the client before gets a refresh token only with consent.
        ("google", {"authorize_params": {"prompt": "select_account"}}),
        ("dropbox", {"authorize_params": {"token_access_type": "online"}}),
        ("microsoft", "always_request"),  # no offline_access
        ("atlassian", "always_request"),  # no offline_access
        ("salesforce", "always_request"),  # no refresh_token scope
    ],
)
async def test_refresh_token_request(start: Start, name: str, change: Any) -> None:
    flow = await start(name)
    flow.write(flow.without(change) if isinstance(change, str) else flow.provider(**change))
    await no_refresh_after_expiry(flow)


@pytest.mark.parametrize(
    ("name", "param", "error"),
    [
        ("atlassian", "audience", "invalid_request"),
        ("notion", "owner", "invalid_request"),
    ],
)
async def test_required_authorize_params(start: Start, name: str, param: str, error: str) -> None:
    flow = await start(name)
    provider = flow.without()
    provider["authorize_params"] = {
        k: v for k, v in provider.get("authorize_params", {}).items() if k != param
    }
    flow.write(provider)
    await refused_at_sign_in(flow, error)


async def test_grant_values(start: Start) -> None:
    """Salesforce's API is at the org's instance_url, not at the login host: a base URL
    that ignores the grant value reaches no API."""
    flow = await start("salesforce")
    flow.write(base_url=f"{flow.sim.url}/services/data/v62.0")
    signed_in = await flow.login()
    assert signed_in.code == 0, signed_in.err
    ran = await flow.call()
    assert ran.code == 1, ran.out + ran.err
    assert "404" in ran.out + ran.err
    flow.assert_clean()


async def test_cloud_id_must_match(start: Start) -> None:
    """Atlassian's API is only under /ex/jira/{the user's cloud id}/: the value read from
    accessible-resources is what makes the call work."""
    flow = await start("atlassian")
    provider = flow.provider()
    name = next(iter(provider["grant_values"]))
    provider["grant_values"][name]["select"] = "[0].name"  # a site name, not its id
    provider["grant_values"][name].pop("pattern", None)
    flow.write(provider)
    signed_in = await flow.login()
    assert signed_in.code == 0, signed_in.err
    ran = await flow.call()
    assert ran.code == 1, ran.out + ran.err
    assert "404" in ran.out + ran.err
    flow.assert_clean()


@pytest.mark.parametrize("form_always", [False, True])
async def test_github_errors_with_http_200_reach_the_user(start: Start, form_always: bool) -> None:
    """A bad code: GitHub answers HTTP 200 with error=bad_verification_code (JSON when
    asked for it, else form-encoded); the user is told that, not "signed in"."""
    flow = await start("github", form_always=form_always)
    flow.write()
    ran = await flow.login(code="not-a-code")
    assert ran.code == 1, ran.out + ran.err
    assert "bad_verification_code" in ran.err, ran.err
    (request,) = (await flow.stats())["token_requests"]
    assert request["error"] == "invalid_grant"
    if not form_always:
        assert "application/json" in request["accept"]  # asked for JSON, so JSON came
    flow.assert_clean()


async def test_github_form_encoded_answer_is_read(start: Start) -> None:
    """GitHub's default answer, `access_token=...&scope=a,b&token_type=bearer`: the token
    and the comma-separated scopes are read."""
    flow = await start("github", form_always=True)
    provider = flow.provider()
    provider["scopes"] = {"read:user": "Read your profile", "repo": "Your repositories"}
    flow.write(provider, tool_scopes=["read:user", "repo"])
    signed_in = await flow.login()
    assert signed_in.code == 0, signed_in.err
    assert "(scopes: read:user repo)" in signed_in.out
    ran = await flow.call()
    assert ran.code == 0, ran.out + ran.err
    flow.assert_clean()


async def test_slack_ok_false_reaches_the_user(start: Start) -> None:
    flow = await start("slack")
    flow.write()
    ran = await flow.login(code="not-a-code")
    assert ran.code == 1, ran.out + ran.err
    assert "invalid_code" in ran.err, ran.err
    flow.assert_clean()


# --- the simulator on its own: it refuses, it does not accept anything -----------------


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_the_simulator_refuses_what_providers_refuse() -> None:
    async with simulate(PROFILES["gitlab"], client_secret="s3cret") as sim:
        redirect = "http://127.0.0.1:9/oauth/callback"
        sim.redirect_uris.add(redirect)
        auth = httpx.BasicAuth(CLIENT_ID, "s3cret")
        async with httpx.AsyncClient(base_url=sim.url) as http:
            base = {"client_id": CLIENT_ID, "response_type": "code", "scope": "read_user"}

            async def code(**extra: str) -> str:
                answer = await http.get("/authorize", params={**base, **extra})
                assert answer.status_code == 302, answer.text
                return dict(parse_qsl(urlsplit(answer.headers["location"]).query))["code"]

            other = await http.get(
                "/authorize", params={**base, "redirect_uri": redirect + "/other"}
            )
            assert other.status_code == 400  # never redirected to an unregistered URI

            def exchange(value: str, **extra: str) -> dict[str, str]:
                return {
                    "grant_type": "authorization_code",
                    "code": value,
                    "redirect_uri": redirect,
                    **extra,
                }

            pkce = await code(
                redirect_uri=redirect,
                code_challenge=_challenge("v" * 43),
                code_challenge_method="S256",
            )
            wrong = await http.post(
                "/token", data=exchange(pkce, code_verifier="w" * 43), auth=auth
            )
            assert wrong.json()["error"] == "invalid_grant"
            again = await http.post(
                "/token", data=exchange(pkce, code_verifier="v" * 43), auth=auth
            )
            assert again.json()["error"] == "invalid_grant"  # a code is single-use

            plain = await code(redirect_uri=redirect)
            moved = await http.post(
                "/token",
                data={**exchange(plain), "redirect_uri": redirect + "/x"},
                auth=auth,
            )
            assert moved.json()["error"] == "invalid_grant"

            good = await code(redirect_uri=redirect)
            tokens = (await http.post("/token", data=exchange(good), auth=auth)).json()
            me = await http.get(
                "/api/user", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            assert me.status_code == 200
            refresh = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
            rotated = (await http.post("/token", data=refresh, auth=auth)).json()
            assert rotated["refresh_token"] != tokens["refresh_token"]
            reused = await http.post("/token", data=refresh, auth=auth)
            assert reused.status_code == 400
            assert reused.json()["error"] == "invalid_grant"  # rotation: the old one is dead
            old = await http.get(
                "/api/user", headers={"Authorization": f"Bearer {tokens['access_token']}"}
            )
            assert old.status_code == 401
            assert sim.stats.refreshes == 1
            assert sim.stats.refresh_rejected == 1
