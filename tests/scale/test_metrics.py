"""``/metrics`` of each replica counts the calls it served: per replica what the proxy sent
it, and over both the calls the test made."""

from __future__ import annotations

import httpx
import pytest

from tests.scale.cluster import Cluster, Replica, tool_ok

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _snapshot(replicas: dict[str, Replica]) -> dict[str, Samples]:
    return {name: await replica.metrics() for name, replica in replicas.items()}


async def test_metrics_count_the_calls_of_the_test(cluster: Cluster) -> None:
    replicas = cluster.replicas
    before = await _snapshot(replicas)
    async with httpx.AsyncClient(timeout=30) as http:
        _, tokens = await cluster.sign_in(http)
        token = tokens["access_token"]
        cluster.proxy.hops.clear()
        plan = ["a", "a", "b", "a", "b", "a", "a"]  # 5 on a, 2 on b
        listed = [await cluster.call(http, token, replica) for replica in plan]
        # A note the API does not have: an upstream 404, a call that ends in an error.
        missing = await cluster.call(
            http, token, "b", tool="delete_note", arguments={"note_id": "no-such-note"}
        )
    after = await _snapshot(replicas)
    assert all(tool_ok(r) for r in listed)
    assert missing.status_code == 200
    assert missing.json()["result"]["isError"] is True

    def delta(replica: str, name: str, **labels: str) -> float:
        return _value(after[replica], name, **labels) - _value(before[replica], name, **labels)

    calls = "mcpbuild_tool_calls_total"
    served = cluster.proxy.served("/mcp")
    per_replica = {r: delta(r, calls, tool="list_notes", outcome="ok") for r in replicas}
    assert per_replica == {"a": 5, "b": 2}
    assert per_replica == {"a": served.count("a"), "b": served.count("b") - 1}
    assert sum(per_replica.values()) == len(plan)
    assert delta("b", calls, tool="delete_note", outcome="error") == 1
    assert delta("a", calls, tool="delete_note", outcome="error") == 0
    assert delta("b", "mcpbuild_upstream_responses_total", status="404") == 1
    # Each call's latency observed once, where it ran; each upstream 200 counted there.
    for r in replicas:
        seconds = delta(r, "mcpbuild_tool_call_seconds_count", tool="list_notes")
        assert seconds == per_replica[r]
        assert delta(r, "mcpbuild_upstream_responses_total", status="200") == per_replica[r]
    # The test's one registration, on whichever replica the proxy sent it to.
    registered = {r: delta(r, "mcpbuild_client_registrations_total") for r in replicas}
    assert sorted(registered.values()) == [0, 1]
