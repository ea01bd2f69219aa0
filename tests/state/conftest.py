"""Store tests run on both stores: ``store`` is an SQLiteStore, then a RedisStore on a real
redis-server (see ``tests/state/redis_server.py``)."""

from __future__ import annotations

from tests.state.redis_server import make_store, redis_service, store, store_kind

__all__ = ["make_store", "redis_service", "store", "store_kind"]
