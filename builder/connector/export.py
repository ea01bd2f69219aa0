"""The JSON Schema of connector.yaml, generated from the models, and its drift check."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from builder.connector.models import Connector

__all__ = ["connector_schema", "drift", "render_schema", "schema_path"]


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
