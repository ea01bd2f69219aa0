"""Third-party MCP clients against the real stack, beside the Python SDK client of test_flow.py.

- The official TypeScript SDK client (``@modelcontextprotocol/sdk`` 1.x and
  ``@modelcontextprotocol/client`` 2.x), run by tests/clients/ts_client.mjs, which hands us the
  authorization URL and takes the redirect back as JSON lines.
- ``mcp-remote``, the stdio-to-HTTP bridge desktop hosts use, spoken to over stdio with the
  Python SDK's stdio client; it prints the authorization URL on stderr and receives the code
  on its own callback server.

Both are driven headlessly through our consent page by tests/oauth_client.py's ``Browser``,
each both registering dynamically and identified by a client ID metadata document (served by
tests/auth/documents.py; mcpbuild fetches it with ``--dev`` trusting the test CA).
The npm packages come from tests/clients/package-lock.json (``make unit`` runs ``npm ci``).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import httpx
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.auth.documents import DocumentServer, serving_documents
from tests.auth.stack import Stack, mcpbuild, notes_api
from tests.oauth_client import REDIRECT_URI, Browser
from tests.provider_fixture import RunningProvider, node_executable
from tests.servers import free_port
from tests.tls import LocalCA

pytestmark = pytest.mark.anyio

CLIENTS = Path(__file__).resolve().parents[1] / "clients"
TS_CLIENT = CLIENTS / "ts_client.mjs"
MCP_REMOTE = CLIENTS / "node_modules" / "mcp-remote" / "dist" / "proxy.js"
TOOLS = ["list_notes", "create_note", "delete_note"]
WAIT = 30  # seconds, for any one step of a client


@pytest.fixture(scope="module")
def node() -> str:
    executable = node_executable()
    if not (CLIENTS / "node_modules" / ".package-lock.json").is_file():
        raise RuntimeError(
            f"npm packages of the test clients are not installed: run `make unit`, or "
            f"`cd {CLIENTS} && npm ci` with Node from .venv/bin on PATH"
        )
    return executable


@pytest.fixture
async def stack(provider: RunningProvider, tmp_path: Path) -> AsyncIterator[Stack]:
    async with notes_api(provider) as notes, mcpbuild(provider, notes, tmp_path / "s.db") as s:
        # One note each: what a client lists shows whose token reached the API.
        s.notes.add("alice", "alice's note")
        s.notes.add("bob", "bob's note")
        yield s


@pytest.fixture(scope="module")
async def documents(ca: LocalCA) -> AsyncIterator[DocumentServer]:
    async with serving_documents(ca) as served:
        yield served


@pytest.fixture
async def document_stack(
    provider: RunningProvider, tmp_path: Path, ca: LocalCA
) -> AsyncIterator[Stack]:
    """The stack of ``stack``, with mcpbuild fetching documents from ``documents``."""
    async with (
        notes_api(provider) as notes,
        mcpbuild(provider, notes, tmp_path / "s.db", dev_ca=str(ca.ca_file)) as s,
    ):
        s.notes.add("alice", "alice's note")
        s.notes.add("bob", "bob's note")
        yield s


def client_id_asked(url: str) -> str:
    """The ``client_id`` of an authorization request URL."""
    (client_id,) = parse_qs(urlsplit(url).query)["client_id"]
    return client_id


async def assert_listed_as_alice(stack: Stack, text: str) -> None:
    assert "alice's note" in text
    assert "bob's note" not in text
    upstream = stack.notes.bearer_tokens()[-1]
    assert (await stack.provider.introspect(upstream))["sub"] == "alice"


@dataclass
class Driver:
    """tests/clients/ts_client.mjs running: JSON lines out on stdout, in on stdin."""

    process: Process
    stderr: Path
    out: BufferedByteReceiveStream
    events: list[dict[str, Any]] = field(default_factory=list)

    async def expect(self, event: str) -> dict[str, Any]:
        """The next line, which must be ``event``."""
        with anyio.fail_after(WAIT):
            line: dict[str, Any] = json.loads(await self.out.receive_until(b"\n", 1 << 20))
        self.events.append(line)
        assert line["event"] == event, (
            f"expected {event!r} from ts_client.mjs, got {line}\n"
            f"--- stderr ---\n{self.stderr.read_text()}"
        )
        return line

    async def send(self, message: dict[str, str]) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(json.dumps(message).encode() + b"\n")


@contextlib.asynccontextmanager
async def ts_client(
    node: str, tmp_path: Path, *args: str, status: int = 0
) -> AsyncIterator[Driver]:
    stderr = tmp_path / "ts_client.stderr"
    with stderr.open("wb") as err:
        process = await anyio.open_process(
            [node, str(TS_CLIENT), *args], cwd=CLIENTS, stderr=err, start_new_session=True
        )
    try:
        assert process.stdout is not None
        yield Driver(process, stderr, BufferedByteReceiveStream(process.stdout))
        with anyio.fail_after(WAIT):
            assert await process.wait() == status, stderr.read_text()
    finally:
        if process.returncode is None:
            process.kill()
            with anyio.move_on_after(5, shield=True):
                await process.wait()
        await process.aclose()


@pytest.mark.parametrize(
    ("sdk", "mode"),
    [("1", "legacy"), ("2", "legacy"), ("2", "auto")],
    ids=["sdk-1.x", "client-2.x", "client-2.x-2026-07-28"],
)
async def test_typescript_sdk_client(
    stack: Stack, node: str, tmp_path: Path, sdk: str, mode: str
) -> None:
    """Registration, consent, PKCE, code exchange, tool calls, then a refresh after the
    access token is revoked: all done by the TypeScript SDK's own OAuth code."""
    browser = Browser(redirect_uri=REDIRECT_URI)
    args = [stack.mcp_url, "--sdk", sdk, "--mode", mode, "--redirect-uri", REDIRECT_URI]
    async with ts_client(node, tmp_path, *args, "--refresh") as driver:
        authorize = await driver.expect("authorize")
        await driver.send(await browser.run(authorize["url"]))
        connected = await driver.expect("connected")
        tools = await driver.expect("tools")
        first = await driver.expect("call")
        second = await driver.expect("call")
        refreshed = await driver.expect("refreshed")
        done = await driver.expect("done")

    assert browser.consent_pages == 1
    assert set(browser.result) >= {"code", "state", "iss"}
    assert connected["client_id"]  # registered dynamically: not a metadata document URL
    assert not connected["client_id"].startswith("http")
    assert connected["scope"] == "notes.read notes.write"
    assert connected["protocol"] == ("2026-07-28" if mode == "auto" else "2025-11-25")
    assert tools["names"] == TOOLS
    for call in (first, second):
        assert call["result"].get("isError") is not True, call
        await assert_listed_as_alice(stack, call["result"]["content"][0]["text"])
    # The revoked access token answered 401; the SDK refreshed (once) instead of signing in again.
    assert refreshed == {
        "event": "refreshed",
        "token_saves": 1,
        "access_token_changed": True,
        "refresh_token_rotated": True,
    }
    assert done["redirects"] == 1
    assert "POST /register" in done["requests"]


