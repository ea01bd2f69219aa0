"""Every preset against a simulator of its provider's quirks, through `mcpbuild login` and
`mcpbuild call` as real processes: sign in, call, a forced expiry refreshed, and a second
one that works only if a rotated refresh token was saved."""

from __future__ import annotations

import json

import pytest

from tests.presets.conftest import PRESETS, TOOL_SCOPES, Start
from tests.presets.profiles import PROFILES

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", PRESETS)
async def test_preset_signs_in_calls_refreshes_and_survives_rotation(
    start: Start, name: str
) -> None:
    flow = await start(name)
    profile = PROFILES[name]
    flow.write()

    signed_in = await flow.login()
    assert signed_in.code == 0, signed_in.err
    assert f"signed in to Simulated {name}" in signed_in.out
    for scope in TOOL_SCOPES[name]:
        assert scope in signed_in.out
    stats = await flow.stats()
    assert stats["codes_exchanged"] == 1
    (asked,) = stats["authorize_requests"]
    assert asked["client_id"] == "sim-client-id"

    first = await flow.call()
    assert first.code == 0, first.out + first.err
    assert json.loads(first.out)["id"] == "alice"

    await flow.expire()
    second = await flow.call()
    stats = await flow.stats()
    if profile.rotation == "never":
        # GitHub OAuth App tokens never expire and have no refresh token: an API that
        # says 401 ends the grant, with a clear way out, instead of a loop.
        assert second.code == 1
        assert "sign in again" in second.out + second.err
        assert stats["refreshes"] == 0
        flow.assert_clean()
        return
    assert second.code == 0, second.out + second.err
    assert json.loads(second.out)["id"] == "alice"
    assert stats["refreshes"] == 1
    assert stats["refresh_rejected"] == 0

    await flow.expire()
    third = await flow.call()
    assert third.code == 0, third.out + third.err
    assert json.loads(third.out)["id"] == "alice"
    stats = await flow.stats()
    assert stats["refreshes"] == 2
    assert stats["refresh_rejected"] == 0
    if profile.rotation in ("rotate", "rotate_keep"):
        # The second refresh used the refresh token the first one issued.
        assert stats["generations_used"] == [0, 1]
    else:
        assert stats["generations_used"] == [0, 0]
    for request in stats["token_requests"]:
        assert "error" not in request, request
    flow.assert_clean()
