"""Tool arguments: checked against the tool's input schema before anything is sent."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from builder.connector.models import Param, Tool
from builder.connector.params import input_schema
from builder.errors import ArgumentError

__all__ = ["ArgumentChecker", "parse_cli_arguments"]

_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


class ArgumentChecker:
    """Validates one tool's arguments and fills in the defaults of those left out."""

    def __init__(self, tool: Tool) -> None:
        self.tool = tool
        self.schema = input_schema(tool)
        self._validator = Draft202012Validator(self.schema, format_checker=FormatChecker())
        self._defaults = {
            name: p.default for name, p in tool.params.items() if "default" in p.model_fields_set
        }

    def check(self, arguments: Mapping[str, Any] | None) -> dict[str, Any]:
        """The arguments with defaults applied, or :class:`ArgumentError` naming each bad one."""
        args = dict(arguments or {})
        errors = sorted(self._validator.iter_errors(args), key=lambda e: list(e.path))
        if errors:
            raise ArgumentError("; ".join(self._describe(e) for e in errors[:5]))
        for name, value in self._defaults.items():
            args.setdefault(name, value)
        return args

    def _describe(self, error: ValidationError) -> str:
        where = _where(error)
        kind = str(error.validator)
        value: Any = error.instance
        limit: Any = error.validator_value
        if kind == "required":
            missing = [n for n in limit if n not in (value or {})]
            name = missing[0] if missing else "?"
            if error.path:
                return f"{where}: missing required key '{name}'"
            return f"missing required argument '{name}'"
        if kind == "additionalProperties":
            known = list(self.schema["properties"])
            unknown = [k for k in value if k not in known]
            name = unknown[0] if unknown else "?"
            text = f"unknown argument '{name}'"
            near = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            if near:
                return f"{text}; did you mean '{near[0]}'?"
            return f"{text}; expected one of {', '.join(known) or 'none'}"
        if kind == "type":
            expected = limit
            words = (
                " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in expected)
                if isinstance(expected, list)
                else _TYPE_WORDS.get(str(expected), str(expected))
            )
            return f"{where}: expected {words}, got {_show(value)}"
        if kind == "enum":
            options = ", ".join(_show(v) for v in limit)
            return f"{where}: expected one of {options}, got {_show(value)}"
        if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
            word = {
                "minimum": "at least",
                "maximum": "at most",
                "exclusiveMinimum": "more than",
                "exclusiveMaximum": "less than",
            }[kind]
            return f"{where}: expected {word} {limit}, got {_show(value)}"
        if kind == "minLength":
            return f"{where}: expected at least {limit} characters, got {len(value)}"
        if kind == "maxLength":
            return f"{where}: expected at most {limit} characters, got {len(value)}"
        if kind == "pattern":
            return f"{where}: expected a string matching {limit}, got {_show(value)}"
        if kind == "format":
            return f"{where}: expected a {limit} string, got {_show(value)}"
        if kind in ("oneOf", "anyOf"):
            options = "; or ".join(_alternative(option) for option in limit)
            return f"{where}: expected exactly one of: {options}; got {_shape(value)}"
        return f"{where}: {error.message}"


def _where(error: ValidationError) -> str:
    parts = list(error.path)
    if not parts:
        return "arguments"
    out = f"argument '{parts[0]}'"
    for part in parts[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _alternative(schema: dict[str, Any]) -> str:
    """One ``oneOf`` alternative in words: ``an object with dateTime``, ``a string``."""
    kind = _TYPE_WORDS.get(str(schema.get("type")), "a value")
    required = schema.get("required") or []
    if schema.get("type") == "object" and required:
        extra = " and nothing else" if schema.get("additionalProperties") is False else ""
        return f"{kind} with {', '.join(required)}{extra}"
    return kind


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        return f"an object with {', '.join(sorted(value))}" if value else "an empty object"
    return _show(value)


def parse_cli_arguments(tool: Tool, pairs: list[str]) -> dict[str, Any]:
    """``k=v`` pairs from a command line, each value read as the param's type says; checking
    comes later, against the input schema.

    Numbers and true/false are converted. An array takes JSON when the value starts with
    ``[``, and otherwise comma-separated items (``--arg ids=a,b``), each read as the items'
    type; repeating the pair (``--arg ids=a --arg ids=b``) appends. An object takes JSON.
    """
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep:
            raise ArgumentError(f"--arg: expected NAME=VALUE, got {pair!r}")
        param = tool.params.get(name)
        if param is not None and param.type == "array":
            items = _read_array(name, param, text)
            previous = out.get(name)
            out[name] = [*previous, *items] if isinstance(previous, list) else items
        elif param is not None and param.type == "object":
            out[name] = _read_object(name, param, text)
        else:
            out[name] = _read(param.type if param is not None else "string", text)
    return out


def _read_array(name: str, param: Param, text: str) -> list[Any]:
    if text.lstrip().startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            raise ArgumentError(
                f"argument '{name}': expected a JSON array (a value starting with '['), got "
                f"{_show(text)}; or give comma-separated items, e.g. --arg {name}=a,b"
            ) from None
        return list(value)  # JSON starting with "[" is an array
    if text == "":
        return []
    kind = param.items.type if param.items is not None else "string"
    return [_read(kind, item if kind == "string" else item.strip()) for item in text.split(",")]


def _read_object(name: str, param: Param, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        if param.one_of:
            return text  # an alternative may take it as it is: the schema check decides
        raise ArgumentError(
            f"argument '{name}': expected a JSON object, e.g. --arg {name}='{{\"k\": 1}}'"
        ) from None


def _read(kind: str, text: str) -> Any:
    """``text`` as a value of JSON type ``kind``, or as it is when it is not one (the schema
    check then names the argument and what it expected)."""
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind in ("array", "object"):
            return json.loads(text)
    except ValueError:
        return text
    return text
