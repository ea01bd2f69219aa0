"""``/revoke`` for public clients: RFC 7009 §2.1 lets a client without a secret revoke with
its ``client_id`` alone, but the SDK's revocation handler requires a ``client_secret``
field. A form that has none gets an empty one, which is what the SDK's authenticator
expects of a public client; a confidential client still has to send its real secret."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["PublicClientRevocation"]


class PublicClientRevocation:
    """ASGI wrapper of the SDK's /revoke endpoint (behind a body cap: it reads the body)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        form = Headers(scope=scope).get("content-type", "").split(";")[0].strip().lower()
        if scope["type"] != "http" or form != "application/x-www-form-urlencoded":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        fields = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
        if not any(name == "client_secret" for name, _ in fields):
            body += b"&client_secret=" if body else b"client_secret="
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        request: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([request], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return replay
