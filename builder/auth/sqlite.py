"""The embedded store: one SQLite file in WAL mode, safe under concurrent requests."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from builder.auth.store import CodeRecord, Grant, Pending, TokenRecord

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (id TEXT PRIMARY KEY, info TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    id TEXT PRIMARY KEY, upstream_state TEXT UNIQUE, data TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS codes (
    hash TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at REAL NOT NULL, used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, data TEXT NOT NULL, expires_at REAL,
    revoked INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS tokens_grant ON tokens (grant_id);
CREATE TABLE IF NOT EXISTS grants (
    id TEXT PRIMARY KEY, data TEXT NOT NULL, version INTEGER NOT NULL, active INTEGER NOT NULL);
"""
# A used code is kept this long, so its reuse can still be detected and punished.
_USED_CODE_MEMORY = 3600.0


_CACHE_SIZE = 10_000


class SQLiteStore:
    """State in one SQLite file. Calls are short and run inline: a thread hop would cost
    more than the query. Every write is one transaction.

    Tokens and grants are read on every request, so they are cached in memory and every
    write here updates the cache. That is coherent because one process owns the file; for
    several replicas, use a shared store (Redis), not one SQLite file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenRecord] = {}
        self._grants: dict[str, Grant] = {}
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)

    def _one(self, sql: str, *args: Any) -> Any:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _run(self, sql: str, *args: Any) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # clients
    async def save_client(self, client_id: str, info: dict[str, Any]) -> None:
        self._run(
            "INSERT OR REPLACE INTO clients VALUES (?, ?, ?)",
            client_id,
            json.dumps(info),
            time.time(),
        )

    async def get_client(self, client_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT info FROM clients WHERE id = ?", client_id)
        return json.loads(row[0]) if row else None

    # pending authorizations
    async def save_pending(self, pending: Pending) -> None:
        self._run(
            "INSERT OR REPLACE INTO pending VALUES (?, ?, ?, ?)",
            pending.id,
            pending.upstream_state,
            json.dumps(asdict(pending)),
            pending.expires_at,
        )

    async def get_pending(self, pending_id: str) -> Pending | None:
        row = self._one(
            "SELECT data FROM pending WHERE id = ? AND expires_at > ?", pending_id, time.time()
        )
        return Pending(**json.loads(row[0])) if row else None

    async def take_pending_by_state(self, upstream_state: str) -> Pending | None:
        with self._lock:
            row = self._db.execute(
                "DELETE FROM pending WHERE upstream_state = ? AND expires_at > ? RETURNING data",
                (upstream_state, time.time()),
            ).fetchone()
        return Pending(**json.loads(row[0])) if row else None

    async def delete_pending(self, pending_id: str) -> None:
        self._run("DELETE FROM pending WHERE id = ?", pending_id)

    # codes
    async def save_code(self, code: CodeRecord) -> None:
        self._run(
            "INSERT INTO codes VALUES (?, ?, ?, 0)",
            code.code_hash,
            json.dumps(asdict(code)),
            code.expires_at,
        )

    async def take_code(self, code_hash: str) -> tuple[CodeRecord | None, bool]:
        with self._lock:
            first = self._db.execute(
                "UPDATE codes SET used = 1 WHERE hash = ? AND used = 0 RETURNING data", (code_hash,)
            ).fetchone()
            if first:
                return CodeRecord(**json.loads(first[0])), True
            again = self._db.execute(
                "SELECT data FROM codes WHERE hash = ?", (code_hash,)
            ).fetchone()
        return (CodeRecord(**json.loads(again[0])), False) if again else (None, False)

    # tokens
    async def save_token(self, token: TokenRecord) -> None:
        self._run(
            "INSERT INTO tokens VALUES (?, ?, ?, ?, ?)",
            token.token_hash,
            token.grant_id,
            json.dumps(asdict(token)),
            token.expires_at,
            int(token.revoked),
        )

    async def get_token(self, token_hash: str) -> TokenRecord | None:
        cached = self._tokens.get(token_hash)
        if cached is not None:
            return cached
        row = self._one("SELECT data, revoked FROM tokens WHERE hash = ?", token_hash)
        if not row:
            return None
        record = TokenRecord(**json.loads(row[0]))
        record.revoked = bool(row[1])
        _remember(self._tokens, token_hash, record)
        return record

    async def take_refresh(self, token_hash: str) -> tuple[TokenRecord | None, bool]:
        self._tokens.pop(token_hash, None)
        with self._lock:
            first = self._db.execute(
                "UPDATE tokens SET revoked = 1 WHERE hash = ? AND revoked = 0 RETURNING data",
                (token_hash,),
            ).fetchone()
            if first:
                return TokenRecord(**json.loads(first[0])), True
            again = self._db.execute(
                "SELECT data FROM tokens WHERE hash = ?", (token_hash,)
            ).fetchone()
        if not again:
            return None, False
        record = TokenRecord(**json.loads(again[0]))
        record.revoked = True
        return record, False

    async def revoke_token(self, token_hash: str) -> TokenRecord | None:
        self._tokens.pop(token_hash, None)
        with self._lock:
            row = self._db.execute(
                "UPDATE tokens SET revoked = 1 WHERE hash = ? RETURNING data", (token_hash,)
            ).fetchone()
        return TokenRecord(**json.loads(row[0])) if row else None

    # grants
    async def save_grant(self, grant: Grant) -> None:
        self._grants.pop(grant.grant_id, None)
        self._run(
            "INSERT OR REPLACE INTO grants VALUES (?, ?, ?, ?)",
            grant.grant_id,
            json.dumps(asdict(grant)),
            grant.version,
            int(grant.active),
        )

    async def get_grant(self, grant_id: str) -> Grant | None:
        cached = self._grants.get(grant_id)
        if cached is not None:
            return cached
        row = self._one("SELECT data, version, active FROM grants WHERE id = ?", grant_id)
        if not row:
            return None
        grant = Grant(**json.loads(row[0]))
        grant.version, grant.active = row[1], bool(row[2])
        _remember(self._grants, grant_id, grant)
        return grant

    async def replace_grant_tokens(
        self,
        grant_id: str,
        *,
        expected_version: int,
        access_token: str,
        refresh_token: str | None,
        expires_at: float | None,
        issued_at: float = 0.0,
    ) -> bool:
        self._grants.pop(grant_id, None)
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM grants WHERE id = ? AND version = ? AND active = 1",
                (grant_id, expected_version),
            ).fetchone()
            if not row:
                return False
            data = json.loads(row[0])
            data.update(
                access_token=access_token,
                refresh_token=refresh_token,
                expires_at=expires_at,
                issued_at=issued_at,
                version=expected_version + 1,
            )
            changed = self._db.execute(
                "UPDATE grants SET data = ?, version = ? WHERE id = ? AND version = ?",
                (json.dumps(data), expected_version + 1, grant_id, expected_version),
            ).rowcount
        return changed == 1

    async def end_grant(self, grant_id: str) -> None:
        self._grants.pop(grant_id, None)
        self._tokens.clear()  # rare: cheaper than finding the grant's tokens in the cache
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("UPDATE grants SET active = 0 WHERE id = ?", (grant_id,))
                self._db.execute("UPDATE tokens SET revoked = 1 WHERE grant_id = ?", (grant_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    async def cleanup(self, now: float) -> int:
        self._tokens.clear()
        with self._lock:
            removed = self._db.execute("DELETE FROM pending WHERE expires_at <= ?", (now,)).rowcount
            removed += self._db.execute(
                "DELETE FROM codes WHERE expires_at <= ?", (now - _USED_CODE_MEMORY,)
            ).rowcount
            removed += self._db.execute(
                "DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
            ).rowcount
        return removed

    async def close(self) -> None:
        with self._lock:
            self._db.close()


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value
