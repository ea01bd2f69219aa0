"""The shared store: Redis, so that several processes or machines serve one connector.

Every record is a key under one prefix (``mcpbuild`` unless ``?prefix=`` says otherwise),
and every key expires with the object it holds::

    {p}:client:{id}            hash   info (JSON), created, last_used    no expiry (cleanup)
    {p}:clients                zset   every client id by registration time (the cap)
    {p}:clients:unused         zset   never-used client ids by registration time
    {p}:pending:{id}           string Pending (JSON)                     at expires_at
    {p}:pending-state:{state}  string the pending id                     at expires_at
    {p}:code:{hash}            hash   data (JSON), used, redeemed_at, answer, issued_refresh
                                                                         an hour past expiry
    {p}:token:{hash}           hash   data (JSON), revoked, rotated_at, answer, successor
                                                                         at expires_at
    {p}:grant:{id}             hash   data (JSON), version, active, tokens (JSON)
                                      no expiry while active; ended: an hour past its tokens
    {p}:grant-tokens:{id}      zset   the grant's token hashes by expiry (ms), for end_grant
    {p}:grants:active          set    the active grants' ids (the active-grants gauge)

Records are written as JSON by Python and never re-encoded in Lua (its JSON encoder keeps
14 digits of a timestamp); the fields an atomic step changes are hash fields of their own.
Each atomic operation is one Lua script (:mod:`builder.state.redis_lua`), which Redis runs
alone: of two processes that redeem one code or rotate one refresh token, exactly one gets
``first``. The scripts name keys they compute, so this is for one Redis (or a primary with
replicas), not a Cluster.

Nothing is cached in this process: a revocation anywhere takes effect on the next request
everywhere. Upstream tokens arrive encrypted (:mod:`builder.state.crypto`) and are stored
as they come.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import redis as redis_sync
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialWithJitterBackoff, NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from builder.errors import ConfigError
from builder.state import redis_lua as lua
from builder.state.store import (
    ClientLimitReached,
    CodeRecord,
    Grant,
    Pending,
    R,
    Redemption,
    TokenRecord,
)

__all__ = ["DEFAULT_PREFIX", "RedisStore"]

logger = logging.getLogger("mcpbuild.store")

DEFAULT_PREFIX = "mcpbuild"
MAX_CLIENTS = 10_000
UNUSED_CLIENT_SECONDS = 24 * 3600.0
# A used code is kept this long past its expiry, so its reuse can still be detected (as
# the SQLite store keeps it until cleanup); an ended grant this long past its last token.
_MEMORY_MS = 3600 * 1000

_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

_TOKEN_FIELDS = ("data", "revoked", "rotated_at", "answer", "successor")
_CODE_FIELDS = ("data", "used", "redeemed_at", "answer", "issued_refresh")
_GRANT_FIELDS = ("data", "version", "active", "tokens")


_LOCK_POLL = 0.05
"""Seconds between tries for a refresh lock another process holds."""


class RedisStore:
    """State in Redis, shared by every process that names the same URL and prefix.

    ``url`` is what redis-py takes (``redis://[[user]:password@]host:port/db``, or
    ``rediss://`` for TLS). Construct it with :meth:`connect`, which checks that Redis
    answers before a server starts on it.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_clients: int = MAX_CLIENTS,
        unused_client_seconds: float = UNUSED_CLIENT_SECONDS,
    ) -> None:
        if not _PREFIX.fullmatch(prefix):
            raise ConfigError(
                "--store: expected a prefix of letters, digits and _.:- (at most 64), "
                f"got {prefix!r}"
            )
        self.prefix = prefix
        self.max_clients = max_clients
        self.unused_client_seconds = unused_client_seconds
        self._p = prefix + ":"
        self._url = url
        # A pooled connection that Redis closed (a restart, a failover, an idle timeout in
        # between) fails its next command: retried on a fresh connection, a few times, so
        # that the request using it does not. ``from_url`` alone sets no retry at all.
        self._redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            retry=AsyncRetry(ExponentialWithJitterBackoff(base=0.01, cap=0.5), 3),
        )
        scripts = {
            "save_tokens": lua.SAVE_TOKENS_SCRIPT,
            "redeem_code": lua.REDEEM_CODE,
            "rotate_refresh": lua.ROTATE_REFRESH,
            "revoke_token": lua.REVOKE,
            "replace_grant_tokens": lua.REPLACE_GRANT_TOKENS,
            "end_grant": lua.END_GRANT,
            "save_client": lua.SAVE_CLIENT,
            "touch_client": lua.TOUCH_CLIENT,
            "drop_unused_clients": lua.DROP_UNUSED_CLIENTS,
            "take_pending_by_state": lua.TAKE_PENDING_BY_STATE,
            "delete_pending": lua.DELETE_PENDING,
            "release_lock": lua.RELEASE_LOCK,
        }
        self._scripts = {name: self._redis.register_script(s) for name, s in scripts.items()}

    @classmethod
    def connect(cls, url: str, **options: Any) -> RedisStore:
        """A store on the Redis at ``url`` (``?prefix=NAME`` is taken out of it), once that
        Redis has answered a PING: an unreachable one is a :class:`ConfigError` now rather
        than a failed sign-in later."""
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        prefixes = [v for k, v in query if k == "prefix"]
        if prefixes:
            options.setdefault("prefix", prefixes[-1])
        kept = urlencode([(k, v) for k, v in query if k != "prefix"])
        rest = urlunsplit(parts._replace(query=kept))
        try:
            where = f"{parts.scheme}://{parts.hostname or 'localhost'}:{parts.port or 6379}"
            probe = redis_sync.Redis.from_url(
                rest, socket_connect_timeout=5, socket_timeout=5, retry=Retry(NoBackoff(), 0)
            )
        except ValueError as exc:
            raise ConfigError(f"--store: expected a Redis URL, could not read it ({exc})") from None
        try:
            probe.ping()
        except RedisError as exc:
            raise ConfigError(
                f"--store: cannot reach Redis at {where} ({type(exc).__name__}: "
                f"{str(exc)[:200]}); start it, or fix the host, port or password in the URL"
            ) from None
        finally:
            probe.close()
        return cls(rest, **options)

    def _key(self, kind: str, ident: str) -> str:
        return f"{self._p}{kind}:{ident}"

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return await self._scripts[name](keys=list(keys), args=list(args))

    def _redemption_args(
        self, issued: Sequence[TokenRecord], answer: str, window: float, now: float
    ) -> list[Any]:
        successor = _refresh_hash(issued) or ""
        return [self._p, repr(now), repr(window), answer, successor, _ms(now), *_token_args(issued)]

    # clients
    async def save_client(self, client_id: str, info: dict[str, Any]) -> None:
        result = await self._run(
            "save_client",
            [self._key("client", client_id), self._p + "clients", self._p + "clients:unused"],
            [self._p, client_id, json.dumps(info), repr(time.time()), self.max_clients],
        )
        if result[0] == -1:
            raise ClientLimitReached(
                f"cannot register another client: expected fewer than {self.max_clients} "
                f"registered clients, got {result[1]}, every one of them in use"
            )
        if result[0]:
            logger.info("client limit reached; oldest unused registration dropped")

    async def get_client(self, client_id: str) -> dict[str, Any] | None:
        info = await self._redis.hget(self._key("client", client_id), "info")
        return json.loads(info) if info is not None else None

    async def touch_client(self, client_id: str) -> None:
        await self._run(
            "touch_client",
            [self._key("client", client_id), self._p + "clients:unused"],
            [client_id, repr(time.time())],
        )

    async def client_used(self, client_id: str) -> bool:
        key = self._key("client", client_id)
        return bool(await self._redis.hexists(key, "last_used"))

    # pending authorizations
    async def save_pending(self, pending: Pending) -> None:
        at = _ms(pending.expires_at)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._key("pending", pending.id), json.dumps(asdict(pending)), pxat=at)
            if pending.upstream_state is not None:
                pipe.set(self._key("pending-state", pending.upstream_state), pending.id, pxat=at)
            await pipe.execute()

    async def get_pending(self, pending_id: str) -> Pending | None:
        data = await self._redis.get(self._key("pending", pending_id))
        if data is None:
            return None
        pending = Pending(**json.loads(data))
        return pending if pending.expires_at > time.time() else None

    async def take_pending_by_state(self, upstream_state: str) -> Pending | None:
        data = await self._run(
            "take_pending_by_state",
            [self._key("pending-state", upstream_state)],
            [self._p, upstream_state, repr(time.time())],
        )
        return Pending(**json.loads(data)) if data is not None else None

    async def delete_pending(self, pending_id: str) -> None:
        await self._run("delete_pending", [self._key("pending", pending_id)], [self._p, pending_id])

    # codes
    async def save_code(self, code: CodeRecord) -> None:
        key = self._key("code", code.code_hash)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.hset(key, mapping={"data": json.dumps(asdict(code)), "used": "0"})
            pipe.pexpireat(key, _ms(code.expires_at) + _MEMORY_MS)
            await pipe.execute()

    async def get_code(self, code_hash: str) -> CodeRecord | None:
        fields = await self._redis.hmget(self._key("code", code_hash), _CODE_FIELDS)
        return _code(fields) if fields[0] is not None else None

    async def redeem_code(
        self,
        code_hash: str,
        *,
        issued: Sequence[TokenRecord],
        answer: str,
        window: float,
        now: float,
    ) -> Redemption[CodeRecord]:
        reply = await self._run(
            "redeem_code",
            [self._key("code", code_hash)],
            self._redemption_args(issued, answer, window, now),
        )
        if reply[0] == "unknown":
            return Redemption("unknown")
        record = _code(reply[1:])
        return _outcome(reply[0], record, record.redeemed_at, now)

    # tokens
    async def save_token(self, token: TokenRecord) -> None:
        await self._run(
            "save_tokens",
            [self._key("token", token.token_hash)],
            [self._p, _ms(time.time()), *_token_args([token])],
        )

    async def get_token(self, token_hash: str) -> TokenRecord | None:
        fields = await self._redis.hmget(self._key("token", token_hash), _TOKEN_FIELDS)
        return _token(fields) if fields[0] is not None else None

    async def rotate_refresh(
        self,
        token_hash: str,
        *,
        issued: Sequence[TokenRecord],
        answer: str,
        window: float,
        now: float,
    ) -> Redemption[TokenRecord]:
        reply = await self._run(
            "rotate_refresh",
            [self._key("token", token_hash)],
            self._redemption_args(issued, answer, window, now),
        )
        if reply[0] == "unknown":
            return Redemption("unknown")
        record = _token(reply[1:])
        if reply[0] in ("first", "ended"):
            return Redemption(reply[0], record)
        return _outcome(reply[0], record, record.rotated_at, now)

    async def revoke_token(self, token_hash: str) -> TokenRecord | None:
        fields = await self._run("revoke_token", [self._key("token", token_hash)], [])
        return _token(fields) if fields is not None else None

    # grants
    async def save_grant(self, grant: Grant) -> None:
        key = self._key("grant", grant.grant_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            if grant.active:
                pipe.sadd(self._p + "grants:active", grant.grant_id)
            else:
                pipe.srem(self._p + "grants:active", grant.grant_id)
            pipe.hset(
                key,
                mapping={
                    "data": json.dumps(asdict(grant)),
                    "version": str(grant.version),
                    "active": "1" if grant.active else "0",
                },
            )
            await pipe.execute()

    async def get_grant(self, grant_id: str) -> Grant | None:
        fields = await self._redis.hmget(self._key("grant", grant_id), _GRANT_FIELDS)
        if fields[0] is None:
            return None
        data, version, active, tokens = cast("list[str | None]", fields)
        grant = Grant(**json.loads(cast(str, data)))
        if tokens is not None:
            for name, value in json.loads(tokens).items():
                setattr(grant, name, value)
        grant.version, grant.active = int(version or 0), active == "1"
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
        tokens = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": expires_at,
            "issued_at": issued_at,
        }
        replaced = await self._run(
            "replace_grant_tokens",
            [self._key("grant", grant_id)],
            [str(expected_version), str(expected_version + 1), json.dumps(tokens)],
        )
        return bool(replaced)

    async def end_grant(self, grant_id: str) -> None:
        await self._run(
            "end_grant",
            [
                self._key("grant", grant_id),
                self._key("grant-tokens", grant_id),
                self._p + "grants:active",
            ],
            [self._p, _MEMORY_MS, grant_id],
        )

    async def count_active_grants(self) -> int:
        return int(await self._redis.scard(self._p + "grants:active"))

    @contextlib.asynccontextmanager
    async def refresh_lock(self, grant_id: str, *, ttl: float) -> AsyncIterator[None]:
        """``SET NX PX`` with a random owner token, released only by its owner (a holder
        whose lock lapsed cannot release the next holder's). Waiters poll: a refresh is rare
        and short, and polling needs no second connection. A late holder's write is fenced
        by the grant's compare-and-set on its version."""
        key = self._key("refresh-lock", grant_id)
        owner = secrets.token_hex(16)
        while not await self._redis.set(key, owner, nx=True, px=_ms(ttl)):
            await anyio.sleep(_LOCK_POLL)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await self._run("release_lock", [key], [owner])

    async def cleanup(self, now: float) -> int:
        """Pending sign-ins, codes and tokens expire on their own in Redis; what is left is
        registered clients never used within a day of registering. How many went."""
        removed = await self._run(
            "drop_unused_clients",
            [self._p + "clients", self._p + "clients:unused"],
            [self._p, repr(now - self.unused_client_seconds)],
        )
        return int(removed)

    async def close(self) -> None:
        # Shielded: a server's shutdown may close the store inside a cancelled scope, and a
        # close cut short leaves its connections open.
        with anyio.CancelScope(shield=True):
            await self._redis.aclose()


