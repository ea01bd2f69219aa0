"""``${grant.NAME}``: declared, checked where the spec uses them, read at sign-in, stored
sealed with the grant, and put into each user's requests only in the place they may go."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx2
import pytest

from builder.connector import load_connector_text
from builder.connector.models_provider import GrantValue
from builder.connector.resolved import resolve_connector
from builder.errors import GrantEnded, ProviderError, SpecError
from builder.provider.client import UpstreamOAuth, UpstreamTokens
from builder.provider.grants import GrantCredentials, GrantManager
from builder.provider.values import check_grant_value
from builder.state.crypto import Cipher, generate_key
from builder.state.sqlite import SQLiteStore
from builder.tools.call import ToolRunner
from builder.tools.request import OutgoingRequest
from builder.tools.transport import UpstreamResponse

pytestmark = pytest.mark.anyio

SPEC = """\
mcpbuild: 1
name: values
provider:
  authorization_url: https://login.example.com/authorize
  token_url: https://login.example.com/token
  client_id: ${CLIENT_ID}
  client_secret: ${CLIENT_SECRET}
  scopes: {api: Use the API}
  grant_values:
    instance_url: {select: instance_url, url: true, hosts: ["*.my.example.com"]}
    site: {from: "https://login.example.com/sites", select: "[0].id", pattern: "[0-9a-f-]{36}"}
api:
  base_url: BASE
  headers: HEADERS
tools:
  - name: whoami
    description: Who am I.
    scopes: [api]
    request: {method: GET, path: /me}
"""
SITE = "3f1b1c57-1111-4a3e-9d84-0d1d2f6b7a10"
ENV = {"CLIENT_ID": "id", "CLIENT_SECRET": "secret"}


def spec(base: str = "${grant.instance_url}/api/v1", headers: str = "{}") -> str:
    return SPEC.replace("BASE", base).replace("HEADERS", headers)


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_connector_text(text, "c.yaml")
    return [issue.render() for issue in info.value.issues]


def test_a_valid_use_of_each_kind_of_value() -> None:
    connector = load_connector_text(spec(headers='{X-Site: "${grant.site}"}'))
    resolved = resolve_connector(connector, ENV)
    assert resolved.per_grant


@pytest.mark.parametrize(
    ("base", "headers", "expected"),
    [
        (
            "${grant.instance}/api",
            "{}",
            "c.yaml:13:13: api.base_url: unknown grant value 'instance'; did you mean "
            "'instance_url'?",
        ),
        (
            "https://api.example.com/${grant.instance_url}",
            "{}",
            "c.yaml:13:13: api.base_url: grant value 'instance_url' is a URL: it can only "
            "start api.base_url",
        ),
        (
            "${grant.site}/api",
            "{}",
            "c.yaml:13:13: api.base_url: grant value 'site' is not a URL (`url: true`), so it "
            "cannot be the base URL's origin",
        ),
        (
            "${grant.instance_url}api",
            "{}",
            "c.yaml:13:13: api.base_url: expected a path after ${grant.instance_url}, got 'api'",
        ),
        (
            "https://api.example.com",
            '{X-Org: "${grant.instance_url}"}',
            "c.yaml:14:20: api.headers.X-Org: grant value 'instance_url' is a URL: it can only "
            "start api.base_url",
        ),
    ],
)
def test_misused_grant_references_are_errors_at_their_place(
    base: str, headers: str, expected: str
) -> None:
    assert expected in errors_of(spec(base, headers))


def test_grant_references_outside_base_url_and_headers_are_refused() -> None:
    text = spec("https://api.example.com").replace(
        "request: {method: GET, path: /me}",
        'request: {method: GET, path: /me, query: {site: "${grant.site}"}}',
    )
    assert any(
        "tools[0].request.query.site: ${grant.NAME} can be used in api.base_url and headers" in e
        for e in errors_of(text)
    )


def test_a_connector_without_grant_values_gets_told_so() -> None:
    text = """\
mcpbuild: 1
name: none
api: {base_url: "https://api.example.com/${grant.site}"}
tools:
  - {name: t, description: T., request: {method: GET, path: /t}}
