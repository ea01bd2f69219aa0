"""Semantic checks: rules that span fields and that a JSON Schema cannot say.

Each check yields :class:`Found` with the field path it concerns; the loader turns
paths into file positions. A ``Found`` is an error unless its ``severity`` is
``"warning"``: warnings are reported but do not stop a spec from loading.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Iterator, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import jmespath
import jmespath.exceptions
import jmespath.functions
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from builder.connector import checks_provider, checks_requests, checks_views
from builder.connector.models import (
    API,
    ENV_REF,
    GRANT_REF,
    PARAM_NAME_PATTERN,
    Connector,
    Param,
    Response,
    Schema,
    Tool,
)
from builder.connector.params import param_schema
from builder.connector.source import Path

__all__ = [
    "HEADER_TOKEN",
    "SECRET_HEADERS",
    "Found",
    "Severity",
    "check_api",
    "check_connector",
    "check_jmespath",
    "check_refs",
    "check_tool",
    "check_url",
    "did_you_mean",
    "is_loopback_host",
    "is_reference",
    "near_or_all",
    "placeholders",
]

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
HEADER_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "x-api-key", "api-key", "x-auth-token"}
)
# Headers that carry credentials: a tool argument (chosen by the model) never sets them.
_CREDENTIAL_HEADERS = {
    "authorization": (
        "the Authorization header is mcpbuild's: it carries the signed-in user's token"
    ),
    "proxy-authorization": "the Proxy-Authorization header carries a proxy's credentials",
    "cookie": "the Cookie header carries the user's session",
}
_PARAM_NAME = re.compile(PARAM_NAME_PATTERN)
# name -> signature, e.g. {"length": {"signature": ({"types": [...]},)}}
_JMESPATH_FUNCTIONS: dict[str, Any] = jmespath.functions.Functions.FUNCTION_TABLE
Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Found:
    """One semantic problem at ``path``; ``at_key`` points at the key rather than its value.

    ``severity`` is ``"error"`` unless said otherwise; a ``"warning"`` does not make the
    spec invalid.
    """

    path: Path
    message: str
    code: str
    at_key: bool = False
    _: KW_ONLY
    severity: Severity = "error"


def placeholders(path: str) -> list[str]:
    """The ``{name}`` placeholders of a request path, in order."""
    return _PLACEHOLDER.findall(path)


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_connector(connector: Connector) -> list[Found]:
    """Every semantic problem of a structurally valid connector."""
    found: list[Found] = []
    provider = connector.provider
    if provider is not None:
        found.extend(checks_provider.check_provider(provider))
    found.extend(check_api(connector.api))
    found.extend(checks_requests.check_request_id_header(connector))
    declared = set(provider.scopes) if provider is not None else None
    first_seen: dict[str, int] = {}
    for i, tool in enumerate(connector.tools):
        if tool.name in first_seen:
            found.append(
                Found(
                    ("tools", i, "name"),
                    f"duplicate tool name '{tool.name}' "
                    f"(first used by tools[{first_seen[tool.name]}])",
                    "duplicate_tool",
                )
            )
        else:
            first_seen[tool.name] = i
        found.extend(check_tool(tool, ("tools", i), declared))
    if connector.read_only and not any(t.is_read_only for t in connector.tools):
        found.append(
            Found(("read_only",), "read_only is true but no tool is read-only", "read_only")
        )
    found.extend(checks_provider.check_grant_refs(connector))
    if provider is not None:
        found.extend(checks_provider.check_unrequested_scopes(connector, provider))
    found.extend(checks_views.check_views(connector))
    return found


def check_api(api: API) -> Iterator[Found]:
    """The semantic problems of the ``api`` block."""
    yield from check_url(api.base_url, ("api", "base_url"))
    yield from _check_headers(api.headers, ("api", "headers"))
    if api.unauthorized_when is not None:
        yield from check_jmespath(api.unauthorized_when, ("api", "unauthorized_when"))


def check_tool(tool: Tool, at: Path, declared_scopes: set[str] | None) -> Iterator[Found]:
    """The semantic problems of one tool; ``declared_scopes`` is None without a provider."""
    for field, j, scope in [
        *(("scopes", j, s) for j, s in enumerate(tool.scopes)),
        *(("any_scopes", j, s) for j, s in enumerate(tool.any_scopes)),
    ]:
        if declared_scopes is None:
            yield Found(
                (*at, field, j),
                f"tool needs scope '{scope}' but the connector has no provider to grant it",
                "scope_without_provider",
            )
        elif scope not in declared_scopes:
            known = ", ".join(sorted(declared_scopes)) or "none"
            yield Found(
                (*at, field, j),
                f"scope '{scope}' is not declared in provider.scopes (declared: {known})",
                "undeclared_scope",
            )
    yield from _check_request_path(tool, at)
    yield from _check_headers(tool.request.headers, (*at, "request", "headers"))
    for key, value in tool.request.query.items():
        if isinstance(value, str):
            yield from check_refs(value, (*at, "request", "query", key))
    wire: dict[tuple[str, str], str] = {}
    for name, param in tool.params.items():
        where = (*at, "params", name)
        if not _PARAM_NAME.match(name):
            yield Found(
                where,
                f"expected a parameter name of letters, digits, _ . and -, got '{name}'",
                "param_name",
                True,
            )
        yield from _check_param(tool, name, param, where)
        sent = param.api_name or name
        wire_key = (param.in_, sent.lower() if param.in_ == "header" else sent)
        if wire_key in wire:
            yield Found(
                where,
                f"sends the same {param.in_} key '{sent}' as param '{wire[wire_key]}'",
                "duplicate_wire_name",
                True,
            )
        wire[wire_key] = name
    if tool.read_only and tool.destructive:
        yield Found(
            (*at, "destructive"), "a tool cannot be both read_only and destructive", "annotations"
        )
    yield from checks_requests.check_requests(tool, at)
    yield from _check_response(tool.response, (*at, "response"))


def _check_response(response: Response, at: Path) -> Iterator[Found]:
    if response.select is not None:
        yield from check_jmespath(response.select, (*at, "select"))
    if response.error is not None:
        yield from check_jmespath(response.error.when, (*at, "error", "when"))
        if response.error.message is not None:
            yield from check_jmespath(response.error.message, (*at, "error", "message"))
    if response.max_tokens is not None and "max_bytes" in response.model_fields_set:
        yield Found(
            (*at, "max_tokens"),
            f"expected max_tokens or max_bytes, got both (max_tokens {response.max_tokens}, "
            f"max_bytes {response.max_bytes}); max_tokens replaces max_bytes as the result's "
            "budget, so keep one",
            "response_budget",
        )
    schema = response.output_schema
    if schema is not None:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            yield Found(
                (*at, "output_schema"),
                f"expected a valid JSON Schema: {exc.message}",
                "output_schema",
            )
        else:
            if schema.get("type") != "object":
                yield Found(
                    (*at, "output_schema"),
                    f"expected a schema of type object (MCP outputSchema), got type "
                    f"{schema.get('type')!r}",
                    "output_schema",
                )


def check_jmespath(select: str, where: Path) -> Iterator[Found]:
    """The problems of a JMESPath expression: syntax (with the column), and what compiling
    does not catch (unknown functions, argument counts, a zero slice step)."""
    try:
        parsed = jmespath.compile(select).parsed
    except jmespath.exceptions.JMESPathError as exc:
        char = ""
        if isinstance(exc, jmespath.exceptions.ParseError):
            char = f" at character {exc.lex_position + 1}"
        reason = str(getattr(exc, "msg", "") or "invalid expression").rstrip(":")
        yield Found(
            where, f"expected a JMESPath expression, got '{select}': {reason}{char}", "jmespath"
        )
        return
    # Compiling resolves no function names, counts no arguments and accepts a zero slice
    # step: jmespath finds these only when the expression runs, on every call.
    for node in _nodes(parsed):
        if node["type"] == "slice" and node["children"][2:] == [0]:
            yield Found(
                where,
                f"expected a JMESPath expression, got '{select}': a slice step cannot be 0",
                "jmespath",
            )
        if node["type"] != "function_expression":
            continue
        name, count = node["value"], len(node["children"])
        spec = _JMESPATH_FUNCTIONS.get(name)
        if spec is None:
            near = difflib.get_close_matches(name, _JMESPATH_FUNCTIONS, n=1)
            hint = (
                f"did you mean {near[0]}()?"
                if near
                else f"the functions are {', '.join(f'{f}()' for f in sorted(_JMESPATH_FUNCTIONS))}"
            )
            yield Found(
                where,
                f"expected a JMESPath expression, got '{select}': unknown function {name}(); "
                + hint,
                "jmespath_function",
            )
            continue
        signature = spec["signature"]
        variadic = bool(signature) and bool(signature[-1].get("variadic"))
        if count < len(signature) or (count > len(signature) and not variadic):
            wanted = f"{'at least ' if variadic else ''}{len(signature)}"
            plural = "s" if len(signature) != 1 else ""
            yield Found(
                where,
                f"expected a JMESPath expression, got '{select}': {name}() takes {wanted} "
                f"argument{plural}, got {count}",
                "jmespath_function",
            )


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a parsed JMESPath expression, outermost first."""
    yield node
    for child in node.get("children", ()):
        # a slice keeps its bounds (ints or None) among its children
        if isinstance(child, dict):
            yield from _nodes(child)


