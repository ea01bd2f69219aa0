"""Load and validate a connector spec, reporting every problem with file, line and column.

Errors raise :class:`~builder.errors.SpecError`; warnings (a valid spec that probably does
not do what its author meant) come back beside the connector from :func:`load_with_warnings`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from builder.connector import checks, checks_provider, checks_views
from builder.connector.models import (
    API,
    NAME_PATTERN,
    PARAM_NAME_PATTERN,
    TOOL_NAME_PATTERN,
    Connector,
    Provider,
    Tool,
)
from builder.connector.source import Located, Path, Position, load_yaml, read_spec_text
from builder.errors import SpecError, SpecIssue
from builder.presets import PresetError, apply_preset

__all__ = [
    "Loaded",
    "SpecWarning",
    "load_connector",
    "load_connector_text",
    "load_text_with_warnings",
    "load_with_warnings",
]

_PATTERN_WORDS = {
    NAME_PATTERN: "a name of lowercase letters, digits, _ and - (starting with a letter or digit)",
    TOOL_NAME_PATTERN: "a tool name of 1-128 characters from A-Z a-z 0-9 _ - .",
    PARAM_NAME_PATTERN: "a parameter name of letters, digits, _ . and -",
    "^/": "a path starting with /",
}
_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
_BOUND_WORDS = {
    "greater_than_equal": "at least",
    "greater_than": "more than",
    "less_than_equal": "at most",
    "less_than": "less than",
}
_SECRET_FIELDS = frozenset({"client_secret", "headers"})


class SpecWarning(SpecIssue):
    """A problem that leaves the spec valid; renders as
    ``connector.yaml:12:7: provider.scopes.x: warning: ...``."""

    __slots__ = ()

    def render(self) -> str:
        """The issue's rendering with ``warning:`` before the message."""
        plain = super().render()
        return f"{plain[: len(plain) - len(self.message)]}warning: {self.message}"


@dataclass(frozen=True, slots=True)
class Loaded:
    """A valid connector and the warnings about it, in file order."""

    connector: Connector
    warnings: tuple[SpecWarning, ...] = ()


def load_connector(filename: str) -> Connector:
    """Read, parse and validate the spec at ``filename``; raise :class:`SpecError` listing all
    problems otherwise. Warnings are dropped; :func:`load_with_warnings` keeps them."""
    return load_with_warnings(filename).connector


def load_connector_text(text: str, filename: str = "<string>") -> Connector:
    """Validate spec ``text`` as if read from ``filename``."""
    return load_text_with_warnings(text, filename).connector


def load_with_warnings(filename: str) -> Loaded:
    """Like :func:`load_connector`, and keep the warnings. Warnings are only looked for
    in a spec without errors."""
    return load_text_with_warnings(read_spec_text(filename), filename)


def load_text_with_warnings(text: str, filename: str = "<string>") -> Loaded:
    """Like :func:`load_connector_text`, and keep the warnings."""
    located = _load_yaml(text, filename)
    if not isinstance(located.data, dict):
        raise SpecError.single(
            filename,
            located.position(()),
            f"expected a mapping of connector fields at the top, got {_kind(located.data)}",
            code="type",
        )
    _apply_preset(located, filename)
    issues = list(located.issues)
    try:
        connector = Connector.model_validate(located.data)
    except ValidationError as exc:
        issues.extend(_issue(err, located, filename, text) for err in exc.errors())
        issues.extend(_checks_despite(located, filename))
        raise SpecError(_dedupe(issues)) from None
    warnings: list[SpecWarning] = []
    found_all = checks.check_connector(connector)
    spec_file = FilePath(filename)
    if spec_file.is_file():
        found_all.extend(checks_views.check_templates(connector, spec_file.parent))
    for found in found_all:
        if found.severity == "warning":
            pos = located.position(found.path, key=found.at_key)
            warnings.append(SpecWarning(filename, pos, found.path, found.message, found.code))
        else:
            issues.append(_from_check(found, located, filename))
    if issues:
        raise SpecError(issues)
    warnings.sort(key=lambda w: (w.position.line, w.position.column) if w.position else (0, 0))
    return Loaded(connector, tuple(warnings))


def _apply_preset(located: Located, filename: str) -> None:
    """Fill in ``provider.preset``; a field that came from the preset is reported at the
    ``preset`` key, the only place in this file that wrote it."""
    provider = located.data.get("provider")
    if not isinstance(provider, dict) or "preset" not in provider:
        return
    where: Path = ("provider", "preset")
    try:
        merged, from_preset = apply_preset(provider)
    except PresetError as exc:
        raise SpecError.single(filename, located.position(where), str(exc), code="preset") from None
    located.data = {**located.data, "provider": merged}
    at = located.position(where)
    for key in from_preset:
        located.values.setdefault(("provider", key), at)
        located.keys.setdefault(("provider", key), at)


