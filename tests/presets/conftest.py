"""Drive ``mcpbuild login`` and ``mcpbuild call`` as real processes against a provider
quirk simulator (tests/presets/simulator.py), with a connector spec written per test."""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import anyio
import httpx
import pytest
import yaml
from anyio.abc import ByteReceiveStream

from builder.presets import apply_preset, load_preset
from tests.presets.profiles import PROFILES
from tests.presets.simulator import CLIENT_ID, Simulator, simulate
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
PRESETS = sorted(PROFILES)

TOOL_SCOPES: dict[str, list[str]] = {
    "github": ["read:user"],
    "github-app": [],  # GitHub App permissions are set on the app, not asked for
    "google": ["https://www.googleapis.com/auth/userinfo.email"],
    "microsoft": ["User.Read"],
    "slack": ["search:read"],  # a user-token-only scope
    "notion": [],  # Notion has no scopes: the user picks pages
    "atlassian": ["read:jira-user"],
    "salesforce": ["api"],
    "dropbox": ["account_info.read"],
    "hubspot": ["crm.objects.contacts.read"],
    "linear": ["read"],
    "gitlab": ["read_user"],
    "zoom": ["user:read:user"],
    "asana": ["users:read"],
    "spotify": ["user-read-private"],
}
"""The scopes the test connector's one tool needs, per preset."""


@dataclass(frozen=True)
class Ran:
    """One finished process."""

    code: int
    out: str
    err: str


