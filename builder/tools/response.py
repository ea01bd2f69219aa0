"""Upstream responses to tool results: errors inside 2xx answers, JMESPath selection,
output budgets, binary content.

A 2xx response becomes a :class:`Shaped` in one of four ways:

- **JSON** (a JSON content type, or none and a body that starts like JSON): parsed, checked
  for an error inside the answer (``response.error``; for a ``request.graphql`` tool, a
  non-empty ``errors`` list), selected with ``response.select``, validated against
  ``response.output_schema``, then fitted into the tool's budget by trimming lists and long
  strings (:mod:`builder.tools.budget`); what was cut is said in ``Shaped.notes``.
- **text** (a textual content type, or none, and no NUL byte): cut at the budget, with a
  ``[truncated: ...]`` line saying so.
- **binary** (anything else): the bytes themselves, in ``Shaped.blob``, when they fit the
  budget; a larger file is a tool error, never a cut file.
- **empty** (or HEAD): ``OK (HTTP 204, no content)``.

The budget is ``response.max_tokens`` estimated tokens of 4 bytes each when set, else
``response.max_bytes``; a binary response is held to it by its raw size.

An error inside a 2xx answer reads like a failed call's: ``slack.com answered HTTP 200 OK
with an error: channel_not_found``. The shaper names the host itself (``host=``), so the
runner passes the text on as it is.

For pagination the steps are separate: :meth:`ResponseShaper.page` (the parsed body, to
read cursors from, and the page checked and selected) and :meth:`ResponseShaper.finish`
(the joined data budgeted and validated).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jmespath
import jmespath.exceptions
from jsonschema import Draft202012Validator

from builder.connector.models import Response, Tool
from builder.errors import ToolCallError, UpstreamError
from builder.tools.budget import fit, json_size, serialize
from builder.tools.transport import UpstreamResponse

__all__ = ["ResponseShaper", "Shaped", "error_detail"]

_TEXTUAL = ("text/", "application/xml", "application/javascript", "application/x-www-form")
_MESSAGE_KEYS = ("message", "error_description", "error", "detail", "title", "errors")
_BYTES_PER_TOKEN = 4
_MESSAGE_LIMIT = 500
_GRAPHQL_ERRORS_LIMIT = 1000
# jmespath names an array item's type the Python way
_JSON_TYPES = {
    "str": "string",
    "int": "number",
    "float": "number",
    "bool": "boolean",
    "NoneType": "null",
    "list": "array",
    "dict": "object",
}
_NOT_JSON = object()


@dataclass(frozen=True, slots=True)
class Shaped:
    """The result a model sees: text, and structured content when declared.

    ``text`` is the main content: the JSON text of a JSON result (valid JSON, even when
    trimmed), the text of a text result, a one-line description of a binary one
    (``[binary response: image/png, 1234 bytes]``), or the error. ``notes`` say what was
    left out (trimmed lists and strings, more pages); MCP shows them as a second text
    item. ``blob`` and ``mime_type`` carry a binary response's bytes and media type.
    """

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False
    notes: tuple[str, ...] = ()
    blob: bytes | None = None
    mime_type: str | None = None
    data: Any = None
    """The JSON result as the model gets it (after the budget), for a view to draw."""
    next_arguments: dict[str, Any] | None = None
    """A paginated result's arguments for the next page, when more remain."""


