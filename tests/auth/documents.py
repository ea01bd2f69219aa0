"""Client ID metadata documents served over https from this machine, for clients that identify
themselves by a document URL instead of registering. mcpbuild fetches them only with ``--dev``
and the test CA (``mcpbuild(..., dev_ca=str(ca.ca_file))``)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.tls import LocalCA, running_https

__all__ = ["DocumentServer", "serving_documents"]


@dataclass
class DocumentServer:
    """The documents published so far, by file name, and every fetch of one."""

    origin: str = ""  # https://127.0.0.1:PORT, once serving
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)  # document URLs, in the order fetched

    def publish(self, name: str, redirect_uris: list[str], client_name: str) -> str:
        """Serve a public client's document at ``ORIGIN/name``; return its URL, the client id."""
        url = f"{self.origin}/{name}"
        self.documents[name] = {
            "client_id": url,
            "client_name": client_name,
            "redirect_uris": redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        }
        return url

    async def serve(self, request: Request) -> Response:
        name = request.path_params["name"]
        self.fetched.append(f"{self.origin}/{name}")
        if name not in self.documents:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse(self.documents[name])


@contextlib.asynccontextmanager
async def serving_documents(ca: LocalCA) -> AsyncIterator[DocumentServer]:
    """An https server on 127.0.0.1 with ``ca``'s certificate, publishing no documents yet."""
    documents = DocumentServer()
    app = Starlette(routes=[Route("/{name}", documents.serve)])
    async with running_https(app, ca) as origin:
        documents.origin = origin
        yield documents
