"""The bearer gate in front of ``/mcp``: 401 challenges and per-tool scope step-up.

A request without a valid token gets 401 with ``WWW-Authenticate: Bearer
resource_metadata="..."``. A ``tools/call`` for a tool whose scopes the token lacks gets
403 ``insufficient_scope`` with the scopes to ask for, so the client can step up; the
upstream is never called for it.

The gate decides on the request the SDK will dispatch, parsed the same way: the body as
JSON with the parser of the protocol generation the SDK routes it to (chosen by the same
``MCP-Protocol-Version`` test), never on raw bytes or on routing headers alone. A
2026-07-28 request whose ``Mcp-Method``/``Mcp-Name`` headers (RFC 2047-decoded as the
SDK decodes them) disagree with its body is refused. The tool handler checks scopes a
second time, so a request this gate misjudged still cannot reach the upstream.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pydantic_core
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    decode_header_value,
    find_duplicated_routing_header,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from builder.connector.resolved import ResolvedConnector
from builder.errors import MCPBuildError

__all__ = ["BearerGate", "UpstreamReady", "called_tools"]

UpstreamReady = Callable[[AccessToken], Awaitable[bool]]
"""Before a ``tools/call``: whether the caller's upstream sign-in still works (refreshing
it if due). False means it has ended for good."""

_VERSION_HEADER = MCP_PROTOCOL_VERSION_HEADER.encode("ascii")


class Refused(MCPBuildError):
    """The request is malformed in a way that decides nothing safely: answer 400."""


class BearerGate:
    """ASGI middleware: authenticate, check the called tool's scopes, then pass on."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        connector: ResolvedConnector,
        *,
        resource: str,
        resource_metadata_url: str,
        max_body_bytes: int,
        default_scopes: list[str] | None = None,
        upstream_ready: UpstreamReady | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.retarget(connector)
        self.resource = resource.rstrip("/")
        self.metadata_url = resource_metadata_url
        self.max_body = max_body_bytes
        self.upstream_ready = upstream_ready
        # On a 401, tell the client which scopes to ask for (MCP scope selection, step 1).
        self.default_scope = " ".join(default_scopes) if default_scopes else None

    def retarget(self, connector: ResolvedConnector) -> None:
        """Check tool calls against ``connector`` from the next request on (a reload)."""
        self.connector = connector
        self.any_scoped = any(t.scopes or t.any_scopes for t in connector.tools.values())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        info = await self.verifier.verify_token(token) if token else None
        if info is None or (info.resource and info.resource.rstrip("/") != self.resource):
            error = "invalid_token" if token else None
            await self._challenge(
                send, 401, error, "a valid bearer token is required", scope_value=self.default_scope
            )
            return
        scope["user"] = AuthenticatedUser(info)
        scope["auth"] = AuthCredentials(info.scopes)
        if scope["method"] != "POST" or not (self.any_scoped or self.upstream_ready):
            await self.app(scope, receive, send)
            return
        body, receive, complete = await _buffer(receive, self.max_body)
        if not complete:
            await _plain(send, 413, f"request body too large: limit {self.max_body} bytes")
            return
        try:
            names = called_tools(scope["headers"], body)
        except Refused as exc:
            await _plain(send, 400, str(exc))
            return
        for name in names:
            missing = self.connector.missing_scopes(name, info.scopes)
            if missing:
                tool = self.connector.tools[name]
                needed = [*tool.scopes, *tool.any_scopes[:1]]
                wanted = list(dict.fromkeys([*info.scopes, *needed]))
                await self._challenge(
                    send,
                    403,
                    "insufficient_scope",
                    f"tool '{name}' needs scope {' '.join(missing)}",
                    scope_value=" ".join(wanted),
                )
                return
        if names and self.upstream_ready is not None and not await self.upstream_ready(info):
            # The user's sign-in with the provider has ended: a 401 is the signal every
            # client acts on (a tool error would only be read by the model), and the
            # grant's refresh tokens are revoked, so the client's refresh fails and it
            # signs in again instead of coming back here with a fresh token.
            await self._challenge(
                send,
                401,
                "invalid_token",
                "the sign-in with the provider has ended; sign in again",
                scope_value=self.default_scope,
            )
            return
        await self.app(scope, receive, send)

    async def _challenge(
        self,
        send: Send,
        status: int,
        error: str | None,
        description: str,
        *,
        scope_value: str | None = None,
    ) -> None:
        parts = []
        if error:
            parts += [f'error="{error}"', f'error_description="{description}"']
        if scope_value:
            parts.append(f'scope="{scope_value}"')
        parts.append(f'resource_metadata="{self.metadata_url}"')
        body = json.dumps({"error": error or "invalid_token", "error_description": description})
        www = ("Bearer " + ", ".join(parts)).encode()
        await _send_json(send, status, body.encode(), [(b"www-authenticate", www)])


def _bearer(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip() or None
    return None


def called_tools(headers: list[tuple[bytes, bytes]], body: bytes) -> list[str]:
    """The tools a POST to ``/mcp`` calls, as the SDK will dispatch it.

    The SDK routes a request to its 2026-07-28 entry when the first
    ``MCP-Protocol-Version`` header names a version outside the handshake versions, and
    parses that body with :func:`json.loads`; every other request goes to the
    2025-11-25 transport, which parses with :func:`pydantic_core.from_json`. Bodies
    that do not parse decide nothing here: the SDK refuses them before any handler.
    """
    version = next((v.decode("latin-1") for k, v in headers if k == _VERSION_HEADER), None)
    modern = version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS
    try:
        decoded: Any = json.loads(body) if modern else pydantic_core.from_json(body)
    except (ValueError, RecursionError):
        return []
    messages = decoded if isinstance(decoded, list) else [decoded]
    names: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            continue
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        if not isinstance(name, str):
            raise Refused("tools/call needs params.name, a string")
        names.append(name)
    if modern and isinstance(decoded, dict):
        _check_routing_headers(headers, decoded)
    return names


def _check_routing_headers(headers: list[tuple[bytes, bytes]], message: dict[str, Any]) -> None:
    """2026-07-28: the routing headers, decoded as the SDK decodes them, must name what
    the body names (the SDK refuses a mismatch too; refusing here keeps the gate from
    ever reading a request differently from the dispatcher)."""
    text = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers]
    duplicated = find_duplicated_routing_header(text)
    if duplicated is not None:
        raise Refused(f"{duplicated} header appears more than once")
    found = dict(text)
    method = found.get(MCP_METHOD_HEADER)
    if method is not None and decode_header_value(method) != message.get("method"):
        raise Refused("the Mcp-Method header does not match the body's method")
    name = found.get(MCP_NAME_HEADER)
    params = message.get("params")
    body_name = params.get("name") if isinstance(params, dict) else None
    tool_call = message.get("method") == "tools/call"
    if name is not None and tool_call and decode_header_value(name) != body_name:
        raise Refused("the Mcp-Name header does not match the body's params.name")


async def _plain(send: Send, status: int, message: str) -> None:
    body = json.dumps(
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}
    ).encode()
    await _send_json(send, status, body)


async def _send_json(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": body})


async def _buffer(receive: Receive, limit: int) -> tuple[bytes, Receive, bool]:
    """Read the request body, at most ``limit`` bytes; return it, a ``receive`` that
    replays it, and whether it was complete within the limit."""
    chunks: list[bytes] = []
    size = 0
    more = True
    messages: list[Message] = []
    while more:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
        if size > limit:
            return b"", receive, False
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return b"".join(chunks), replay, True
