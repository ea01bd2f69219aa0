"""A small real "notes" API for tests, protected by the test provider's opaque tokens.

Every request must carry ``Authorization: Bearer <token>``; the API asks the provider's
introspection endpoint about the token on every request (no caching, so expiry and revocation
show at once) and answers RFC 6750 errors: 401 ``invalid_token`` for an inactive token,
403 ``insufficient_scope`` when ``notes.read`` (GET) or ``notes.write`` (POST, DELETE) is
missing. Notes are kept in memory per user (the token's ``sub``).

    app, state = notes_app(provider.introspection_endpoint, client_id, client_secret)
    async with running(app) as base: ...   # GET/POST {base}/api/notes, GET/DELETE .../{id}

``state`` records every request (method, path, Authorization header) so tests can assert
which token reached the API.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

READ_SCOPE = "notes.read"
WRITE_SCOPE = "notes.write"


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None
    status: int = 0


@dataclass
class NotesState:
    """What the API holds and saw."""

    notes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # user -> id -> note
    seen: list[Seen] = field(default_factory=list)  # every /api request, in order
    counts: Counter[str] = field(default_factory=Counter)  # "GET /api/notes" -> n, ...
    introspections: int = 0
    refuse_once: set[str] = field(default_factory=set)  # answered 401 once, then as usual
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def requests(self) -> int:
        return len(self.seen)

    def authorizations(self) -> list[str | None]:
        """Every request's Authorization header (None when absent), in order."""
        return [s.authorization for s in self.seen]

    def bearer_tokens(self) -> list[str]:
        """The bearer tokens the API was shown, in order."""
        out = []
        for s in self.seen:
            if s.authorization and s.authorization[:7].lower() == "bearer ":
                out.append(s.authorization[7:].strip())
        return out

    def add(self, user: str, title: str, body: str = "") -> dict[str, Any]:
        """Seed a note for ``user`` directly."""
        note = {"id": str(next(self.ids)), "title": title, "body": body, "owner": user}
        self.notes.setdefault(user, {})[note["id"]] = note
        return note


def _challenge(
    status: int, error: str | None, description: str, scope: str | None = None
) -> Response:
    params = ['realm="notes"']
    if error:
        params.append(f'error="{error}"')
        params.append(f'error_description="{description}"')
    if scope:
        params.append(f'scope="{scope}"')
    body = {"error": error or "unauthorized", "error_description": description}
    return JSONResponse(
        body, status_code=status, headers={"WWW-Authenticate": "Bearer " + ", ".join(params)}
    )


def notes_app(
    introspection_url: str,
    client_id: str,
    client_secret: str,
    *,
    audience: str | None = None,
) -> tuple[Starlette, NotesState]:
    """Build the notes API; ``audience`` (if given) must be the token's ``aud``."""
    state = NotesState()
    http: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(auth=(client_id, client_secret), timeout=10) as client:
            http["client"] = client
            yield
            http.clear()

    async def introspect(token: str) -> dict[str, Any]:
        state.introspections += 1
        client = http.get("client")
        if client is None:  # run without lifespan
            async with httpx.AsyncClient(auth=(client_id, client_secret), timeout=10) as c:
                response = await c.post(introspection_url, data={"token": token})
        else:
            response = await client.post(introspection_url, data={"token": token})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def authorize(request: Request, needed: str) -> str | Response:
        """The user (``sub``) the token stands for, or the error response."""
        header = request.headers.get("authorization")
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _challenge(401, None, "bearer token required")
        if token in state.refuse_once:  # a token the API stops trusting before it expires
            state.refuse_once.discard(token)
            return _challenge(401, "invalid_token", "the access token was refused")
        try:
            info = await introspect(token)
        except httpx.HTTPError:
            return JSONResponse({"error": "introspection_failed"}, status_code=502)
        if not info.get("active") or info.get("token_type") not in (None, "Bearer"):
            return _challenge(401, "invalid_token", "the access token is not active")
        if audience is not None and audience not in _as_list(info.get("aud")):
            return _challenge(401, "invalid_token", "the access token is for another audience")
        if needed not in str(info.get("scope") or "").split():
            return _challenge(403, "insufficient_scope", f"{needed} required", needed)
        sub = info.get("sub")
        if not isinstance(sub, str) or not sub:
            return _challenge(401, "invalid_token", "the access token has no subject")
        return sub

    def record(request: Request, route: str) -> Seen:
        seen = Seen(request.method, request.url.path, request.headers.get("authorization"))
        state.seen.append(seen)
        state.counts[f"{request.method} {route}"] += 1
        return seen

    def done(seen: Seen, response: Response) -> Response:
        seen.status = response.status_code
        return response

    def not_found() -> Response:
        return JSONResponse({"error": "not_found"}, status_code=404)

    async def list_notes(request: Request) -> Response:
        seen = record(request, "/api/notes")
        user = await authorize(request, READ_SCOPE)
        if isinstance(user, Response):
            return done(seen, user)
        return done(seen, JSONResponse({"notes": list(state.notes.get(user, {}).values())}))

    async def get_note(request: Request) -> Response:
        seen = record(request, "/api/notes/{id}")
        user = await authorize(request, READ_SCOPE)
        if isinstance(user, Response):
            return done(seen, user)
        note = state.notes.get(user, {}).get(request.path_params["id"])
        return done(seen, JSONResponse(note) if note else not_found())

    async def create_note(request: Request) -> Response:
        seen = record(request, "/api/notes")
        user = await authorize(request, WRITE_SCOPE)
        if isinstance(user, Response):
            return done(seen, user)
        try:
            data = await request.json()
        except ValueError:
            data = None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("title"), str)
            or not data["title"].strip()
            or not isinstance(data.get("body", ""), str)
        ):
            return done(
                seen,
                JSONResponse(
                    {"error": "invalid_request", "error_description": "title (and body) strings"},
                    status_code=400,
                ),
            )
        note = state.add(user, data["title"], data.get("body", ""))
        return done(seen, JSONResponse(note, status_code=201))

    async def delete_note(request: Request) -> Response:
        seen = record(request, "/api/notes/{id}")
        user = await authorize(request, WRITE_SCOPE)
        if isinstance(user, Response):
            return done(seen, user)
        if state.notes.get(user, {}).pop(request.path_params["id"], None) is None:
            return done(seen, not_found())
        return done(seen, Response(status_code=204))

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/api/notes", list_notes, methods=["GET"]),
            Route("/api/notes", create_note, methods=["POST"]),
            Route("/api/notes/{id}", get_note, methods=["GET"]),
            Route("/api/notes/{id}", delete_note, methods=["DELETE"]),
        ],
        lifespan=lifespan,
    )
    return app, state


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
