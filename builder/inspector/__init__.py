"""The inspector: a page at ``/inspector`` that signs in to this server's own ``/mcp`` as a
public OAuth client and shows both token layers, the tools with forms, the results, and
a live log of the JSON-RPC messages and the upstream exchanges of the user's calls.

Served only with ``serve --inspector`` or by ``dev`` (``ServeOptions.inspector``). Wiring
(see :func:`builder.server.serve.open_connector`)::

    inspector = Inspector(redactor)
    OAuth.create(..., upstream_transport=inspector.provider_transport(transport))
    inspector.attach(oauth, problems)
    ToolRunner(resolved, inspector.upstream(client))
    app routes += inspector.routes(); /mcp wrapped in inspector.tap(...)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from builder.inspector.api import InspectorApi
from builder.inspector.events import Event, EventLog, GrantStats
from builder.inspector.observe import McpTap, ObservedTransport, ObservedUpstream, acting_grant
from builder.inspector.routes import INSPECTOR_PATH, inspector_routes
from builder.inspector.signin import SignInProblems
from builder.tools.redact import Redactor
from builder.tools.transport import UpstreamClient

if TYPE_CHECKING:
    from builder.auth.setup import OAuth

__all__ = [
    "INSPECTOR_PATH",
    "Event",
    "EventLog",
    "GrantStats",
    "Inspector",
    "SignInProblems",
    "acting_grant",
]


class Inspector:
    """The inspector of one served connector: its event log, its observers, its routes."""

    def __init__(self, redactor: Redactor, *, events: EventLog | None = None) -> None:
        self.redactor = redactor
        self.events = events or EventLog()
        self.oauth: OAuth | None = None
        self.problems: SignInProblems | None = None

    def provider_transport(
        self, inner: httpx.AsyncBaseTransport | None
    ) -> httpx.AsyncBaseTransport:
        """The transport for the provider's token endpoint, recording refreshes."""
        return ObservedTransport(inner, self.events, self.redactor)

    def upstream(self, client: UpstreamClient) -> UpstreamClient:
        """The API client, recording each exchange for the grant it acts for."""
        return ObservedUpstream(client, self.events, self.redactor)

    def attach(self, oauth: OAuth, problems: SignInProblems) -> None:
        """The OAuth parts whose tokens authorize the API, and the sign-in problems seen."""
        self.oauth = oauth
        self.problems = problems

    def tap(self, app: ASGIApp) -> ASGIApp:
        """``app`` (``/mcp`` behind its gate) with each request's grant known downstream."""
        oauth = self.oauth
        if oauth is None:
            return app

        async def grant_of(token: str) -> str | None:
            info = await oauth.server.load_access_token(token)
            grant = (info.claims or {}).get("grant") if info is not None else None
            return grant if isinstance(grant, str) else None

        return McpTap(app, grant_of, self.events)

    def routes(self) -> list[BaseRoute]:
        api = None
        if self.oauth is not None and self.problems is not None:
            api = InspectorApi(self.oauth, self.events, self.problems)
        return inspector_routes(api)

    def close(self) -> None:
        """End the live event streams (the server is stopping)."""
        self.events.close()