def _check_request_path(tool: Tool, at: Path) -> Iterator[Found]:
    path = tool.request.path
    where = (*at, "request", "path")
    if any(c in path for c in "?#") or "//" in path or any(c.isspace() for c in path):
        yield Found(
            where,
            f"expected a plain path (no query, fragment, '//' or spaces), got '{path}'; "
            "put static query parameters under request.query",
            "path",
        )
    segments = path.split("/")
    if any(seg in (".", "..") for seg in segments):
        yield Found(where, f"expected a path without '.' or '..' segments, got '{path}'", "path")
    stripped = _PLACEHOLDER.sub("", path)
    if "{" in stripped or "}" in stripped:
        yield Found(where, f"unbalanced '{{' or '}}' in path '{path}'", "path")
    names = placeholders(path)
    path_params = [n for n, p in tool.params.items() if p.in_ == "path"]
    for name in names:
        if name not in tool.params:
            yield Found(
                where,
                f"placeholder '{{{name}}}' has no param; declare params.{name} with in: path",
                "path_param",
            )
        elif tool.params[name].in_ != "path":
            yield Found(
                (*at, "params", name, "in"),
                f"expected 'path' (the request path uses {{{name}}}), "
                f"got '{tool.params[name].in_}'",
                "path_param",
            )
    for name in path_params:
        if name not in names:
            yield Found(
                (*at, "params", name, "in"),
                f"param '{name}' is in: path but the request path '{path}' has no {{{name}}}",
                "path_param",
            )
    if len(names) != len(set(names)):
        yield Found(where, f"a placeholder appears twice in '{path}'", "path")


