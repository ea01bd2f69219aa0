"""Checks of tools' ``view``: expressions that compile, rows that open a tool that exists
with the arguments it needs, image origins, and template files (by the loader, which
knows the connector's folder)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from pathlib import Path as FilePath
from urllib.parse import urlsplit

from builder.connector import checks
from builder.connector.models import Connector, Tool
from builder.connector.source import Path

__all__ = ["check_templates", "check_view", "check_views"]


def check_views(connector: Connector) -> Iterator[checks.Found]:
    """The problems of every tool's view that the spec alone shows."""
    tools = {tool.name: tool for tool in connector.tools}
    for i, tool in enumerate(connector.tools):
        yield from check_view(tool, ("tools", i), tools)


def check_view(
    tool: Tool, at: Path, tools: Mapping[str, Tool], names: Collection[str] = ()
) -> Iterator[checks.Found]:
    """The problems of one tool's view; ``tools`` are the connector's (valid) tools, and
    ``names`` those of tools that did not validate on their own (not named missing)."""
    if tool.view is None:
        return
    at = (*at, "view")
    for where, expr in tool.view.expressions():
        yield from checks.check_jmespath(expr, (*at, *where))
    if tool.view.opener is not None:
        yield from _check_open(tool, tools, names, (*at, tool.view.kind, "open"))
    if tool.view.image is not None:
        for j, origin in enumerate(tool.view.image.domains):
            yield from _check_origin(origin, (*at, "image", "domains", j))


def _check_open(
    tool: Tool, tools: Mapping[str, Tool], names: Collection[str], at: Path
) -> Iterator[checks.Found]:
    opener = tool.view.opener if tool.view is not None else None
    assert opener is not None
    target = tools.get(opener.tool)
    if target is None and opener.tool in names:
        return  # a tool with errors of its own, reported there
    if target is None:
        known = [*tools, *(name for name in names if name not in tools)]
        yield checks.Found(
            (*at, "tool"),
            f"no tool '{opener.tool}' to open{checks.near_or_all(opener.tool, known)}",
            "view_open_tool",
        )
        return
    for name in opener.arguments:
        if name not in target.params:
            known = list(target.params)
            yield checks.Found(
                (*at, "arguments", name),
                f"tool '{target.name}' has no param '{name}'{checks.near_or_all(name, known)}",
                "view_open_argument",
                True,
            )
    # This call's own arguments of the same name are passed on; any other required param
    # would make every Open button fail.
    given = set(opener.arguments) | set(tool.params)
    missing = [
        name for name, param in target.params.items() if param.is_required and name not in given
    ]
    if missing:
        yield checks.Found(
            (*at, "arguments"),
            f"tool '{target.name}' needs {', '.join(missing)}: map "
            f"{'it' if len(missing) == 1 else 'them'} from the row in open.arguments",
            "view_open_argument",
            True,
        )


def _check_origin(origin: str, where: Path) -> Iterator[checks.Found]:
    """An image origin: ``https://host[:port]`` (http only on loopback), nothing more."""
    try:
        parts = urlsplit(origin)
        parts.port  # noqa: B018  (parses the port)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("https", "http")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username
        or "*" in origin
    ):
        yield checks.Found(
            where,
            f"expected an origin like https://images.example.com, got '{origin}'",
            "view_domain",
        )
    elif parts.scheme == "http" and not checks.is_loopback_host(parts.hostname):
        yield checks.Found(
            where, f"expected https (http only for loopback), got '{origin}'", "view_domain"
        )


def check_templates(connector: Connector, folder: FilePath) -> Iterator[checks.Found]:
    """Template views whose file is missing, outside ``folder``, contains script or does
    not parse."""
    from builder.views.catalog import template_problem

    for i, tool in enumerate(connector.tools):
        if tool.view is None or tool.view.template is None:
            continue
        problem = template_problem(tool.view.template, folder)
        if problem is not None:
            yield checks.Found(
                ("tools", i, "view", "template"),
                f"view template '{tool.view.template}': {problem}",
                "view_template",
            )