@pytest.mark.parametrize("sdk", ["1", "2"], ids=["sdk-1.x", "client-2.x"])
async def test_typescript_sdk_client_identified_by_a_metadata_document(
    document_stack: Stack,
    documents: DocumentServer,
    node: str,
    tmp_path: Path,
    sdk: str,
) -> None:
    """With ``clientMetadataUrl`` set and ``client_id_metadata_document_supported`` in our
    metadata, the SDK registers nothing: its client id is the document URL, the one mcpbuild
    fetches and issues (and refreshes) tokens to."""
    stack = document_stack
    url = documents.publish(f"ts-sdk-{sdk}.json", [REDIRECT_URI], f"TypeScript SDK {sdk}.x")
    browser = Browser(redirect_uri=REDIRECT_URI)
    args = [stack.mcp_url, "--sdk", sdk, "--redirect-uri", REDIRECT_URI]
    async with ts_client(node, tmp_path, *args, "--client-metadata-url", url, "--refresh") as d:
        authorize = await d.expect("authorize")
        await d.send(await browser.run(authorize["url"]))
        connected = await d.expect("connected")
        tools = await d.expect("tools")
        first = await d.expect("call")
        second = await d.expect("call")
        refreshed = await d.expect("refreshed")
        done = await d.expect("done")

    assert client_id_asked(authorize["url"]) == url
    assert url in documents.fetched  # mcpbuild looked the client up by its document
    assert browser.consent_pages == 1
    assert set(browser.result) >= {"code", "state", "iss"}
    assert connected["client_id"] == url
    assert connected["scope"] == "notes.read notes.write"
    assert tools["names"] == TOOLS
    for call in (first, second):
        assert call["result"].get("isError") is not True, call
        await assert_listed_as_alice(stack, call["result"]["content"][0]["text"])
    assert refreshed == {
        "event": "refreshed",
        "token_saves": 1,
        "access_token_changed": True,
        "refresh_token_rotated": True,
    }
    assert done["redirects"] == 1
    assert "POST /register" not in done["requests"]
    assert "POST /token" in done["requests"]


