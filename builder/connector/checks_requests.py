"""Semantic checks of what a tool sends and how it pages: the request body (fixed content,
dotted ``api_name`` paths, ``spread``, multipart files), the GraphQL operation and its
variables (:mod:`builder.connector.checks_graphql`), and ``pagination``.

Called from :func:`builder.connector.checks.check_tool`; each check yields
:class:`~builder.connector.checks.Found` with the field path it concerns.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# A module import, not names: checks imports this module while it is itself being imported.
from builder.connector import checks, checks_graphql
from builder.connector.models import PARAM_NAME_PATTERN, Connector, Pagination, Param, Tool
from builder.connector.source import Path

__all__ = ["check_body", "check_pagination", "check_request_id_header", "check_requests"]

_NO_BODY = ("GET", "HEAD", "DELETE")
_PARAM_NAME = re.compile(PARAM_NAME_PATTERN)
_DOTTED = "dotted api_name is only supported for in: body with a JSON body"
# Which pagination fields each style reads.
_STYLE_FIELDS: dict[str, tuple[str, ...]] = {
    "next": ("cursor", "link"),
    "cursor_param": ("cursor", "link"),
    "page_param": ("page",),
    "offset_param": ("offset",),
    "start": ("page", "offset"),
}


def check_requests(tool: Tool, at: Path) -> Iterator[checks.Found]:
    """Every problem of the tool's body, GraphQL operation and pagination."""
    yield from check_body(tool, at)
    yield from checks_graphql.check_graphql(tool, at)
    yield from check_pagination(tool, at)


# -- the request body ----------------------------------------------------------------------


def check_body(tool: Tool, at: Path) -> Iterator[checks.Found]:
    """``api_name`` values, ``request.body``, where body params land, ``spread`` and
    ``file``."""
    for name, param in tool.params.items():
        yield from _check_api_name(tool, name, param, (*at, "params", name))
    yield from _check_fixed_body(tool, at)
    yield from _check_body_paths(tool, at)
    yield from _check_spread(tool, at)
    for name, param in tool.params.items():
        yield from _check_file(tool, name, param, (*at, "params", name))


def _nests(tool: Tool, param: Param) -> bool:
    """Whether the param's name is a dotted path into a JSON body."""
    return (
        param.in_ == "body"
        and tool.request.body_format == "json"
        and tool.request.graphql is None
        and not param.spread
    )


def _check_api_name(tool: Tool, name: str, param: Param, where: Path) -> Iterator[checks.Found]:
    api_name = param.api_name
    if api_name == "":
        yield checks.Found(
            (*where, "api_name"),
            f"expected the name sent upstream, got ''; leave api_name out to send '{name}'",
            "api_name",
        )
        return
    if param.in_ == "body" and (param.spread or tool.request.graphql is not None):
        return  # its own checks say what is wrong with it
    sent = api_name or name
    at_name = (*where, "api_name") if api_name else where
    if _nests(tool, param):
        if "" in sent.split("."):
            yield checks.Found(
                at_name,
                f"expected a dotted path of non-empty keys (filter.value), got '{sent}'",
                "api_name",
                api_name is None,
            )
        return
    if api_name is not None and "." in api_name and param.in_ != "variable":
        hint = ""
        if param.in_ in ("query", "header"):
            hint = f"; to send a {param.in_} key with a dot in it, name the param '{api_name}'"
        elif param.in_ == "body":
            hint = f" (the tool sends {_body_kind(tool)}, which cannot nest)"
        yield checks.Found((*where, "api_name"), _DOTTED + hint, "api_name")
    elif api_name is None and "." in name and param.in_ == "body":
        # A form or multipart body has flat keys; the dotted name would be cut at its dot.
        yield checks.Found(
            where,
            f"a dotted name is a path into a JSON body, but the tool sends {_body_kind(tool)}; "
            "rename the param or set api_name to a key without dots",
            "api_name",
            True,
        )


def _body_kind(tool: Tool) -> str:
    if tool.request.graphql is not None:
        return "the GraphQL request"
    return f"a {tool.request.body_format.replace('json', 'JSON')} body"