def _check_param(tool: Tool, name: str, param: Param, where: Path) -> Iterator[Found]:
    method = tool.request.method
    if param.in_ == "body" and method in ("GET", "HEAD", "DELETE"):
        yield Found(
            (*where, "in"),
            f"expected path, query or header for a {method} request (it carries no body), "
            "got 'body'",
            "body_param",
        )
    if param.in_ in ("path", "header") and param.type in ("object", "array"):
        yield Found(
            (*where, "type"),
            f"expected string, integer, number or boolean for an in: {param.in_} param, "
            f"got '{param.type}'",
            "param_type",
        )
    if param.in_ == "query" and param.type == "object":
        yield Found(
            (*where, "type"),
            "expected a scalar or array type for an in: query param, got 'object'",
            "param_type",
        )
    if param.in_ == "path" and param.required is False:
        yield Found((*where, "required"), "a path param is always required", "param_required")
    if param.in_ == "header":
        header = param.api_name or name
        if not HEADER_TOKEN.match(header):
            yield Found(
                (*where, "api_name") if param.api_name else where,
                f"expected a valid HTTP header name, got '{header}'",
                "header_name",
                param.api_name is None,
            )
        reason = _CREDENTIAL_HEADERS.get(header.lower())
        if reason is not None:
            yield Found(
                (*where, "api_name") if param.api_name else where,
                f"expected a header a tool argument may set, got '{header}': {reason}",
                "credential_header",
                param.api_name is None,
            )
    body_format = tool.request.body_format
    if body_format != "json" and param.in_ == "body" and param.type == "object":
        kind = "form-encoded" if body_format == "form" else "multipart"
        yield Found(
            (*where, "type"),
            f"expected a scalar or array type for a {kind} body, got 'object'",
            "param_type",
        )
    if param.minimum is not None and param.maximum is not None and param.minimum > param.maximum:
        yield Found(
            (*where, "minimum"),
            f"minimum {param.minimum} is greater than maximum {param.maximum}",
            "range",
        )
    if param.pattern is not None:
        try:
            re.compile(param.pattern)
        except re.error as exc:
            yield Found((*where, "pattern"), f"expected a regular expression: {exc}", "pattern")
            return
    if param.type not in ("string",) and (
        param.pattern is not None or param.min_length is not None or param.max_length is not None
    ):
        yield Found(
            where,
            f"pattern, min_length and max_length apply to strings, not to type '{param.type}'",
            "param_constraint",
        )
    yield from _check_schema_parts(param, where)
    schema = param_schema(param)
    validator = Draft202012Validator(schema)
    if param.enum is not None:
        for k, value in enumerate(param.enum):
            errors = list(validator.iter_errors(value))
            if errors:
                yield Found(
                    (*where, "enum", k),
                    f"enum value {value!r} does not fit the param: {errors[0].message}",
                    "enum",
                )
    if "default" in param.model_fields_set:
        for error in validator.iter_errors(param.default):
            yield Found(
                (*where, "default"),
                f"default {param.default!r} does not fit the param: {error.message}",
                "default",
            )
            break


