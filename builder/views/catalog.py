"""The views a served connector offers: their ``ui://`` resources, the ``_meta`` that links
each tool to its view, and the view values each result carries.

Hosts without the MCP Apps extension ignore ``_meta``: their result (content, structured
content, error flag) is the same with or without a view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from jinja2 import TemplateError

from builder.connector.resolved import ResolvedConnector
from builder.connector.views import View
from builder.errors import ConfigError
from builder.tools.response import Shaped
from builder.views.document import MIME_TYPE, view_document
from builder.views.payload import PAYLOAD_KEY, ViewPayload, safe_url, template_environment

__all__ = ["ToolView", "ViewCatalog", "describe_view", "template_problem", "view_meta", "view_uri"]


def view_uri(connector: str, tool: str) -> str:
    """The ``ui://`` URI of tool ``tool``'s view."""
    return f"ui://{connector}/views/{tool}"


def view_meta(uri: str) -> dict[str, Any]:
    """The ``_meta`` of a tool definition whose view is at ``uri``: the MCP Apps key, its
    older flat form, and the keys ChatGPT's Apps SDK reads."""
    return {
        "ui": {"resourceUri": uri},
        "ui/resourceUri": uri,
        "openai/outputTemplate": uri,
        "openai/widgetAccessible": True,
    }


def describe_view(view: View) -> str:
    """One line saying what a view shows, e.g. ``table: Title, Updated; opens get_note``."""
    if view.table is not None:
        text = "table: " + ", ".join(c.label for c in view.table.columns)
    elif view.list_ is not None:
        text = f"list of {view.list_.title}"
    elif view.detail is not None:
        text = "detail: " + ", ".join(c.label for c in view.detail.fields)
    elif view.image is not None:
        text = f"image from {view.image.src or 'the response'}"
    else:
        text = f"template {view.template}"
    opener = view.opener
    return text + (f"; opens {opener.tool}" if opener is not None else "")


@dataclass(frozen=True, slots=True)
class ToolView:
    """One tool's view: its resource and how its results' values are picked."""

    uri: str
    title: str
    html: str
    image_domains: tuple[str, ...]
    payload: ViewPayload
    opener_params: frozenset[str]

    @property
    def resource_meta(self) -> dict[str, Any]:
        """The ``_meta`` of the resource's contents: the origins it may load images from
        (nothing else: no fetches, no scripts, no frames)."""
        return {"ui": {"csp": {"resourceDomains": list(self.image_domains)}, "prefersBorder": True}}


class ViewCatalog:
    """The views of ``connector``'s visible tools; ``folder`` holds template files."""

    mime_type = MIME_TYPE

    def __init__(self, connector: ResolvedConnector, folder: Path | None = None) -> None:
        self.connector = connector
        self.by_tool: dict[str, ToolView] = {}
        self.by_uri: dict[str, ToolView] = {}
        environment = template_environment()
        environment.filters["url"] = lambda value: safe_url(value) or ""
        for name, tool in connector.tools.items():
            view = tool.spec.view
            if view is None:
                continue
            template = None
            if view.template is not None:
                template = environment.from_string(_template_text(view.template, folder))
            opener = view.opener
            target = connector.tools.get(opener.tool) if opener is not None else None
            payload = ViewPayload(name, view, template, opens=target is not None)
            domains = tuple(view.image.domains) if view.image is not None else ()
            heading = view.title or tool.spec.title
            uri = view_uri(connector.name, name)
            entry = ToolView(
                uri=uri,
                title=heading or name,
                html=view_document(
                    tool=name, kind=view.kind, heading=heading, image_domains=domains
                ),
                image_domains=domains,
                payload=payload,
                opener_params=frozenset(target.spec.params) if target is not None else frozenset(),
            )
            self.by_tool[name] = entry
            self.by_uri[uri] = entry

    def tool_meta(self, tool: str) -> dict[str, Any] | None:
        """The ``_meta`` of tool ``tool``'s definition (:func:`view_meta`), or None."""
        entry = self.by_tool.get(tool)
        return view_meta(entry.uri) if entry is not None else None

    def result_meta(
        self, tool: str, result: Shaped, arguments: Mapping[str, Any] | None
    ) -> dict[str, Any] | None:
        """The ``_meta`` of one result of ``tool``: the values its view shows; None for a
        tool without a view and for an error (the view shows the error's text)."""
        entry = self.by_tool.get(tool)
        if entry is None or result.is_error:
            return None
        if result.data is None and result.blob is None:
            return None
        notes = result.notes
        if self.connector.tools[tool].spec.pagination is not None:
            # The first note tells the model how to ask for the next page; the view has a
            # button for that instead.
            notes = notes[1:]
        values = entry.payload.build(
            result.data,
            arguments=arguments,
            notes=notes,
            next_arguments=result.next_arguments,
            opener_params=entry.opener_params,
        )
        return {PAYLOAD_KEY: values}


def _template_text(name: str, folder: Path | None) -> str:
    if folder is None:
        raise ConfigError(f"view template '{name}': the connector's folder is not known")
    problem = template_problem(name, folder)
    if problem is not None:
        raise ConfigError(f"view template '{name}': {problem}")
    return (folder / name).read_text("utf-8")


def template_problem(name: str, folder: Path) -> str | None:
    """What is wrong with view template ``name`` in ``folder``, or None."""
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts:
        return "expected a path inside the connector's folder, without '..'"
    path = folder / name
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return f"no such file: {path}"
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read {path}: {exc}"
    lowered = text.lower()
    if "<script" in lowered or "javascript:" in lowered:
        return (
            "a view template may not contain script (<script> or javascript: URLs); the view "
            "runs only mcpbuild's own runtime"
        )
    try:
        template_environment().parse(text)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        return f"line {line}: {exc.message}" if line else str(exc)
    return None
