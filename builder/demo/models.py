"""What the demo authorization server keeps, in memory: its client, codes, tokens and sign-ins.

The classes implement the duck-typed model interfaces Authlib's server side calls
(``ClientMixin``, ``AuthorizationCodeMixin``, ``TokenMixin``); nothing is persisted, so a
restart of the demo signs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

__all__ = [
    "SCOPES",
    "AuthorizationCode",
    "DemoClient",
    "DemoState",
    "DemoUser",
    "SignIn",
    "Token",
]

SCOPES: dict[str, str] = {
    "notes.read": "Read your notes",
    "notes.write": "Create, change and delete your notes",
}

CODE_TTL = 300.0
SIGN_IN_TTL = 600.0


@dataclass(frozen=True)
class DemoUser:
    """A user of the demo; the name is all there is (no password: it is a local demo)."""

    username: str

    def get_user_id(self) -> str:
        return self.username


@dataclass(frozen=True)
class DemoClient:
    """The one registered client: mcpbuild, confidential, with one redirect URI."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    client_name: str = "mcpbuild"
    scopes: tuple[str, ...] = tuple(SCOPES)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client may have; all of its scopes when none is asked."""
        if not scope:
            return " ".join(self.scopes)
        return " ".join(s for s in dict.fromkeys(scope.split()) if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class AuthorizationCode:
    """An issued code with its PKCE challenge; single use."""

    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    user: DemoUser
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float = field(default_factory=lambda: time.time() + CODE_TTL)

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at


@dataclass
class Token:
    """An access token and its refresh token; ``family`` links the rotations of one sign-in."""

    access_token: str
    refresh_token: str | None
    client_id: str
    user: DemoUser
    scope: str
    expires_in: int
    family: str
    issued_at: float = field(default_factory=time.time)
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: DemoClient) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> DemoUser:
        return self.user

    def revoke(self) -> None:
        self.access_revoked = True
        self.refresh_revoked = True


@dataclass
class SignIn:
    """An authorization request waiting for the user to press "Sign in"."""

    url: str
    params: list[tuple[str, str]]
    expires_at: float = field(default_factory=lambda: time.time() + SIGN_IN_TTL)


@dataclass
class DemoState:
    """Everything the demo authorization server holds."""

    clients: dict[str, DemoClient] = field(default_factory=dict)
    codes: dict[str, AuthorizationCode] = field(default_factory=dict)
    by_access: dict[str, Token] = field(default_factory=dict)
    by_refresh: dict[str, Token] = field(default_factory=dict)
    sign_ins: dict[str, SignIn] = field(default_factory=dict)

    def save_token(self, token: Token) -> None:
        self.by_access[token.access_token] = token
        if token.refresh_token:
            self.by_refresh[token.refresh_token] = token

    def take_code(self, code: str) -> AuthorizationCode | None:
        """The code, removed: it is consumed by its first use, successful or not."""
        item = self.codes.pop(code, None)
        return None if item is None or item.is_expired() else item

    def revoke_family(self, family: str) -> int:
        """Revoke every token of one sign-in (a rotated refresh token came back)."""
        tokens = [t for t in self.by_access.values() if t.family == family]
        for token in tokens:
            token.revoke()
        return len(tokens)

    def new_sign_in(self, url: str, params: list[tuple[str, str]]) -> str:
        now = time.time()
        for key in [k for k, v in self.sign_ins.items() if v.expires_at <= now]:
            del self.sign_ins[key]
        ticket = secrets.token_urlsafe(24)
        self.sign_ins[ticket] = SignIn(url, params)
        return ticket

    def get_sign_in(self, ticket: str) -> SignIn | None:
        item = self.sign_ins.get(ticket)
        return None if item is None or item.expires_at <= time.time() else item
