"""The served connector, resolved once: variables, visible tools, scopes."""

from __future__ import annotations

import pytest

from builder.connector import load_connector_text
from builder.connector.resolved import resolve_connector
from builder.errors import ConfigError

SPEC = """\
mcpbuild: 1
name: notes
read_only: READ_ONLY
provider:
  authorization_url: ${AUTH_URL}
  token_url: https://notes.example.com/oauth/token
  client_id: ${CLIENT_ID}
  client_secret: ${CLIENT_SECRET}
  scopes: {offline_access: Stay signed in, notes.read: Read, notes.write: Write}
  always_request: [offline_access]
api:
  base_url: ${NOTES_URL}
  headers: {X-Key: "${API_KEY}"}
tools:
  - name: list_notes
    description: List notes.
    scopes: [notes.read]
    request: {method: GET, path: /notes, query: {token: "${QUERY_KEY}"}}
  - name: delete_note
    description: Delete a note.
    scopes: [notes.write]
    request: {method: DELETE, path: "/notes/{id}"}
    params:
      id: {type: string, in: path}
"""
ENV = {
    "AUTH_URL": "https://notes.example.com/oauth/authorize",
    "CLIENT_ID": "cid",
    "CLIENT_SECRET": "csecret",
    "NOTES_URL": "https://api.notes.example.com",
    "API_KEY": "hkey",
    "QUERY_KEY": "qkey",
}


def spec(read_only: bool = False) -> str:
    return SPEC.replace("READ_ONLY", "true" if read_only else "false")


def test_every_missing_variable_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as raised:
        resolve_connector(load_connector_text(spec(), "c.yaml"), {"AUTH_URL": ENV["AUTH_URL"]})
    text = str(raised.value)
    for name in ("CLIENT_ID", "CLIENT_SECRET", "NOTES_URL", "API_KEY", "QUERY_KEY"):
        assert f"environment variable {name} is not set" in text
    assert "AUTH_URL" not in text


def test_a_provider_url_from_the_environment_must_be_https() -> None:
    env = {**ENV, "AUTH_URL": "http://notes.example.com/oauth/authorize"}
    with pytest.raises(ConfigError, match=r"provider.authorization_url \(after \$\{VAR\}"):
        resolve_connector(load_connector_text(spec(), "c.yaml"), env)


def test_read_only_in_the_spec_hides_writes_and_their_scopes() -> None:
    resolved = resolve_connector(load_connector_text(spec(read_only=True), "c.yaml"), ENV)
    assert list(resolved.tools) == ["list_notes"]
    assert resolved.hidden == {"delete_note"}
    assert resolved.provider is not None
    assert resolved.provider.default_scopes == ("offline_access", "notes.read")
    full = resolve_connector(load_connector_text(spec(), "c.yaml"), ENV)
    assert full.provider is not None
    assert full.provider.default_scopes == ("offline_access", "notes.read", "notes.write")


def test_always_requested_scopes_join_what_the_client_asked_for() -> None:
    resolved = resolve_connector(load_connector_text(spec(), "c.yaml"), ENV)
    assert resolved.upstream_scopes(["notes.read"]) == ["notes.read", "offline_access"]


def test_values_from_the_environment_are_secrets_and_are_resolved() -> None:
    resolved = resolve_connector(load_connector_text(spec(), "c.yaml"), ENV)
    tool = resolved.tools["list_notes"]
    assert tool.query == (("token", "qkey"),)
    assert tool.headers["X-Key"] == "hkey"
    assert {"csecret", "hkey", "qkey"} <= set(resolved.secrets)
    assert resolved.missing_scopes("delete_note", ["notes.read"]) == ["notes.write"]
    assert resolved.missing_scopes("no_such_tool", []) == []
