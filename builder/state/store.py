"""All authorization state behind one interface: clients, pending authorizations, codes,
client tokens and grants (which hold the user's upstream tokens, encrypted).

The embedded default is :class:`builder.state.sqlite.SQLiteStore`; a shared store (Redis)
implements the same Protocol so that any replica can serve any request.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from builder.errors import ClientLimitReached

# ClientLimitReached is defined in builder.errors, with the rest of the tree; re-exported here.
__all__ = [
    "ClientLimitReached",
    "CodeRecord",
    "Grant",
    "Pending",
    "Redemption",
    "Store",
    "TokenRecord",
]


@dataclass
class Pending:
    """An authorization in progress: from the client's /authorize to the provider's callback."""

    id: str
    client_id: str
    redirect_uri: str
    redirect_uri_explicit: bool
    code_challenge: str
    state: str | None
    scopes: list[str]
    resource: str | None
    expires_at: float
    csrf: str
    upstream_state: str | None = None
    upstream_verifier: str | None = None
    binding: str | None = None
    """Hash of the cookie set in the browser that approved consent; the provider's
    callback must come from that browser."""
    user: str | None = None
    """Who approved, as far as this server can tell (see ``builder.auth.consent``)."""


@dataclass
class CodeRecord:
    """One of our authorization codes, stored by hash, bound to a grant."""

    code_hash: str
    client_id: str
    grant_id: str
    scopes: list[str]
    resource: str | None
    redirect_uri: str
    redirect_uri_explicit: bool
    code_challenge: str
    expires_at: float
    redeemed_at: float | None = None
    answer: str | None = None
    """The token response it was redeemed for, sealed with a key derived from the code
    (:func:`builder.state.crypto.seal_answer`): a client that posts it again gets it again."""
    issued_refresh: str | None = None
    """Hash of the refresh token issued for it."""


@dataclass
class TokenRecord:
    """One of our access or refresh tokens, stored by hash, bound to a grant."""

    token_hash: str
    kind: Literal["access", "refresh"]
    client_id: str
    grant_id: str
    scopes: list[str]
    resource: str | None
    expires_at: float | None
    revoked: bool = False
    auth_time: float | None = None
    """When the user signed in: a refresh token's absolute lifetime counts from here."""
    rotated_at: float | None = None
    """When this refresh token was exchanged for its successor (it is then revoked)."""
    answer: str | None = None
    """The token response it was rotated into, sealed with a key derived from it."""
    successor: str | None = None
    """Hash of the refresh token that replaced it."""


R = TypeVar("R", CodeRecord, TokenRecord)


@dataclass
class Redemption(Generic[R]):
    """What presenting a code or a refresh token came to, decided atomically by the store.

    ``first``: its first use; the tokens issued with it are stored. ``again``: used before,
    ``age`` seconds ago, within the window, and what it was redeemed for is still live:
    ``answer`` is that response, sealed. ``reused``: used before, outside the window (or
    its successor has moved on). ``ended``: revoked without being used (its grant ended or
    it was revoked). ``unknown``: no such code or token.
    """

    outcome: Literal["first", "again", "reused", "ended", "unknown"]
    record: R | None = None
    answer: str | None = None
    age: float = 0.0


@dataclass
class Grant:
    """A user's consent: the upstream tokens (encrypted) that tool calls use."""

    grant_id: str
    client_id: str
    scopes: list[str]
    access_token: str  # encrypted
    refresh_token: str | None  # encrypted
    expires_at: float | None
    issued_at: float = 0.0
    version: int = 1
    active: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


class Store(Protocol):
    """The state store. Operations named ``take_*`` are atomic: of two concurrent callers,
    exactly one gets the first use."""

    async def save_client(self, client_id: str, info: dict[str, Any]) -> None:
        """Register a client. At the store's cap on clients, the oldest never-used one goes
        to make room; when every one has been used, raise :class:`ClientLimitReached`."""
        ...

    async def get_client(self, client_id: str) -> dict[str, Any] | None: ...
    async def touch_client(self, client_id: str) -> None:
        """Mark the client used (an authorization code was issued to it): used clients do
        not expire and are not dropped for room. Unknown ids are ignored."""
        ...

    async def client_used(self, client_id: str) -> bool:
        """Whether an authorization code was ever issued to this registered client."""
        ...

    async def save_pending(self, pending: Pending) -> None: ...
    async def get_pending(self, pending_id: str) -> Pending | None: ...
    async def take_pending_by_state(self, upstream_state: str) -> Pending | None: ...
    async def delete_pending(self, pending_id: str) -> None: ...

    async def save_code(self, code: CodeRecord) -> None: ...
    async def get_code(self, code_hash: str) -> CodeRecord | None: ...
    async def redeem_code(
        self,
        code_hash: str,
        *,
        issued: Sequence[TokenRecord],
        answer: str,
        window: float,
        now: float,
    ) -> Redemption[CodeRecord]:
        """Mark the code used and store ``issued`` (the tokens in ``answer``), in one step,
        if it is unused; otherwise say whether this is a use ``again`` within ``window``
        seconds of the first, while the refresh token issued then is still active."""
        ...

    async def save_token(self, token: TokenRecord) -> None: ...
    async def get_token(self, token_hash: str) -> TokenRecord | None: ...
    async def rotate_refresh(
        self,
        token_hash: str,
        *,
        issued: Sequence[TokenRecord],
        answer: str,
        window: float,
        now: float,
    ) -> Redemption[TokenRecord]:
        """Revoke the refresh token and store its successors ``issued`` (the tokens in
        ``answer``), in one step, if it is active; otherwise say whether this is a use
        ``again`` within ``window`` seconds of its rotation while its successor is still
        active, a reuse, or a token whose grant ``ended``."""
        ...

    async def revoke_token(self, token_hash: str) -> TokenRecord | None: ...

    async def save_grant(self, grant: Grant) -> None: ...
    async def get_grant(self, grant_id: str) -> Grant | None: ...
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
        """Compare-and-set of the upstream tokens; False when another writer came first."""
        ...

    async def end_grant(self, grant_id: str) -> None:
        """Deactivate the grant and revoke every client token bound to it."""
        ...

    async def count_active_grants(self) -> int:
        """How many grants are active (signed in, not ended): the ``mcpbuild_active_grants``
        gauge, read at scrape time, so it must stay cheap (a count, not a scan of records)."""
        ...

    def refresh_lock(self, grant_id: str, *, ttl: float) -> AbstractAsyncContextManager[None]:
        """Held by one process at a time per grant while it refreshes the grant's upstream
        tokens, so that processes sharing the store call the provider once; it lapses after
        ``ttl`` seconds, so a holder that crashed blocks the grant no longer than that."""
        ...

    async def cleanup(self, now: float) -> int:
        """Delete expired pending authorizations, codes and tokens, and registered clients
        never used within a day of registering; how many rows went."""
        ...

    async def close(self) -> None: ...
