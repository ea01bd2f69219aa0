"""Logging: one line per event, as JSON or text, on stderr; never a secret."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal

from builder.tools.request_id import REQUEST_ID

__all__ = ["configure_logging"]

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    # uvicorn's start-up line carries a copy of its message with terminal colour codes,
    # for its own formatter; ours would print it as an extra, escapes and all.
    "color_message",
}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD}


class JsonFormatter(logging.Formatter):
    """``{"ts": ..., "level": ..., "logger": ..., "msg": ..., "request_id": ..., <extras>}``
    per line; ``request_id`` while serving a request (:mod:`builder.tools.request_id`)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        line.update(_extras(record))
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """``2026-11-26 05:30:00 info mcpbuild.tools tool call tool=x outcome=ok ...``."""

    def format(self, record: logging.LogRecord) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        text = f"{when} {record.levelname.lower():<7} {record.name} {record.getMessage()}"
        return f"{text} {extras}" if extras else text


def configure_logging(level: str = "info", fmt: Literal["json", "text"] = "text") -> None:
    """Send mcpbuild's logs to stderr (stdout may carry the stdio protocol)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Libraries that would print message bodies, full URLs or attacker-chosen headers.
    for name in ("mcp", "httpx", "httpx2", "httpcore", "httpcore2", "sse_starlette"):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    logging.getLogger("mcp.server.transport_security").setLevel(logging.ERROR)
    logging.getLogger("uvicorn.access").disabled = True
