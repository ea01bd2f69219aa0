"""``count_active_grants``: the active-grants gauge's source, on both stores."""

from __future__ import annotations

import pytest

from builder.state.store import Grant, Store

pytestmark = pytest.mark.anyio


def grant(grant_id: str) -> Grant:
    return Grant(grant_id, "client", ["notes.read"], "sealed", None, None)


async def test_counts_grants_until_they_end(store: Store) -> None:
    assert await store.count_active_grants() == 0
    for grant_id in ("g1", "g2", "g3"):
        await store.save_grant(grant(grant_id))
    await store.save_grant(grant("g1"))  # saved again: still one grant
    assert await store.count_active_grants() == 3
    await store.end_grant("g2")
    await store.end_grant("g2")  # ended twice: counted out once
    await store.end_grant("no-such-grant")
    assert await store.count_active_grants() == 2
    ended = grant("g3")
    ended.active = False
    await store.save_grant(ended)
    assert await store.count_active_grants() == 1
