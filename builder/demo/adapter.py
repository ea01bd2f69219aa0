"""The request/response adapter between Starlette and Authlib's (synchronous) server side.

Authlib ships server integrations for Flask and Django only. An integration has to turn a
framework request into an :class:`~authlib.oauth2.rfc6749.OAuth2Request` (with ``args``,
``form`` and a ``payload`` whose ``data``/``datalist`` hold the OAuth parameters) and turn
Authlib's ``(status, body, headers)`` triples into framework responses. Starlette reads
bodies asynchronously, so the form is read first and the Authlib request is built from it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from starlette.requests import Request
from starlette.responses import Response

from builder.errors import MCPBuildError

__all__ = ["StarletteOAuth2Request", "oauth2_request", "to_response"]

MAX_FORM_BYTES = 64 * 1024


class StarletteOAuth2Payload(OAuth2Payload):  # type: ignore[misc]  # Authlib is untyped
    """The OAuth parameters: query then form; the first value of a name wins."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in items:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):  # type: ignore[misc]  # Authlib is untyped
    """An :class:`OAuth2Request` built from an already read Starlette request."""

    def __init__(
        self,
        method: str,
        uri: str,
        headers: Mapping[str, str],
        query: list[tuple[str, str]],
        form: list[tuple[str, str]],
    ) -> None:
        # Raises InsecureTransportError unless https or a loopback http URL.
        super().__init__(method, uri, headers=headers)
        self._args = dict(reversed(query))
        self._form = dict(reversed(form))
        self.payload = StarletteOAuth2Payload([*query, *form])

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class FormTooLarge(MCPBuildError):
    """The request body is over :data:`MAX_FORM_BYTES`."""


async def oauth2_request(request: Request) -> StarletteOAuth2Request:
    """Read ``request`` (its url-encoded form, if any) into an Authlib request."""
    form: list[tuple[str, str]] = []
    if request.method == "POST":
        if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
            raise FormTooLarge
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/x-www-form-urlencoded":
            data = await request.form()
            form = [(k, v) for k, v in data.multi_items() if isinstance(v, str)]
    return StarletteOAuth2Request(
        request.method,
        str(request.url),
        request.headers,
        list(request.query_params.multi_items()),
        form,
    )


def to_response(status: int, body: Any, headers: Iterable[tuple[str, str]]) -> Response:
    """Authlib's ``(status, body, headers)``: a dict body is JSON, anything else text."""
    content = json.dumps(body) if isinstance(body, dict) else (body or "")
    return Response(content, status_code=status, headers=dict(headers))
