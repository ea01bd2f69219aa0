"""Models of a tool's ``view``: how an MCP Apps host shows the tool's result to a person.

A view is declarative: JMESPath expressions pick what to show from the tool's selected
result, and the runtime shipped in the package draws it. Exactly one of ``table``,
``list``, ``detail``, ``image`` and ``template`` is given.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from builder.connector.base import SpecModel

__all__ = ["VIEW_KINDS", "Column", "Detail", "Image", "ListView", "Open", "Table", "View"]

VIEW_KINDS = ("table", "list", "detail", "image", "template")

Format = Literal["text", "number", "date", "link", "badge"]


class Open(SpecModel):
    """A row or item that opens: a call of another tool of this connector, made through the
    host like any other call (same scope checks, read-only rule and log)."""

    tool: str = Field(description="The tool to call.", examples=["get_issue"])
    arguments: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "The call's arguments: JMESPath expressions on the row. Arguments of this call "
            "that the other tool also takes are passed on unless given here."
        ),
        examples=[{"number": "number"}],
    )


class Column(SpecModel):
    """One column of a table, or one field of a detail view."""

    label: str = Field(description="The heading shown.", examples=["Title"])
    value: str = Field(description="JMESPath of the value, on the row.", examples=["title"])
    format: Format = Field(
        default="text",
        description=(
            "`text`, `number`, `date` (ISO 8601 or epoch seconds, shown in the reader's "
            "locale), `link` (the value is a URL), `badge` (a short label in a pill)."
        ),
        examples=["date"],
    )
    link: str | None = Field(
        default=None,
        description="JMESPath of a URL the value links to (http, https or mailto only).",
        examples=["html_url"],
    )


class Table(SpecModel):
    """Rows and columns."""

    rows: str = Field(
        default="@",
        description="JMESPath of the list of rows in the result (default: the result).",
        examples=["items"],
    )
    columns: list[Column] = Field(
        min_length=1,
        description="The columns, in order.",
        examples=[[{"label": "Title", "value": "title", "link": "html_url"}]],
    )
    open: Open | None = Field(
        default=None,
        description="What a row's Open button calls.",
        examples=[{"tool": "get_issue", "arguments": {"number": "number"}}],
    )


class ListView(SpecModel):
    """A list of items, each with a title and optional subtitle, link and badge."""

    items: str = Field(
        default="@",
        description="JMESPath of the list of items in the result (default: the result).",
        examples=["events"],
    )
    title: str = Field(description="JMESPath of an item's title.", examples=["summary"])
    subtitle: str | None = Field(
        default=None, description="JMESPath of an item's second line.", examples=["start.dateTime"]
    )
    link: str | None = Field(
        default=None, description="JMESPath of the URL the title links to.", examples=["htmlLink"]
    )
    badge: str | None = Field(
        default=None, description="JMESPath of a short label shown in a pill.", examples=["status"]
    )
    open: Open | None = Field(
        default=None,
        description="What an item's Open button calls.",
        examples=[{"tool": "get_event", "arguments": {"event_id": "id"}}],
    )


class Detail(SpecModel):
    """The fields of one object."""

    heading: str | None = Field(
        default=None, description="JMESPath of the heading.", examples=["title"]
    )
    fields: list[Column] = Field(
        min_length=1,
        description="The fields, in order.",
        examples=[[{"label": "State", "value": "state", "format": "badge"}]],
    )


class Image(SpecModel):
    """One image: a URL in the result, or the tool's binary image response."""

    src: str | None = Field(
        default=None,
        description="JMESPath of the image URL; leave out for a tool whose response is an image.",
        examples=["avatar_url"],
    )
    alt: str | None = Field(
        default=None, description="JMESPath of the text that describes it.", examples=["login"]
    )
    caption: str | None = Field(
        default=None, description="JMESPath of a caption.", examples=["name"]
    )
    domains: list[str] = Field(
        default_factory=list,
        description=(
            "https origins images may load from; the view can reach nothing else "
            "(its content security policy)."
        ),
        examples=[["https://avatars.githubusercontent.com"]],
    )


class View(SpecModel):
    """How an MCP Apps host shows the result (`ui://` resource); other hosts ignore it."""

    # Editors learn the one-of rule from the schema too.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": [kind]} for kind in VIEW_KINDS]},
    )

    title: str | None = Field(
        default=None, description="Heading above the view.", examples=["Open issues"]
    )
    table: Table | None = Field(
        default=None,
        description="Rows and columns.",
        examples=[{"columns": [{"label": "Title", "value": "title", "link": "html_url"}]}],
    )
    list_: ListView | None = Field(
        default=None,
        alias="list",
        description="Items with title and subtitle.",
        examples=[{"items": "events", "title": "summary", "link": "htmlLink"}],
    )
    detail: Detail | None = Field(
        default=None,
        description="The fields of one object.",
        examples=[{"heading": "title", "fields": [{"label": "State", "value": "state"}]}],
    )
    image: Image | None = Field(
        default=None,
        description="One image.",
        examples=[{"src": "avatar_url", "domains": ["https://avatars.githubusercontent.com"]}],
    )
    template: str | None = Field(
        default=None,
        description=(
            "An HTML template file, relative to the connector, rendered with Jinja2 (sandboxed, "
            "every value escaped; `result` is the selected result). It may not contain script."
        ),
        examples=["views/issue.html"],
    )

    @model_validator(mode="after")
    def _one_kind(self) -> View:
        given = [kind for kind in VIEW_KINDS if self._part(kind) is not None]
        if len(given) != 1:
            got = ", ".join(given) if given else "none"
            raise ValueError(f"expected exactly one of {', '.join(VIEW_KINDS)}, got {got}")
        return self

    @property
    def kind(self) -> str:
        """Which of :data:`VIEW_KINDS` this view is."""
        return next(kind for kind in VIEW_KINDS if self._part(kind) is not None)

    def _part(self, kind: str) -> Any:
        return getattr(self, "list_" if kind == "list" else kind)

    def expressions(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every JMESPath expression of the view, with its path under the view."""
        out: list[tuple[tuple[str | int, ...], str]] = []

        def add(where: tuple[str | int, ...], value: Any) -> None:
            if isinstance(value, str):
                out.append((where, value))

        if self.table is not None:
            add(("table", "rows"), self.table.rows)
            for i, col in enumerate(self.table.columns):
                add(("table", "columns", i, "value"), col.value)
                add(("table", "columns", i, "link"), col.link)
        if self.list_ is not None:
            for key in ("items", "title", "subtitle", "link", "badge"):
                add(("list", key), getattr(self.list_, key))
        if self.detail is not None:
            add(("detail", "heading"), self.detail.heading)
            for i, col in enumerate(self.detail.fields):
                add(("detail", "fields", i, "value"), col.value)
                add(("detail", "fields", i, "link"), col.link)
        if self.image is not None:
            for key in ("src", "alt", "caption"):
                add(("image", key), getattr(self.image, key))
        opener = self.opener
        if opener is not None:
            for name, expr in opener.arguments.items():
                add((self.kind, "open", "arguments", name), expr)
        return out

    @property
    def opener(self) -> Open | None:
        """The ``open`` of a table or list view."""
        if self.table is not None:
            return self.table.open
        if self.list_ is not None:
            return self.list_.open
        return None