def _check_schema_parts(node: Param | Schema, where: Path) -> Iterator[Found]:
    """The nested schemas of a param: ``required`` only on an entry of ``properties``,
    ``one_of`` not empty, ``additional_properties`` only on an object."""
    if node.one_of is not None and not node.one_of:
        yield Found(
            (*where, "one_of"),
            "expected at least one schema in one_of, got an empty list",
            "one_of",
        )
    if node.additional_properties is not None and node.type != "object":
        yield Found(
            (*where, "additional_properties"),
            f"additional_properties applies to type object, not to type '{node.type}'",
            "param_constraint",
        )
    nested: list[tuple[Schema, Path, str | None]] = []
    if node.items is not None:
        nested.append((node.items, (*where, "items"), "an items schema"))
    for key, prop in (node.properties or {}).items():
        nested.append((prop, (*where, "properties", key), None))
    for k, alt in enumerate(node.one_of or ()):
        nested.append((alt, (*where, "one_of", k), "a one_of entry"))
    for schema, here, context in nested:
        if context is not None and schema.required is not None:
            yield Found(
                (*here, "required"),
                f"expected required only on an entry of properties (the object must have "
                f"it), got it on {context}",
                "schema_required",
            )
        yield from _check_schema_parts(schema, here)


def check_url(value: str, where: Path) -> Iterator[Found]:
    """The problems of a URL field: absolute, https (http only on loopback), no
    credentials; a ``${VAR}`` in it is checked after resolution, by its reader."""
    if is_reference(value):
        return
    yield from check_refs(value, where)
    if ENV_REF.search(value):
        return
    first = GRANT_REF.match(value)
    if first is not None:
        # A per-user origin (checked when the user signs in); what follows must be a path.
        rest = value[first.end() :]
        if rest and not rest.startswith("/"):
            yield Found(
                where,
                f"expected a path after ${{grant.{first.group(1)}}}, got '{rest}'",
                "url",
            )
        return
    # A per-user path segment: the URL around it must be a good URL on its own.
    value = GRANT_REF.sub("x", value)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (parses the port: out of range or not a number raises)
    except ValueError as exc:
        yield Found(where, f"expected an absolute https URL, got '{value}' ({exc})", "url")
        return
    if parts.scheme not in ("https", "http") or not parts.hostname:
        yield Found(where, f"expected an absolute https URL, got '{value}'", "url")
        return
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        yield Found(
            where,
            f"expected https (http only for localhost/127.0.0.1/::1), got '{value}'",
            "url_scheme",
        )
    if parts.username or parts.password:
        yield Found(where, "expected a URL without credentials in it", "url")
    if parts.fragment or (parts.query and where[-1] == "base_url"):
        yield Found(where, f"expected a URL without query or fragment, got '{value}'", "url")


def _check_headers(headers: dict[str, str], where: Path) -> Iterator[Found]:
    for header, value in headers.items():
        here = (*where, header)
        if not HEADER_TOKEN.match(header):
            yield Found(here, f"expected a valid HTTP header name, got '{header}'", "header", True)
        if "\r" in value or "\n" in value:
            yield Found(here, "header value contains a line break", "header")
        yield from check_refs(value, here)
        if header.lower() in SECRET_HEADERS and not ENV_REF.search(value):
            yield Found(
                here,
                f"expected a ${{VAR}} reference in header '{header}', got a literal value "
                "(value hidden); never commit secrets to a spec",
                "literal_secret",
            )


def check_refs(value: str, where: Path) -> Iterator[Found]:
    if "$" not in value:
        return
    rest = GRANT_REF.sub("", ENV_REF.sub("", value))
    if "${" in rest:
        yield Found(
            where,
            "expected ${NAME} with NAME of letters, digits and _ (not starting with a digit), "
            "or ${grant.NAME}",
            "env_ref",
        )


def is_reference(value: str) -> bool:
    match = ENV_REF.fullmatch(value)
    return match is not None


def did_you_mean(name: str, candidates: Sequence[str]) -> str:
    """``; did you mean 'x'?`` for the closest of ``candidates``, or nothing."""
    near = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f"; did you mean '{near[0]}'?" if near else ""


def near_or_all(name: str, candidates: Sequence[str]) -> str:
    """:func:`did_you_mean`, else the whole list of ``candidates``."""
    hint = did_you_mean(name, candidates)
    if hint or not candidates:
        return hint
    return f"; expected one of {', '.join(candidates)}"
