"""The bearer gate in front of ``/mcp``: 401 challenges and per-tool scope step-up.

A request without a valid token gets 401 with ``WWW-Authenticate: Bearer
resource_metadata="..."``. A ``tools/call`` for a tool whose scopes the token lacks gets
403 ``insufficient_scope`` with the scopes to ask for, so the client can step up; the
upstream is never called for it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import TokenVerifier
from starlette.authentication import AuthCredentials
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BearerGate"]


class BearerGate:
    """ASGI middleware: authenticate, check the called tool's scopes, then pass on."""

    def __init__(
        self,
        app: ASGIApp,
        verifier: TokenVerifier,
        *,
        resource: str,
        resource_metadata_url: str,
        tool_scopes: Mapping[str, list[str]],
        max_body_bytes: int,
        default_scopes: list[str] | None = None,
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.resource = resource.rstrip("/")
        self.metadata_url = resource_metadata_url
        self.tool_scopes = tool_scopes
        self.max_body = max_body_bytes
        # On a 401, tell the client which scopes to ask for (MCP scope selection, step 1).
        self.default_scope = " ".join(default_scopes) if default_scopes else None

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
        if scope["method"] != "POST" or not self.tool_scopes:
            await self.app(scope, receive, send)
            return
        body, receive = await _buffer(receive, self.max_body)
        name = _called_tool(scope, body)
        needed = self.tool_scopes.get(name, []) if name else []
        missing = [s for s in needed if s not in info.scopes]
        if missing:
            wanted = list(dict.fromkeys([*info.scopes, *needed]))
            await self._challenge(
                send,
                403,
                "insufficient_scope",
                f"tool '{name}' needs scope {' '.join(missing)}",
                scope_value=" ".join(wanted),
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
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", ("Bearer " + ", ".join(parts)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})


def _bearer(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip() or None
    return None


def _called_tool(scope: Scope, body: bytes) -> str | None:
    headers = dict(scope["headers"])
    method = headers.get(b"mcp-method")
    if method is not None:  # 2026-07-28 requests name the method and tool in headers
        name = headers.get(b"mcp-name")
        return name.decode("utf-8", "replace") if method == b"tools/call" and name else None
    if b"tools/call" not in body:
        return None
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("method") == "tools/call":
        params = message.get("params")
        if isinstance(params, dict) and isinstance(params.get("name"), str):
            return str(params["name"])
    return None


async def _buffer(receive: Receive, limit: int) -> tuple[bytes, Receive]:
    """Read the request body (up to ``limit`` + 1 bytes; the SDK answers 413 beyond) and
    return it with a ``receive`` that replays it."""
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
            break
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return b"".join(chunks), replay