def _check_fixed_body(tool: Tool, at: Path) -> Iterator[checks.Found]:
    body = tool.request.body
    if body is None:
        return
    where = (*at, "request", "body")
    method = tool.request.method
    if method in _NO_BODY:
        yield checks.Found(
            where,
            f"expected no request.body for a {method} request (it carries no body), got one; "
            "use POST, PUT or PATCH, or static query parameters under request.query",
            "body_on_get",
        )
    if tool.request.body_format == "json":
        return
    for key, value in body.items():
        if not _flat(value):
            yield checks.Found(
                (*where, key),
                f"expected a string, number, boolean or a list of them in a "
                f"{tool.request.body_format} body (it cannot nest objects), got {_kind(value)}",
                "body_value",
            )


def _flat(value: Any) -> bool:
    if isinstance(value, list):
        return all(_scalar(v) for v in value)
    return _scalar(value)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    return "a list holding a mapping, list or null"


def _check_body_paths(tool: Tool, at: Path) -> Iterator[checks.Found]:
    """Two body params that would write one inside the other, or disagree on whether a
    container is a list (a digit segment indexes a list); a param whose path cannot go into
    ``request.body`` as it is."""
    paths: list[tuple[str, tuple[str, ...]]] = []
    for name, param in tool.params.items():
        if not _nests(tool, param) or param.api_name == "":
            continue
        path = tuple((param.api_name or name).split("."))
        if "" in path:
            continue  # reported with the api_name
        if path[0].isdigit():
            yield checks.Found(
                (*at, "params", name, "api_name") if param.api_name else (*at, "params", name),
                f"expected a body path starting with a key (the body is an object), got "
                f"'{'.'.join(path)}'",
                "body_path",
                param.api_name is None,
            )
            continue
        paths.append((name, path))
    for i, (name, path) in enumerate(paths):
        param = tool.params[name]
        where = (*at, "params", name, "api_name") if param.api_name else (*at, "params", name)
        for other, other_path in paths[:i]:
            problem = _paths_clash(path, other_path, other)
            if problem is not None:
                yield checks.Found(where, problem, "body_path", param.api_name is None)
        problem = _fixed_clash(tool.request.body or {}, path)
        if problem is not None:
            yield checks.Found(where, problem, "body_path", param.api_name is None)


def _paths_clash(path: tuple[str, ...], other: tuple[str, ...], owner: str) -> str | None:
    """Why body ``path`` and param ``owner``'s body path ``other`` cannot both be set."""
    shown, other_shown = ".".join(path), ".".join(other)
    for depth, (key, other_key) in enumerate(zip(path, other, strict=False)):
        if key == other_key:
            continue
        if key.isdigit() != other_key.isdigit():
            parent = ".".join(path[:depth])
            return (
                f"body path '{shown}' makes '{parent}' {_container(key)}, but param "
                f"'{owner}' ('{other_shown}') makes it {_container(other_key)}"
            )
        return None
    if len(path) == len(other):
        return None  # the same key twice: reported as a duplicate
    how = "is inside" if len(path) > len(other) else "holds"
    return (
        f"body path '{shown}' {how} '{other_shown}', which param '{owner}' sets; "
        "one would overwrite the other"
    )


def _container(key: str) -> str:
    return "a list" if key.isdigit() else "an object"


def _fixed_clash(body: dict[str, Any], path: tuple[str, ...]) -> str | None:
    """Why body ``path`` cannot be set in ``body`` (``request.body``), or None."""
    shown = ".".join(path)
    node: Any = body
    for depth, key in enumerate(path):
        place = ".".join(("request.body", *path[:depth]))
        if key.isdigit():
            if not isinstance(node, list):
                return (
                    f"expected {place} to be a list for index {key} of body path '{shown}', "
                    f"got {_value_kind(node)}"
                )
            if int(key) >= len(node):
                return None
            child = node[int(key)]
        else:
            if not isinstance(node, dict):
                return (
                    f"expected {place} to be an object for key '{key}' of body path '{shown}', "
                    f"got {_value_kind(node)}"
                )
            if key not in node:
                return None
            child = node[key]
        if depth < len(path) - 1 and not isinstance(child, dict | list):
            return (
                f"expected {place}.{key} to be an object or list for body path '{shown}' to go "
                f"into, got {_value_kind(child)}"
            )
        node = child
    return None


