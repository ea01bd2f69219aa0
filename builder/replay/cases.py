"""Replay case files: one tool call, the upstream exchanges it makes, and its expected result.

A case is YAML next to its connector (``connectors/NAME/tests/*.yaml``)::

    tool: list_issues
    arguments: {owner: octocat, repo: hello-world}
    env: {GITHUB_CLIENT_ID: x}          # optional: values of ${VAR}s
    exchanges:
      - request:  {method: GET, path: /repos/octocat/hello-world/issues, query: {...}}
        response: {status: 200, body: [...]}
    expect: {is_error: false, json: [...]}

Files are read with positions (:mod:`builder.connector.source`), so every problem reads
``list_issues.yaml:7:5: exchanges[0].request.method: expected ...``, all of them at once.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Literal

from builder.connector.models import HTTP_METHODS
from builder.connector.source import Located, Path, load_yaml, read_spec_text
from builder.errors import SpecError, SpecIssue

__all__ = [
    "Body",
    "Case",
    "Exchange",
    "Expectation",
    "ExpectedRequest",
    "RecordedResponse",
    "file_content",
    "find_cases",
    "load_case",
    "load_case_text",
    "load_cases",
    "wire_text",
]

BodyKind = Literal["json", "form", "multipart", "text", "base64"]

_TOP = ("tool", "description", "arguments", "env", "exchanges", "expect")
_EXCHANGE = ("request", "response")
_REQUEST = (
    "method",
    "path",
    "query",
    "headers",
    "body",
    "form",
    "multipart",
    "body_text",
    "body_base64",
)
_RESPONSE = ("status", "headers", "body", "body_text", "body_base64")
_FILE_PART = ("filename", "content_type", "content", "content_base64")
_EXPECT = ("is_error", "json", "text", "notes", "blob_base64", "mime_type")
_REQUEST_BODIES: dict[str, BodyKind] = {
    "body": "json",
    "form": "form",
    "multipart": "multipart",
    "body_text": "text",
    "body_base64": "base64",
}
_RESPONSE_BODIES: dict[str, BodyKind] = {
    "body": "json",
    "body_text": "text",
    "body_base64": "base64",
}


@dataclass(frozen=True, slots=True)
class Body:
    """A request or response body as written in a case: JSON data, form fields (like a
    query), exact text, or base64 bytes."""

    kind: BodyKind
    value: Any


@dataclass(frozen=True, slots=True)
class ExpectedRequest:
    """What the tool must send. ``query`` is exact (every key, repeated keys as lists);
    ``headers`` is a subset (names case-insensitive); ``body`` None means no body."""

    method: str
    path: str
    query: Mapping[str, tuple[str, ...]]
    headers: Mapping[str, str]
    body: Body | None


@dataclass(frozen=True, slots=True)
class RecordedResponse:
    """What the upstream answered."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Exchange:
    request: ExpectedRequest
    response: RecordedResponse


@dataclass(frozen=True, slots=True)
class Expectation:
    """The tool result: ``is_error`` and either the text parsed as JSON or the exact text;
    ``notes`` is checked only when the case gives it."""

    is_error: bool
    json: Any = None
    has_json: bool = False
    text: str | None = None
    notes: tuple[str, ...] | None = None
    blob: bytes | None = None
    """A binary result's bytes (``blob_base64``), checked when given."""
    mime_type: str | None = None
    """A binary result's media type, checked when given."""


@dataclass(frozen=True, slots=True)
class Case:
    """One replay case, loaded and checked."""

    file: str
    tool: str
    arguments: Mapping[str, Any]
    env: Mapping[str, str]
    exchanges: tuple[Exchange, ...]
    expect: Expectation
    description: str | None = None


def find_cases(directory: FilePath) -> list[FilePath]:
    """The case files of a folder (``*.yaml`` and ``*.yml``), in name order; a single file
    is its own list."""
    if directory.is_file():
        return [directory]
    return sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])


def load_cases(files: list[FilePath]) -> list[Case]:
    """Every case of ``files``; one :class:`SpecError` listing every problem otherwise."""
    cases: list[Case] = []
    issues: list[SpecIssue] = []
    for file in files:
        try:
            cases.append(load_case(str(file)))
        except SpecError as exc:
            issues.extend(exc.issues)
    if issues:
        raise SpecError(issues)
    return cases


def load_case(filename: str) -> Case:
    """Read and check one case file."""
    return load_case_text(read_spec_text(filename), filename)


def load_case_text(text: str, filename: str = "<string>") -> Case:
    """Check case ``text`` as if read from ``filename``."""
    if not text.strip():
        raise SpecError.single(
            filename, None, "file is empty; expected a replay case", code="empty"
        )
    located = load_yaml(text, filename)
    reader = _Reader(located, filename)
    case = reader.case()
    if reader.issues or case is None:
        raise SpecError(reader.issues or [SpecIssue(filename, None, (), "invalid case", "case")])
    return case