class ResponseShaper:
    """Shapes one tool's successful responses; compiled once per tool.

    ``graphql``: the tool is a ``request.graphql`` call, whose answer with a non-empty
    ``errors`` list is a tool error whatever its status. ``host``: the upstream's host,
    named in the text of an error inside a 2xx answer (``the API`` when not given).
    """

    def __init__(
        self, response: Response, *, graphql: bool = False, host: str | None = None
    ) -> None:
        tokens = response.max_tokens
        self.max_bytes = tokens * _BYTES_PER_TOKEN if tokens else response.max_bytes
        """The budget of a result, in bytes."""
        self.limit = (
            f"{tokens} tokens ({self.max_bytes} bytes)" if tokens else f"{self.max_bytes} bytes"
        )
        """The budget as the texts say it."""
        # Read more than we show, so a large JSON body can still be selected from.
        self.read_limit = max(8 * self.max_bytes, 2 * 1024 * 1024)
        self._graphql = graphql
        self._host = host or "the API"
        self._expression = response.select
        self._select = jmespath.compile(response.select) if response.select else None
        error = response.error
        self._error_when = error.when if error else None
        self._when = jmespath.compile(error.when) if error else None
        self._message = (
            jmespath.compile(error.message) if error is not None and error.message else None
        )
        self._schema = response.output_schema
        self._output = (
            Draft202012Validator(response.output_schema) if response.output_schema else None
        )

    @classmethod
    def for_tool(cls, tool: Tool, *, host: str | None = None) -> ResponseShaper:
        """The shaper of ``tool``'s responses (GraphQL or not, from its request)."""
        return cls(tool.response, graphql=tool.request.graphql is not None, host=host)

    def shape(self, response: UpstreamResponse, method: str) -> Shaped:
        """The tool result of a 2xx response (one page: see the module docstring).

        An error inside the answer is a ``Shaped`` with ``is_error``; a ``select`` that
        fails on the data raises :class:`ToolCallError`.
        """
        if method == "HEAD" or not response.body:
            return Shaped(f"OK (HTTP {response.status}, no content)")
        ctype = _content_type(response)
        if _looks_json(ctype, response.body):
            if response.truncated:
                return Shaped(
                    self._limit(_decode(response.body, response.headers))
                    + f"\n[truncated: the response is larger than {self.read_limit} bytes; "
                    "ask for less, e.g. a smaller page]"
                )
            data = _parse(response.body)
            if data is _NOT_JSON:  # not JSON, or nested too deep to parse
                return Shaped(self._limit(_decode(response.body, response.headers)))
            failure = self._failure(data, response)
            if failure is not None:
                return Shaped(failure, is_error=True)
            return self.finish(self._selected(data))
        if ctype.startswith(_TEXTUAL) or not ctype:
            text = _decode(response.body, response.headers)
            if "\x00" not in text:
                return Shaped(self._limit(text, response.truncated))
        return self._binary(response, ctype or "application/octet-stream")

    def page(self, response: UpstreamResponse) -> tuple[Any, Any]:
        """One page: the parsed JSON body of a 2xx response (for reading pagination
        cursors), and its data, checked for an error inside the answer (``response.error``,
        GraphQL ``errors``), then selected with ``response.select``. (None, None) for an
        empty body; the body is parsed once.

        Raises :class:`ToolCallError`: :class:`UpstreamError` for an error inside the
        answer (the text names the host), and plain for a body that is not JSON or was cut
        at ``read_limit`` and for a ``select`` that fails on the data. Give the data of
        every page to :meth:`finish`.
        """
        if not response.body:
            return None, None
        if response.truncated:
            raise ToolCallError(
                f"the response is larger than {self.read_limit} bytes; ask for less, e.g. a "
                "smaller page"
            )
        ctype = _content_type(response)
        data = _parse(response.body) if _looks_json(ctype, response.body) else _NOT_JSON
        if data is _NOT_JSON:
            raise ToolCallError(
                f"{self._host} answered HTTP {_status(response)} with "
                f"{ctype or 'a body'} that is not JSON; this tool reads JSON pages"
            )
        failure = self._failure(data, response)
        if failure is not None:
            raise UpstreamError(failure, status=response.status)
        return data, self._selected(data)

    def finish(self, data: Any, notes: Sequence[str] = ()) -> Shaped:
        """The tool result of selected ``data``: validated against the output schema,
        fitted into the budget, as JSON text (and structured content with a schema).

        ``notes`` (e.g. where the next page starts) come first in ``Shaped.notes``, then
        what the budget cut. Data that cannot be trimmed to fit is a tool error with an
        output schema, and otherwise the JSON text cut at the budget, as text results are.
        """
        notes = tuple(notes)
        if self._output is not None:
            reason = self._mismatch(data)
            if reason is not None:
                return Shaped(
                    f"the upstream response does not match the tool's output schema: {reason}",
                    is_error=True,
                )
        fitted = fit(data, self.max_bytes, schema=self._schema)
        if fitted is None:
            size = json_size(serialize(data))
            if self._output is None:
                return Shaped(self._limit(serialize(data)), notes=notes)
            return Shaped(
                f"the result is {size} bytes, over this tool's limit of {self.limit} even "
                "with its lists and long strings trimmed; ask for less, e.g. a smaller page",
                is_error=True,
            )
        note = fitted.note(self.limit)
        if note is not None:
            notes += (note,)
            if self._output is not None:
                reason = self._mismatch(fitted.data)
                if reason is not None:
                    return Shaped(
                        f"the result is over this tool's limit of {self.limit}, and trimmed "
                        f"to fit it no longer matches the tool's output schema: {reason}; "
                        "ask for less, e.g. a smaller page",
                        is_error=True,
                    )
        structured = fitted.data if self._output is not None else None
        return Shaped(fitted.text, structured, notes=notes, data=fitted.data)

    def _mismatch(self, data: Any) -> str | None:
        assert self._output is not None
        error = next(iter(self._output.iter_errors(data)), None)
        if error is not None:
            return str(error.message)
        return None if isinstance(data, dict) else "expected an object"

    def _selected(self, data: Any) -> Any:
        if self._select is None:
            return data
        return _search(self._select, data, "select", self._expression or "")

    def _failure(self, data: Any, response: UpstreamResponse) -> str | None:
        """The tool error text of an error inside a 2xx answer, or None."""
        who = f"{self._host} answered HTTP {_status(response)}"
        if self._graphql:
            errors = data.get("errors") if isinstance(data, dict) else None
            if isinstance(errors, list) and errors:
                count = f"{len(errors)} GraphQL {'error' if len(errors) == 1 else 'errors'}"
                return f"{who} with {count}: {_graphql_errors(errors)}"
        if self._when is None or not _truthy(
            _search(self._when, data, "error.when", self._error_when or "")
        ):
            return None
        message = None
        if self._message is not None:
            try:
                message = _message_text(self._message.search(data))
            except (jmespath.exceptions.JMESPathError, TypeError, ValueError):
                message = None
        if message is None and isinstance(data, dict):
            message = _message_text(_common_message(data))
        if message is None:
            return f"{who} with an error (response.error.when matched: {self._error_when})"
        return f"{who} with an error: {message}"

    def _binary(self, response: UpstreamResponse, mime: str) -> Shaped:
        size = len(response.body)
        if response.truncated or size > self.max_bytes:
            told = f"more than {size} bytes" if response.truncated else f"{size} bytes"
            return Shaped(
                f"the response is a file ({mime}, {told}), over this tool's limit of "
                f"{self.limit}; a file is sent whole or not at all",
                is_error=True,
            )
        return Shaped(
            f"[binary response: {mime}, {size} bytes]", blob=response.body, mime_type=mime
        )

    def _limit(self, text: str, truncated: bool = False) -> str:
        raw = text.encode()
        if len(raw) <= self.max_bytes and not truncated:
            return text
        cut = raw[: self.max_bytes].decode("utf-8", "ignore")
        return f"{cut}\n[truncated: showing {self.max_bytes} bytes of a larger result]"


