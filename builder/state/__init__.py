"""All authorization state behind one interface (:class:`~builder.state.store.Store`):
registered clients, pending sign-ins, codes, client tokens, and grants with the user's
upstream tokens, encrypted (:mod:`builder.state.crypto`). Both OAuth sides read it."""

from __future__ import annotations

from pathlib import Path

from builder.errors import ConfigError
from builder.state.sqlite import SQLiteStore
from builder.state.store import Store

__all__ = ["open_store"]


def open_store(url: str) -> Store:
    """The store named by ``--store``: ``sqlite:///PATH``."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        return SQLiteStore(path if path == ":memory:" else Path(path))
    raise ConfigError(f"--store: expected sqlite:///PATH, got {url.split(':', 1)[0]}:...")
