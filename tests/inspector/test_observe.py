"""The pieces the inspector observes with: URLs fit for a log, and bounded event buffers."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from builder.inspector.events import EventLog
from builder.inspector.observe import safe_url
from builder.tools.redact import Redactor


def test_safe_url_masks_secret_looking_query_values() -> None:
    redactor = Redactor(["s3cr3t-api-key"])
    url = safe_url(
        "https://user:pw@api.example.com/v1/items?page=2&access_token=abc123",
        [("api_key", "zzz"), ("q", "s3cr3t-api-key"), ("code", "c0de"), ("limit", "5")],
        redactor,
    )
    assert url == (
        "https://api.example.com/v1/items?page=2&access_token=***&api_key=***"
        "&q=[redacted]&code=***&limit=5"
    )
    for secret in ("pw", "abc123", "zzz", "s3cr3t", "c0de"):
        assert secret not in url.replace("api.example", "")


def test_event_log_is_bounded() -> None:
    log = EventLog(per_grant=3, grants=2)
    for i in range(5):
        log.add("g1", "upstream", n=i)
    assert [e.data["n"] for e in log.recent("g1")] == [2, 3, 4]
    log.add("g2", "upstream")
    log.add("g3", "upstream")  # g1 is the least recently active: forgotten
    assert log.recent("g1") == []
    assert len(log.recent("g3")) == 1


@pytest.mark.anyio
async def test_subscribers_are_bounded_and_isolated() -> None:
    log = EventLog(subscribers=1, queue=2)
    with log.subscribe("a") as first, log.subscribe("a") as second, log.subscribe("b") as other:
        # A second stream for the same grant closes the first.
        assert await first.receive() is None
        for i in range(4):  # more than the queue: the slow reader misses some, never blocks
            log.add("a", "upstream", n=i)
        with anyio.fail_after(1):
            got = [await second.receive(), await second.receive()]
        assert [e.data["n"] for e in got if e is not None] == [0, 1]
        with pytest.raises(anyio.WouldBlock):
            other.receive_nowait()


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, False),
        (["--inspector"], {}, True),
        ([], {"MCPBUILD_INSPECTOR": "1"}, True),
    ],
)
def test_serve_flag(
    monkeypatch: pytest.MonkeyPatch, args: list[str], env: dict[str, str], expected: bool
) -> None:
    """``serve --inspector`` (or MCPBUILD_INSPECTOR) turns it on; nothing else does."""
    from typer.testing import CliRunner

    import builder.server.serve as serve
    from builder.cli import app

    seen: list[serve.ServeOptions] = []
    monkeypatch.setattr(serve, "open_connector", lambda connector, options: object())
    monkeypatch.setattr(serve, "run_http", lambda served, options, *_: seen.append(options))
    monkeypatch.delenv("MCPBUILD_INSPECTOR", raising=False)
    # The root logger would keep the runner's stream, closed once it returns.
    monkeypatch.setattr("builder.server.logs.configure_logging", lambda *_: None)
    spec = str(Path(__file__).resolve().parents[1] / "assets" / "upstream.yaml")
    result = CliRunner().invoke(app, ["serve", spec, *args], env=env)
    assert result.exit_code == 0, result.output
    assert [o.inspector for o in seen] == [expected]
