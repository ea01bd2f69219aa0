"""What a client sees of a tool: its MCP definition, derived from the spec."""

from __future__ import annotations

from typing import Any

from builder.connector.models import Tool
from builder.connector.params import input_schema

__all__ = ["tool_annotations", "tool_definition"]


def tool_annotations(tool: Tool) -> dict[str, Any]:
    """The MCP tool annotations implied by the method and the spec's overrides."""
    out: dict[str, Any] = {"readOnlyHint": tool.is_read_only}
    if not tool.is_read_only:
        out["destructiveHint"] = tool.is_destructive
        out["idempotentHint"] = tool.is_idempotent
    else:
        out["idempotentHint"] = True
    out["openWorldHint"] = tool.open_world
    if tool.title:
        out["title"] = tool.title
    return out


def tool_definition(tool: Tool) -> dict[str, Any]:
    """The tool as ``tools/list`` shows it, with MCP's field names."""
    out: dict[str, Any] = {"name": tool.name}
    if tool.title:
        out["title"] = tool.title
    out["description"] = tool.description
    out["inputSchema"] = input_schema(tool)
    if tool.response.output_schema is not None:
        out["outputSchema"] = tool.response.output_schema
    out["annotations"] = tool_annotations(tool)
    return out
