"""All authorization state behind one interface (:class:`~builder.state.store.Store`):
registered clients, pending sign-ins, codes, client tokens, and grants with the user's
upstream tokens, encrypted (:mod:`builder.state.crypto`). Both OAuth sides read it."""

from __future__ import annotations

from pathlib import Path

from builder.errors import ConfigError
from builder.state.sqlite import SQLiteStore
from builder.state.store import Store

__all__ = ["dev_key_folder", "open_store"]


def open_store(url: str) -> Store:
    """The store named by ``--store``: ``sqlite:///PATH``, or ``redis://HOST:PORT/DB``
    (``rediss://`` for TLS, ``?prefix=NAME`` to share one Redis between connectors)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        return SQLiteStore(path if path == ":memory:" else Path(path))
    if url.startswith(("redis://", "rediss://")):
        # Imported here: a server on SQLite does not load the Redis client.
        from builder.state.redis import RedisStore

        return RedisStore.connect(url)
    raise ConfigError(
        "--store: expected sqlite:///PATH, redis://HOST:PORT/DB or rediss://HOST:PORT/DB, "
        f"got {url.split(':', 1)[0]}:..."
    )


def dev_key_folder(url: str) -> Path:
    """Where a development key is kept for the store at ``url``: beside a SQLite file,
    else in ``.mcpbuild`` (an in-memory store, or a shared store such as Redis)."""
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path != ":memory:":
            return Path(path).parent
    return Path(".mcpbuild")
