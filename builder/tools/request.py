"""Arguments to an HTTP request that can never leave the API's base URL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from builder.connector.resolved import ResolvedTool
from builder.errors import ArgumentError

__all__ = ["Origin", "OutgoingRequest", "RequestBuilder", "within"]

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Origin:
    """The base URL's scheme, host, port and path: the only place requests may go."""

    scheme: str
    host: str
    port: int
    path: str

    @classmethod
    def of(cls, url: str) -> Origin:
        parts = urlsplit(url)
        default = 443 if parts.scheme == "https" else 80
        return cls(
            parts.scheme,
            (parts.hostname or "").lower(),
            parts.port or default,
            parts.path.rstrip("/"),
        )


def within(origin: Origin, url: str) -> bool:
    """Whether ``url`` is at or below ``origin`` (same scheme, host, port, path prefix)."""
    other = Origin.of(url)
    if (other.scheme, other.host, other.port) != (origin.scheme, origin.host, origin.port):
        return False
    path = urlsplit(url).path
    return path == origin.path or path.startswith(origin.path + "/") or not origin.path


@dataclass(frozen=True, slots=True)
class OutgoingRequest:
    """One fully built upstream request."""

    method: str
    url: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes | None


class RequestBuilder:
    """Builds one tool's requests; everything that does not depend on arguments is done once."""

    def __init__(self, resolved: ResolvedTool, base_url: str) -> None:
        tool = resolved.spec
        self.method = tool.request.method
        self.base = base_url.rstrip("/")
        self.origin = Origin.of(base_url)
        self.static_query = [(k, _scalar(v)) for k, v in resolved.query]
        self.static_headers = dict(resolved.headers)
        self.form = tool.request.body_format == "form"
        # The path template split into literal parts and param names, so rendering is a join.
        self._segments: list[tuple[bool, str]] = []
        last = 0
        for match in _PLACEHOLDER.finditer(tool.request.path):
            self._segments.append((False, tool.request.path[last : match.start()]))
            self._segments.append((True, match.group(1)))
            last = match.end()
        self._segments.append((False, tool.request.path[last:]))
        self._query = [
            (n, p.api_name or n, p.explode) for n, p in tool.params.items() if p.in_ == "query"
        ]
        self._headers = [(n, p.api_name or n) for n, p in tool.params.items() if p.in_ == "header"]
        self._body = [(n, p.api_name or n) for n, p in tool.params.items() if p.in_ == "body"]
        self.has_body = bool(self._body)

    def build(self, args: dict[str, Any]) -> OutgoingRequest:
        """The request for checked ``args``; :class:`ArgumentError` for values that cannot be
        sent safely (an empty path segment, a line break in a header)."""
        path = "".join(
            _segment(name, args[name]) if is_param else name for is_param, name in self._segments
        )
        url = self.base + path
        if not within(self.origin, url):  # defence in depth: encoding already prevents this
            raise ArgumentError("the arguments would send the request outside the API's base URL")
        query = list(self.static_query)
        for name, wire, explode in self._query:
            if name not in args or args[name] is None:
                continue
            value = args[name]
            if isinstance(value, list):
                if explode:
                    query.extend((wire, _scalar(v)) for v in value)
                else:
                    query.append((wire, ",".join(_scalar(v) for v in value)))
            else:
                query.append((wire, _scalar(value)))
        headers = dict(self.static_headers)
        for name, wire in self._headers:
            if name in args and args[name] is not None:
                text = _scalar(args[name])
                if _CONTROL.search(text):
                    raise ArgumentError(
                        f"argument '{name}': expected a header value without control characters "
                        "(CR, LF, ...)"
                    )
                headers[wire] = text
        body: bytes | None = None
        if self.has_body:
            fields = {wire: args[name] for name, wire in self._body if name in args}
            if self.form:
                pairs: list[tuple[str, str]] = []
                for key, value in fields.items():
                    items = value if isinstance(value, list) else [value]
                    pairs.extend((key, _scalar(v)) for v in items if v is not None)
                body = urlencode(pairs).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            else:
                body = json.dumps(fields, ensure_ascii=False, separators=(",", ":")).encode()
                headers.setdefault("Content-Type", "application/json")
        return OutgoingRequest(self.method, url, query, headers, body)


def _segment(name: str, value: Any) -> str:
    text = _scalar(value)
    if text == "":
        raise ArgumentError(f"argument '{name}': expected a non-empty value for a path segment")
    # Everything but unreserved characters is encoded, "/" included, so a value is always
    # exactly one segment; "." and ".." are encoded too, or they would be dot segments.
    encoded = quote(text, safe="")
    if encoded in (".", ".."):
        encoded = encoded.replace(".", "%2E")
    return encoded


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
