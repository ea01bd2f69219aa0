"""Reading the Prometheus text format in tests."""

from __future__ import annotations

__all__ = ["samples"]


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value, from the Prometheus text format."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out
