"""`mcpbuild dev` reloads of a connector with a provider: the grants, the store, the key
and the signed-in client survive; a changed provider is refused, and the old spec serves on."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.connector.load import load_connector_text
from builder.errors import ConfigError
from builder.server.live import reload
from builder.server.serve import ServeOptions, open_connector
from builder.state.crypto import generate_key
from tests.auth.stack import SPEC, notes_api, spec_env
from tests.oauth_client import OAuthUser
from tests.provider_fixture import RunningProvider
from tests.servers import bound_socket, running

pytestmark = pytest.mark.anyio

COUNT_NOTES = """\
  - name: count_notes
    description: Count the user's notes.
    scopes: [notes.read]
    request: {method: GET, path: /notes}
    response: {select: "length(notes)"}
"""


async def test_a_reload_keeps_grants_and_refuses_a_changed_provider(
    provider: RunningProvider, tmp_path: Path
) -> None:
    await provider.reset_stats()
    text = SPEC.read_text()
    sock = bound_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    await provider.allow_redirect_uris([base + "/oauth/callback"])
    options = ServeOptions(
        port=sock.getsockname()[1], store=f"sqlite:///{tmp_path / 's.db'}", reloadable=True
    )
    async with notes_api(provider) as (_, notes_url):
        env = {**spec_env(provider, notes_url), "MCPBUILD_SECRET_KEY": generate_key()}
        served = open_connector(load_connector_text(text), options, env)
        oauth = served.oauth
        assert oauth is not None
        async with running(served.http_app(options), sock=sock) as url:
            user = OAuthUser()
            async with user.client(f"{url}/mcp") as client:
                assert not (await client.call_tool("create_note", {"title": "Kept"})).is_error

                change = await reload(served, load_connector_text(text + COUNT_NOTES), options, env)
                names = [t.name for t in (await client.list_tools()).tools]
                counted = await client.call_tool("count_notes", {})

                changed_provider = text.replace(
                    "notes.write: Create and delete your notes",
                    "notes.write: Create and delete your notes\n    notes.admin: Everything",
                )
                with pytest.raises(ConfigError, match=r"provider scopes changed.*restart"):
                    await reload(served, load_connector_text(changed_provider), options, env)
                still = [t.name for t in (await client.list_tools()).tools]
    assert change.added == ("count_notes",)
    assert names == ["list_notes", "create_note", "delete_note", "count_notes"]
    assert not counted.is_error, counted.content
    assert counted.content[0].text == "1"  # type: ignore[union-attr]
    # The same sign-in served the new tool: no second consent, no second code exchange.
    assert user.browser.consent_pages == 1
    assert (await provider.stats())["token_requests"]["authorization_code"] == 1
    assert served.oauth is oauth
    assert oauth.connector.tools.keys() == served.runner.tools.keys()
    assert still == names
