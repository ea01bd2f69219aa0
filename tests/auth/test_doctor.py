"""`mcpbuild doctor` against the real test provider (oidc-provider) and a served connector
(the stack of tests/auth/conftest.py): all ok, then one broken thing at a time, each failure
named."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from builder.doctor import DoctorOptions, Report, run_doctor
from tests.auth.stack import SPEC, Stack
from tests.servers import bound_socket

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port bound but not listening: connecting to it is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


async def doctor(
    env: dict[str, str], public_url: str, spec: Path = SPEC, **options: object
) -> Report:
    return await run_doctor(
        str(spec), env, DoctorOptions(public_url=public_url, timeout=3.0, **options)
    )


def statuses(report: Report) -> dict[str, str]:
    return {c.name: c.status for c in report.checks}


def check(report: Report, name: str) -> tuple[str, str, str]:
    found = report.find(name)
    assert found is not None, f"no check {name}: {statuses(report)}"
    return found.status, found.message, found.fix


async def test_a_working_set_up_is_all_ok_and_prints_no_secret(stack: Stack) -> None:
    report = await doctor(stack.env, stack.base)
    assert statuses(report) == {
        "spec": "ok",
        "env": "ok",
        "secret_key": "ok",
        "redirect_uri": "ok",
        "https": "ok",
        "scopes": "ok",
        "authorization_endpoint": "ok",
        "token_endpoint": "ok",
        "discovery": "ok",
        "clock": "ok",
        "public_url": "ok",
    }, report.to_text()
    assert report.ok
    issuer = stack.provider.issuer
    assert check(report, "discovery")[1] == (
        f"{issuer}/.well-known/openid-configuration agrees with the spec (endpoints, PKCE, scopes)"
    )
    assert check(report, "redirect_uri")[1] == (
        f"register with the provider: {stack.base}/oauth/callback (serve, dev at {stack.base}); "
        "http://127.0.0.1:8765/oauth/callback (login)"
    )
    assert check(report, "public_url")[1] == (
        f"{stack.base}/.well-known/oauth-protected-resource/mcp answers as resource "
        f"{stack.base}/mcp"
    )
    for text in (report.to_text(), report.to_json()):
        assert stack.env["NOTES_CLIENT_SECRET"] not in text
        assert stack.env["MCPBUILD_SECRET_KEY"] not in text


async def test_a_missing_variable_is_named_without_the_secret(stack: Stack) -> None:
    env = {k: v for k, v in stack.env.items() if k != "NOTES_CLIENT_SECRET"}
    report = await doctor(env, stack.base)
    status, message, fix = check(report, "env")
    assert status == "fail"
    assert message.splitlines()[0] == "not set: NOTES_CLIENT_SECRET (provider.client_secret)"
    assert fix == "export NOTES_CLIENT_SECRET=... before `mcpbuild serve`"
    assert not report.ok
    # The rest still ran: the provider needs no secret to be checked.
    assert check(report, "token_endpoint")[0] == "ok"


async def test_http_provider_url_on_a_public_host_fails_https(stack: Stack) -> None:
    env = {**stack.env, "PROVIDER_AUTHORIZE_URL": "http://provider.example.invalid/auth"}
    report = await doctor(env, stack.base)
    status, message, _ = check(report, "https")
    assert status == "fail"
    assert message == (
        "provider.authorization_url: expected https (http only for localhost/127.0.0.1/::1), "
        "got 'http://provider.example.invalid/auth'"
    )
    assert check(report, "authorization_endpoint")[0] == "fail"


async def test_discovery_disagreeing_on_the_token_endpoint_fails(stack: Stack) -> None:
    issuer = stack.provider.issuer
    env = {**stack.env, "PROVIDER_TOKEN_URL": f"{issuer}/oauth/token"}
    report = await doctor(env, stack.base)
    status, message, _ = check(report, "discovery")
    assert status == "fail"
    assert message.splitlines() == [
        f"{issuer}/.well-known/openid-configuration disagrees with the spec:",
        f"token_endpoint is {issuer}/token, but provider.token_url is {issuer}/oauth/token",
    ]
    # It answers (404): reachable, and the mistake is the path.
    assert check(report, "token_endpoint") == (
        "ok",
        f"{issuer}/oauth/token answers (HTTP 404)",
        "",
    )


async def test_a_tool_scope_not_declared_fails_spec_and_scopes(
    stack: Stack, tmp_path: Path
) -> None:
    spec = tmp_path / "connector.yaml"
    text = SPEC.read_text()
    spec.write_text(text.replace("scopes: [notes.read]", "scopes: [notes.admin]", 1))
    report = await doctor(stack.env, stack.base, spec)
    status, message, _ = check(report, "spec")
    assert status == "fail"
    assert message.splitlines()[1].startswith(f"{spec}:21:14: tools[0].scopes[0]: scope ")
    status, message, _ = check(report, "scopes")
    assert status == "fail"
    assert message.splitlines() == [
        "tools[0].scopes[0]: scope 'notes.admin' is not declared in provider.scopes "
        "(declared: notes.read, notes.write)",
        "provider.scopes.notes.read: scope 'notes.read' is never requested (no tool lists it, "
        "nor provider.always_request)",
    ]


async def test_an_unreachable_endpoint_fails_by_name(stack: Stack, closed_port: int) -> None:
    env = {**stack.env, "PROVIDER_TOKEN_URL": f"http://127.0.0.1:{closed_port}/token"}
    report = await doctor(env, stack.base)
    status, message, fix = check(report, "token_endpoint")
    assert status == "fail"
    assert message.startswith(f"http://127.0.0.1:{closed_port}/token: cannot connect (")
    assert fix.startswith("check provider.token_url and that this machine reaches the provider")
    assert check(report, "authorization_endpoint")[0] == "ok"
    assert check(report, "clock") == (
        "ok",
        "not compared: no answer from the token endpoint",
        "",
    )


async def test_clock_skew_warns_over_a_minute_and_fails_over_five(stack: Stack) -> None:
    late = await doctor(stack.env, stack.base, clock=lambda: time.time() - 120)
    status, message, _ = check(late, "clock")
    assert (status, message.split(" s ")[1]) == ("warn", "behind the provider (over 60 s)")
    early = await doctor(stack.env, stack.base, clock=lambda: time.time() + 400)
    status, message, fix = check(early, "clock")
    assert status == "fail"
    assert message.endswith("s ahead of the provider: token expiry would be misjudged")
    assert fix.startswith("synchronise this machine's clock")
    assert not early.ok


async def test_public_url_with_nothing_there_warns_to_start_serve(
    stack: Stack, closed_port: int
) -> None:
    report = await doctor(stack.env, f"http://127.0.0.1:{closed_port}")
    status, _, fix = check(report, "public_url")
    assert status == "warn"
    assert fix == "start `mcpbuild serve` (with this --public-url) and run doctor again"
    assert report.ok


async def test_public_url_of_another_host_name_fails(stack: Stack) -> None:
    other = stack.base.replace("127.0.0.1", "localhost")
    report = await doctor(stack.env, other)
    status, message, fix = check(report, "public_url")
    assert status == "fail"
    assert message == f"the server at {other} calls itself {stack.base}/mcp, not {other}/mcp"
    assert fix == f"start serve with --public-url {other}"


async def test_json_format_from_the_command_line(stack: Stack, closed_port: int) -> None:
    env = {
        **os.environ,
        **stack.env,
        "PROVIDER_TOKEN_URL": f"http://127.0.0.1:{closed_port}/token",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("NOTES_CLIENT_SECRET")
    args = ["doctor", str(SPEC), "--public-url", stack.base, "--format", "json"]
    result = await anyio.run_process(
        [sys.executable, "-m", "builder.cli", *args], env=env, check=False
    )
    assert result.returncode == 1, result.stderr.decode()
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert all(set(c) == {"name", "status", "message", "fix"} for c in report["checks"])
    failed = sorted(c["name"] for c in report["checks"] if c["status"] == "fail")
    assert failed == ["discovery", "env", "token_endpoint"]
    assert stack.env["NOTES_CLIENT_SECRET"] not in result.stdout.decode()


async def test_a_working_set_up_exits_0_in_text(stack: Stack) -> None:
    env = {**os.environ, **stack.env, "PYTHONPATH": str(ROOT)}
    args = ["doctor", str(SPEC), "--public-url", stack.base]
    result = await anyio.run_process(
        [sys.executable, "-m", "builder.cli", *args], env=env, check=False
    )
    assert result.returncode == 0, result.stdout.decode()
    lines = result.stdout.decode().splitlines()
    assert lines[-1] == "0 failed, 0 warned, 11 ok"
    assert lines[0].startswith("ok    spec ")


async def test_an_endpoint_that_never_answers_fails_within_the_timeout(stack: Stack) -> None:
    with bound_socket() as silent:  # listening, never accepting: connects, then nothing
        port = silent.getsockname()[1]
        env = {**stack.env, "PROVIDER_TOKEN_URL": f"http://127.0.0.1:{port}/token"}
        started = time.monotonic()
        report = await run_doctor(str(SPEC), env, DoctorOptions(public_url=stack.base, timeout=0.5))
        took = time.monotonic() - started
    assert check(report, "token_endpoint")[:2] == (
        "fail",
        f"http://127.0.0.1:{port}/token: no answer within 0.5 s",
    )
    assert took < 5
