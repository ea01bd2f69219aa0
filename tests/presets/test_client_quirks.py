"""The provider client's handling of quirks, one at a time, with faults injected through
``httpx2.MockTransport`` (Authlib's HTTP client is httpx2's). The whole flows run against
the simulators in test_preset_flows.py."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx2 as httpx
import pytest

from builder.connector import load_connector_text
from builder.connector.resolved import resolve_connector
from builder.errors import ProviderError
from builder.provider.client import UpstreamOAuth

pytestmark = pytest.mark.anyio

SPEC = """\
mcpbuild: 1
name: quirks
provider:
  authorization_url: https://auth.example.com/authorize
  token_url: https://auth.example.com/token
  client_id: ${CLIENT_ID}
  client_secret: ${CLIENT_SECRET}
  scopes: {read: Read, write: Write}
EXTRA
api: {base_url: https://api.example.com}
tools:
  - name: ping
    description: Ping.
    scopes: [read]
    request: {method: GET, path: /ping}
"""
ENV = {"CLIENT_ID": "the-client", "CLIENT_SECRET": "the-secret"}
Handler = Callable[[httpx.Request], httpx.Response]


def upstream(extra: str, handler: Handler) -> UpstreamOAuth:
    connector = load_connector_text(SPEC.replace("EXTRA\n", extra))
    resolved = resolve_connector(connector, ENV)
    assert resolved.provider is not None
    return UpstreamOAuth(
        resolved.provider,
        "http://127.0.0.1:8765/oauth/callback",
        transport=httpx.MockTransport(handler),
    )


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


async def test_a_form_encoded_answer_with_comma_scopes_is_read() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = "access_token=gho_abc&scope=repo%2Cuser&token_type=bearer"
        return httpx.Response(
            200, text=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )

    tokens = await upstream("", handler).exchange_code("code", "verifier")
    assert tokens.access_token == "gho_abc"
    assert tokens.scopes == ["repo", "user"]
    assert tokens.refresh_token is None
    assert tokens.expires_at is None


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"error": "bad_verification_code", "error_description": "The code is wrong."}),
        (200, {"ok": False, "error": "invalid_code"}),
        (400, {"error": "invalid_grant"}),
    ],
)
async def test_an_error_is_an_error_whatever_the_status(status: int, body: dict[str, Any]) -> None:
    client = upstream("", lambda request: httpx.Response(status, json=body))
    with pytest.raises(ProviderError) as info:
        await client.exchange_code("code", "verifier")
    assert info.value.error == body["error"]


async def test_an_empty_error_member_on_a_success_is_no_failure() -> None:
    answer = {"access_token": "a", "error": None, "ok": True}
    client = upstream("", lambda request: httpx.Response(200, json=answer))
    assert (await client.exchange_code("code", None)).access_token == "a"


async def test_ok_false_without_an_error_code_is_still_a_failure() -> None:
    client = upstream("", lambda request: httpx.Response(200, json={"ok": False}))
    with pytest.raises(ProviderError) as info:
        await client.exchange_code("code", None)
    assert info.value.error == "server_error"


async def test_a_nested_user_token_is_lifted_and_the_top_level_is_the_fallback() -> None:
    answers = [
        {
            "ok": True,
            "access_token": "xoxb-bot",
            "scope": "commands",
            "authed_user": {"access_token": "xoxp-user", "scope": "search:read,chat:write"},
        },
        {"ok": True, "access_token": "xoxe.xoxp-refreshed", "refresh_token": "xoxe-1-new"},
    ]
    client = upstream(
        "  token_response_path: authed_user\n",
        lambda request: httpx.Response(200, json=answers.pop(0)),
    )
    first = await client.exchange_code("code", None)
    assert first.access_token == "xoxp-user"
    assert first.scopes == ["search:read", "chat:write"]
    refreshed = await client.refresh("xoxe-1-old")
    assert refreshed.access_token == "xoxe.xoxp-refreshed"
    assert refreshed.refresh_token == "xoxe-1-new"


async def test_a_json_token_request_keeps_basic_client_authentication() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"access_token": "ntn_1", "token_type": "bearer"})

    client = upstream("  token_request_format: json\n", handler)
    await client.exchange_code("the-code", None)
    request = seen[0]
    assert request.headers["content-type"] == "application/json"
    body = json.loads(request.content)
    assert body == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "redirect_uri": "http://127.0.0.1:8765/oauth/callback",
    }
    basic = base64.b64encode(b"the-client:the-secret").decode()
    assert request.headers["authorization"] == f"Basic {basic}"
    assert int(request.headers["content-length"]) == len(request.content)


async def test_token_params_go_with_the_code_and_the_refresh() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(form(request))
        return httpx.Response(200, json={"access_token": "a", "refresh_token": "r"})

    client = upstream("  token_params: {audience: api.example.com}\n", handler)
    await client.exchange_code("code", "v")
    await client.refresh("r")
    assert [s["audience"] for s in seen] == ["api.example.com", "api.example.com"]
    assert seen[1]["grant_type"] == "refresh_token"
    assert "scope" not in seen[1]


@pytest.mark.parametrize(
    ("extra", "answer", "lifetime"),
    [
        # No expires_in and a refresh token: the preset's assumed lifetime.
        ("  default_expires_in: 7200\n", {"refresh_token": "r"}, 7200),
        # No refresh token: never an expiry that would end the grant (and force consent).
        ("  default_expires_in: 7200\n", {}, None),
        # No assumed lifetime: refreshed when the API answers 401.
        ("", {"refresh_token": "r"}, None),
        # The provider's own expires_in wins.
        ("  default_expires_in: 7200\n", {"refresh_token": "r", "expires_in": "1800"}, 1800),
    ],
)
async def test_expiry_without_expires_in(
    extra: str, answer: dict[str, Any], lifetime: int | None
) -> None:
    client = upstream(extra, lambda r: httpx.Response(200, json={"access_token": "a", **answer}))
    tokens = await client.exchange_code("code", None)
    if lifetime is None:
        assert tokens.expires_at is None
    else:
        assert tokens.expires_at is not None
        assert abs(tokens.expires_at - time.time() - lifetime) < 5


def test_the_scope_parameter_is_the_providers_and_only_that_one() -> None:
    client = upstream(
        '  scope_param: user_scope\n  scope_separator: ","\n',
        lambda r: httpx.Response(500),
    )
    url, state, verifier = client.authorization_request(["read", "write"])
    query = parse_qs(urlsplit(url).query)
    assert query["user_scope"] == ["read,write"]
    assert "scope" not in query
    assert query["state"] == [state]
    assert query["code_challenge_method"] == ["S256"]
    assert verifier


async def test_an_oversized_answer_is_refused() -> None:
    huge = {"access_token": "a", "padding": "x" * 300_000}
    client = upstream("", lambda r: httpx.Response(200, json=huge))
    with pytest.raises(ProviderError) as info:
        await client.exchange_code("code", None)
    assert info.value.error == "server_error"


async def test_an_html_error_page_is_not_a_token() -> None:
    client = upstream("", lambda r: httpx.Response(502, text="<html>Bad gateway</html>"))
    with pytest.raises(ProviderError):
        await client.exchange_code("code", None)


@pytest.mark.parametrize(
    ("body", "error", "description"),
    [
        # HubSpot's legacy shape: no `error`, the code in `status`, mapped to invalid_grant.
        (
            {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"},
            "invalid_grant",
            "BAD_REFRESH_TOKEN: missing or unknown refresh token",
        ),
        # HubSpot v3: status "error" is no code; the category is.
        (
            {"status": "error", "category": "VALIDATION_ERROR", "message": "bad input"},
            "VALIDATION_ERROR",
            "bad input",
        ),
        # An unknown code is passed on as it is, and does not end the grant.
        ({"errorCode": "RATE", "message": "slow down"}, "RATE", "slow down"),
        # Nothing that names the error at all.
        ({"detail": "?"}, "server_error", None),
    ],
)
async def test_a_failed_answer_without_error_takes_its_code_from_the_providers_fields(
    body: dict[str, Any], error: str, description: str | None
) -> None:
    client = upstream(
        "  error_codes: {BAD_REFRESH_TOKEN: invalid_grant}\n",
        lambda request: httpx.Response(400, json=body),
    )
    with pytest.raises(ProviderError) as info:
        await client.refresh("rt")
    assert info.value.error == error
    assert info.value.grant_ended == (error == "invalid_grant")
    if description is not None:
        assert info.value.description == description


async def test_the_lifetime_counts_from_before_the_request_in_whole_seconds() -> None:
    # Providers stamp tokens with a whole-second issue time: "now + expires_in" on receipt
    # would keep using a token up to a second after the provider dropped it.
    client = upstream(
        "", lambda r: httpx.Response(200, json={"access_token": "a", "expires_in": 60})
    )
    before = time.time()
    tokens = await client.exchange_code("code", None)
    assert tokens.expires_at is not None
    assert tokens.expires_at <= before + 60
    assert tokens.expires_at == int(tokens.expires_at)