"""
    assert errors_of(text) == [
        "c.yaml:3:17: api.base_url: unknown grant value 'site'; the connector has no "
        "provider, so there is no grant"
    ]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("https://acme.my.example.com", None),
        ("https://ACME.my.example.com/", None),
        ("http://acme.my.example.com", "expected an https URL"),
        ("https://evil.example.org", "host evil.example.org is not one of *.my.example.com"),
        ("https://acme.my.example.com.evil.org", "is not one of"),
        ("https://my.example.com", "is not one of"),
        ("https://user:pw@acme.my.example.com", "without credentials"),
        ("https://acme.my.example.com/services", "without a path"),
        ("https://acme.my.example.com?x=1", "without credentials, query or fragment"),
        ("javascript:alert(1)", "expected an https URL"),
        ("http://127.0.0.1:9999", "is not one of"),
    ],
)
def test_url_values_must_be_an_https_origin_on_a_declared_host(
    value: str, problem: str | None
) -> None:
    spec = GrantValue.model_validate({"select": "x", "url": True, "hosts": ["*.my.example.com"]})
    found = check_grant_value(spec, value)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


@pytest.mark.parametrize(
    "value", ["../admin", "a/b", "a%2Fb", "x?y=1", "a#b", "", "a" * 201, "é", "a b"]
)
def test_other_values_are_one_path_segment_by_default(value: str) -> None:
    spec = GrantValue.model_validate({"select": "x"})
    assert check_grant_value(spec, value) is not None
    assert check_grant_value(spec, "cloud-1234_ab.c~d") is None


@pytest.mark.parametrize("value", ["acme\r\nX-Evil: 1", "acme\x00", "acme\tx"])
def test_control_characters_are_refused_whatever_the_pattern(value: str) -> None:
    loose = GrantValue.model_validate({"select": "x", "pattern": ".+"})
    assert check_grant_value(loose, value) == "expected a value without control characters"
    url = GrantValue.model_validate({"select": "x", "url": True})
    assert check_grant_value(url, "https://" + value) is not None


def upstream(answers: dict[str, Any]) -> UpstreamOAuth:
    """The provider's token endpoint and the sites endpoint, answering ``answers``."""
    connector = load_connector_text(spec())
    resolved = resolve_connector(connector, ENV)
    assert resolved.provider is not None
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("authorization", ""))
        if request.url.path == "/sites":
            assert request.headers["authorization"] == "Bearer at-1"
            return httpx2.Response(200, json=answers["sites"])
        return httpx2.Response(200, json=answers["token"])

    return UpstreamOAuth(
        resolved.provider, "http://127.0.0.1/cb", transport=httpx2.MockTransport(handler)
    )


TOKEN = {
    "access_token": "at-1",
    "refresh_token": "rt-1",
    "instance_url": "https://a.my.example.com",
}


async def test_values_are_read_from_the_token_and_from_the_post_token_call() -> None:
    tokens = await upstream({"token": TOKEN, "sites": [{"id": SITE}]}).exchange_code("c", None)
    assert dict(tokens.values) == {"instance_url": "https://a.my.example.com", "site": SITE}


@pytest.mark.parametrize(
    ("token", "sites", "message"),
    [
        (
            {"access_token": "at-1"},
            [{"id": SITE}],
            "grant value 'instance_url': expected a string at 'instance_url' in the token "
            "response, got nothing",
        ),
        (
            {**TOKEN, "instance_url": "https://attacker.example.org"},
            [{"id": SITE}],
            "grant value 'instance_url' from the token response: host attacker.example.org "
            "is not one of *.my.example.com",
        ),
        (
            TOKEN,
            [],
            "grant value 'site': expected a string at '[0].id' in "
            "https://login.example.com/sites, got nothing",
        ),
        (
            TOKEN,
            [{"id": "../../admin"}],
            "grant value 'site' from https://login.example.com/sites: expected a value matching",
        ),
    ],
)
async def test_a_missing_or_unfit_value_fails_the_sign_in_with_what_was_expected(
    token: dict[str, Any], sites: list[Any], message: str
) -> None:
    with pytest.raises(ProviderError) as info:
        await upstream({"token": token, "sites": sites}).exchange_code("c", None)
    assert message in info.value.description
    assert "at-1" not in str(info.value)


class Recorder:
    """An upstream client that answers 200 and keeps every request."""

    def __init__(self) -> None:
        self.sent: list[OutgoingRequest] = []

    async def send(
        self, request: OutgoingRequest, *, timeout: float, read_limit: int
    ) -> UpstreamResponse:
        self.sent.append(request)
        return UpstreamResponse(200, "OK", {"content-type": "application/json"}, b"{}", False)

    async def aclose(self) -> None:
        pass


