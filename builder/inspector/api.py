"""The inspector's JSON endpoints under ``/inspector/api/``.

Each endpoint but ``sign-in-problem`` is authorized by a client access token of this
server in the ``Authorization: Bearer`` header (never a cookie, so another site cannot
make a browser call it, and no CORS headers are sent) and answers about that token's own
grant only: there is no grant id in any URL or body. A token that is unknown, expired,
revoked, or issued for another resource gets 401. No answer carries a token value.

- ``GET  grant``   the token's scopes and expiry, the grant's scopes, expiry and refreshes
- ``GET  events``  the grant's recent events, then live ones (``text/event-stream``)
- ``POST expire``  mark the grant's upstream access token expired: the next call refreshes
- ``POST revoke``  end the grant: its client tokens stop working, the client signs in again
- ``POST sign-in-problem`` ``{"client_id", "state"}``: why the sign-in that client started
  with that state failed at the callback, if it did (knowing the state is the proof)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.provider import AccessToken
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from builder.inspector.events import Event, EventLog
from builder.inspector.signin import SignInProblems

if TYPE_CHECKING:
    from builder.auth.setup import OAuth

__all__ = ["InspectorApi"]

_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _json(body: dict[str, Any], status: int = 200, **headers: str) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers={**_NO_STORE, **headers})


def _refused(description: str, status: int = 401) -> JSONResponse:
    error = "invalid_token" if status == 401 else "invalid_request"
    return _json(
        {"error": error, "error_description": description},
        status,
        **({"WWW-Authenticate": f'Bearer error="{error}"'} if status == 401 else {}),
    )


class InspectorApi:
    """The endpoints, for one served connector's OAuth parts."""

    def __init__(
        self,
        oauth: OAuth,
        events: EventLog,
        problems: SignInProblems,
        *,
        heartbeat: float = 15.0,
    ) -> None:
        self.oauth = oauth
        self.events = events
        self.problems = problems
        self.heartbeat = heartbeat

    async def _caller(self, request: Request) -> tuple[AccessToken, str] | JSONResponse:
        """The bearer's token and grant id, or the refusal to send."""
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") != self.oauth.public_url:
            return _refused(f"requests come from {self.oauth.public_url} only", 403)
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not token:
            return _refused("a bearer token of this server is required")
        info = await self.oauth.server.load_access_token(token)
        grant = (info.claims or {}).get("grant") if info is not None else None
        if info is None or not isinstance(grant, str):
            return _refused("the bearer token is unknown, expired or revoked")
        if info.resource and info.resource.rstrip("/") != self.oauth.resource:
            return _refused(f"the bearer token is not for {self.oauth.resource}")
        return info, grant

    async def grant(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        info, grant_id = caller
        grant = await self.oauth.server.store.get_grant(grant_id)
        if grant is None:
            return _refused("the grant has ended")
        stats = self.events.stats(grant_id)
        connector = self.oauth.connector
        return _json(
            {
                "connector": {"name": connector.name, "title": connector.title},
                "token": {
                    "client_id": info.client_id,
                    "scopes": list(info.scopes),
                    "expires_at": info.expires_at,
                    "resource": info.resource,
                },
                "grant": {
                    "id": grant_id[:8],
                    "active": grant.active,
                    "scopes": list(grant.scopes),
                    "expires_at": grant.expires_at,
                    "issued_at": grant.issued_at or None,
                    "refreshable": grant.refresh_token is not None,
                    "refreshes": stats.refreshes,
                    "last_refresh_at": stats.last_refresh_at,
                    "last_refresh_error": stats.last_refresh_error,
                },
            }
        )

    async def expire(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        _, grant_id = caller
        done = await self.oauth.grants.expire_now(grant_id)
        if done is None:
            return _refused("the grant has ended")
        if not done:
            return _json({"error": "temporarily_unavailable"}, 409)
        self.events.add(
            grant_id,
            "action",
            text="The upstream access token was marked expired: the next tool call "
            "refreshes it at the provider's token endpoint.",
        )
        return _json({"expired": True})

    async def revoke(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        _, grant_id = caller
        await self.oauth.grants.end(grant_id, "revoked from the inspector")
        self.events.add(
            grant_id,
            "action",
            text="The grant was revoked: its tokens no longer work, the client must sign in again.",
        )
        self.events.end(grant_id)
        return _json({"revoked": True})

    async def events_stream(self, request: Request) -> Response:
        caller = await self._caller(request)
        if isinstance(caller, Response):
            return caller
        token = request.headers["authorization"][7:].strip()
        _, grant_id = caller

        async def stream() -> AsyncIterator[str]:
            with self.events.subscribe(grant_id) as live:
                yield ": connected\n\n"
                seen = 0
                for event in self.events.recent(grant_id):
                    seen = event.id
                    yield _sse(event)
                while True:
                    item: Event | None = None
                    with anyio.move_on_after(self.heartbeat) as waited:
                        try:
                            item = await live.receive()
                        except (anyio.EndOfStream, anyio.ClosedResourceError):
                            break
                    if waited.cancelled_caught:
                        if await self.oauth.server.load_access_token(token) is None:
                            break  # expired or revoked: this stream is over too
                        yield ": keep-alive\n\n"
                        continue
                    if item is None:
                        break
                    if item.id > seen:
                        yield _sse(item)
                yield "event: end\ndata: {}\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={**_NO_STORE, "X-Accel-Buffering": "no"},
        )

    async def sign_in_problem(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin.rstrip("/") != self.oauth.public_url:
            return _refused(f"requests come from {self.oauth.public_url} only", 403)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _refused('expected a JSON body {"client_id": ..., "state": ...}', 400)
        client_id = body.get("client_id") if isinstance(body, dict) else None
        state = body.get("state") if isinstance(body, dict) else None
        if not isinstance(client_id, str) or not isinstance(state, str):
            return _refused('expected a JSON body {"client_id": ..., "state": ...}', 400)
        return _json({"problem": self.problems.take(client_id, state)})


def _sse(event: Event) -> str:
    return f"id: {event.id}\ndata: {json.dumps(event.as_json())}\n\n"