def _checks_despite(located: Located, filename: str) -> list[SpecIssue]:
    """Run the semantic checks on the parts that are valid on their own, so one structural
    error elsewhere does not hide the semantic ones."""
    data = located.data
    found: list[checks.Found] = []
    provider = data.get("provider")
    declared = set(provider.get("scopes") or {}) if isinstance(provider, dict) else None
    for key, model, check in (
        ("provider", Provider, checks_provider.check_provider),
        ("api", API, checks.check_api),
    ):
        try:
            part = model.model_validate(data.get(key))
        except ValidationError:
            continue
        found.extend(check(part))  # type: ignore[arg-type]
    out = [_from_check(f, located, filename) for f in found if f.severity == "error"]
    tools = data.get("tools")
    if not isinstance(tools, list):
        return out
    valid: dict[int, Tool] = {}
    for i, raw in enumerate(tools):
        try:
            valid[i] = Tool.model_validate(raw)
        except ValidationError:
            continue
    by_name = {tool.name: tool for tool in valid.values()}
    names = {str(raw.get("name")) for raw in tools if isinstance(raw, dict)}
    for i, tool in valid.items():
        found = [
            *checks.check_tool(tool, ("tools", i), declared),
            *checks_views.check_view(tool, ("tools", i), by_name, names),
        ]
        out.extend(_from_check(f, located, filename) for f in found if f.severity == "error")
    return out


def _from_check(found: checks.Found, located: Located, filename: str) -> SpecIssue:
    pos = located.position(found.path, key=found.at_key)
    return SpecIssue(filename, pos, found.path, found.message, found.code)


def _dedupe(issues: list[SpecIssue]) -> list[SpecIssue]:
    seen: set[tuple[Path, str]] = set()
    out = []
    for issue in issues:
        if (issue.path, issue.message) not in seen:
            seen.add((issue.path, issue.message))
            out.append(issue)
    return out


def _issue(err: Any, located: Located, filename: str, text: str = "") -> SpecIssue:
    loc: Path = tuple(p for p in err["loc"] if isinstance(p, str | int))
    kind = err["type"]
    got = _got(err.get("input"), loc)
    ctx = err.get("ctx") or {}
    if kind == "missing":
        message = f"required field '{loc[-1]}' is missing"
        pos = located.position(loc[:-1], key=True)
    elif kind == "extra_forbidden":
        allowed = _fields_at(loc[:-1])
        message = f"unknown field '{loc[-1]}'"
        near = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        pos = located.position(loc, key=True)
        if near:
            message += f"; did you mean '{near[0]}'?"
        elif err.get("input") is None and _after_flow_comma(text, pos):
            message += (
                "; inside {...} an unquoted ', ' ends a value: if this belongs to the value "
                "before it, quote that value"
            )
        elif allowed:
            message += f"; expected one of {', '.join(sorted(allowed))}"
    elif kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", ", ").replace("'", "")
        message = f"expected one of {expected}, got {got}"
        pos = located.position(loc)
    elif kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        message = (
            f"expected {_PATTERN_WORDS.get(pattern, 'a string matching ' + pattern)}, got {got}"
        )
        pos = located.position(loc)
    elif kind in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind]}, got {got}"
        pos = located.position(loc)
    elif kind in _BOUND_WORDS:
        message = f"expected {_BOUND_WORDS[kind]} {next(iter(ctx.values()))}, got {got}"
        pos = located.position(loc)
    elif kind == "too_short" and "min_length" in ctx:
        n = ctx["min_length"]
        message = (
            f"expected at least {n} item{'s' if n != 1 else ''}, got {ctx.get('actual_length', 0)}"
        )
        pos = located.position(loc)
    elif kind == "value_error" and ctx.get("error") is not None:
        message = str(ctx["error"])  # a model's own rule, which says what came
        pos = located.position(loc)
    else:
        message = f"{_lower_first(err['msg'])}, got {got}"
        pos = located.position(loc)
    return SpecIssue(filename, pos, loc, message, kind)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, int | float):
        return str(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "...'"


def _got(value: Any, loc: Path) -> str:
    if any(part in _SECRET_FIELDS for part in loc if isinstance(part, str)) and isinstance(
        value, str
    ):
        return "a string (value hidden)"
    return _kind(value)


def _fields_at(loc: Path) -> list[str]:
    """The field names the model accepts at ``loc`` (for "did you mean")."""
    current: Any = Connector
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for n, f in current.model_fields.items() if (f.alias or n) == part), None
            )
            if field is None:
                return []
            current = field.annotation
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
            if len(args) != 1:
                return annotation
        else:
            return annotation


# -- YAML syntax errors new authors make, explained --------------------------------------

