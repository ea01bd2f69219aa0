"""Scrubbing known secret values out of text before it reaches a log or a client."""

from __future__ import annotations

import json
from collections.abc import Iterable

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

    def scrub_result(self, result: Shaped) -> Shaped:
        """``result`` with the secrets scrubbed from its text and structured content."""
        if not any(secret in result.text for secret in self._secrets):
            return result
        structured = result.structured
        if structured is not None:
            structured = json.loads(self.scrub(json.dumps(structured)))
        return Shaped(self.scrub(result.text), structured, result.is_error)

    def scrub(self, text: str) -> str:
        """``text`` without any of the secrets."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, "[redacted]")
        return text
