"""The JSON Schema of connector.yaml, generated from the models, and its drift check."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from builder.connector.models import Connector

__all__ = [
    "EDITOR_SCHEMA_REF",
    "connector_schema",
    "drift",
    "refresh_editor_schema",
    "render_schema",
    "schema_path",
    "write_editor_schema",
]

EDITOR_SCHEMA_REF = ".mcpbuild/connector.schema.json"
"""Where a connector's ``# yaml-language-server: $schema=`` line points, relative to the
spec: a copy that mcpbuild writes (``init``) and rewrites when it differs (``validate``),
in a folder that ignores itself in git, so it is never committed and never stale."""


def connector_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a connector spec."""
    schema = Connector.model_json_schema(by_alias=True, mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }


def render_schema() -> str:
    """The schema as the text checked in under ``schemas/``."""
    return json.dumps(connector_schema(), indent=2, ensure_ascii=False) + "\n"


def schema_path() -> Path:
    """Where the checked-in schema lives in a source checkout."""
    return Path(__file__).resolve().parents[2] / "schemas" / "connector.schema.json"


def drift(path: Path) -> str:
    """A unified diff from the file at ``path`` to the generated schema; empty when in step."""
    expected = render_schema()
    try:
        current = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    if current == expected:
        return ""
    return (
        "".join(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                expected.splitlines(keepends=True),
                fromfile=str(path),
                tofile="generated from builder/connector/models.py",
            )
        )
        or f"{path} differs from the generated schema\n"
    )


def write_editor_schema(folder: Path) -> Path:
    """Write the schema at ``folder/.mcpbuild/connector.schema.json`` for editors (when it
    differs), with a ``.gitignore`` that keeps the folder out of git; return its path."""
    target = folder / EDITOR_SCHEMA_REF
    target.parent.mkdir(parents=True, exist_ok=True)
    ignore = target.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Written by mcpbuild; nothing here belongs in git.\n*\n", "utf-8")
    text = render_schema()
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def refresh_editor_schema(spec: Path) -> bool:
    """Bring the editor schema next to ``spec`` up to date if there is one (``init``
    wrote it); never create it. Return whether it was rewritten."""
    target = spec.parent / EDITOR_SCHEMA_REF
    try:
        if not target.is_file():
            return False
        text = render_schema()
        if target.read_text(encoding="utf-8") == text:
            return False
        target.write_text(text, encoding="utf-8")
    except OSError:
        return False  # a read-only checkout: editors keep the old schema, validation is unchanged
    return True