@pytest.mark.parametrize("sdk", ["1", "2"], ids=["sdk-1.x", "client-2.x"])
async def test_typescript_sdk_client_sees_a_denied_consent(
    stack: Stack, node: str, tmp_path: Path, sdk: str
) -> None:
    """The error redirect passes the client's RFC 9207 check (``iss`` is on it), so the client
    reports ``access_denied`` rather than a suspected mix-up."""
    browser = Browser(redirect_uri=REDIRECT_URI, approve=False)
    args = [stack.mcp_url, "--sdk", sdk, "--redirect-uri", REDIRECT_URI]
    async with ts_client(node, tmp_path, *args, status=1) as driver:
        authorize = await driver.expect("authorize")
        await driver.send(await browser.run(authorize["url"]))
        failed = await driver.expect("error")

    assert browser.result["error"] == "access_denied"
    assert failed["code"] == "access_denied", failed["message"]
    assert stack.notes.requests == 0


NO_BROWSER = """#!/bin/sh
# BROWSER for mcp-remote: records the URL it was asked to open and opens nothing.
printf '%s\\n' "$1" >> "$(dirname "$0")/opened.txt"
"""
SIGN_IN_PROMPT = re.compile(r"Please authorize this client by visiting:\s*\n(\S+)")


@dataclass
class McpRemote:
    """How to run mcp-remote with nothing of the developer's: HOME and its config directory
    in a tmp dir, no display or desktop, and a BROWSER that opens nothing."""

    node: str
    mcp_url: str
    home: Path
    port: int = field(default_factory=free_port)
    client_metadata_url: str | None = None  # identify by this document, not by registering

    def __post_init__(self) -> None:
        self.home.mkdir()
        no_browser = self.home / "no-browser"
        no_browser.write_text(NO_BROWSER)
        no_browser.chmod(0o755)

    @property
    def callback(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth/callback"

    @property
    def config_dir(self) -> Path:
        return self.home / ".mcp-auth"

    def opened(self) -> list[str]:
        """The URLs mcp-remote asked the (no-op) browser to open."""
        opened = self.home / "opened.txt"
        return opened.read_text().split() if opened.exists() else []

    def stored(self, name: str) -> dict[str, Any]:
        """One of the JSON files mcp-remote keeps per server: ``tokens``, ``client_info``."""
        (path,) = self.config_dir.rglob(f"*_{name}.json")
        return dict(json.loads(path.read_text()))

    @contextlib.asynccontextmanager
    async def session(
        self, log: Path, protocol: str, browser: Browser | None = None
    ) -> AsyncIterator[Client]:
        """mcp-remote spoken to over stdio by the Python SDK client. With ``browser``, the
        sign-in it prints on stderr is driven to its callback server meanwhile."""
        url = self.client_metadata_url
        identify = ["--client-metadata-url", url] if url else []
        params = StdioServerParameters(
            command=self.node,
            args=[
                str(MCP_REMOTE),
                self.mcp_url,
                str(self.port),
                "--host",
                "127.0.0.1",
                "--transport",
                "http-only",
                "--protocol",
                protocol,
                "--auth-timeout",
                str(WAIT),
                *identify,
            ],
            env={
                "PATH": f"{Path(self.node).parent}:/usr/bin:/bin",
                "HOME": str(self.home),
                "MCP_REMOTE_CONFIG_DIR": str(self.config_dir),
                "BROWSER": str(self.home / "no-browser"),
            },
            cwd=CLIENTS,
        )

        async def sign_in(browser: Browser) -> None:
            with anyio.fail_after(WAIT):
                while not (prompt := SIGN_IN_PROMPT.search(log.read_text())):
                    await anyio.sleep(0.05)
            await browser.run(prompt.group(1))
            # The browser arrives at mcp-remote's own callback server.
            async with httpx.AsyncClient(timeout=WAIT) as http:
                answer = await http.get(browser.visited[-1])
            assert answer.status_code == 200, answer.text

        try:
            with log.open("a") as errlog, anyio.fail_after(3 * WAIT):
                async with anyio.create_task_group() as tg:
                    if browser is not None:
                        tg.start_soon(sign_in, browser)
                    # The stdio client ends mcp-remote's process group when it leaves.
                    async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                        yield client
        except BaseException:
            print(f"--- mcp-remote stderr ---\n{log.read_text()}")
            raise


@pytest.mark.parametrize("protocol", ["legacy", "auto"])
async def test_mcp_remote(stack: Stack, node: str, tmp_path: Path, protocol: str) -> None:
    """mcp-remote signs in (registration, consent, PKCE, its own callback server) and bridges
    the Python SDK's stdio client to mcpbuild; started again, it uses its stored tokens and,
    the access token revoked, refreshes them without a second sign-in."""
    remote = McpRemote(node, stack.mcp_url, tmp_path / "home")
    log = tmp_path / "mcp-remote.stderr"
    browser = Browser(redirect_uri=remote.callback)
    async with remote.session(log, protocol, browser) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        listed = await client.call_tool("list_notes", {})

    assert browser.consent_pages == 1
    assert set(browser.result) >= {"code", "state", "iss"}
    assert names == TOOLS
    assert not listed.is_error, listed.content
    await assert_listed_as_alice(stack, listed.content[0].text)  # type: ignore[union-attr]
    # mcp-remote asked the no-op browser to open the URL it printed, and nothing else.
    assert [parse_qs(urlsplit(url).query) for url in remote.opened()] == [
        parse_qs(urlsplit(browser.visited[0]).query)
    ]
    if protocol == "auto":
        assert "Remote server speaks MCP 2026-07-28" in log.read_text()

    tokens = remote.stored("tokens")
    async with httpx.AsyncClient() as http:
        revoked = await http.post(
            stack.base + "/revoke",
            data={
                "token": tokens["access_token"],
                "client_id": remote.stored("client_info")["client_id"],
                "client_secret": "",  # see ts_client.mjs: public-client revocation needs it
            },
        )
    assert revoked.status_code == 200, revoked.text
    async with remote.session(log, protocol) as client:
        again = await client.call_tool("list_notes", {})

    assert not again.is_error, again.content
    await assert_listed_as_alice(stack, again.content[0].text)  # type: ignore[union-attr]
    refreshed = remote.stored("tokens")
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]
    assert len(remote.opened()) == 1
    assert browser.consent_pages == 1


