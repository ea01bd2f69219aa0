"""The model of a tool's ``pagination``: how its results come in pages (see
:mod:`builder.tools.pages` for how they are fetched)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from builder.connector.base import SpecModel

__all__ = ["Pagination"]


class Pagination(SpecModel):
    """How a tool's results come in pages, and how the next one is asked for."""

    style: Literal["link", "cursor", "page", "offset"] = Field(
        description=(
            "`link`: the next page's URL is in the `Link` header (RFC 8288, GitHub) or, with "
            "`next`, in the body (Microsoft Graph, Salesforce); `cursor`: "
            "the body holds a cursor to send in `cursor_param` (Notion, Slack, HubSpot, GraphQL "
            "`pageInfo`); `page`: `page_param` counts pages; `offset`: `offset_param` counts items."
        ),
        examples=["cursor"],
    )
    next: str | None = Field(
        default=None,
        description=(
            "`cursor`: JMESPath of the next cursor in the body; `link`: of the next page's URL "
            "in the body (absolute or relative to the request). Empty or null: last page."
        ),
        examples=["next_cursor", "response_metadata.next_cursor", '"@odata.nextLink"'],
    )
    has_more: str | None = Field(
        default=None,
        description="JMESPath that is false on the last page, where the API says so.",
        examples=["has_more", "data.issues.pageInfo.hasNextPage"],
    )
    cursor_param: str | None = Field(
        default=None,
        description=(
            "`cursor`: the param the cursor is sent in. `link`: the name of the argument "
            "that carries the next page's handle (default `cursor`)."
        ),
        examples=["start_cursor", "after"],
    )
    page_param: str | None = Field(
        default=None, description="`page`: the param that numbers pages.", examples=["page"]
    )
    offset_param: str | None = Field(
        default=None, description="`offset`: the param that counts items.", examples=["offset"]
    )
    start: int | None = Field(
        default=None,
        description="`page`/`offset`: the first page's number or offset (default 1 and 0).",
        examples=[1],
    )
    auto: bool = Field(
        default=False,
        description=(
            "Fetch pages until the last one, `max_pages` or `max_items`, and return them joined "
            "(each page's selected result must be a list). Default: one page per call, with the "
            "argument to pass for the next."
        ),
        examples=[True],
    )
    max_pages: int = Field(
        default=5, ge=1, le=100, description="`auto`: most pages fetched per call.", examples=[10]
    )
    max_items: int | None = Field(
        default=None, ge=1, description="`auto`: most items returned per call.", examples=[200]
    )
