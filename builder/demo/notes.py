"""The demo's notes API under ``/api``: per-user notes in memory, behind bearer tokens.

``GET /api/notes?limit=&q=`` → ``{"items": [note, ...], "count": n}`` (newest first),
``POST /api/notes`` ``{"title", "body"?}`` → 201 note, ``GET /api/notes/{id}`` → note,
``DELETE /api/notes/{id}`` → 204. A note is ``{"id", "title", "body", "created_at",
"updated_at"}``. Reading needs ``notes.read``, writing ``notes.write``; tokens are checked
by Authlib's ``ResourceProtector`` with the demo's ``BearerTokenValidator``.
"""

from __future__ import annotations

import itertools
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2 import OAuth2Error, ResourceProtector
from authlib.oauth2.rfc6749 import JsonRequest, MissingAuthorizationError
from authlib.oauth2.rfc6750 import InsufficientScopeError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from builder.demo.models import Token

__all__ = ["NotesApi", "NotesStore"]

logger = logging.getLogger("mcpbuild.demo")

READ, WRITE = "notes.read", "notes.write"
REALM = "demo-notes"
MAX_BODY_BYTES = 64 * 1024
SEED = (
    ("Welcome to Demo notes", "These notes live in memory in the demo notes service."),
    ("Shopping list", "Milk, bread, coffee, lemons."),
    ("Ideas", "Ask the assistant to summarise these notes, or to add one."),
)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class NotesStore:
    """Each user's notes; a new user starts with a few seeded notes."""

    notes: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def of(self, user: str) -> dict[str, dict[str, Any]]:
        if user not in self.notes:
            self.notes[user] = {}
            for title, body in SEED:
                self.add(user, title, body)
        return self.notes[user]

    def add(self, user: str, title: str, body: str = "") -> dict[str, Any]:
        notes = self.of(user)  # seeds first: a new user's own note is the newest
        now = _now()
        note = {"id": str(next(self.ids)), "title": title, "body": body}
        note |= {"created_at": now, "updated_at": now}
        notes[note["id"]] = note
        return note

    def newest_first(self, user: str) -> list[dict[str, Any]]:
        return sorted(
            self.of(user).values(), key=lambda n: (n["updated_at"], int(n["id"])), reverse=True
        )


def _error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _challenge(error: OAuth2Error, scope: str) -> JSONResponse:
    """RFC 6750 section 3: no error code when no token came, else the token's fault."""
    params = [f'realm="{REALM}"']
    if isinstance(error, InsufficientScopeError):
        status, code, description = 403, "insufficient_scope", f"this needs the {scope} scope"
        params += [f'error="{code}"', f'scope="{scope}"']
    elif isinstance(error, MissingAuthorizationError):
        status, code, description = 401, "unauthorized", "a Bearer access token is required"
    else:
        status, code, description = 401, "invalid_token", "the access token is not valid"
        params.append(f'error="{code}"')
    response = _error(status, code, description)
    response.headers["WWW-Authenticate"] = "Bearer " + ", ".join(params)
    return response


class NotesApi:
    """The ``/api`` routes over a :class:`NotesStore`."""

    def __init__(self, protector: ResourceProtector, store: NotesStore | None = None) -> None:
        self.protector = protector
        self.store = store or NotesStore()

    def routes(self) -> list[Route]:
        return [
            Route("/api/notes", self.list_notes, methods=["GET"]),
            Route("/api/notes", self.create_note, methods=["POST"]),
            Route("/api/notes/{note_id}", self.get_note, methods=["GET"]),
            Route("/api/notes/{note_id}", self.delete_note, methods=["DELETE"]),
        ]

    def _user(self, request: Request, scope: str) -> str | JSONResponse:
        """The token's user, or the 401/403 answer."""
        try:
            token: Token = self.protector.validate_request(
                [scope], JsonRequest(request.method, str(request.url), request.headers)
            )
        except OAuth2Error as error:
            logger.info(
                "demo notes: API request refused",
                extra={"path": request.url.path, "error": error.error},
            )
            return _challenge(error, scope)
        logger.info(
            "demo notes: API request",
            extra={"method": request.method, "path": request.url.path, "user": token.user.username},
        )
        return token.user.username

    async def list_notes(self, request: Request) -> Response:
        user = self._user(request, READ)
        if isinstance(user, Response):
            return user
        try:
            limit = int(request.query_params.get("limit", "20"))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            return _error(400, "invalid_request", "limit must be an integer from 1 to 100")
        notes = self.store.newest_first(user)
        q = request.query_params.get("q", "").lower()
        if q:
            notes = [n for n in notes if q in n["title"].lower() or q in n["body"].lower()]
        return JSONResponse({"items": notes[:limit], "count": len(notes)})

    async def get_note(self, request: Request) -> Response:
        user = self._user(request, READ)
        if isinstance(user, Response):
            return user
        note = self.store.of(user).get(request.path_params["note_id"])
        if note is None:
            return _error(404, "not_found", f"no note with id {request.path_params['note_id']}")
        return JSONResponse(note)

    async def create_note(self, request: Request) -> Response:
        user = self._user(request, WRITE)
        if isinstance(user, Response):
            return user
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return _error(413, "too_large", f"the body is over {MAX_BODY_BYTES} bytes")
        try:
            data = json.loads(await request.body())
        except ValueError:
            return _error(400, "invalid_request", "expected a JSON object")
        if not isinstance(data, dict):
            return _error(400, "invalid_request", "expected a JSON object")
        title, body = data.get("title"), data.get("body", "")
        if not isinstance(title, str) or not 1 <= len(title.strip()) <= 200:
            return _error(400, "invalid_request", "title: expected 1 to 200 characters")
        if not isinstance(body, str) or len(body) > 20_000:
            return _error(400, "invalid_request", "body: expected up to 20000 characters")
        note = self.store.add(user, title.strip(), body)
        return JSONResponse(note, status_code=201, headers={"Location": f"/api/notes/{note['id']}"})

    async def delete_note(self, request: Request) -> Response:
        user = self._user(request, WRITE)
        if isinstance(user, Response):
            return user
        if self.store.of(user).pop(request.path_params["note_id"], None) is None:
            return _error(404, "not_found", f"no note with id {request.path_params['note_id']}")
        return Response(status_code=204)