def _value_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _check_spread(tool: Tool, at: Path) -> Iterator[checks.Found]:
    first: str | None = None
    for name, param in tool.params.items():
        if not param.spread:
            continue
        where = (*at, "params", name, "spread")
        problem = None
        if param.in_ != "body":
            problem = f"got in: {param.in_}"
        elif param.type != "object":
            problem = f"got type '{param.type}'"
        elif tool.request.graphql is not None or tool.request.body_format != "json":
            problem = f"got {_body_kind(tool)}"
        if problem is not None:
            yield checks.Found(
                where,
                "expected spread only on an in: body param of type object in a JSON body "
                f"(its keys become the body's), {problem}",
                "spread",
            )
            continue
        if first is not None:
            yield checks.Found(
                where,
                f"expected at most one spread param per tool, got a second ('{first}' "
                "spreads already); put both objects' keys in one param",
                "spread",
            )
            continue
        first = name
        if param.api_name is not None:
            yield checks.Found(
                (*where[:-1], "api_name"),
                "a spread param sends its keys, not itself: api_name has no effect; remove it",
                "spread",
            )


def _check_file(tool: Tool, name: str, param: Param, where: Path) -> Iterator[checks.Found]:
    part = param.file
    if part is None:
        return
    if param.in_ != "body" or tool.request.body_format != "multipart":
        body_format = tool.request.body_format
        got = f"in: {param.in_}" if param.in_ != "body" else f"body_format: {body_format}"
        yield checks.Found(
            (*where, "file"),
            f"expected file only on an in: body param of a tool with body_format: multipart, "
            f"got {got}",
            "file",
        )
        return
    if param.type != "string":
        yield checks.Found(
            (*where, "type"),
            f"expected string for a file param (the file's content in base64), got '{param.type}'",
            "file",
        )
    other = part.filename_param
    if other is None:
        return
    here = (*where, "file", "filename_param")
    named = tool.params.get(other)
    candidates = [
        n for n, p in tool.params.items() if n != name and p.in_ == "body" and p.type == "string"
    ]
    if other == name:
        problem = "the file param itself"
    elif named is None:
        problem = (
            f"'{other}', which is not a param of the tool{checks.near_or_all(other, candidates)}"
        )
    elif named.in_ != "body" or named.type != "string":
        problem = f"'{other}', which is in: {named.in_} of type '{named.type}'"
    else:
        return
    yield checks.Found(
        here,
        f"expected the name of another in: body param of type string (the file name), "
        f"got {problem}",
        "file",
    )


# -- pagination ----------------------------------------------------------------------------


def check_pagination(tool: Tool, at: Path) -> Iterator[checks.Found]:
    """The fields the style needs are there and name fitting params; fields the style does
    not read are refused; ``next`` and ``has_more`` are JMESPath."""
    pages = tool.pagination
    if pages is None:
        return
    where = (*at, "pagination")
    for field in ("next", "has_more"):
        expression = getattr(pages, field)
        if expression is not None:
            yield from checks.check_jmespath(expression, (*where, field))
    for field, styles in _STYLE_FIELDS.items():
        if getattr(pages, field) is not None and pages.style not in styles:
            yield checks.Found(
                (*where, field),
                f"{field} is for style {' or '.join(styles)}; style {pages.style} does not read it",
                "pagination",
            )
    if pages.style == "cursor":
        yield from _check_cursor(tool, pages, where)
    elif pages.style == "link":
        yield from _check_link(tool, pages, where)
    else:
        field = "page_param" if pages.style == "page" else "offset_param"
        name = getattr(pages, field)
        if name is None:
            what = "numbers pages" if pages.style == "page" else "counts items"
            yield checks.Found(
                (*where, "style"),
                f"style {pages.style} needs {field}: the integer param that {what}",
                "pagination",
            )
        else:
            yield from _check_paging_param(tool, name, ("integer",), (*where, field))
    if not pages.auto:
        for field, what in (("max_items", "items"), ("max_pages", "pages")):
            if field in pages.model_fields_set:
                yield checks.Found(
                    (*where, field),
                    f"{field} applies with auto: true (it caps the {what} one call joins); "
                    f"set auto: true or remove {field}",
                    "pagination",
                )


