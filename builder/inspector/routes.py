"""The inspector's routes: the page, its static files, and the API (:mod:`.api`).

The page is plain HTML, CSS and ES modules shipped in the package (no build step). It
is served with a Content-Security-Policy that allows scripts, styles and connections
from this origin only (no inline script, no other origin) and no framing, and with
``Referrer-Policy: no-referrer`` so that the callback URL's code never leaves in a
Referer header.
"""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from builder.auth.limits import BodyLimit, wrap_route
from builder.inspector.api import InspectorApi

__all__ = [
    "INSPECTOR_API",
    "INSPECTOR_CALLBACK_PATH",
    "INSPECTOR_HEADERS",
    "INSPECTOR_PATH",
    "inspector_routes",
]

INSPECTOR_PATH = "/inspector"
INSPECTOR_CALLBACK_PATH = INSPECTOR_PATH + "/callback"
INSPECTOR_API = INSPECTOR_PATH + "/api"
_STATIC = INSPECTOR_PATH + "/static"

INSPECTOR_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
# The largest body the API takes: a small JSON object (sign-in-problem), else nothing.
_API_BODY_BYTES = 4096


def _static_files() -> dict[str, tuple[bytes, str]]:
    """Every file of ``builder/inspector/static`` by name, read once."""
    found: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("builder.inspector").joinpath("static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in _TYPES:
            found[entry.name] = (entry.read_bytes(), _TYPES[suffix])
    return found


def inspector_routes(api: InspectorApi | None) -> list[BaseRoute]:
    """The page at ``/inspector`` (and its OAuth callback), its files, and with ``api``
    (a connector with a provider) the endpoints under ``/inspector/api``."""
    files = _static_files()
    page, _ = files["index.html"]

    async def index(_: Request) -> Response:
        return Response(page, media_type=_TYPES[".html"], headers=INSPECTOR_HEADERS)

    async def static(request: Request) -> Response:
        found = files.get(request.path_params["name"])
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        body, media_type = found
        return Response(body, media_type=media_type, headers=INSPECTOR_HEADERS)

    routes: list[BaseRoute] = [
        Route(INSPECTOR_PATH, index, methods=["GET"]),
        Route(INSPECTOR_CALLBACK_PATH, index, methods=["GET"]),
        Route(_STATIC + "/{name:str}", static, methods=["GET"]),
    ]
    if api is not None:

        def capped(app: ASGIApp) -> ASGIApp:
            return BodyLimit(app, _API_BODY_BYTES)

        routes += [
            wrap_route(Route(INSPECTOR_API + "/grant", api.grant, methods=["GET"]), capped),
            wrap_route(
                Route(INSPECTOR_API + "/events", api.events_stream, methods=["GET"]), capped
            ),
            wrap_route(Route(INSPECTOR_API + "/expire", api.expire, methods=["POST"]), capped),
            wrap_route(Route(INSPECTOR_API + "/revoke", api.revoke, methods=["POST"]), capped),
            wrap_route(
                Route(INSPECTOR_API + "/sign-in-problem", api.sign_in_problem, methods=["POST"]),
                capped,
            ),
        ]
    return routes
