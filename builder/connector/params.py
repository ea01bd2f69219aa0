"""JSON Schemas generated from a tool's params: the MCP ``inputSchema`` and its parts."""

from __future__ import annotations

from typing import Any

from builder.connector.models import Param, Schema, Tool

__all__ = ["input_schema", "param_schema"]

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
    if param.items is not None:
        out["items"] = param_schema(param.items)
    if param.properties is not None:
        out["properties"] = {k: param_schema(v) for k, v in param.properties.items()}
    return out


def input_schema(tool: Tool) -> dict[str, Any]:
    """The tool's MCP ``inputSchema``: an object of its params, unknown arguments refused."""
    properties = {name: param_schema(p) for name, p in tool.params.items()}
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
