"""The demo notes service: one Starlette app that is both an OAuth 2.0 authorization
server (Authlib's server side) and the notes API it protects.

    service = NotesService(DemoConfig(redirect_uri="http://127.0.0.1:8000/oauth/callback"))
    app = service.app()   # /oauth/*, /api/notes*, /healthz, /

One confidential client is registered: mcpbuild, with a client id and secret generated at
start (``config.client_id``, ``config.client_secret``) and the one redirect URI.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from authlib.oauth2 import ResourceProtector
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from builder.demo.authserver import DemoAuthorizationServer, DemoBearerTokenValidator
from builder.demo.endpoints import OAuthEndpoints
from builder.demo.models import DemoClient, DemoState
from builder.demo.notes import REALM, NotesApi, NotesStore
from builder.demo.pages import home_page

__all__ = ["DemoConfig", "NotesService"]


@dataclass(frozen=True)
class DemoConfig:
    """The registered client and token lifetimes."""

    redirect_uri: str
    client_id: str = field(default_factory=lambda: "mcpbuild-demo-" + secrets.token_hex(4))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    access_token_ttl: int = 3600


class NotesService:
    """The authorization server, the notes API and their in-memory state."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.state = DemoState()
        self.state.clients[config.client_id] = DemoClient(
            client_id=config.client_id,
            client_secret=config.client_secret,
            redirect_uris=(config.redirect_uri,),
        )
        self.server = DemoAuthorizationServer(self.state, access_token_ttl=config.access_token_ttl)
        self.protector = ResourceProtector()
        self.protector.register_token_validator(DemoBearerTokenValidator(self.state, realm=REALM))
        self.notes = NotesStore()

    def app(self) -> Starlette:
        """The ASGI app; it answers only to loopback host names."""

        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok")

        async def home(request: Request) -> Response:
            return home_page(str(request.base_url).rstrip("/"))

        routes = [
            Route("/", home, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            *OAuthEndpoints(self.server).routes(),
            *NotesApi(self.protector, self.notes).routes(),
        ]
        return Starlette(
            routes=routes,
            middleware=[
                Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost"])
            ],
        )
