"""The request id: one per tool call, in every log line of it and, when the spec names a
header (``api.request_id_header``), sent to the upstream.

It lives in a context variable: the HTTP layer sets it from a sane incoming
``X-Request-Id`` (or a new one) for the whole ``/mcp`` request, the SDK carries the
sender's context into the handler's task, and a tool call with none (stdio, ``mcpbuild
call``) gets its own. It never comes from a tool's arguments.
"""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar, Token

__all__ = ["REQUEST_ID", "REQUEST_ID_HEADER", "accept_request_id", "ensure_request_id"]

REQUEST_ID: ContextVar[str | None] = ContextVar("mcpbuild_request_id", default=None)
"""The id of the request being served, or None outside of one."""

REQUEST_ID_HEADER = "X-Request-Id"
"""The header an incoming ``/mcp`` request may carry its id in, and the response echoes."""

_SANE = re.compile(r"[A-Za-z0-9._-]{1,128}")


def accept_request_id(incoming: str | None) -> str:
    """``incoming`` when it is a sane token (at most 128 of ``A-Za-z0-9._-``), else a new id:
    a client-chosen value goes into log lines and upstream headers, so nothing else may."""
    if incoming is not None and _SANE.fullmatch(incoming):
        return incoming
    return secrets.token_hex(8)


def ensure_request_id() -> tuple[str, Token[str | None] | None]:
    """The current id, or a new one set for this context (reset it with the token)."""
    current = REQUEST_ID.get()
    if current is not None:
        return current, None
    new = accept_request_id(None)
    return new, REQUEST_ID.set(new)
