"""A tool that needs any one of several scopes (Spotify's public or private playlists)."""

from __future__ import annotations

import pytest

from builder.connector import load_connector_text
from builder.connector.resolved import ResolvedConnector, resolve_connector
from builder.errors import SpecError

SPEC = """\
mcpbuild: 1
name: playlists
provider:
  preset: spotify
  scopes:
    playlist-modify-public: Change your public playlists
    playlist-modify-private: Change your private playlists
    user-read-private: See your account
api: {base_url: https://api.spotify.com/v1}
tools:
  - name: add_to_playlist
    description: Add tracks to a playlist.
    scopes: [user-read-private]
    any_scopes: ANY
    request: {method: POST, path: "/playlists/{playlist_id}/tracks"}
    params:
      playlist_id: {type: string, in: path, required: true}
"""
ENV = {"SPOTIFY_CLIENT_ID": "id", "SPOTIFY_CLIENT_SECRET": "secret"}


def resolved(
    any_scopes: str = "[playlist-modify-public, playlist-modify-private]",
) -> ResolvedConnector:
    return resolve_connector(load_connector_text(SPEC.replace("ANY", any_scopes)), ENV)


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        (["user-read-private", "playlist-modify-public"], []),
        (["user-read-private", "playlist-modify-private"], []),
        (
            ["user-read-private"],
            ["playlist-modify-public or playlist-modify-private"],
        ),
        (["playlist-modify-private"], ["user-read-private"]),
    ],
)
def test_all_of_scopes_and_any_of_any_scopes(granted: list[str], missing: list[str]) -> None:
    assert resolved().missing_scopes("add_to_playlist", granted) == missing


def test_a_sign_in_that_names_nothing_asks_for_the_first_any_scope() -> None:
    provider = resolved().provider
    assert provider is not None
    assert provider.default_scopes == ("playlist-modify-public", "user-read-private")


def test_an_undeclared_any_scope_is_an_error_at_its_place() -> None:
    with pytest.raises(SpecError) as info:
        load_connector_text(SPEC.replace("ANY", "[playlist-modify-all]"), "c.yaml")
    [issue] = info.value.issues
    assert issue.render().startswith(
        "c.yaml:14:18: tools[0].any_scopes[0]: scope 'playlist-modify-all' is not declared"
    )
