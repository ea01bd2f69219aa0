"""Arguments to an HTTP request that can never leave the API's base URL."""

from __future__ import annotations

import base64
import binascii
import copy
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp

from builder.connector.models import FilePart
from builder.connector.resolved import ResolvedTool
from builder.errors import ArgumentError

__all__ = ["Origin", "OutgoingRequest", "RequestBuilder", "within"]

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_FILENAME_ESCAPES = (('"', "%22"), ("\r", "%0D"), ("\n", "%0A"))


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
        self.format = tool.request.body_format
        self.fixed_body = tool.request.body
        # The path template split into literal parts and param names, so rendering is a join.
        self._segments: list[tuple[bool, str]] = []
        last = 0
        for match in _PLACEHOLDER.finditer(tool.request.path):
            self._segments.append((False, tool.request.path[last : match.start()]))
            self._segments.append((True, match.group(1)))
            last = match.end()
        self._segments.append((False, tool.request.path[last:]))
        params = tool.params
        self._query = [
            (n, p.api_name or n, p.explode) for n, p in params.items() if p.in_ == "query"
        ]
        self._headers = [(n, p.api_name or n) for n, p in params.items() if p.in_ == "header"]
        self._spread = [n for n, p in params.items() if p.in_ == "body" and p.spread]
        self._body = [
            _BodyField(n, tuple((p.api_name or n).split(".")), p.file)
            for n, p in params.items()
            if p.in_ == "body" and not p.spread
        ]
        self._filenames = {
            p.file.filename_param for p in params.values() if p.file and p.file.filename_param
        }
        graphql = tool.request.graphql
        self._graphql: dict[str, Any] | None = None
        if graphql is not None:
            self._graphql = {"query": graphql.query}
            if graphql.operation_name:
                self._graphql["operationName"] = graphql.operation_name
        self._variables = [(n, p.api_name or n) for n, p in params.items() if p.in_ == "variable"]
        self.has_body = bool(
            self._body or self._spread or self.fixed_body is not None or self._graphql
        )

    async def build(self, args: dict[str, Any]) -> OutgoingRequest:
        """The request for checked ``args``; :class:`ArgumentError` for values that cannot be
        sent safely (an empty path segment, a line break in a header, bad base64)."""
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
        if self._graphql is not None:
            variables = {
                wire: args[name] for name, wire in self._variables if args.get(name) is not None
            }
            body = _json({**self._graphql, "variables": variables})
            headers.setdefault("Content-Type", "application/json")
        elif self.has_body:
            if self.format == "multipart":
                body, ctype = await self._multipart(args)
                headers["Content-Type"] = ctype
            elif self.format == "form":
                body = urlencode(self._form_pairs(args)).encode()
                headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
            else:
                body = _json(self._json_body(args))
                headers.setdefault("Content-Type", "application/json")
        return OutgoingRequest(self.method, url, query, headers, body)

    def _json_body(self, args: dict[str, Any]) -> dict[str, Any]:
        """``request.body``, then spread params' keys, then each body param at its path."""
        body: dict[str, Any] = copy.deepcopy(self.fixed_body) if self.fixed_body else {}
        for name in self._spread:
            if isinstance(args.get(name), dict):
                body.update(args[name])
        for field in self._body:
            if field.name in args and args[field.name] is not None:
                _put(body, field.path, args[field.name])
        return body

    def _fields(self, args: dict[str, Any]) -> list[tuple[str, Any]]:
        """Form or multipart fields, fixed ones first; the file-name params are not fields."""
        fields = list((self.fixed_body or {}).items())
        fields += [
            (field.path[0], args[field.name])
            for field in self._body
            if field.file is None
            and field.name not in self._filenames
            and args.get(field.name) is not None
        ]
        return fields

    def _form_pairs(self, args: dict[str, Any]) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for key, value in self._fields(args):
            items = value if isinstance(value, list) else [value]
            pairs.extend((key, _scalar(v)) for v in items if v is not None)
        return pairs

    async def _multipart(self, args: dict[str, Any]) -> tuple[bytes, str]:
        writer = aiohttp.MultipartWriter("form-data")
        for key, value in self._fields(args):
            for item in value if isinstance(value, list) else [value]:
                part = writer.append(_scalar(item))
                part.set_content_disposition("form-data", name=key)
        for field in self._body:
            if field.file is None or args.get(field.name) is None:
                continue
            try:
                content = base64.b64decode(args[field.name], validate=True)
            except (binascii.Error, ValueError):
                raise ArgumentError(
                    f"argument '{field.name}': expected the file's content in base64"
                ) from None
            named = args.get(field.file.filename_param) if field.file.filename_param else None
            filename = str(named or field.file.filename or field.name)
            # As browsers send it (the HTML standard's multipart/form-data encoding): the
            # name as is, only '"', CR and LF percent-encoded. aiohttp's default would
            # percent-encode every space and non-ASCII letter, which servers keep as is.
            for raw, encoded in _FILENAME_ESCAPES:
                filename = filename.replace(raw, encoded)
            part = writer.append(content, {"Content-Type": field.file.media_type})
            try:
                part.set_content_disposition(
                    "form-data", quote_fields=False, name=field.path[0], filename=filename
                )
            except ValueError:
                raise ArgumentError(
                    f"argument '{field.file.filename_param or field.name}': expected a file "
                    "name without control characters"
                ) from None
        return await writer.as_bytes(), writer.content_type


@dataclass(frozen=True, slots=True)
class _BodyField:
    name: str
    path: tuple[str, ...]
    file: FilePart | None


def _put(body: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set ``value`` at ``path`` in ``body``, making the containers on the way: a segment of
    digits indexes a list (Notion's ``title.0.text.content``), any other names a key."""
    node: Any = body
    for key, after in zip(path, (*path[1:], None), strict=True):
        index: str | int = int(key) if key.isdigit() else key
        if isinstance(index, int):
            if not isinstance(node, list):
                raise ArgumentError(f"request body: expected a list at '{key}' of {'.'.join(path)}")
            while len(node) <= index:
                node.append(None)
        if after is None:
            node[index] = value
            return
        child = node[index] if isinstance(index, int) else node.get(index)
        if not isinstance(child, dict | list):
            child = [] if after.isdigit() else {}
            node[index] = child
        node = child


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


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
