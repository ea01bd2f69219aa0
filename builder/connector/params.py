"""JSON Schemas generated from a tool's params: the MCP ``inputSchema`` and its parts."""

from __future__ import annotations

from typing import Any

from builder.connector.models import Param, Schema, Tool

__all__ = ["cursor_argument", "input_schema", "param_schema"]

_CONSTRAINTS = ("enum", "minimum", "maximum", "pattern", "format")


def param_schema(param: Param | Schema) -> dict[str, Any]:
    """The JSON Schema of one param (or nested item/property schema)."""
    out: dict[str, Any] = {"type": param.type}
    if param.description:
        out["description"] = param.description
    for key in _CONSTRAINTS:
        value = getattr(param, key)
        if value is not None:
            out[key] = _int_if_whole(value) if key in ("minimum", "maximum") else value
    if isinstance(param, Param):
        if param.min_length is not None:
            out["minLength"] = param.min_length
        if param.max_length is not None:
            out["maxLength"] = param.max_length
        if "default" in param.model_fields_set:
            out["default"] = param.default
        if param.file is not None:
            out["contentEncoding"] = "base64"
            out["contentMediaType"] = param.file.media_type
    if param.items is not None:
        out["items"] = param_schema(param.items)
    if param.properties is not None:
        out["properties"] = {k: param_schema(v) for k, v in param.properties.items()}
        required = [k for k, v in param.properties.items() if v.required]
        if required:
            out["required"] = required
    if param.one_of is not None:
        out["oneOf"] = [param_schema(v) for v in param.one_of]
        if any(v.type != param.type for v in param.one_of):
            del out["type"]  # the alternatives say the type; one `type` would contradict them
    if param.additional_properties is not None:
        out["additionalProperties"] = param.additional_properties
    return out


def cursor_argument(tool: Tool) -> str | None:
    """The argument a ``link``-paginated tool adds for the next page's handle."""
    pages = tool.pagination
    if pages is None or pages.style != "link":
        return None
    return pages.cursor_param or "cursor"


def input_schema(tool: Tool) -> dict[str, Any]:
    """The tool's MCP ``inputSchema``: an object of its params, unknown arguments refused."""
    properties = {name: param_schema(p) for name, p in tool.params.items()}
    handle = cursor_argument(tool)
    if handle is not None:
        properties[handle] = {
            "type": "string",
            "description": "Leave out for the first page; for the next, pass the handle the "
            "previous result gave.",
        }
    required = [name for name, p in tool.params.items() if p.is_required]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def _int_if_whole(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
