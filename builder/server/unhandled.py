"""Every 5xx logs its cause: the ASGI middleware for exceptions no handler caught.

An exception escaping a route would otherwise reach Starlette's and uvicorn's handlers,
which either print ``str(exc)`` (it may carry a token or an upstream body) or, under our
one-line formatters, nothing useful at all. This logs one error line with the route, the
exception's type and its frames as ``file:line``, and answers a generic 500.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from builder.errors import MCPBuildError

__all__ = ["LogUnhandledErrors"]

logger = logging.getLogger("mcpbuild.http")

MAX_FRAMES: Final = 16
_BODY: Final = json.dumps(
    {"error": "server_error", "error_description": "internal server error"}
).encode()


class LogUnhandledErrors:
    """ASGI middleware: log an unhandled exception safely and answer 500 if nothing was sent.

    The log line names the route path, the exception's type and its innermost
    ``MAX_FRAMES`` frames as ``file:line``. The message is logged only for
    :class:`~builder.errors.MCPBuildError`, whose messages never carry secrets. The
    exception is not re-raised: the servers above would log it with its message.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            logger.error("unhandled exception", extra=describe(exc, scope, started=started))
            if not started:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(_BODY)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": _BODY})


def describe(exc: BaseException, scope: Scope, *, started: bool = False) -> dict[str, object]:
    """The log fields for ``exc``: route, method, type, ``file:line`` frames, and the message
    only when it is an :class:`~builder.errors.MCPBuildError`."""
    leaf = _leaf(exc)
    fields: dict[str, object] = {
        "path": _route_path(scope),
        "method": scope.get("method", ""),
        "error": _type_name(leaf),
        "frames": _frames(leaf),
        "response_started": started,
    }
    if leaf is not exc:
        fields["group"] = _type_name(exc)
    cause = leaf.__cause__ or leaf.__context__
    if cause is not None:
        fields["cause"] = _type_name(cause)
    if isinstance(leaf, MCPBuildError):
        fields["detail"] = str(leaf)
    return fields


def _leaf(exc: BaseException) -> BaseException:
    # Task groups wrap the real failure in an ExceptionGroup: log the first one inside.
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _route_path(scope: Scope) -> str:
    # The matched route's template (no identifiers from the URL), else the raw path.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else str(scope.get("path", ""))


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _frames(exc: BaseException) -> str:
    walked = traceback.walk_tb(exc.__traceback__)
    frames = traceback.StackSummary.extract(walked, lookup_lines=False)[-MAX_FRAMES:]
    return " > ".join(f"{_short(f.filename)}:{f.lineno}" for f in frames)


def _short(filename: str) -> str:
    roots = [p for p in sys.path if p and filename.startswith(p.rstrip("/") + "/")]
    return filename[len(max(roots, key=len).rstrip("/")) + 1 :] if roots else filename
