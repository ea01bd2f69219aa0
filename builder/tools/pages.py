"""Pagination: where the next page is, and how the model asks for it.

A paginated tool's result always says whether more remain and, if so, the argument to call
it again with. The four styles differ only in where the next page comes from:

* ``link``: the ``Link: <url>; rel="next"`` header (RFC 8288), or with ``next`` a URL in
  the body (Microsoft Graph, Salesforce). The URL is handed to the
  model as an opaque, signed handle: the model can pass back only a handle this process
  issued, so a paginated tool cannot be turned into a GET of any other URL of the API.
* ``cursor``: a JMESPath into the body gives a cursor, sent in the tool's ``cursor_param``.
* ``page``/``offset``: ``page_param`` counts pages, ``offset_param`` counts items.

A page is the last when the API says so (``has_more`` false, no ``next`` link, an empty
cursor) or, for ``page``/``offset`` without ``has_more``, when it holds no items.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import jmespath

from builder.connector.models import Pagination
from builder.errors import ArgumentError

__all__ = ["NextPage", "Paginator", "describe", "next_link"]

_LINK = re.compile(r'<([^>]*)>((?:\s*;\s*[^;,]+(?:="[^"]*"|=[^;,]*)?)*)')
_REL = re.compile(r';\s*rel\s*=\s*(?:"([^"]*)"|([^;,\s]+))', re.IGNORECASE)


def next_link(header: str | None, base: str) -> str | None:
    """The absolute URL of the ``rel="next"`` entry of a ``Link`` header, if any."""
    if not header:
        return None
    for match in _LINK.finditer(header):
        for rel in _REL.finditer(match.group(2)):
            names = (rel.group(1) or rel.group(2) or "").lower().split()
            if "next" in names:
                return str(urljoin(base, match.group(1).strip()))
    return None


@dataclass(frozen=True, slots=True)
class NextPage:
    """The argument, and its value, that asks for the next page; ``url`` for ``link``."""

    argument: str
    value: Any
    url: str | None = None


class Paginator:
    """One tool's pagination rules, compiled once."""

    def __init__(self, pages: Pagination, key: bytes | None = None) -> None:
        self.pages = pages
        self.style = pages.style
        self._next = jmespath.compile(pages.next) if pages.next else None
        self._has_more = jmespath.compile(pages.has_more) if pages.has_more else None
        self._key = key or secrets.token_bytes(32)
        if pages.style == "link":
            self.argument = pages.cursor_param or "cursor"
        elif pages.style == "cursor":
            self.argument = pages.cursor_param or ""
        elif pages.style == "page":
            self.argument = pages.page_param or ""
        else:
            self.argument = pages.offset_param or ""

    def first(self, args: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The arguments of the first page to fetch, and for ``link`` a URL to fetch instead
        (from a handle the model passed back)."""
        if self.style != "link":
            return args, None
        handle = args.get(self.argument)
        rest = {k: v for k, v in args.items() if k != self.argument}
        if handle is None:
            return rest, None
        return rest, self._open(str(handle))

    def after(
        self,
        args: dict[str, Any],
        body: Any,
        items: Any,
        link: str | None,
    ) -> NextPage | None:
        """What asks for the page after this one (``body`` parsed, ``items`` selected), or
        None when this is the last."""
        if self._has_more is not None and not _truthy(self._has_more.search(body)):
            return None
        if self.style == "link":
            if link is None:
                return None
            return NextPage(self.argument, self._seal(link), url=link)
        if self.style == "cursor":
            assert self._next is not None
            cursor = self._next.search(body)
            if cursor is None or cursor == "":
                return None
            return NextPage(self.argument, cursor)
        if self._has_more is None and isinstance(items, list) and not items:
            return None
        current = args.get(self.argument)
        if self.style == "page":
            start = self.pages.start if self.pages.start is not None else 1
            page = int(current) if current is not None else start
            return NextPage(self.argument, page + 1)
        start = self.pages.start if self.pages.start is not None else 0
        offset = int(current) if current is not None else start
        return NextPage(self.argument, offset + (len(items) if isinstance(items, list) else 0))

    def link_in(self, body: Any, base: str) -> str | None:
        """``link`` with ``next``: the absolute URL of the next page, from the body
        (Microsoft Graph's ``@odata.nextLink``, Salesforce's ``nextRecordsUrl``)."""
        if self.style != "link" or self._next is None:
            return None
        found = self._next.search(body)
        if not isinstance(found, str) or not found:
            return None
        return str(urljoin(base, found.strip()))

    def may_have_more(self) -> bool:
        """Whether "more" is a guess: page/offset without ``has_more`` know only after asking."""
        return self.style in ("page", "offset") and self._has_more is None

    def _seal(self, url: str) -> str:
        raw = url.encode()
        tag = hmac.new(self._key, raw, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(tag + raw).decode().rstrip("=")

    def _open(self, handle: str) -> str:
        try:
            raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4))
        except (ValueError, TypeError):
            raw = b""
        tag, url = raw[:12], raw[12:]
        expected = hmac.new(self._key, url, hashlib.sha256).digest()[:12]
        if len(raw) <= 12 or not hmac.compare_digest(tag, expected):
            raise ArgumentError(
                f"argument '{self.argument}': expected a handle from this tool's previous "
                "result (handles are valid while this server runs); leave it out for the first "
                "page"
            )
        return url.decode()


def describe(tool: str, nxt: NextPage | None, *, guess: bool) -> str:
    """The note a paginated result carries: whether more remain, and how to ask."""
    if nxt is None:
        return "This is the last page."
    value = json.dumps(nxt.value) if not isinstance(nxt.value, int) else str(nxt.value)
    more = "There may be more results" if guess else "More results remain"
    return f"{more}: call {tool} again with the same arguments and {nxt.argument}={value}."


def _truthy(value: Any) -> bool:
    return value not in (None, False, "", 0, [], {})