async def test_mcp_remote_identified_by_a_metadata_document(
    document_stack: Stack, documents: DocumentServer, node: str, tmp_path: Path
) -> None:
    """mcp-remote's ``--client-metadata-url``: no registration, the document URL is the client
    id from sign-in through the refresh of a later run; mcp-remote keeps no client_info."""
    stack = document_stack
    port = free_port()
    url = documents.publish(
        "mcp-remote.json", [f"http://127.0.0.1:{port}/oauth/callback"], "mcp-remote"
    )
    remote = McpRemote(node, stack.mcp_url, tmp_path / "home", port, client_metadata_url=url)
    log = tmp_path / "mcp-remote.stderr"
    browser = Browser(redirect_uri=remote.callback)
    async with remote.session(log, "legacy", browser) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        listed = await client.call_tool("list_notes", {})

    assert f"Using client metadata document: {url}" in log.read_text()
    assert [client_id_asked(opened) for opened in remote.opened()] == [url]
    assert url in documents.fetched
    assert browser.consent_pages == 1
    assert names == TOOLS
    assert not listed.is_error, listed.content
    await assert_listed_as_alice(stack, listed.content[0].text)  # type: ignore[union-attr]
    assert not list(remote.config_dir.rglob("*_client_info.json"))  # nothing was registered

    tokens = remote.stored("tokens")
    async with httpx.AsyncClient() as http:
        revoked = await http.post(
            stack.base + "/revoke",
            data={"token": tokens["access_token"], "client_id": url, "client_secret": ""},
        )
    assert revoked.status_code == 200, revoked.text
    async with remote.session(log, "legacy") as client:
        again = await client.call_tool("list_notes", {})

    assert not again.is_error, again.content
    await assert_listed_as_alice(stack, again.content[0].text)  # type: ignore[union-attr]
    assert remote.stored("tokens")["refresh_token"] != tokens["refresh_token"]
    assert len(remote.opened()) == 1
    assert not list(remote.config_dir.rglob("*_client_info.json"))


def test_pinned_versions_are_installed() -> None:
    """The flags the tests pass are the pinned versions'; a stale node_modules shows here."""
    pinned = json.loads((CLIENTS / "package.json").read_text())["dependencies"]
    for name, version in pinned.items():
        installed = json.loads((CLIENTS / "node_modules" / name / "package.json").read_text())
        assert installed["version"] == version, name
