"""Fingerprints of the fields `import openapi` generated, kept in `x-openapi.generated`.

`--update` compares a field's current value with the fingerprint written at import time:
equal means the author left it alone and a re-import may replace it; different means the
author edited it and it is kept. A fingerprint is the first 12 hex characters of the
sha256 of the canonical JSON of the value as written in the file.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["GENERATED_FIELDS", "fingerprint", "fingerprints"]

#: The tool fields a generated tool may carry, besides `params.<name>` for each param.
GENERATED_FIELDS = (
    "name",
    "title",
    "description",
    "scopes",
    "request",
    "response",
    "read_only",
    "destructive",
    "idempotent",
    "pagination",
)


def fingerprint(value: Any) -> str:
    """The first 12 hex characters of the sha256 of the canonical JSON of `value`."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def fingerprints(tool: dict[str, Any]) -> dict[str, str]:
    """Fingerprints of the generated fields present in `tool`, and of each of its params.

    Keys are the field names of `GENERATED_FIELDS` and `params.<name>`; absent fields
    are not listed.
    """
    result: dict[str, str] = {}
    for field in GENERATED_FIELDS:
        if field in tool:
            result[field] = fingerprint(tool[field])
    params = tool.get("params") or {}
    for name, param in params.items():
        result[f"params.{name}"] = fingerprint(param)
    return result
