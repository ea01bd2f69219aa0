"""Comparing what a tool sent, and what it returned, with what a case expects.

Both sides are turned into the same plain view (method, path, query, the headers the case
names, body) and compared as canonical JSON; a mismatch is shown as a unified diff of the
two views, pretty-printed, so the one changed line stands out.
"""

from __future__ import annotations

import base64
import difflib
import json
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from builder.connector.models import ENV_REF
from builder.replay.cases import Body, ExpectedRequest, file_content
from builder.tools.request import OutgoingRequest

__all__ = ["expected_view", "render_diff", "same", "sent_view", "show", "text_diff"]


def expected_view(expected: ExpectedRequest, env: Mapping[str, str]) -> dict[str, Any]:
    """The case's request as a view; ``${VAR}`` in header and query values stands for the
    variable's value in this run (what ``record`` writes in place of a secret)."""

    def expand(text: str) -> str:
        return ENV_REF.sub(lambda m: env.get(m.group(1), m.group(0)), text)

    view: dict[str, Any] = {"method": expected.method, "path": expected.path}
    view["query"] = _query_view({k: [expand(v) for v in vs] for k, vs in expected.query.items()})
    view["headers"] = {name: expand(value) for name, value in sorted(expected.headers.items())}
    if expected.body is not None:
        view[_BODY_KEYS[expected.body.kind]] = _expected_body(expected.body)
    return view


def sent_view(
    request: OutgoingRequest, base_path: str, expected: ExpectedRequest | None
) -> dict[str, Any]:
    """What was sent, in the same shape as :func:`expected_view`: the path relative to the
    base URL's path, the query from the URL and the query list merged, only the headers the
    case names (all of them without a case), the body read the way the case reads it."""
    parts = urlsplit(request.url)
    path = parts.path
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path) :] or "/"
    elif base_path:
        path = request.url  # outside the base URL: show all of it
    pairs = parse_qsl(parts.query, keep_blank_values=True) + list(request.query)
    query: dict[str, list[str]] = {}
    for key, value in pairs:
        query.setdefault(key, []).append(value)
    view: dict[str, Any] = {"method": request.method, "path": path, "query": _query_view(query)}
    lower = {name.lower(): value for name, value in request.headers.items()}
    if expected is not None:
        view["headers"] = {
            name: lower[name.lower()] for name in sorted(expected.headers) if name.lower() in lower
        }
    else:
        view["headers"] = dict(sorted(request.headers.items()))
    if request.body is not None and request.body != b"":
        kind = expected.body.kind if expected is not None and expected.body else _guess(request)
        view[_BODY_KEYS[kind]] = _sent_body(request.body, kind, _content_type(request))
    return view


def same(expected: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """Whether two views are equal as JSON (``1`` is not ``true``, ``1`` is not ``1.0``)."""
    return _canonical(expected) == _canonical(sent)


def render_diff(expected: Any, got: Any, *, got_label: str = "got", view: bool = False) -> str:
    """A unified diff of two values as pretty JSON, ``--- expected +++ got``. Keys are
    sorted, except the top level of request views (``view=True``: method, path, query,
    headers, body, in that order)."""
    return text_diff(_pretty(expected, view), _pretty(got, view), got_label=got_label)


def show(view: Mapping[str, Any]) -> str:
    """A request view as pretty JSON, the way diffs show it."""
    return _pretty(dict(view), True)


def text_diff(expected: str, got: str, *, got_label: str = "got") -> str:
    """A unified diff of two texts, line by line, with all context."""
    a = expected.splitlines()
    b = got.splitlines()
    lines = difflib.unified_diff(a, b, "expected", got_label, n=max(len(a), len(b)), lineterm="")
    return "\n".join(lines)


_BODY_KEYS = {
    "json": "body",
    "form": "form",
    "multipart": "multipart",
    "text": "body_text",
    "base64": "body_base64",
}


def _query_view(query: Mapping[str, list[str]]) -> dict[str, Any]:
    return {k: (v[0] if len(v) == 1 else v) for k, v in sorted(query.items())}


def _expected_body(body: Body) -> Any:
    if body.kind == "form":
        return _query_view({k: list(v) for k, v in body.value.items()})
    if body.kind == "multipart":
        return {
            k: (v[0] if len(v) == 1 else list(v)) if isinstance(v, tuple) else v
            for k, v in sorted(body.value.items())
        }
    if body.kind == "base64":
        return base64.b64encode(body.value).decode()
    return body.value


def _sent_body(raw: bytes, kind: str, ctype: str) -> Any:
    if kind == "json":
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")  # shown as a string: not the JSON expected
    if kind == "form":
        form: dict[str, list[str]] = {}
        for key, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
            form.setdefault(key, []).append(value)
        return _query_view(form)
    if kind == "multipart":
        parts = _multipart(raw, ctype)
        if parts is not None:
            return parts
    if kind in ("text", "multipart"):
        return raw.decode("utf-8", "replace")
    return base64.b64encode(raw).decode()


def _multipart(raw: bytes, ctype: str) -> dict[str, Any] | None:
    """A multipart/form-data body as fields and file parts, or None if it is not one."""
    head = f"Content-Type: {ctype}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.default).parsebytes(head + raw)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        return None
    fields: dict[str, list[Any]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            return None
        content = part.get_payload(decode=True)
        data = content if isinstance(content, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields.setdefault(name, []).append(data.decode("utf-8", "replace"))
        else:
            fields.setdefault(name, []).append(
                {
                    "filename": filename,
                    "content_type": part.get_content_type(),
                    **file_content(data),
                }
            )
    return {k: (v[0] if len(v) == 1 else v) for k, v in sorted(fields.items())}


def _content_type(request: OutgoingRequest) -> str:
    return next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")


def _guess(request: OutgoingRequest) -> str:
    """How to show a body the case does not expect."""
    ctype = _content_type(request).split(";")[0].strip().lower()
    assert request.body is not None
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            json.loads(request.body)
        except ValueError:
            return "text"
        return "json"
    if ctype == "application/x-www-form-urlencoded":
        return "form"
    if ctype == "multipart/form-data":
        return "multipart"
    try:
        request.body.decode("utf-8")
    except UnicodeDecodeError:
        return "base64"
    return "text"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _pretty(value: Any, view: bool) -> str:
    if view and isinstance(value, dict):
        value = {k: _sorted(v) for k, v in value.items()}
        return json.dumps(value, ensure_ascii=False, indent=2)
    return json.dumps(value, sort_keys=True, ensure_ascii=False, indent=2)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value
