"""Two ``mcpbuild serve`` processes on one redis-server behind a round-robin proxy: the
topology of a deployment with replicas behind a load balancer, on 127.0.0.1, without
containers.

    oidc-provider (node)  <-- token gate (in the tests: can hold a refresh) <--+
    notes API (in the tests)  <------------------------------------------------+
    client --> proxy (in the tests) --> replica a: python -m builder.cli serve -+-> redis-server
                                    --> replica b: python -m builder.cli serve -+

The proxy sends each request to the replica pinned for its path, or else to the next
replica in turn, with one turn per path (so ``/mcp`` calls alternate whatever discovery or
sign-in requests come between). It streams answers back, tags each with ``X-Replica``, and
records every hop, so a test says which replica takes a step and asserts which one did.
Both replicas are served at the proxy's URL (``--public-url``): their Host and Origin
checks, issuer, resource and redirect URI are the proxy's, as behind a real balancer.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.to_thread
import httpx
from prometheus_client.parser import text_string_to_metric_families
from starlette.types import Receive, Scope, Send

from builder.state.crypto import generate_key, token_hash
from builder.state.redis import RedisStore
from tests.auth.stack import SPEC, notes_api, spec_env
from tests.notes_api import NotesState
from tests.oauth_client import RawClient, raw_tool_call
from tests.provider_fixture import RunningProvider
from tests.servers import free_port, running
from tests.state.redis_server import RedisServer

__all__ = [
    "LOCK_TTL",
    "PREFIX",
    "REPLICAS",
    "Cluster",
    "Hop",
    "Proxy",
    "Replica",
    "TokenGate",
    "running_cluster",
    "tool_ok",
]

REPLICAS = ("a", "b")
PREFIX = "scale"
# serve --refresh-lock-ttl: how long a crashed refresher may block a grant (default 45 s).
LOCK_TTL = 3.0
_PROXY_HEALTH = "/_proxy/healthz"
# Not forwarded as they came: they describe one connection, not the request. The length
# is recomputed (bodies are read whole, answers streamed in chunks).
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"transfer-encoding",
        b"te",
        b"trailer",
        b"upgrade",
        b"content-length",
    }
)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _answer(
    send: Send, status: int, body: bytes, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *extra]})
    await send({"type": "http.response.body", "body": body})


async def _forward(
    http: httpx.AsyncClient,
    origin: str,
    scope: Scope,
    body: bytes,
    send: Send,
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> tuple[int, httpx.Headers]:
    """Send the request to ``origin`` as it came (Host included) and stream the answer
    back; 502 when the origin cannot be reached. Returns the status and headers sent."""
    path = scope.get("raw_path") or scope["path"].encode()
    query = scope.get("query_string", b"")
    target = origin + path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_BY_HOP]
    request = http.build_request(scope["method"], target, headers=headers, content=body)
    try:
        response = await http.send(request, stream=True)
    except httpx.TransportError as exc:
        await _answer(send, 502, f"bad gateway: {type(exc).__name__}".encode(), extra)
        return 502, httpx.Headers()
    try:
        out = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_BY_HOP]
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [*out, *extra],
            }
        )
        with contextlib.suppress(httpx.TransportError):  # the origin died mid-answer
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        await response.aclose()
    return response.status_code, response.headers


class _Forwarder:
    """An ASGI app with an outgoing httpx client opened and closed by its lifespan."""

    http: httpx.AsyncClient | None = None

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.http = httpx.AsyncClient(
                    timeout=60,
                    trust_env=False,
                    limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.http is not None:
                    await self.http.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _request_body(self, scope: Scope, receive: Receive, send: Send) -> bytes | None:
        """The body of an HTTP request to forward; None when this call was something else
        (the lifespan, the forwarder's own health check), already answered."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return None
        if scope["type"] != "http" or self.http is None:
            return None
        if scope["path"] == _PROXY_HEALTH:
            await _answer(send, 200, b"ok")
            return None
        return await _read_body(receive)


@dataclass
class Hop:
    """One request the proxy forwarded: to which replica, and what it answered."""

    method: str
    path: str
    replica: str
    status: int = 0
    grant_type: str | None = None  # of a /token request
    session: str | None = None  # the request's Mcp-Session-Id


@dataclass
class Proxy(_Forwarder):
    """The load balancer: pinned paths to their replica, the rest round-robin per path;
    with ``sticky``, a request with an ``Mcp-Session-Id`` to the replica that issued it
    (what deploy/haproxy.cfg does for 2025-11-25 sessions)."""

    backends: dict[str, str] = field(default_factory=dict)  # replica name -> origin
    pins: dict[str, str] = field(default_factory=dict)  # path -> replica name
    hops: list[Hop] = field(default_factory=list)
    sticky: bool = False
    sessions: dict[str, str] = field(default_factory=dict)  # session id -> replica name
    _turns: dict[str, int] = field(default_factory=dict)

    def reset(self) -> None:
        self.pins.clear()
        self.hops.clear()
        self.sticky = False
        self.sessions.clear()
        self._turns.clear()

    @contextlib.contextmanager
    def pinned(self, routes: dict[str, str]) -> Iterator[None]:
        """Send these paths to these replicas (``{"/mcp": "a"}``) inside the block."""
        before = {k: self.pins.get(k) for k in routes}
        self.pins.update(routes)
        try:
            yield
        finally:
            for k, v in before.items():
                if v is None:
                    self.pins.pop(k, None)
                else:
                    self.pins[k] = v

    def choose(self, path: str) -> str:
        if path in self.pins:
            return self.pins[path]
        turn = self._turns.get(path, 0)
        self._turns[path] = turn + 1
        return REPLICAS[turn % len(REPLICAS)]

    def served(self, path: str) -> list[str]:
        """The replicas that answered ``path``, in order."""
        return [h.replica for h in self.hops if h.path == path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._request_body(scope, receive, send)
        if body is None:
            return
        session = dict(scope["headers"]).get(b"mcp-session-id", b"").decode("latin-1")
        if self.sticky and session in self.sessions:
            replica = self.sessions[session]
        else:
            replica = self.choose(scope["path"])
        hop = Hop(scope["method"], scope["path"], replica, session=session or None)
        if scope["path"] == "/token":
            hop.grant_type = parse_qs(body.decode("latin-1")).get("grant_type", [None])[0]
        self.hops.append(hop)
        hop.status, headers = await _forward(
            self.http, self.backends[replica], scope, body, send, [(b"x-replica", replica.encode())]
        )
        issued = headers.get("mcp-session-id")
        if issued:
            self.sessions.setdefault(issued, replica)


@dataclass
class TokenGate(_Forwarder):
    """In front of the provider's token endpoint: passes everything on, except that while
    ``holding`` a refresh request is held unanswered until its sender goes away (a
    refresh in flight at the provider, for as long as the test wants)."""

    origin: str = ""
    holding: bool = False
    held: int = 0
    arrived: anyio.Event = field(default_factory=anyio.Event)

    def reset(self) -> None:
        self.holding = False
        self.held = 0
        self.arrived = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await self._request_body(scope, receive, send)
        if body is None:
            return
        grant_type = parse_qs(body.decode("latin-1")).get("grant_type", [None])[0]
        if self.holding and grant_type == "refresh_token":
            self.held += 1
            self.arrived.set()
            while (await receive())["type"] != "http.disconnect":
                pass
            return
        await _forward(self.http, self.origin, scope, body, send)


@dataclass
class Replica:
    """One ``mcpbuild serve`` process, its JSON log in ``log_path``."""

    name: str
    port: int
    command: list[str]
    env: dict[str, str] = field(repr=False)
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until ``/readyz`` answers 200 (the store and the
        provider reachable), failing with its log if it exits or takes too long."""
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            with anyio.fail_after(timeout):
                async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
                    while True:
                        if self.process.poll() is not None:
                            raise RuntimeError(
                                f"replica {self.name} exited with {self.process.returncode}"
                            )
                        with contextlib.suppress(httpx.TransportError):
                            if (await http.get(self.base + "/readyz")).status_code == 200:
                                return
                        await anyio.sleep(0.05)  # a poll interval, not a wait for readiness
        except (RuntimeError, TimeoutError) as exc:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            await self.stop()
            raise RuntimeError(f"replica {self.name} did not get ready: {exc}\n{tail}") from exc

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lock released, connections cut."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await anyio.to_thread.run_sync(lambda: process.wait(timeout=10))
        except subprocess.TimeoutExpired:
            process.kill()
            await anyio.to_thread.run_sync(process.wait)

    def log(self) -> list[dict[str, Any]]:
        """The process's JSON log lines (the lines that are not JSON skipped)."""
        lines = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    lines.append(json.loads(line))
        return lines

    async def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Its ``/metrics`` samples: ``(name, labels) -> value``."""
        async with httpx.AsyncClient(timeout=10, trust_env=False) as http:
            response = await http.get(self.base + "/metrics")
        response.raise_for_status()
        return {
            (s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text)
            for s in family.samples
        }


@dataclass
class Cluster:
    provider: RunningProvider
    redis: RedisServer
    notes: NotesState
    proxy: Proxy
    gate: TokenGate
    replicas: dict[str, Replica]
    public_url: str

    @property
    def mcp_url(self) -> str:
        return self.public_url + "/mcp"

    async def ready(self) -> None:
        """Redis and every replica up (a test may have stopped or killed one)."""
        if not self.redis.ping():
            await anyio.to_thread.run_sync(self.redis.start)
        async with anyio.create_task_group() as tg:
            for replica in self.replicas.values():
                if not replica.alive:
                    tg.start_soon(replica.start)

    @contextlib.asynccontextmanager
    async def store(self) -> AsyncIterator[RedisStore]:
        """The replicas' store, opened from the test to look at or change what they share."""
        store = RedisStore.connect(self.redis.url(prefix=PREFIX))
        try:
            yield store
        finally:
            await store.close()

    async def sign_in(self, http: httpx.AsyncClient) -> tuple[RawClient, dict[str, Any]]:
        """A new MCP client registered and signed in through the proxy (the sign-in's
        requests spread over the replicas); its client and token answer."""
        client = RawClient(self.public_url, http)
        assert (await client.register()).status_code == 201
        code, verifier = await client.code()
        answer = await client.exchange(code, verifier)
        assert answer.status_code == 200, answer.text
        return client, cast(dict[str, Any], answer.json())

    async def call(
        self,
        http: httpx.AsyncClient,
        token: str,
        replica: str | None = None,
        *,
        tool: str = "list_notes",
        arguments: dict[str, Any] | None = None,
        call_id: int = 1,
    ) -> httpx.Response:
        """One stateless (2026-07-28) ``tools/call`` through the proxy with a bearer token,
        on ``replica`` if given, else on the next in turn."""
        if replica is None:
            return await raw_tool_call(http, self.mcp_url, token, tool, call_id, arguments)
        with self.proxy.pinned({"/mcp": replica}):
            response = await raw_tool_call(http, self.mcp_url, token, tool, call_id, arguments)
        assert response.headers["x-replica"] == replica
        return response

    async def expire_upstream_token(self, token: str) -> str:
        """Mark the upstream access token of the grant behind ``token`` expired in the
        store (as the inspector's button does), so the next call refreshes it; the grant id."""
        async with self.store() as store:
            record = await store.get_token(token_hash(token))
            assert record is not None
            grant = await store.get_grant(record.grant_id)
            assert grant is not None
            assert await store.replace_grant_tokens(
                grant.grant_id,
                expected_version=grant.version,
                access_token=grant.access_token,
                refresh_token=grant.refresh_token,
                expires_at=time.time() - 60,
                issued_at=grant.issued_at,
            )
            return grant.grant_id


def tool_ok(response: httpx.Response) -> bool:
    """A 200 whose tools/call result is not an error."""
    if response.status_code != 200:
        return False
    result = response.json().get("result")
    return isinstance(result, dict) and not result.get("isError")


@contextlib.asynccontextmanager
async def running_cluster(
    provider: RunningProvider, redis: RedisServer, folder: Path
) -> AsyncIterator[Cluster]:
    """The notes API, the token gate, the proxy and two replicas on ``redis``; every
    process stopped on the way out, whatever happened."""
    async with contextlib.AsyncExitStack() as stack:
        notes, notes_url = await stack.enter_async_context(notes_api(provider))
        token_url = urlsplit(provider.token_endpoint)
        gate = TokenGate(origin=f"{token_url.scheme}://{token_url.netloc}")
        gate_base = await stack.enter_async_context(running(gate, ready_path=_PROXY_HEALTH))
        proxy = Proxy()
        public_url = await stack.enter_async_context(running(proxy, ready_path=_PROXY_HEALTH))
        await provider.allow_redirect_uris([public_url + "/oauth/callback"])
        env = {
            **os.environ,
            **spec_env(provider, notes_url),
            "PROVIDER_TOKEN_URL": gate_base + token_url.path,
            "MCPBUILD_SECRET_KEY": generate_key(),
        }
        replicas: dict[str, Replica] = {}
        for name in REPLICAS:
            port = free_port()
            command = [
                sys.executable, "-m", "builder.cli", "serve", str(SPEC),
                "--host", "127.0.0.1",
                "--port", str(port),
                "--store", redis.url(prefix=PREFIX),
                "--public-url", public_url,
                "--refresh-lock-ttl", str(LOCK_TTL),
                "--metrics",
                "--log-format", "json",
            ]  # fmt: skip
            replicas[name] = Replica(name, port, command, env, folder / f"replica-{name}.log")
            proxy.backends[name] = replicas[name].base

        async def stop_all() -> None:
            with anyio.CancelScope(shield=True):
                for replica in replicas.values():
                    await replica.stop()

        stack.push_async_callback(stop_all)
        cluster = Cluster(provider, redis, notes, proxy, gate, replicas, public_url)
        await cluster.ready()
        yield cluster
