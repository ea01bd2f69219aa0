"""The user's upstream tokens: decrypted on use, refreshed one at a time per grant."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import overload

import anyio

from builder import explain
from builder.errors import ConfigError, GrantEnded, ToolCallError
from builder.provider.client import ProviderError, UpstreamOAuth, UpstreamTokens
from builder.provider.values import check_grant_value
from builder.state.crypto import Cipher
from builder.state.store import Grant, Store

# GrantEnded is defined in builder.errors, with the rest of the tree; re-exported here.
__all__ = ["REFRESH_LOCK_TTL", "GrantCredentials", "GrantEnded", "GrantManager"]

logger = logging.getLogger("mcpbuild.grants")

# Refresh this long before the upstream says the token expires, at most: a tenth of the
# token's lifetime for short-lived tokens.
_EARLY = 30.0
# The longest a refresh may hold the cross-process lock, by default: longer than the provider
# client's timeout, so a slow refresh keeps it, and short enough that a crashed holder is
# soon done (``serve --refresh-lock-ttl``).
REFRESH_LOCK_TTL = 45.0


def _due(grant: Grant, now: float) -> bool:
    if grant.expires_at is None:
        return False
    lifetime = grant.expires_at - grant.issued_at if grant.issued_at else _EARLY * 10
    return grant.expires_at - min(_EARLY, lifetime / 10) <= now


@dataclass
class _RefreshLock:
    lock: anyio.Lock = field(default_factory=anyio.Lock)
    users: int = 0  # holding or waiting


@dataclass
class _Current:
    token: str
    version: int


class GrantManager:
    """Creates grants, hands out valid upstream access tokens, and refreshes them.

    Refreshes are serialised per grant, in this process by a lock and across replicas by
    the store's compare-and-set on the grant's version: concurrent calls that all find the
    token expired cause exactly one request to the provider.
    """

    def __init__(
        self,
        store: Store,
        cipher: Cipher,
        upstream: UpstreamOAuth,
        *,
        lock_ttl: float = REFRESH_LOCK_TTL,
    ) -> None:
        self.store = store
        self.cipher = cipher
        self.upstream = upstream
        # How long a crashed refresher can block its grant's refreshes on other processes.
        self.lock_ttl = lock_ttl
        self._locks: dict[str, _RefreshLock] = {}
        # Told "ok", "failed" or "ended" after each refresh at the provider (metrics).
        self.on_refresh: Callable[[str], None] = lambda result: None
        # Decrypted access tokens by grant, keyed on the grant's version: AES-GCM per call
        # is measurable on the hot path, and a refresh bumps the version.
        self._plain: dict[str, tuple[int, str]] = {}
        # Grant values never change after sign-in; a new sign-in is a new grant id.
        self._values: dict[str, Mapping[str, str]] = {}

    async def create(
        self,
        grant_id: str,
        client_id: str,
        tokens: UpstreamTokens,
        scopes: list[str],
        *,
        user: str | None = None,
    ) -> Grant:
        grant = Grant(
            grant_id=grant_id,
            client_id=client_id,
            scopes=tokens.scopes if tokens.scopes is not None else scopes,
            access_token=self._seal(tokens.access_token, grant_id),
            refresh_token=self._seal(tokens.refresh_token, grant_id),
            expires_at=tokens.expires_at,
            issued_at=time.time(),
            extra={"user": user} if user else {},
        )
        if tokens.values:
            # Sealed like the tokens: an instance URL or a site id says whose data it is.
            grant.extra["values"] = self.cipher.encrypt(
                json.dumps(dict(tokens.values)), context=grant_id
            )
        await self.store.save_grant(grant)
        return grant

    async def values(self, grant_id: str) -> Mapping[str, str]:
        """The grant's ``${grant.NAME}`` values, each checked again against its rule."""
        known = self._values.get(grant_id)
        if known is not None:
            return known
        grant = await self._active(grant_id)
        sealed = grant.extra.get("values")
        values: dict[str, str] = (
            json.loads(await self._decrypt(sealed, context=grant_id)) if sealed else {}
        )
        for name, spec in self.upstream.grant_values.items():
            if name not in values:
                raise GrantEnded(
                    f"this sign-in has no value '{name}' (the connector started needing it "
                    "after the sign-in); sign in again"
                )
            problem = check_grant_value(spec, values[name])
            if problem:
                raise ToolCallError(f"the sign-in's value '{name}' cannot be used: {problem}")
        if len(self._values) > 10_000:
            self._values.clear()
        self._values[grant_id] = values
        return values

    @overload
    def _seal(self, token: str, grant_id: str) -> str: ...
    @overload
    def _seal(self, token: str | None, grant_id: str) -> str | None: ...
    def _seal(self, token: str | None, grant_id: str) -> str | None:
        return self.cipher.encrypt(token, context=grant_id) if token else None

    async def access_token(self, grant_id: str) -> _Current:
        """A usable upstream access token, refreshed first when it is about to expire."""
        grant = await self._active(grant_id)
        if _due(grant, time.time()):
            return await self.refresh(grant_id, seen_version=grant.version)
        known = self._plain.get(grant_id)
        if known is not None and known[0] == grant.version:
            return _Current(known[1], grant.version)
        token = await self._decrypt(grant.access_token, context=grant_id)
        if len(self._plain) > 10_000:
            self._plain.clear()
        self._plain[grant_id] = (grant.version, token)
        return _Current(token, grant.version)

    async def refresh(self, grant_id: str, *, seen_version: int) -> _Current:
        """Refresh unless someone already did since ``seen_version``."""
        # In this process, then across the processes sharing the store; whoever waited
        # reads the grant again and takes the token the holder saved.
        async with (
            self._refresh_lock(grant_id),
            self.store.refresh_lock(grant_id, ttl=self.lock_ttl),
        ):
            grant = await self._active(grant_id)
            if grant.version != seen_version:
                return _Current(
                    await self._decrypt(grant.access_token, context=grant_id), grant.version
                )
            if grant.refresh_token is None:
                await self.end(
                    grant_id, "the upstream token expired and the provider gave no refresh token"
                )
                raise GrantEnded("the sign-in with the provider has expired")
            refresh_token = await self._decrypt(grant.refresh_token, context=grant_id)
            try:
                tokens = await self.upstream.refresh(refresh_token)
            except ProviderError as exc:
                self.on_refresh("ended" if exc.grant_ended else "failed")
                if exc.grant_ended:
                    if exc.error == "invalid_grant":
                        explain.explain(
                            explain.upstream_invalid_grant(exc.error), grant=grant_id[:8]
                        )
                    await self.end(grant_id, f"provider answered {exc.error}")
                    raise GrantEnded(
                        "the provider ended this sign-in (the access was revoked or expired)"
                    ) from None
                raise ToolCallError(
                    f"could not refresh the sign-in with the provider ({exc.error}); try again"
                ) from None
            self.on_refresh("ok")
            # Saved at once: a rotated refresh token is the only one that works from now on.
            saved = await self.store.replace_grant_tokens(
                grant_id,
                expected_version=grant.version,
                access_token=self._seal(tokens.access_token, grant_id),
                refresh_token=self._seal(tokens.refresh_token, grant_id),
                expires_at=tokens.expires_at,
                issued_at=time.time(),
            )
            if not saved:
                logger.warning("grant changed during refresh", extra={"grant": grant_id[:8]})
                fresh = await self._active(grant_id)
                return _Current(
                    await self._decrypt(fresh.access_token, context=grant_id), fresh.version
                )
            logger.info("upstream token refreshed", extra={"grant": grant_id[:8]})
            return _Current(tokens.access_token, grant.version + 1)

    @contextlib.asynccontextmanager
    async def _refresh_lock(self, grant_id: str) -> AsyncIterator[None]:
        # An entry lives while someone holds or waits for its lock, so the map holds only
        # the grants being refreshed right now. Counted here rather than read from the lock,
        # so a task that took the entry but has not yet queued on it still keeps it.
        entry = self._locks.get(grant_id)
        if entry is None:
            entry = self._locks[grant_id] = _RefreshLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[grant_id]

    async def _decrypt(self, sealed: str, *, context: str) -> str:
        """A stored token in clear; a token this key cannot open ends its grant (the key
        changed), so the client is sent to sign in again instead of failing forever."""
        try:
            return self.cipher.decrypt(sealed, context=context)
        except ConfigError:
            logger.error(
                "stored grant cannot be decrypted: MCPBUILD_SECRET_KEY is not the key it was "
                "stored with (the key changed?); the grant is ended and the user must sign in "
                "again",
                extra={"grant": context[:8]},
            )
            await self.store.end_grant(context)
            raise GrantEnded(
                "this sign-in can no longer be used (the server's key changed)"
            ) from None

    async def expire_now(self, grant_id: str) -> bool | None:
        """Mark the grant's upstream access token expired, so that the next call refreshes
        it (the inspector's button). True when done, None when the grant has ended, False
        when a refresh running right now kept winning the compare-and-set."""
        for _ in range(3):
            grant = await self.store.get_grant(grant_id)
            if grant is None or not grant.active:
                return None
            if await self.store.replace_grant_tokens(
                grant_id,
                expected_version=grant.version,
                access_token=grant.access_token,
                refresh_token=grant.refresh_token,
                expires_at=time.time() - 60,
                issued_at=grant.issued_at,
            ):
                return True
        return False

    async def end(self, grant_id: str, why: str) -> None:
        logger.warning(
            "sign-in with the provider ended; the client must sign in again",
            extra={"grant": grant_id[:8], "reason": why},
        )
        await self.store.end_grant(grant_id)

    async def _active(self, grant_id: str) -> Grant:
        grant = await self.store.get_grant(grant_id)
        if grant is None or not grant.active:
            raise GrantEnded("this sign-in has ended")
        return grant


class GrantCredentials:
    """:class:`builder.tools.call.Credentials` for one tool call made under a grant."""

    def __init__(self, manager: GrantManager, grant_id: str) -> None:
        self.manager = manager
        self.grant_id = grant_id
        self._version = 0

    async def headers(self) -> Mapping[str, str]:
        current = await self.manager.access_token(self.grant_id)
        self._version = current.version
        return {"Authorization": f"Bearer {current.token}"}

    async def rejected(self) -> bool:
        await self.manager.refresh(self.grant_id, seen_version=self._version)
        return True

    async def values(self) -> Mapping[str, str]:
        """The grant's ``${grant.NAME}`` values."""
        return await self.manager.values(self.grant_id)