_RESERVED_STARTS = "@`%"


def _load_yaml(text: str, filename: str) -> Located:
    """:func:`load_yaml`, with the parser's message for the commonest mistakes replaced by
    what to do about them."""
    try:
        return load_yaml(text, filename)
    except SpecError as exc:
        if len(exc.issues) != 1 or exc.issues[0].code != "yaml":
            raise
        issue = exc.issues[0]
        if issue.position is None or not issue.message.startswith("invalid YAML: "):
            raise
        hint = _yaml_hint(text, issue.position, issue.message.removeprefix("invalid YAML: "))
        if hint is None:
            raise
        raise SpecError.single(
            filename, issue.position, f"invalid YAML: {hint}", code="yaml"
        ) from None


def _yaml_hint(text: str, pos: Position, problem: str) -> str | None:
    """What to do about the YAML error ``problem`` at ``pos``, or None to keep the parser's
    words. Both parsers (libyaml and PyYAML's own) word their errors differently, so this
    goes by the character at the error more than by the message."""
    lines = text.splitlines()
    if not 0 < pos.line <= len(lines):
        return None
    line = lines[pos.line - 1]
    i = pos.column - 1
    char = line[i] if i < len(line) else ""
    before = line[:i]
    if char == "\t" or ("tab" in problem and "\t" in line):
        if before.strip() == "":
            return "tabs are not allowed for indentation in YAML; use spaces"
        return "a tab cannot start a YAML value; use spaces"
    if char and char in _RESERVED_STARTS and "cannot start any token" in problem:
        value = _reserved_value(line, i)
        return (
            f"quote this value: a plain YAML value cannot start with '{char}'; "
            f"write {_quoted(value)}"
        )
    if "mapping values are not allowed" in problem:
        key, value = _block_value(line)
        if value:
            return (
                "quote this value: it contains ': ', which YAML reads as the start of a "
                f"mapping; write {key}{_quoted(value)}"
            )
        return "quote this value: it contains ': ', which YAML reads as the start of a mapping"
    flow = "',' or '}'" in problem or "',' or ']'" in problem
    if char == ":" and flow:
        value = _flow_value(line, i)
        example = "" if any(c in value for c in "{}[]") else f"; write {_quoted(value)}"
        return (
            "quote this value: inside {...} or [...] an unquoted ': ' starts another key and "
            f"an unquoted ', ' ends the value{example}"
        )
    if char == "," and "node content" in problem:
        return "a ',' with no value before it: remove it, or quote the value that holds it"
    closed = before.rstrip()
    if char and closed[-1:] in ("'", '"') and closed != before:
        return "quote the whole value: text follows its closing quote"
    if char == "," and closed.endswith(("}", "]")) and ("key" in problem or "end" in problem):
        key, value = _block_value(line)
        return (
            "quote this value: a value starting with '{' or '[' is a YAML mapping or list, "
            f"which ends at its closing bracket; write {key}{_quoted(value)}"
        )
    return None


def _block_value(line: str) -> tuple[str, str]:
    """``("description: ", "Note: this")`` for the line ``description: Note: this``: the
    key part (with a leading ``- ``) and the value after the first ``: ``."""
    match = re.match(r"^(\s*(?:-\s+)*[^\s:#][^:]*?:\s+)(.*?)\s*$", line)
    if match is None:
        return "", line.strip()
    return match.group(1).lstrip(), match.group(2)


def _reserved_value(line: str, start: int) -> str:
    """The value starting at ``start`` with a reserved character, as far as it goes."""
    rest = line[start:]
    if rest.startswith("`"):
        end = rest.find("`", 1)
        if end > 0 and any(c in line[:start] for c in "{["):
            return rest[: end + 1]
    if any(c in line[:start] for c in "{["):
        return re.split(r"\s*[,}\]]", rest, maxsplit=1)[0]
    return rest.rstrip()


def _flow_value(line: str, colon: int) -> str:
    """The value inside ``{...}`` that holds the ``:`` at ``colon``."""
    start = max(line.rfind(c, 0, colon) for c in ",{[")
    key_end = line.find(": ", start + 1, colon)
    begin = key_end + 2 if key_end >= 0 else start + 1
    ends = [e for e in (line.find(c, colon) for c in ",}]") if e >= 0]
    return line[begin : min(ends) if ends else len(line)].strip()


def _quoted(value: str) -> str:
    if '"' not in value and "\\" not in value:
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def _after_flow_comma(text: str, pos: Position) -> bool:
    """Whether the key at ``pos`` follows a ``,`` inside ``{...}`` on its line."""
    lines = text.splitlines()
    if not text or not 0 < pos.line <= len(lines):
        return False
    before = lines[pos.line - 1][: pos.column - 1]
    return before.rstrip().endswith(",") and "{" in before
