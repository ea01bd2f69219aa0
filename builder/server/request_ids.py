"""``/mcp`` requests get their request id before anything logs: the bearer gate, the SDK,
the tool call (:mod:`builder.tools.request_id`)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from builder.tools.request_id import REQUEST_ID, REQUEST_ID_HEADER, accept_request_id

__all__ = ["WithRequestId"]

_HEADER = REQUEST_ID_HEADER.lower().encode("latin-1")


class WithRequestId:
    """ASGI wrapper: reuse a sane incoming ``X-Request-Id`` or make one, set it for the
    request's context (the SDK carries it into the handler's task), and echo it in the
    response's ``X-Request-Id``, so a client can quote it to an operator."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        incoming = None
        for name, value in scope.get("headers", ()):
            if name == _HEADER:
                incoming = value.decode("latin-1")
                break
        request_id = accept_request_id(incoming)
        echo = (_HEADER, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), echo]
            await send(message)

        token = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
