"""Descriptions for a model: Markdown and HTML reduced to plain text, trimmed to a length.

Links keep their text (``[Media types](https://...)`` → ``Media types``), emphasis and
code marks go, HTML tags go and entities are decoded, GitHub's ``> [!NOTE]`` callouts
become ``Note:``; paragraphs and list items stay on their own lines. A text over the
limit is cut at the last sentence or line end that fits, and ends with an ellipsis.
"""

from __future__ import annotations

import html
import re

__all__ = ["DESCRIPTION_LIMIT", "PARAM_DESCRIPTION_LIMIT", "plain_text", "trim"]

DESCRIPTION_LIMIT = 800
"""Longest tool description written, in characters."""
PARAM_DESCRIPTION_LIMIT = 300
"""Longest param description written, in characters."""

_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_AUTOLINK = re.compile(r"<(https?://[^>]+)>")
_CALLOUT = re.compile(r"^[ \t]*>[ \t]*\[!(\w+)\][ \t]*$", re.MULTILINE)
_QUOTE = re.compile(r"^[ \t]*>[ \t]?", re.MULTILINE)
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?!\w)")
_UNDERSCORE = re.compile(r"(?<![\w])_(?!\s)(.+?)(?<!\s)_(?![\w])")
_CODE = re.compile(r"`+([^`]*)`+")
_TAG = re.compile(r"<[A-Za-z/!][^>]*>")
_BREAK_TAG = re.compile(r"<(br|/p|/li|/div|/h\d)\s*/?>", re.IGNORECASE)
_LIST_TAG = re.compile(r"<li[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"[ \t]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def plain_text(text: str) -> str:
    """``text`` (CommonMark or HTML) as plain text."""
    out = text.replace("\r\n", "\n")
    out = _BREAK_TAG.sub("\n", out)
    out = _LIST_TAG.sub("- ", out)
    out = _AUTOLINK.sub(r"\1", out)
    out = _TAG.sub("", out)
    out = _CALLOUT.sub(lambda m: m.group(1).capitalize() + ":", out)
    out = _QUOTE.sub("", out)
    out = _HEADING.sub("", out)
    out = _IMAGE.sub(r"\1", out)
    out = _LINK.sub(r"\1", out)
    out = _REF_LINK.sub(r"\1", out)
    out = _CODE.sub(r"\1", out)
    out = _EMPHASIS.sub(lambda m: m.group(2) or m.group(3), out)
    out = _UNDERSCORE.sub(r"\1", out)
    out = html.unescape(out)
    lines = [_SPACES.sub(" ", line).strip() for line in out.split("\n")]
    joined = _join_callouts("\n".join(lines))
    return _BLANK_LINES.sub("\n\n", joined).strip()


def _join_callouts(text: str) -> str:
    """``Note:`` on a line of its own joins the line after it."""
    return re.sub(r"^(Note|Warning|Important|Tip|Caution):\n", r"\1: ", text, flags=re.MULTILINE)


def trim(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters at a sentence or line end, with ``…``."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = max(head.rfind(". "), head.rfind(".\n"), head.rfind("\n"))
    if cut < limit // 2:
        cut = head.rfind(" ")
        if cut < limit // 2:
            cut = len(head)
        return head[:cut].rstrip(" ,;:") + "…"
    return head[: cut + 1].rstrip() + " …"
