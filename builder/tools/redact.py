"""Scrubbing known secret values out of text before it reaches a log or a client."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence

from builder.tools.response import Shaped

__all__ = ["Redactor"]

_MIN_SECRET = 4


class Redactor:
    """Replaces every occurrence of the given secret values with ``[redacted]``."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        """Also scrub ``secret`` from now on."""
        if len(secret) >= _MIN_SECRET and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def scrub_result(self, result: Shaped, *, extra: Sequence[str] = ()) -> Shaped:
        """``result`` with the secrets (and ``extra`` ones) scrubbed from its text and
        structured content."""
        secrets = self._with(extra)
        texts = (result.text, *result.notes)
        if not any(secret in text for secret in secrets for text in texts):
            return result
        structured, data = result.structured, result.data
        if structured is not None:
            structured = json.loads(self.scrub(json.dumps(structured), extra=extra))
        if data is not None:
            data = json.loads(self.scrub(json.dumps(data), extra=extra))
        return dataclasses.replace(
            result,
            text=self.scrub(result.text, extra=extra),
            structured=structured,
            data=data,
            notes=tuple(self.scrub(note, extra=extra) for note in result.notes),
        )

    def scrub(self, text: str, *, extra: Sequence[str] = ()) -> str:
        """``text`` without any of the secrets (nor ``extra`` ones)."""
        for secret in self._with(extra):
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return text

    def _with(self, extra: Sequence[str]) -> list[str]:
        if not extra:
            return self._secrets
        more = [s for s in extra if len(s) >= _MIN_SECRET]
        return sorted({*self._secrets, *more}, key=len, reverse=True)
