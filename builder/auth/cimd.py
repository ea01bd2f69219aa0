"""Client ID metadata documents: an https ``client_id`` that is the URL of the client's
metadata, fetched with a timeout, a size cap and a cache, and only from public addresses."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import anyio
import httpx
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import ValidationError

from builder.auth.redirects import check_redirect_uri

__all__ = ["ClientMetadataFetcher", "is_metadata_client_id"]

logger = logging.getLogger("mcpbuild.cimd")

MAX_BYTES = 64 * 1024
CACHE_SECONDS = 300.0
Resolver = Callable[[str], Awaitable[list[str]]]


def is_metadata_client_id(client_id: str) -> bool:
    """Whether ``client_id`` is a metadata document URL (https with a path)."""
    parts = urlsplit(client_id)
    return parts.scheme == "https" and bool(parts.hostname) and parts.path not in ("", "/")


async def _resolve(host: str) -> list[str]:
    infos = await anyio.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class ClientMetadataFetcher:
    """Fetches and caches metadata documents; answers None for anything not acceptable."""

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        resolver: Resolver = _resolve,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.resolver = resolver
        self.transport = transport
        self._cache: dict[str, tuple[float, OAuthClientInformationFull | None]] = {}

    async def fetch(self, url: str) -> OAuthClientInformationFull | None:
        hit = self._cache.get(url)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        client = await self._fetch(url)
        self._cache[url] = (time.monotonic() + CACHE_SECONDS, client)
        return client

    async def _fetch(self, url: str) -> OAuthClientInformationFull | None:
        host = urlsplit(url).hostname or ""
        try:
            addresses = await self.resolver(host)
        except OSError:
            logger.warning("client metadata host does not resolve", extra={"host": host})
            return None
        if not addresses or not all(ipaddress.ip_address(a).is_global for a in addresses):
            logger.warning("client metadata host is not public", extra={"host": host})
            return None
        # Connect to the address just checked, not to a second lookup's answer (DNS
        # rebinding): the URL names the IP, Host and TLS SNI (so the certificate check) the name.
        parts = urlsplit(url)
        ip = ipaddress.ip_address(addresses[0])
        pinned = parts._replace(
            netloc=(f"[{ip}]" if ip.version == 6 else str(ip))
            + (f":{parts.port}" if parts.port else "")
        ).geturl()
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.timeout,
                    follow_redirects=False,
                    trust_env=False,
                    transport=self.transport,
                ) as http,
                http.stream(
                    "GET",
                    pinned,
                    headers={"Accept": "application/json", "Host": parts.netloc},
                    extensions={"sni_hostname": host},
                ) as response,
            ):
                if response.status_code != 200:
                    return None
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_BYTES:
                        logger.warning("client metadata too large", extra={"host": host})
                        return None
        except httpx.HTTPError:
            return None
        return _parse(url, body)


def _parse(url: str, body: bytes) -> OAuthClientInformationFull | None:
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict) or doc.get("client_id") != url:
        return None
    uris = doc.get("redirect_uris")
    if not isinstance(uris, list) or not uris or any(check_redirect_uri(str(u)) for u in uris):
        return None
    if doc.get("token_endpoint_auth_method", "none") != "none":
        return None  # a document cannot carry a secret; only public clients
    try:
        return OAuthClientInformationFull(
            client_id=url,
            client_name=doc.get("client_name"),
            redirect_uris=uris,
            token_endpoint_auth_method="none",  # noqa: S106 - a method name, not a secret
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
        )
    except ValidationError:
        return None