def _check_cursor(tool: Tool, pages: Pagination, where: Path) -> Iterator[checks.Found]:
    if pages.next is None:
        yield checks.Found(
            (*where, "style"),
            "style cursor needs next: the JMESPath of the next page's cursor in the body",
            "pagination",
        )
    if pages.cursor_param is None:
        yield checks.Found(
            (*where, "style"),
            "style cursor needs cursor_param: the param the cursor is sent in",
            "pagination",
        )
    else:
        yield from _check_paging_param(
            tool, pages.cursor_param, ("string", "integer"), (*where, "cursor_param")
        )


def _check_link(tool: Tool, pages: Pagination, where: Path) -> Iterator[checks.Found]:
    name = pages.cursor_param or "cursor"
    here = (*where, "cursor_param") if pages.cursor_param else (*where, "style")
    if pages.cursor_param is not None and not _PARAM_NAME.match(name):
        yield checks.Found(
            here,
            f"expected an argument name of letters, digits, _ . and -, got '{name}'",
            "pagination",
        )
    if name in tool.params:
        yield checks.Found(
            here,
            f"style link adds the argument '{name}' for the next page's handle, but the tool "
            f"has a param '{name}' already; set pagination.cursor_param to a free name",
            "pagination",
        )


def _check_paging_param(
    tool: Tool, name: str, types: tuple[str, ...], where: Path
) -> Iterator[checks.Found]:
    wanted = " or ".join(types)
    article = "an" if wanted[0] in "aeiou" else "a"
    param = tool.params.get(name)
    if param is None:
        fitting = [n for n, p in tool.params.items() if p.type in types]
        hint = checks.did_you_mean(name, fitting) or (
            f"; the tool's {wanted} params are {', '.join(fitting)}"
            if fitting
            else f"; declare params.{name} of type {wanted}"
        )
        yield checks.Found(
            where,
            f"expected the name of {article} {wanted} param of the tool, got '{name}'{hint}",
            "pagination",
        )
    elif param.type not in types:
        yield checks.Found(
            where,
            f"expected {article} {wanted} param, got '{name}' of type '{param.type}'",
            "pagination",
        )


def check_request_id_header(connector: Connector) -> Iterator[checks.Found]:
    """``api.request_id_header`` is a header name that nothing else sets: no credential
    header, no static header, no tool argument (the id is never the model's choice)."""
    header = connector.api.request_id_header
    if header is None:
        return
    where = ("api", "request_id_header")
    if not checks.HEADER_TOKEN.match(header):
        yield checks.Found(where, f"expected a valid HTTP header name, got '{header}'", "header")
        return
    name = header.lower()
    if name in checks.SECRET_HEADERS:
        yield checks.Found(
            where, f"expected a header that carries no credentials, got '{header}'", "header"
        )
    setters: list[Path] = [("api", "headers", h) for h in connector.api.headers]
    for i, tool in enumerate(connector.tools):
        setters += [("tools", i, "request", "headers", h) for h in tool.request.headers]
        setters += [
            ("tools", i, "params", p)
            for p, param in tool.params.items()
            if param.in_ == "header" and (param.api_name or p).lower() == name
        ]
    for path in setters:
        if path[-2] == "params" or str(path[-1]).lower() == name:
            yield checks.Found(
                path,
                f"expected another header: '{header}' carries the request id "
                "(api.request_id_header), which only mcpbuild sets",
                "request_id_header",
                True,
            )
