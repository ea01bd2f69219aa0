"""Client ID metadata documents: an https ``client_id`` that is the URL of the client's
metadata, fetched within a deadline, with a size cap, into a bounded cache, and only from
public addresses."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import ssl
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import anyio
import httpx
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import ValidationError

from builder.auth.redirects import check_redirect_uri

__all__ = ["ClientMetadataFetcher", "is_metadata_client_id", "is_public_address"]

logger = logging.getLogger("mcpbuild.cimd")

MAX_BYTES = 64 * 1024
CACHE_SECONDS = 300.0
CACHE_SIZE = 1_000
DEADLINE = 5.0
Resolver = Callable[[str], Awaitable[list[str]]]

# Global by the IANA registry, yet they lead elsewhere: a NAT64 translator reaches any IPv4
# address, private ones included, and ::/96 is the deprecated IPv4-compatible form.
_NOT_PUBLIC = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "::/96"))


def is_metadata_client_id(client_id: str) -> bool:
    """Whether ``client_id`` is a metadata document URL (https with a path)."""
    parts = urlsplit(client_id)
    return parts.scheme == "https" and bool(parts.hostname) and parts.path not in ("", "/")


def is_public_address(address: str) -> bool:
    """Whether ``address`` is global and leads nowhere else: not NAT64, and no IPv4 address
    carried inside an IPv6 one (mapped, 6to4) that is not global itself."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if not ip.is_global:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if any(ip in network for network in _NOT_PUBLIC):
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None and not embedded.is_global:
            return False
    return True


async def _resolve(host: str) -> list[str]:
    infos = await anyio.getaddrinfo(host, 443, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class ClientMetadataFetcher:
    """Fetches and caches metadata documents; answers None for anything not acceptable.

    ``deadline`` bounds a whole fetch, name resolution included; ``timeout`` each step of
    the HTTP exchange. The cache keeps answers (refusals too) for ``CACHE_SECONDS``, and at
    most ``cache_size`` of them, dropping the least recently used: client ids are chosen
    by whoever calls /authorize.

    ``allow_loopback`` also accepts documents served from this machine (``serve --dev``
    on loopback only: a client being developed locally, and the tests); ``verify`` is the
    TLS verification (``--dev-ca`` gives a local CA).
    """

    def __init__(
        self,
        *,
        timeout: float = 5.0,
        deadline: float = DEADLINE,
        cache_size: int = CACHE_SIZE,
        resolver: Resolver = _resolve,
        transport: httpx.AsyncBaseTransport | None = None,
        allow_loopback: bool = False,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.timeout = timeout
        self.allow_loopback = allow_loopback
        self.verify = verify
        self.deadline = deadline
        self.cache_size = cache_size
        self.resolver = resolver
        self.transport = transport
        self._cache: OrderedDict[str, tuple[float, OAuthClientInformationFull | None]] = (
            OrderedDict()
        )

    async def fetch(self, url: str) -> OAuthClientInformationFull | None:
        """The client the document at ``url`` describes, or None if it is not acceptable."""
        hit = self._cache.pop(url, None)
        if hit and hit[0] > time.monotonic():
            self._cache[url] = hit
            return hit[1]
        try:
            with anyio.fail_after(self.deadline):
                client = await self._fetch(url)
        except TimeoutError:
            logger.warning(
                "client metadata fetch exceeded its deadline",
                extra={"host": urlsplit(url).hostname, "deadline": self.deadline},
            )
            client = None
        self._cache[url] = (time.monotonic() + CACHE_SECONDS, client)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return client

    async def _fetch(self, url: str) -> OAuthClientInformationFull | None:
        host = urlsplit(url).hostname or ""
        try:
            addresses = await self.resolver(host)
        except OSError:
            logger.warning("client metadata host does not resolve", extra={"host": host})
            return None
        if not addresses or not all(self._acceptable(a) for a in addresses):
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
                    verify=self.verify,
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

    def _acceptable(self, address: str) -> bool:
        if is_public_address(address):
            return True
        if not self.allow_loopback:
            return False
        try:
            return ipaddress.ip_address(address).is_loopback
        except ValueError:
            return False


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
