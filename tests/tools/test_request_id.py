"""The request id of a tool call run without an HTTP request (stdio, ``mcpbuild call``)."""

from __future__ import annotations

import re

import pytest

from builder.connector.models import Connector
from builder.tools.request_id import REQUEST_ID, accept_request_id
from tests.tools.conftest import Rig

pytestmark = pytest.mark.anyio


@pytest.fixture
def connector(connector: Connector) -> Connector:
    api = connector.api.model_copy(update={"request_id_header": "X-Request-Id"})
    return connector.model_copy(update={"api": api})


async def test_a_call_without_a_request_gets_its_own_id(rig: Rig) -> None:
    await rig.runner.call("echo_path", {"value": "a"})
    await rig.runner.call("echo_path", {"value": "b"})
    first, second = (s.headers["x-request-id"] for s in rig.upstream.seen)
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert first != second
    assert REQUEST_ID.get() is None  # set for the call only


async def test_the_current_request_id_is_sent_on_every_attempt(rig: Rig) -> None:
    token = REQUEST_ID.set("req-42")
    try:
        await rig.runner.call("flaky", {"key": "request-id", "fails": 2})
    finally:
        REQUEST_ID.reset(token)
    sent = [s.headers["x-request-id"] for s in rig.upstream.seen]
    assert sent == ["req-42"] * 3


@pytest.mark.parametrize("sane", ["a", "A-z_0.9", "x" * 128, "0af7651916cd43dd8448eb211c80319c"])
def test_a_sane_incoming_id_is_kept(sane: str) -> None:
    assert accept_request_id(sane) == sane


@pytest.mark.parametrize("bad", [None, "", "x" * 129, "a b", "a\r\nb", "a/b", "é"])
def test_anything_else_is_replaced(bad: str | None) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", accept_request_id(bad))