async def test_values_are_sealed_with_the_grant_and_each_user_calls_their_own_origin(
    tmp_path: Path,
) -> None:
    connector = load_connector_text(spec(headers='{X-Site: "${grant.site}"}'))
    resolved = resolve_connector(connector, ENV)
    store = SQLiteStore(str(tmp_path / "state.db"))
    cipher = Cipher(generate_key())
    oauth = upstream({"token": TOKEN, "sites": [{"id": SITE}]})
    grants = GrantManager(store, cipher, oauth)
    other = "b1b2b3b4-1111-4a3e-9d84-0d1d2f6b7a10"
    for grant_id, origin, site in (
        ("g-alice", "https://alice.my.example.com", SITE),
        ("g-bob", "https://bob.my.example.com", other),
    ):
        values: Mapping[str, str] = {"instance_url": origin, "site": site}
        tokens = UpstreamTokens("at-" + grant_id, "rt", None, ["api"], values)
        await grants.create(grant_id, "client", tokens, ["api"])
    raw = (tmp_path / "state.db").read_bytes()
    assert b"alice.my.example.com" not in raw
    assert SITE.encode() not in raw
    recorder = Recorder()
    runner = ToolRunner(resolved, recorder)
    for grant_id in ("g-alice", "g-bob", "g-alice"):
        result = await runner.call("whoami", {}, GrantCredentials(grants, grant_id))
        assert not result.is_error, result.text
    urls = [r.url for r in recorder.sent]
    assert urls == [
        "https://alice.my.example.com/api/v1/me",
        "https://bob.my.example.com/api/v1/me",
        "https://alice.my.example.com/api/v1/me",
    ]
    assert [r.headers["X-Site"] for r in recorder.sent] == [SITE, other, SITE]
    assert recorder.sent[1].headers["Authorization"] == "Bearer at-g-bob"
    await store.close()


async def test_a_stored_value_that_no_longer_fits_is_refused_before_any_request(
    tmp_path: Path,
) -> None:
    connector = load_connector_text(spec())
    resolved = resolve_connector(connector, ENV)
    store = SQLiteStore(str(tmp_path / "state.db"))
    grants = GrantManager(store, Cipher(generate_key()), upstream({}))
    tokens = UpstreamTokens("at", "rt", None, ["api"], {"instance_url": "https://evil.org"})
    await grants.create("g", "client", tokens, ["api"])
    tokens = UpstreamTokens("at", "rt", None, ["api"], {})
    await grants.create("old", "client", tokens, ["api"])
    recorder = Recorder()
    runner = ToolRunner(resolved, recorder)
    result = await runner.call("whoami", {}, GrantCredentials(grants, "g"))
    assert result.is_error
    assert "value 'instance_url' cannot be used: host evil.org is not one of" in result.text
    with pytest.raises(GrantEnded):
        await grants.values("old")
    assert recorder.sent == []
    await store.close()


def test_the_grant_value_placeholders_of_replay_cases() -> None:
    from builder.replay.runner import PLACEHOLDER_URL, grant_placeholders

    connector = load_connector_text(spec())
    assert grant_placeholders(connector) == {"instance_url": PLACEHOLDER_URL, "site": "test-site"}
    assert json.dumps(grant_placeholders(connector))


@pytest.mark.parametrize(
    ("template", "url", "values"),
    [
        (
            "${grant.instance_url}/services/data/v62.0",
            "https://acme.my.salesforce.com/services/data/v62.0/query?q=x",
            {"instance_url": "https://acme.my.salesforce.com"},
        ),
        (
            "https://api.atlassian.com/ex/jira/${grant.cloud_id}/rest/api/3",
            "https://api.atlassian.com/ex/jira/1324a887-45db/rest/api/3/issue/X-1",
            {"cloud_id": "1324a887-45db"},
        ),
        ("https://api.atlassian.com/ex/jira/${grant.cloud_id}/rest", "https://else.org/x", None),
    ],
)
def test_record_learns_the_base_url_of_a_live_call(
    template: str, url: str, values: dict[str, str] | None
) -> None:
    from builder.provider.values import fill_grant_refs, grant_values_in

    assert grant_values_in(template, url) == values
    if values is not None:
        assert url.startswith(fill_grant_refs(template, values))
