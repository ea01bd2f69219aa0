"""A client that identifies itself by a client ID metadata document, end to end: the
official SDK client with ``client_metadata_url``, its document served over https from
this machine, mcpbuild with ``--dev`` (loopback) trusting the test CA, oidc-provider and
the notes API. Without ``--dev`` the same document is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from builder.connector import load_connector
from builder.errors import ConfigError
from builder.server.serve import ServeOptions, open_connector
from tests.auth.documents import serving_documents
from tests.auth.stack import SPEC, mcpbuild, notes_api, spec_env
from tests.oauth_client import REDIRECT_URI, OAuthUser, pkce
from tests.provider_fixture import RunningProvider
from tests.tls import LocalCA

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def document_url(ca: LocalCA) -> AsyncIterator[str]:
    """``https://127.0.0.1:PORT/client.json``, a client's metadata document."""
    async with serving_documents(ca) as documents:
        yield documents.publish("client.json", [REDIRECT_URI], "Document-identified client")


async def test_document_client_signs_in_and_calls_a_tool(
    provider: RunningProvider, tmp_path: Path, ca: LocalCA, document_url: str
) -> None:
    async with (
        notes_api(provider) as notes,
        mcpbuild(provider, notes, tmp_path / "s.db", dev_ca=str(ca.ca_file)) as stack,
    ):
        user = OAuthUser(client_metadata_url=document_url)
        async with user.client(stack.mcp_url) as client:
            result = await client.call_tool("list_notes", {})
        assert not result.is_error, result.content
        assert user.browser.consent_pages == 1
        assert user.storage.client_info is not None
        assert user.storage.client_info.client_id == document_url  # no registration
        consent = next(u for u in user.browser.visited if "/consent?" in u)
        assert consent.startswith(stack.base)


async def test_without_dev_a_loopback_document_is_refused(
    provider: RunningProvider, tmp_path: Path, document_url: str
) -> None:
    async with notes_api(provider) as notes, mcpbuild(provider, notes, tmp_path / "s.db") as stack:
        _, challenge = pkce()
        query = {
            "response_type": "code",
            "client_id": document_url,
            "redirect_uri": REDIRECT_URI,
            "state": "s",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        async with httpx.AsyncClient(timeout=15) as http:
            response = await http.get(f"{stack.base}/authorize?{urlencode(query)}")
    assert response.status_code == 400
    assert "not found" in response.text


def test_loopback_documents_only_with_dev_on_loopback(provider: RunningProvider) -> None:
    connector = load_connector(str(SPEC))
    env = {**spec_env(provider, "http://127.0.0.1:9"), "MCPBUILD_SECRET_KEY": "x" * 43 + "="}
    for options, allowed in (
        (ServeOptions(store="sqlite:///:memory:"), False),
        (ServeOptions(store="sqlite:///:memory:", dev=True), True),
        (ServeOptions(host="0.0.0.0", store="sqlite:///:memory:", dev=True), False),
    ):
        served = open_connector(connector, options, env)
        assert served.oauth is not None
        assert served.oauth.server.fetcher.allow_loopback is allowed
    with pytest.raises(ConfigError, match="--dev-ca: only with --dev on a loopback"):
        open_connector(connector, ServeOptions(store="sqlite:///:memory:", dev_ca="x"), env)
