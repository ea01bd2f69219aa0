"""Writing a generated connector as commented YAML the author owns (ruamel.yaml).

The file opens with where it came from and how to re-import it; each tool is preceded by
a comment naming its operation and what the import could not say; multi-line
descriptions are block scalars, and small mappings (``request``, a scalar param) and
lists of scalars are written inline so a tool reads in a few lines. ``--update`` reads
the same file back with ruamel's round-trip loader, so comments and order survive.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

__all__ = ["render_connector", "write_connector"]

_INLINE_LIMIT = 70  # longest mapping or list written on one line, in characters


def write_connector(
    connector: dict[str, Any], path: str | Path, *, notes: Mapping[str, Iterable[str]] = {}
) -> None:
    """Write ``connector`` to ``path`` as commented YAML; ``notes`` by tool name become
    comments above each tool."""
    Path(path).write_text(render_connector(connector, notes=notes), encoding="utf-8")


def render_connector(connector: dict[str, Any], *, notes: Mapping[str, Iterable[str]] = {}) -> str:
    """The YAML text :func:`write_connector` writes."""
    document = node(connector, ())
    assert isinstance(document, CommentedMap)
    source = (connector.get("x-openapi") or {}).get("source", "an OpenAPI description")
    document.yaml_set_start_comment(
        f"Imported by `mcpbuild import openapi` from {source}.\n"
        "This file is yours to edit. `mcpbuild import openapi --update connector.yaml`\n"
        "re-imports the description and keeps what you changed: each tool's\n"
        "x-openapi.generated holds fingerprints of the fields as they were generated."
    )
    if "provider" in document:
        document.yaml_set_comment_before_after_key(
            "provider",
            before="\nThe OAuth app you register at the provider; set these variables "
            "when serving.",
        )
    base_url = str(connector.get("api", {}).get("base_url", ""))
    if "api" in document and base_url.startswith("${"):
        document.yaml_set_comment_before_after_key(
            "api",
            before="\nThe description names no absolute server URL: set the variable, or "
            "write the URL here.",
        )
    tools = document.get("tools")
    if isinstance(tools, CommentedSeq):
        for i, tool in enumerate(connector.get("tools", [])):
            marker = tool.get("x-openapi") or {}
            lines = [f"{marker.get('operation', '')}".strip()]
            lines += [f"note: {n}" for n in notes.get(str(tool.get("name")), ())]
            text = "\n".join(line for line in lines if line)
            tools.yaml_set_comment_before_after_key(i, before=f"\n{text}" if i else text, indent=2)
    yaml = YAML()
    yaml.width = 120
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def node(value: Any, at: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        out = CommentedMap()
        for key, sub in value.items():
            out[key] = node(sub, (*at, str(key)))
        if _inline(value, at):
            out.fa.set_flow_style()
        return out
    if isinstance(value, list):
        seq = CommentedSeq(node(v, at) for v in value)
        if all(not isinstance(v, dict | list) for v in value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and "\n" in value:
        return LiteralScalarString(value)
    return value


def _inline(value: dict[str, Any], at: tuple[str, ...]) -> bool:
    """Small leaf mappings read best on one line: ``{type: string, in: path}``."""
    if not at or at[-1] in ("tools", "x-openapi", "generated", "properties", "params", "scopes"):
        return False
    if any(isinstance(v, dict | list) for v in value.values()) and at[-1] != "request":
        return False
    if any(isinstance(v, str) and "\n" in v for v in value.values()):
        return False
    text = ", ".join(f"{k}: {v}" for k, v in value.items())
    return len(text) <= _INLINE_LIMIT
