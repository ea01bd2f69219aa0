"""The quality report: what makes the imported tools hard for a model to use.

It counts the tools against ``--max-tools``, lists tools whose description is missing or
was trimmed, params without a description, input schemas nested deeper than
:data:`MAX_INPUT_NESTING`, successful responses without a schema, and what the import
left out; and it measures the ``tools/list`` result the connector serves, in bytes and
estimated tokens (4 bytes each), from the connector as ``mcpbuild serve`` loads it.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from builder.connector import input_schema, load_connector_text
from builder.connector.models import Connector
from builder.openapi.tools import Note
from builder.tools.definition import tool_definition

__all__ = ["MAX_INPUT_NESTING", "QualityReport", "measure", "schema_depth"]

MAX_INPUT_NESTING = 3
"""Levels of nested objects and arrays in an input schema before the report warns."""

_HEADINGS = {
    "too_many_tools": "too many tools",
    "missing_description": "descriptions missing",
    "long_description": "descriptions trimmed",
    "param_description": "params without a description",
    "deep_input": "input schemas nested deeply",
    "no_response_schema": "responses without a schema",
    "skipped": "operations skipped",
    "invalid_tool": "tools dropped (did not validate)",
}


@dataclass
class QualityReport:
    """The report of one import: counts, the ``tools/list`` size, and the warnings."""

    tools: int
    max_tools: int
    tools_list_bytes: int
    notes: list[Note] = field(default_factory=list)

    @property
    def tools_list_tokens(self) -> int:
        """Estimated tokens of ``tools/list``: bytes / 4."""
        return self.tools_list_bytes // 4

    def by_code(self, code: str) -> list[Note]:
        """The notes of one kind (``missing_description``, ``deep_input``, ...)."""
        return [n for n in self.notes if n.code == code]

    def lines(self, *, per_kind: int = 5) -> list[str]:
        """The report as text lines: a summary, then each kind with a few examples."""
        out = [
            f"{self.tools} tools; tools/list is {self.tools_list_bytes:,} bytes "
            f"(~{self.tools_list_tokens:,} tokens)"
        ]
        counts = Counter(n.code for n in self.notes)
        for code, count in sorted(
            counts.items(),
            key=lambda kv: list(_HEADINGS).index(kv[0]) if kv[0] in _HEADINGS else len(_HEADINGS),
        ):
            heading = _HEADINGS.get(code, code.replace("_", " "))
            out.append(f"warning: {heading}: {count}")
            for note in self.by_code(code)[:per_kind]:
                who = note.tool or note.operation
                out.append(f"  {who}: {note.message}" if who else f"  {note.message}")
            if count > per_kind:
                out.append(f"  ... and {count - per_kind} more")
        return out


def measure(
    connector: dict[str, Any], notes: list[Note], max_tools: int
) -> tuple[Connector, QualityReport]:
    """Load the generated ``connector`` as ``serve`` would and report on it."""
    loaded = load_connector_text(json.dumps(connector), "<generated connector>")
    definitions = [tool_definition(t) for t in loaded.tools]
    size = len(json.dumps({"tools": definitions}, separators=(",", ":")).encode("utf-8"))
    found = list(notes)
    for tool in loaded.tools:
        depth = schema_depth(input_schema(tool))
        if depth > MAX_INPUT_NESTING:
            found.append(
                Note("deep_input", f"input schema nested {depth} levels deep", "", tool.name)
            )
    if len(loaded.tools) > max_tools:
        found.insert(
            0,
            Note(
                "too_many_tools",
                f"{len(loaded.tools)} tools, more than {max_tools}: models choose worse "
                "among many tools; import fewer with --tag, --operation, --path or --method",
                "",
            ),
        )
    return loaded, QualityReport(len(loaded.tools), max_tools, size, found)


def schema_depth(schema: dict[str, Any]) -> int:
    """Levels of objects and arrays below the top of ``schema`` (its params are level 0)."""
    deepest = 0
    for sub in (schema.get("properties") or {}).values():
        deepest = max(deepest, _level(sub))
    return deepest


def _level(schema: dict[str, Any]) -> int:
    best = 0
    for sub in (schema.get("properties") or {}).values():
        best = max(best, 1 + _level(sub))
    if isinstance(schema.get("items"), dict):
        best = max(best, 1 + _level(schema["items"]))
    for alternative in schema.get("oneOf") or ():
        best = max(best, _level(alternative))
    return best