class Flow:
    """One preset's simulator, a connector spec in ``folder`` and the commands to run."""

    def __init__(self, name: str, sim: Simulator, folder: Path) -> None:
        self.name = name
        self.sim = sim
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.spec = folder / "connector.yaml"
        self.store = f"sqlite:///{folder / 'state' / 'local.db'}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("MCPBUILD_SECRET_KEY", None)
        env.pop("MCPBUILD_STORE", None)
        env.update(SIM_CLIENT_ID=CLIENT_ID, SIM_CLIENT_SECRET=sim.client_secret)
        self.env = env
        self.runs: list[Ran] = []

    # --- the connector -----------------------------------------------------------------

    def provider(self, **changes: Any) -> dict[str, Any]:
        """``{preset: NAME}`` with the endpoints (and grant value sources) pointed at the
        simulator, the test's client and scopes, then ``changes`` (None deletes a key)."""
        sim = self.sim
        block: dict[str, Any] = {
            "preset": self.name,
            "authorization_url": f"{sim.url}/authorize",
            "token_url": f"{sim.url}/token",
            "client_id": "${SIM_CLIENT_ID}",
            "client_secret": "${SIM_CLIENT_SECRET}",
        }
        scopes = TOOL_SCOPES[self.name]
        if scopes:
            block["scopes"] = {s: f"Simulated {s}" for s in scopes}
        values: dict[str, Any] = {}
        for key, value in load_preset(self.name).provider.get("grant_values", {}).items():
            value = dict(value)
            source = value.get("from", "token")
            if source != "token":
                parts = urlsplit(source)
                value["from"] = urljoin(sim.url, parts.path)
            if value.get("url"):
                value["hosts"] = ["127.0.0.1"]
            values[key] = value
        if values:
            block["grant_values"] = values
        for key, change in changes.items():
            if change is None:
                block.pop(key, None)
            else:
                block[key] = change
        return block

    def without(self, *drop: str, **changes: Any) -> dict[str, Any]:
        """The preset filled in (with the simulator's endpoints), then fields ``drop``ped
        and ``changes`` made: the preset as it would be without one of its quirks, for
        quirks an override cannot remove (joined lists, merged mappings)."""
        merged, _ = apply_preset(self.provider())
        merged.pop("preset", None)
        for key in drop:
            merged.pop(key, None)
        merged.update(changes)
        return merged

    def base_url(self, provider: Mapping[str, Any]) -> tuple[str, str]:
        """The API base URL and the tool's path, using the preset's grant values."""
        values = provider.get("grant_values") or {}
        origin = next((k for k, v in values.items() if v.get("url")), None)
        if origin is not None:
            return f"${{grant.{origin}}}/services/data/v62.0", "/chatter/users/me"
        segment = next((k for k, v in values.items() if v.get("from", "token") != "token"), None)
        if segment is not None:
            return f"{self.sim.url}/ex/jira/${{grant.{segment}}}/rest/api/3", "/myself"
        return f"{self.sim.url}/api", "/me"

    def write(
        self,
        provider: Mapping[str, Any] | None = None,
        *,
        base_url: str = "",
        tool_scopes: list[str] | None = None,
    ) -> Path:
        provider = dict(provider if provider is not None else self.provider())
        scopes = TOOL_SCOPES[self.name] if tool_scopes is None else tool_scopes
        base, path = self.base_url(provider)
        tool: dict[str, Any] = {
            "name": "whoami",
            "description": "The signed-in user, from the simulated API.",
            "request": {"method": "GET", "path": path},
        }
        if scopes:
            tool["scopes"] = scopes
        spec = {
            "mcpbuild": 1,
            "name": f"sim-{self.name}",
            "title": f"Simulated {self.name}",
            "description": f"One tool against the {self.name} quirk simulator.",
            "provider": provider,
            "api": {"base_url": base_url or base, "timeout": 10},
            "tools": [tool],
        }
        self.spec.write_text(yaml.safe_dump(spec, sort_keys=False))
        return self.spec

    # --- the commands ------------------------------------------------------------------

    def _cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "builder.cli", *args]

    async def login(self, *, code: str | None = None) -> Ran:
        """``mcpbuild login --no-browser``, its URL followed like a browser would (the
        simulator approves at once); ``code`` replaces the code sent to the callback."""
        port = free_port()
        callback = f"http://127.0.0.1:{port}/oauth/callback"
        self.sim.redirect_uris.add(callback)
        command = self._cli(
            "login",
            str(self.spec),
            "--no-browser",
            "--port",
            str(port),
            "--store",
            self.store,
            "--timeout",
            "30",
        )
        out, err = bytearray(), bytearray()
        marker = b"open this URL to sign in:\n"
        url_or_end = anyio.Event()

        async def drain(stream: ByteReceiveStream | None, into: bytearray, watch: bool) -> None:
            assert stream is not None
            with contextlib.suppress(anyio.EndOfStream, anyio.ClosedResourceError):
                async for chunk in stream:
                    into.extend(chunk)
                    if watch and marker in into and into.split(marker, 1)[1].find(b"\n") >= 0:
                        url_or_end.set()
            url_or_end.set()

        process = await anyio.open_process(command, env=self.env)
        async with process, anyio.create_task_group() as tg:
            tg.start_soon(drain, process.stderr, err, True)
            tg.start_soon(drain, process.stdout, out, False)
            with anyio.fail_after(20):
                await url_or_end.wait()
            if marker in err:
                url = err.split(marker, 1)[1].decode().splitlines()[0]
                if not await self._browse(url, callback, code):
                    process.terminate()  # refused without a redirect: nothing will come
            with anyio.fail_after(40):
                await process.wait()
        ran = Ran(process.returncode or 0, out.decode(), err.decode())
        self.runs.append(ran)
        return ran

    async def _browse(self, url: str, callback: str, code: str | None) -> bool:
        """Follow redirects from the authorization URL to the callback; False when the
        provider answered something other than a redirect before it."""
        async with httpx.AsyncClient(follow_redirects=False, timeout=10) as http:
            for _ in range(10):
                if url.startswith(callback):
                    if code is not None:
                        parts = urlsplit(url)
                        query = dict(parse_qsl(parts.query))
                        query["code"] = code
                        url = urlunsplit(parts._replace(query=urlencode(query)))
                    await http.get(url)
                    return True
                response = await http.get(url)
                if response.status_code not in (301, 302, 303, 307, 308):
                    return False
                url = urljoin(url, response.headers["location"])
        return False

    async def call(self) -> Ran:
        result = await anyio.run_process(
            self._cli("call", str(self.spec), "whoami", "--store", self.store),
            env=self.env,
            check=False,
        )
        ran = Ran(result.returncode, result.stdout.decode(), result.stderr.decode())
        self.runs.append(ran)
        return ran

    async def expire(self) -> None:
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{self.sim.url}/__sim/expire")
        assert response.status_code == 200

    async def stats(self) -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{self.sim.url}/__sim/stats")
        assert response.status_code == 200
        stats: dict[str, Any] = response.json()
        return stats

    def assert_clean(self) -> None:
        """No process printed a traceback, the client secret or any token."""
        for ran in self.runs:
            text = ran.out + ran.err
            assert "Traceback" not in text, text
            assert self.sim.client_secret not in text
            for token in self.sim.issued:
                assert token not in text, "a token was printed"


Start = Callable[..., Awaitable[Flow]]


@pytest.fixture
async def start(tmp_path: Path) -> AsyncIterator[Start]:
    """``await start(NAME, form_always=...)``: a running simulator of preset NAME's
    provider and a :class:`Flow` for it (everything stops when the test ends)."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_flow(name: str, *, form_always: bool = False) -> Flow:
            sim = await stack.enter_async_context(
                simulate(
                    PROFILES[name],
                    client_secret=secrets.token_urlsafe(24),
                    form_always=form_always,
                )
            )
            return Flow(name, sim, tmp_path / name)

        yield open_flow
