"""The embedded store: one SQLite file in WAL mode, safe under concurrent requests."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from builder.state.store import (
    ClientLimitReached,
    CodeRecord,
    Grant,
    Pending,
    R,
    Redemption,
    TokenRecord,
)

__all__ = ["MAX_CLIENTS", "UNUSED_CLIENT_SECONDS", "SQLiteStore"]

logger = logging.getLogger("mcpbuild.store")

MAX_CLIENTS = 10_000
"""Registered clients kept at most; at the cap the oldest never-used one makes room."""
UNUSED_CLIENT_SECONDS = 24 * 3600.0
"""A registered client never used (no code issued to it) for this long is deleted."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    id TEXT PRIMARY KEY, info TEXT NOT NULL, created REAL NOT NULL, last_used REAL);
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

    The file holds client secrets and PKCE challenges: it and its -wal and -shm files are
    mode 0600, and a folder the store creates for it 0700.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        max_clients: int = MAX_CLIENTS,
        unused_client_seconds: float = UNUSED_CLIENT_SECONDS,
    ) -> None:
        self.path = str(path)
        self.max_clients = max_clients
        self.unused_client_seconds = unused_client_seconds
        if self.path != ":memory:":
            _create_private(Path(self.path))
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._tokens: dict[str, TokenRecord] = {}
        self._grants: dict[str, Grant] = {}
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._migrate()
        if self.path != ":memory:":
            # SQLite gives -wal and -shm the database file's mode; this is the guarantee.
            for sidecar in _SIDECARS:
                _tighten(Path(self.path + sidecar), warn=False)

    def _migrate(self) -> None:
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(clients)")}
        if "last_used" not in columns:
            # Clients from before usage was tracked may be in use: count them as used.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("ALTER TABLE clients ADD COLUMN last_used REAL")
                self._db.execute("UPDATE clients SET last_used = created")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        self._db.execute(
            "CREATE INDEX IF NOT EXISTS clients_unused ON clients (created) WHERE last_used IS NULL"
        )

    def _one(self, sql: str, *args: Any) -> Any:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _run(self, sql: str, *args: Any) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # clients
    async def save_client(self, client_id: str, info: dict[str, Any]) -> None:
        with self._transaction():
            self._make_room(client_id)
            self._db.execute(
                "INSERT INTO clients (id, info, created) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET info = excluded.info",
                (client_id, json.dumps(info), time.time()),
            )

    def _make_room(self, client_id: str) -> None:
        # Dropping the oldest unused registration, not refusing the new one: a flood then
        # pushes out only registrations that sat unused for longer than the flood takes to
        # fill the store, while a refusal would lock every new user out until they expire.
        if self._db.execute("SELECT 1 FROM clients WHERE id = ?", (client_id,)).fetchone():
            return
        count = self._db.execute("SELECT count(*) FROM clients").fetchone()[0]
        excess = count - self.max_clients + 1
        if excess <= 0:
            return
        dropped = self._db.execute(
            "DELETE FROM clients WHERE id IN (SELECT id FROM clients WHERE last_used IS NULL "
            "ORDER BY created LIMIT ?)",
            (excess,),
        ).rowcount
        if dropped < excess:
            raise ClientLimitReached(
                f"cannot register another client: expected fewer than {self.max_clients} "
                f"registered clients, got {count - dropped}, every one of them in use"
            )
        logger.info("client limit reached; oldest unused registration dropped")

    async def get_client(self, client_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT info FROM clients WHERE id = ?", client_id)
        return json.loads(row[0]) if row else None

    async def touch_client(self, client_id: str) -> None:
        self._run("UPDATE clients SET last_used = ? WHERE id = ?", time.time(), client_id)

    async def client_used(self, client_id: str) -> bool:
        row = self._one("SELECT last_used FROM clients WHERE id = ?", client_id)
        return bool(row and row[0] is not None)

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

    async def get_code(self, code_hash: str) -> CodeRecord | None:
        row = self._one("SELECT data FROM codes WHERE hash = ?", code_hash)
        return CodeRecord(**json.loads(row[0])) if row else None

    async def redeem_code(
        self,
        code_hash: str,
        *,
        issued: Sequence[TokenRecord],
        answer: str,
        window: float,
        now: float,
    ) -> Redemption[CodeRecord]:
        with self._transaction():
            row = self._db.execute(
                "SELECT data, used FROM codes WHERE hash = ?", (code_hash,)
            ).fetchone()
            if not row:
                return Redemption("unknown")
            record = CodeRecord(**json.loads(row[0]))
            if not row[1]:
                record.redeemed_at, record.answer = now, answer
                record.issued_refresh = _refresh_hash(issued)
                self._db.execute(
                    "UPDATE codes SET used = 1, data = ? WHERE hash = ?",
                    (json.dumps(asdict(record)), code_hash),
                )
                self._insert_tokens(issued)
                return Redemption("first", record)
            return self._again(record, record.redeemed_at, record.issued_refresh, window, now)

    # tokens
    async def save_token(self, token: TokenRecord) -> None:
        with self._lock:
            self._insert_tokens([token])

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

    async def rotate_refresh(
        self,
        token_hash: str,
        *,
        issued: Sequence[TokenRecord],
        answer: str,
        window: float,
        now: float,
    ) -> Redemption[TokenRecord]:
        self._tokens.pop(token_hash, None)
        with self._transaction():
            row = self._db.execute(
                "SELECT data, revoked FROM tokens WHERE hash = ?", (token_hash,)
            ).fetchone()
            if not row:
                return Redemption("unknown")
            record = TokenRecord(**json.loads(row[0]))
            if not row[1]:
                record.revoked, record.rotated_at, record.answer = True, now, answer
                record.successor = _refresh_hash(issued)
                self._db.execute(
                    "UPDATE tokens SET revoked = 1, data = ? WHERE hash = ?",
                    (json.dumps(asdict(record)), token_hash),
                )
                self._insert_tokens(issued)
                return Redemption("first", record)
            record.revoked = True
            if record.rotated_at is None:
                return Redemption("ended", record)
            return self._again(record, record.rotated_at, record.successor, window, now)

    def _again(
        self, record: R, used_at: float | None, successor: str | None, window: float, now: float
    ) -> Redemption[R]:
        """A second use: ``again`` while the window is open and what the first use issued
        is still live; otherwise ``reused``. Called inside a transaction."""
        age = now - used_at if used_at is not None else float("inf")
        answer = record.answer
        if age <= window and answer is not None and successor is not None:
            live = self._db.execute(
                "SELECT 1 FROM tokens WHERE hash = ? AND revoked = 0", (successor,)
            ).fetchone()
            if live:
                return Redemption("again", record, answer, age)
        return Redemption("reused", record, None, age)

    def _insert_tokens(self, tokens: Sequence[TokenRecord]) -> None:
        self._db.executemany(
            "INSERT INTO tokens VALUES (?, ?, ?, ?, ?)",
            [
                (t.token_hash, t.grant_id, json.dumps(asdict(t)), t.expires_at, int(t.revoked))
                for t in tokens
            ],
        )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction under the lock; BEGIN IMMEDIATE, so that another process
        on the same file waits instead of reading a state this one is about to change."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

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
        with self._transaction():
            self._db.execute("UPDATE grants SET active = 0 WHERE id = ?", (grant_id,))
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE grant_id = ?", (grant_id,))

    async def count_active_grants(self) -> int:
        return int(self._one("SELECT COUNT(*) FROM grants WHERE active = 1")[0])

    def refresh_lock(self, grant_id: str, *, ttl: float) -> AbstractAsyncContextManager[None]:
        # One process owns the file (see the class docstring): the grant manager's own lock
        # in that process is the whole story.
        return contextlib.nullcontext()

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
            removed += self._db.execute(
                "DELETE FROM clients WHERE last_used IS NULL AND created <= ?",
                (now - self.unused_client_seconds,),
            ).rowcount
        return removed

    async def close(self) -> None:
        with self._lock:
            self._db.close()


_SIDECARS = ("-wal", "-shm")


def _create_private(path: Path) -> None:
    """Make ``path`` a 0600 file before SQLite opens it (the umask does not matter), in
    folders created 0700; an existing file or sidecar that others can read is tightened."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)
    existed = path.exists()
    os.close(os.open(path, os.O_RDONLY | os.O_CREAT, 0o600))
    if not existed:
        os.chmod(path, 0o600)
    for each in (path, *(Path(str(path) + s) for s in _SIDECARS)):
        _tighten(each, warn=existed)


def _tighten(path: Path, *, warn: bool) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        os.chmod(path, 0o600)
        if warn:
            logger.warning(
                "store file was readable by others; now 0600",
                extra={"path": str(path), "was": oct(mode)},
            )


def _refresh_hash(tokens: Sequence[TokenRecord]) -> str | None:
    return next((t.token_hash for t in tokens if t.kind == "refresh"), None)


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value