def error_detail(response: UpstreamResponse, limit: int = _MESSAGE_LIMIT) -> str:
    """The upstream's own words about an error response, short."""
    text = _decode(response.body, response.headers).strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        text = _listed(_field_errors(data)) or _message_text(_common_message(data), limit) or text
    elif isinstance(data, list):
        text = _listed(_coded_errors(data)) or text
    return _short(text, limit)


def _field_errors(data: dict[str, Any]) -> list[str]:
    """Jira's ``{"errorMessages": [...], "errors": {"field": "message"}}``."""
    messages = data.get("errorMessages")
    if not isinstance(messages, list):
        return []
    parts = [m for m in messages if isinstance(m, str) and m]
    fields = data.get("errors")
    if isinstance(fields, dict):
        parts += [f"{k}: {v}" for k, v in fields.items() if isinstance(v, str) and v]
    return parts


def _coded_errors(data: list[Any]) -> list[str]:
    """Salesforce's ``[{"errorCode": "NOT_FOUND", "message": "..."}]``."""
    parts = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("message"), str):
            return []
        code = item.get("errorCode")
        parts.append(f"{code}: {item['message']}" if isinstance(code, str) else item["message"])
    return parts


def _listed(parts: list[str]) -> str | None:
    return "; ".join(parts) or None


