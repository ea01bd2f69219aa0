"""What a tool result carries for its view: the values the view shows, picked server-side.

The JMESPath expressions of the spec run here, with the same library as ``select``, so a
view shows exactly what the model got (after the output budget). The view runtime then
only draws: it never evaluates anything from the spec or the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import jmespath
import jmespath.exceptions
import jmespath.parser
from jinja2.sandbox import SandboxedEnvironment

from builder.connector.views import Column, Open, View

__all__ = ["MAX_ITEMS", "PAYLOAD_KEY", "ViewPayload", "safe_url"]

PAYLOAD_KEY = "mcpbuild/view"
"""The key of the view's values in a tool result's ``_meta``."""

MAX_ITEMS = 200
"""Most rows or items a result carries for its view; the notes say when more were cut."""

_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SPACE_OR_CONTROL = re.compile(r"[\s\x00-\x1f\x7f]")
_MAX_TEXT = 2000  # longest string value a view shows


def safe_url(value: Any) -> str | None:
    """``value`` when it is an http, https or mailto URL, else None: a link in a view never
    runs script (``javascript:``) or opens a document of the API's making (``data:``)."""
    if not isinstance(value, str) or not value or len(value) > 4096:
        return None
    if _SPACE_OR_CONTROL.search(value):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme.lower() not in _SAFE_SCHEMES:
        return None
    if parts.scheme.lower() != "mailto" and not parts.netloc:
        return None
    return value


class ViewPayload:
    """One tool's view, compiled once: :meth:`build` picks the values of one result.

    ``template``: the compiled Jinja2 template of a ``template`` view. ``opens``: the tool
    a row opens is served (not left out by read-only serving); otherwise rows have no
    Open button.
    """

    def __init__(self, tool: str, view: View, template: Any = None, *, opens: bool = True) -> None:
        self.tool = tool
        self.opens = opens
        self.view = view
        self.kind = view.kind
        self._template = template
        self._compiled: dict[str, Callable[[Any], Any]] = {
            expr: _searcher(expr) for _, expr in view.expressions()
        }

    def build(
        self,
        data: Any,
        *,
        arguments: Mapping[str, Any] | None = None,
        notes: tuple[str, ...] = (),
        next_arguments: Mapping[str, Any] | None = None,
        opener_params: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        """The payload of one result: ``data`` is the selected JSON result, ``arguments``
        the call's own, ``next_arguments`` those of the next page. ``opener_params`` are the
        params of the tool a row opens, to pass this call's matching arguments on to."""
        view = self.view
        out: dict[str, Any] = {"type": self.kind, "title": view.title, "notes": list(notes)}
        out["next"] = (
            {"tool": self.tool, "arguments": dict(next_arguments)} if next_arguments else None
        )
        passed = {k: v for k, v in (arguments or {}).items() if k in opener_params}
        if view.table is not None:
            table = view.table
            rows, cut = self._items(table.rows, data)
            out["columns"] = [{"label": c.label, "format": c.format} for c in table.columns]
            out["rows"] = [
                _present(
                    cells=[self._cell(c, row) for c in table.columns],
                    open=self._open(table.open, row, passed),
                )
                for row in rows
            ]
            self._note_cut(out, cut)
        elif view.list_ is not None:
            spec = view.list_
            items, cut = self._items(spec.items, data)
            out["items"] = [
                _present(
                    title=self._value(spec.title, item),
                    subtitle=self._value(spec.subtitle, item),
                    href=safe_url(self._value(spec.link, item)),
                    badge=self._value(spec.badge, item),
                    open=self._open(spec.open, item, passed),
                )
                for item in items
            ]
            self._note_cut(out, cut)
        elif view.detail is not None:
            detail = view.detail
            out["heading"] = self._value(detail.heading, data)
            out["fields"] = [
                {"label": c.label, "format": c.format, **self._cell(c, data)} for c in detail.fields
            ]
        elif view.image is not None:
            image = view.image
            src = self._value(image.src, data) if image.src else None
            out["src"] = _image_url(src, image.domains) if image.src else None
            out["alt"] = _text(self._value(image.alt, data))
            out["caption"] = _text(self._value(image.caption, data))
        else:
            assert self._template is not None
            out["html"] = self._template.render(result=data)
        return out

    def _items(self, expr: str, data: Any) -> tuple[list[Any], int]:
        found = self._value(expr, data, clip=False)
        if found is None:
            return [], 0
        if not isinstance(found, list):
            found = [found]
        return found[:MAX_ITEMS], max(0, len(found) - MAX_ITEMS)

    @staticmethod
    def _note_cut(out: dict[str, Any], cut: int) -> None:
        if cut:
            out["notes"].append(f"The view shows the first {MAX_ITEMS}; {cut} more not shown.")

    def _cell(self, column: Column, row: Any) -> dict[str, Any]:
        value = self._value(column.value, row)
        href = safe_url(self._value(column.link, row)) if column.link else None
        if column.format == "link":
            href = href or safe_url(value)
        return _present(value=value, href=href) if href is not None else {"value": value}

    def _open(
        self, opener: Open | None, row: Any, passed: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        if opener is None or not self.opens:
            return None
        arguments = dict(passed)
        for name, expr in opener.arguments.items():
            value = self._value(expr, row, clip=False)
            if value is None:
                return None  # the row lacks what opening it needs: no button
            arguments[name] = value
        return {"tool": opener.tool, "arguments": arguments}

    def _value(self, expr: str | None, data: Any, *, clip: bool = True) -> Any:
        if expr is None:
            return None
        try:
            value = self._compiled[expr](data)
        except (jmespath.exceptions.JMESPathError, TypeError, ValueError):
            return None  # a row of an unexpected shape shows an empty cell, not an error
        return _clipped(value) if clip else value


def _searcher(expr: str) -> Callable[[Any], Any]:
    """A function that evaluates JMESPath ``expr``: for a plain field path (``a.b.c``, most
    columns) dictionary lookups with JMESPath's meaning (a missing key, or a value that is
    not an object, gives null), ten times faster; otherwise jmespath itself."""
    compiled = jmespath.compile(expr)
    search: Callable[[Any], Any] = compiled.search
    node = compiled.parsed
    names: list[str] = []
    while node["type"] == "subexpression" and node["children"][1]["type"] == "field":
        names.insert(0, node["children"][1]["value"])
        node = node["children"][0]
    if node["type"] != "field":
        return search
    names.insert(0, node["value"])

    def lookup(data: Any) -> Any:
        for name in names:
            if not isinstance(data, dict):
                return None
            data = data.get(name)
        return data

    return lookup


def _present(**values: Any) -> dict[str, Any]:
    """``values`` without the ones that are None: the view reads a missing key as null."""
    return {key: value for key, value in values.items() if value is not None}


def _clipped(value: Any) -> Any:
    """A cell's value: scalars as they are (long strings cut), containers as compact JSON."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, str) and len(value) > _MAX_TEXT:
        return value[:_MAX_TEXT] + "…"
    return value


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _image_url(value: Any, domains: list[str]) -> str | None:
    """An image URL the view may load: https, from one of the declared origins."""
    url = safe_url(value)
    if url is None:
        return None
    parts = urlsplit(url)
    origin = f"{parts.scheme.lower()}://{parts.netloc.lower()}"
    return url if origin in {d.rstrip("/").lower() for d in domains} else None


def template_environment() -> SandboxedEnvironment:
    """The Jinja2 environment of ``template`` views: sandboxed (no access to Python
    internals), every value HTML-escaped, a forgotten name an empty string."""
    return SandboxedEnvironment(autoescape=True)