def _ms(seconds: float) -> int:
    """A Unix time in milliseconds, rounded up: a key never expires before its object."""
    return math.ceil(seconds * 1000)


def _refresh_hash(tokens: Sequence[TokenRecord]) -> str | None:
    return next((t.token_hash for t in tokens if t.kind == "refresh"), None)


def _token_args(tokens: Sequence[TokenRecord]) -> list[Any]:
    args: list[Any] = [len(tokens)]
    for t in tokens:
        expires = str(_ms(t.expires_at)) if t.expires_at is not None else ""
        revoked = "1" if t.revoked else "0"
        args += [t.token_hash, t.grant_id, json.dumps(asdict(t)), revoked, expires]
    return args


def _code(fields: Sequence[Any]) -> CodeRecord:
    data, _used, redeemed_at, answer, issued_refresh = fields
    record = CodeRecord(**json.loads(cast(str, data)))
    if redeemed_at is not None:
        record.redeemed_at = float(redeemed_at)
        record.answer, record.issued_refresh = answer, issued_refresh
    return record


def _token(fields: Sequence[Any]) -> TokenRecord:
    data, revoked, rotated_at, answer, successor = fields
    record = TokenRecord(**json.loads(cast(str, data)))
    record.revoked = revoked == "1"
    if rotated_at is not None:
        record.rotated_at = float(rotated_at)
        record.answer, record.successor = answer, successor
    return record


def _outcome(outcome: str, record: R, used_at: float | None, now: float) -> Redemption[R]:
    """``again`` (decided by the script) carries the sealed answer; ``reused`` does not."""
    age = now - used_at if used_at is not None else float("inf")
    if outcome == "first":
        return Redemption("first", record)
    if outcome == "again":
        return Redemption("again", record, record.answer, age)
    return Redemption("reused", record, None, age)
