"""Upstream responses to tool results: JMESPath selection, size limits, error messages."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import jmespath
import jmespath.exceptions
from jsonschema import Draft202012Validator

from builder.connector.models import Response
from builder.errors import ToolCallError
from builder.tools.transport import UpstreamResponse

__all__ = ["ResponseShaper", "Shaped", "error_detail"]

_TEXTUAL = ("text/", "application/xml", "application/javascript", "application/x-www-form")
_MESSAGE_KEYS = ("message", "error_description", "error", "detail", "title", "errors")
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


@dataclass(frozen=True, slots=True)
class Shaped:
    """The result a model sees: text, and structured content when declared."""

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False


class ResponseShaper:
    """Shapes one tool's successful responses; compiled once per tool."""

    def __init__(self, response: Response) -> None:
        self.max_bytes = response.max_bytes
        # Read more than we show, so a large JSON body can still be selected from.
        self.read_limit = max(8 * response.max_bytes, 2 * 1024 * 1024)
        self._expression = response.select
        self._select = jmespath.compile(response.select) if response.select else None
        self._output = (
            Draft202012Validator(response.output_schema) if response.output_schema else None
        )

    def shape(self, response: UpstreamResponse, method: str) -> Shaped:
        """The tool result of a 2xx response."""
        if method == "HEAD" or not response.body:
            return Shaped(f"OK (HTTP {response.status}, no content)")
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if _is_json(ctype) or (not ctype and response.body[:1] in (b"{", b"[")):
            if response.truncated:
                return Shaped(
                    self._limit(_decode(response.body, response.headers))
                    + f"\n[truncated: the response is larger than {self.read_limit} bytes; "
                    "ask for less, e.g. a smaller page]"
                )
            try:
                data = json.loads(response.body)
            except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
                return Shaped(self._limit(_decode(response.body, response.headers)))
            return self._json(data)
        if ctype.startswith(_TEXTUAL) or not ctype:
            text = _decode(response.body, response.headers)
            if "\x00" not in text:
                return Shaped(self._limit(text, response.truncated))
        size = len(response.body)
        more = "+" if response.truncated else ""
        return Shaped(f"[binary response: {ctype or 'unknown type'}, {size}{more} bytes]")

    def _json(self, data: Any) -> Shaped:
        if self._select is not None:
            # Beside its own errors (a function given the wrong type), jmespath lets plain
            # TypeError and ValueError out: `[?n > `1`]` meeting a string, `merge` of a list.
            try:
                data = self._select.search(data)
            except (TypeError, ValueError) as exc:
                raise ToolCallError(
                    f"the tool's response.select '{self._expression}' failed on this "
                    f"response: {_search_failure(exc)}"
                ) from None
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        if self._output is None:
            return Shaped(self._limit(text))
        if len(text.encode()) > self.max_bytes:
            return Shaped(
                f"the result is {len(text.encode())} bytes, over this tool's limit of "
                f"{self.max_bytes}; ask for less, e.g. a smaller page",
                is_error=True,
            )
        error = next(iter(self._output.iter_errors(data)), None)
        if error is not None or not isinstance(data, dict):
            reason = error.message if error is not None else "expected an object"
            return Shaped(
                f"the upstream response does not match the tool's output schema: {reason}",
                is_error=True,
            )
        return Shaped(text, data)

    def _limit(self, text: str, truncated: bool = False) -> str:
        raw = text.encode()
        if len(raw) <= self.max_bytes and not truncated:
            return text
        cut = raw[: self.max_bytes].decode("utf-8", "ignore")
        return f"{cut}\n[truncated: showing {self.max_bytes} bytes of a larger result]"


def error_detail(response: UpstreamResponse, limit: int = 500) -> str:
    """The upstream's own words about an error response, short."""
    text = _decode(response.body, response.headers).strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in _MESSAGE_KEYS:
            value = data.get(key)
            if isinstance(value, str) and value:
                text = value
                break
            if isinstance(value, dict | list) and value:
                text = json.dumps(value, ensure_ascii=False)
                break
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def _decode(body: bytes, headers: Any) -> str:
    ctype = headers.get("content-type", "")
    charset = "utf-8"
    if "charset=" in ctype:
        charset = ctype.split("charset=", 1)[1].split(";")[0].strip().strip('"') or "utf-8"
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")