def _common_message(data: dict[str, Any]) -> Any:
    """The value of the first usual message key of an error body (``message``, ...)."""
    for key in _MESSAGE_KEYS:
        value = data.get(key)
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            # Google's and Microsoft Graph's {"error": {"code"|"status": .., "message": ..}}.
            code = value.get("status") or value.get("code")
            return f"{code}: {value['message']}" if isinstance(code, str) else value["message"]
        if isinstance(value, str | dict | list) and value:
            return value
    return None


def _message_text(value: Any, limit: int = _MESSAGE_LIMIT) -> str | None:
    """An API's message as one short line; None when there is none."""
    if value is None or value == "" or value == [] or value == {}:
        return None
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _short(text, limit)


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _graphql_errors(errors: list[Any]) -> str:
    """``Not found (at issue.comments[0]); Rate limited``: each error's message and path."""
    parts = []
    for error in errors:
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            part = error["message"]
            path = error.get("path")
            if isinstance(path, list) and path:
                part += f" (at {_graphql_path(path)})"
        else:
            part = error if isinstance(error, str) else json.dumps(error, ensure_ascii=False)
        parts.append(" ".join(part.split()))
    return _short("; ".join(parts), _GRAPHQL_ERRORS_LIMIT)


def _graphql_path(path: list[Any]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _truthy(value: Any) -> bool:
    """JMESPath's truth: false, null, and empty strings, arrays and objects are false
    (0 is true)."""
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return bool(value)
    return True


def _search(expression: Any, data: Any, field: str, source: str) -> Any:
    # Beside its own errors (a function given the wrong type), jmespath lets plain
    # TypeError and ValueError out: `[?n > `1`]` meeting a string, `merge` of a list.
    try:
        return expression.search(data)
    except (TypeError, ValueError) as exc:
        raise ToolCallError(
            f"the tool's response.{field} '{source}' failed on this response: "
            f"{_search_failure(exc)}"
        ) from None


def _search_failure(exc: Exception) -> str:
    """What went wrong, without the value it went wrong on (it may be large)."""
    if isinstance(exc, jmespath.exceptions.JMESPathTypeError):
        expected = " or ".join(_type_words(t) for t in exc.expected_types)
        got = _JSON_TYPES.get(exc.actual_type, exc.actual_type)
        return f"{exc.function_name}() expected {expected}, got {got}"
    text = str(exc)
    if len(text) > 200:
        text = text[:197] + "..."
    if isinstance(exc, TypeError):
        return f"a value of an unexpected type ({text})"
    return text[:1].lower() + text[1:]


def _type_words(name: str) -> str:
    if name.startswith("array-"):
        return f"array of {name.removeprefix('array-')}s"
    if name == "expref":
        return "expression reference (&field)"
    return name


def _is_json(ctype: str) -> bool:
    return ctype == "application/json" or ctype.endswith("+json")


def _content_type(response: UpstreamResponse) -> str:
    return response.headers.get("content-type", "").split(";")[0].strip().lower()


def _looks_json(ctype: str, body: bytes) -> bool:
    return _is_json(ctype) or (not ctype and body[:1] in (b"{", b"["))


def _parse(body: bytes) -> Any:
    """The parsed body, or ``_NOT_JSON`` (not JSON, or nested too deep to parse).

    A lone UTF-16 surrogate (``"\\ud800"``, which JSON allows) becomes U+FFFD: no text
    with one can be sent on as UTF-8.
    """
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON
    if b"\\ud" in body or b"\\uD" in body or b"\xed" in body:
        text = serialize(data)
        try:
            text.encode()
        except UnicodeEncodeError:
            fixed = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            return json.loads(fixed)
    return data


def _status(response: UpstreamResponse) -> str:
    return f"{response.status} {response.reason}" if response.reason else str(response.status)


def _decode(body: bytes, headers: Any) -> str:
    ctype = headers.get("content-type", "")
    charset = "utf-8"
    if "charset=" in ctype:
        charset = ctype.split("charset=", 1)[1].split(";")[0].strip().strip('"') or "utf-8"
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")