def file_content(raw: bytes) -> dict[str, str]:
    """A file part's bytes as a case shows them: ``content`` when they are text, else
    ``content_base64``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = "\x00"
    if "\x00" in text:
        return {"content_base64": base64.b64encode(raw).decode()}
    return {"content": text}


def wire_text(value: Any) -> str:
    """A query or header value as it goes on the wire: ``true``, ``30``, text as is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class _Reader:
    located: Located
    filename: str
    issues: list[SpecIssue] = field(default_factory=list)

    def problem(self, path: Path, message: str, *, key: bool = False, code: str = "case") -> None:
        self.issues.append(
            SpecIssue(self.filename, self.located.position(path, key=key), path, message, code)
        )

    def mapping(self, value: Any, path: Path, allowed: tuple[str, ...]) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping, got {_kind(value)}", code="type")
            return None
        for name in value:
            if name not in allowed:
                near = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
                hint = (
                    f"; did you mean '{near[0]}'?"
                    if near
                    else f"; expected one of {', '.join(allowed)}"
                )
                self.problem((*path, name), f"unknown key '{name}'{hint}", key=True, code="unknown")
        return value

    def required(self, data: dict[str, Any], name: str, path: Path) -> Any:
        if name not in data:
            self.problem(path, f"missing required key '{name}'", code="missing")
        return data.get(name)

    def text(self, data: dict[str, Any], name: str, path: Path) -> str | None:
        """The required non-empty string ``data[name]``, or None with a problem noted."""
        if name not in data:
            self.problem(path, f"missing required key '{name}'", code="missing")
            return None
        value = data[name]
        if not isinstance(value, str) or not value:
            self.problem(
                (*path, name), f"expected a non-empty string, got {_kind(value)}", code="type"
            )
            return None
        return value

    def case(self) -> Case | None:
        data = self.mapping(self.located.data, (), _TOP)
        if data is None:
            return None
        tool = self.text(data, "tool", ())
        description = data.get("description")
        if description is not None and not isinstance(description, str):
            self.problem(("description",), f"expected a string, got {_kind(description)}")
        arguments = data.get("arguments", {})
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            self.problem(("arguments",), f"expected a mapping, got {_kind(arguments)}", code="type")
        env = self.env(data.get("env", {}))
        raw = self.required(data, "exchanges", ())
        exchanges: list[Exchange] = []
        if raw is not None and not isinstance(raw, list):
            self.problem(("exchanges",), f"expected a list, got {_kind(raw)}", code="type")
        elif raw is not None:
            for i, item in enumerate(raw):
                exchange = self.exchange(item, ("exchanges", i))
                if exchange is not None:
                    exchanges.append(exchange)
        expect = self.expect(self.required(data, "expect", ()))
        if self.issues or tool is None or expect is None or not isinstance(arguments, dict):
            return None
        return Case(
            file=self.filename,
            tool=tool,
            arguments=arguments,
            env=env,
            exchanges=tuple(exchanges),
            expect=expect,
            description=description,
        )

    def env(self, value: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(("env",), f"expected a mapping, got {_kind(value)}", code="type")
            return {}
        out: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, dict | list):
                self.problem(("env", name), f"expected a string, got {_kind(item)}", code="type")
            else:
                out[name] = wire_text(item)
        return out

    def exchange(self, value: Any, path: Path) -> Exchange | None:
        data = self.mapping(value, path, _EXCHANGE)
        if data is None:
            return None
        request = self.request(self.required(data, "request", path), (*path, "request"))
        response = self.response(self.required(data, "response", path), (*path, "response"))
        if request is None or response is None:
            return None
        return Exchange(request, response)

    def request(self, value: Any, path: Path) -> ExpectedRequest | None:
        if value is None:
            return None
        data = self.mapping(value, path, _REQUEST)
        if data is None:
            return None
        method = self.text(data, "method", path)
        if method is not None and method.upper() not in HTTP_METHODS:
            self.problem(
                (*path, "method"),
                f"expected one of {', '.join(HTTP_METHODS)}, got {method!r}",
                code="enum",
            )
        route = self.text(data, "path", path)
        if route is not None and not route.startswith("/"):
            self.problem((*path, "path"), f"expected a path starting with /, got {route!r}")
        elif route is not None and "?" in route:
            self.problem((*path, "path"), "expected a path without '?': put the query in `query`")
        query = self.query(data.get("query", {}), (*path, "query"))
        headers = self.headers(data.get("headers", {}), (*path, "headers"))
        body = self.body(data, path, _REQUEST_BODIES)
        if method is None or route is None:
            return None
        return ExpectedRequest(method.upper(), route, query, headers, body)

    def response(self, value: Any, path: Path) -> RecordedResponse | None:
        if value is None:
            return None
        data = self.mapping(value, path, _RESPONSE)
        if data is None:
            return None
        status = data.get("status", 200)
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            self.problem((*path, "status"), f"expected an HTTP status 100-599, got {status!r}")
            status = 200
        headers = dict(self.headers(data.get("headers", {}), (*path, "headers")))
        body = self.body(data, path, _RESPONSE_BODIES)
        raw = b""
        if body is not None:
            if body.kind == "json":
                raw = json.dumps(body.value, ensure_ascii=False).encode()
                if not any(n.lower() == "content-type" for n in headers):
                    headers["Content-Type"] = "application/json"
            elif body.kind == "text":
                raw = str(body.value).encode()
            else:
                raw = body.value
        return RecordedResponse(status, headers, raw)

    def query(self, value: Any, path: Path) -> dict[str, tuple[str, ...]]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping of query keys, got {_kind(value)}", code="type")
            return {}
        out: dict[str, tuple[str, ...]] = {}
        for name, item in value.items():
            items = item if isinstance(item, list) else [item]
            if any(isinstance(v, dict | list) for v in items):
                self.problem(
                    (*path, name),
                    "expected a value or a list of values (one per repeated key)",
                    code="type",
                )
                continue
            out[name] = tuple(wire_text(v) for v in items)
        return out

    def headers(self, value: Any, path: Path) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(
                path, f"expected a mapping of header names, got {_kind(value)}", code="type"
            )
            return {}
        out: dict[str, str] = {}
        seen: dict[str, str] = {}
        for name, item in value.items():
            if isinstance(item, dict | list):
                self.problem(
                    (*path, name), f"expected a header value, got {_kind(item)}", code="type"
                )
                continue
            if name.lower() in seen:
                self.problem(
                    (*path, name),
                    f"header '{name}' given twice (also as '{seen[name.lower()]}')",
                    key=True,
                )
                continue
            seen[name.lower()] = name
            out[name] = wire_text(item)
        return out

    def body(self, data: dict[str, Any], path: Path, kinds: dict[str, BodyKind]) -> Body | None:
        given = [name for name in kinds if name in data]
        if len(given) > 1:
            self.problem(
                (*path, given[1]),
                f"expected one body, got {' and '.join(given)}",
                key=True,
                code="conflict",
            )
            return None
        if not given:
            return None
        name = given[0]
        kind = kinds[name]
        value = data[name]
        if kind == "form":
            return Body("form", self.query(value, (*path, name)))
        if kind == "multipart":
            return self.multipart(value, (*path, name))
        if kind == "text":
            if not isinstance(value, str):
                self.problem((*path, name), f"expected a string, got {_kind(value)}", code="type")
                return None
            return Body("text", value)
        if kind == "base64":
            try:
                return Body("base64", base64.b64decode(str(value), validate=True))
            except (binascii.Error, ValueError):
                self.problem((*path, name), "expected base64 text", code="type")
                return None
        return Body("json", value)

    def multipart(self, value: Any, path: Path) -> Body | None:
        """Fields as in ``form``; a file part as ``{filename, content_type, content}`` (or
        ``content_base64`` for bytes that are not text)."""
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping of part names, got {_kind(value)}", code="type")
            return None
        parts: dict[str, Any] = {}
        for name, item in value.items():
            if not isinstance(item, dict):
                parts.update(self.query({name: item}, path))
                continue
            data = self.mapping(item, (*path, name), _FILE_PART)
            if data is None:
                continue
            content = data.get("content", "")
            if "content_base64" in data:
                try:
                    raw = base64.b64decode(str(data["content_base64"]), validate=True)
                except (binascii.Error, ValueError):
                    self.problem((*path, name, "content_base64"), "expected base64 text")
                    continue
                content = file_content(raw)
            parts[name] = {
                "filename": wire_text(data.get("filename")),
                "content_type": wire_text(data.get("content_type")),
                **(content if isinstance(content, dict) else {"content": wire_text(content)}),
            }
        return Body("multipart", parts)

    def expect(self, value: Any) -> Expectation | None:
        if value is None:
            return None
        data = self.mapping(value, ("expect",), _EXPECT)
        if data is None:
            return None
        is_error = data.get("is_error", False)
        if not isinstance(is_error, bool):
            self.problem(("expect", "is_error"), f"expected true or false, got {_kind(is_error)}")
        if ("json" in data) == ("text" in data):
            self.problem(
                ("expect",),
                "expected exactly one of 'json' (the result text parsed as JSON) and 'text' "
                "(the exact result text)",
                code="missing",
            )
        text = data.get("text")
        if "text" in data and not isinstance(text, str):
            self.problem(("expect", "text"), f"expected a string, got {_kind(text)}", code="type")
        notes = data.get("notes")
        if notes is not None and (
            not isinstance(notes, list) or not all(isinstance(n, str) for n in notes)
        ):
            self.problem(("expect", "notes"), "expected a list of strings", code="type")
            notes = None
        blob = None
        if "blob_base64" in data:
            try:
                blob = base64.b64decode(str(data["blob_base64"]), validate=True)
            except (binascii.Error, ValueError):
                self.problem(("expect", "blob_base64"), "expected base64 text", code="type")
        mime_type = data.get("mime_type")
        if mime_type is not None and not isinstance(mime_type, str):
            self.problem(("expect", "mime_type"), f"expected a string, got {_kind(mime_type)}")
            mime_type = None
        return Expectation(
            is_error=bool(is_error),
            json=data.get("json"),
            has_json="json" in data,
            text=text if isinstance(text, str) else None,
            notes=tuple(notes) if notes is not None else None,
            blob=blob,
            mime_type=mime_type,
        )


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"{value!r}" if value else "an empty string"
    return repr(value)
