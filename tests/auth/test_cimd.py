"""Client ID metadata documents: fetched only from public https hosts, capped and cached.

The network is faked with httpx.MockTransport and the resolver with a stub: no test may
reach a public address, and this is fault injection around one small fetcher."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest

from builder.auth.cimd import (
    MAX_BYTES,
    ClientMetadataFetcher,
    is_metadata_client_id,
    is_public_address,
)

pytestmark = pytest.mark.anyio
URL = "https://client.example.com/oauth/metadata.json"


def doc(**overrides: object) -> dict[str, object]:
    return {
        "client_id": URL,
        "client_name": "Example client",
        "redirect_uris": ["http://127.0.0.1:3000/callback"],
        "token_endpoint_auth_method": "none",
        **overrides,
    }


def fetcher(body: bytes | dict[str, object], *, address: str = "93.184.216.34", status: int = 200):
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sni = request.extensions.get("sni_hostname")
        calls.append(f"{request.url} Host={request.headers['host']} SNI={sni}")
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(status, content=content)

    async def resolver(host: str) -> list[str]:
        return [address]

    return (
        ClientMetadataFetcher(resolver=resolver, transport=httpx.MockTransport(handler)),
        calls,
    )


def test_which_client_ids_are_documents() -> None:
    assert is_metadata_client_id(URL)
    assert not is_metadata_client_id("https://client.example.com/")
    assert not is_metadata_client_id("http://client.example.com/meta.json")
    assert not is_metadata_client_id("3f2a-registered-id")


async def test_valid_document_becomes_a_public_client_and_is_cached() -> None:
    fetch, calls = fetcher(doc())
    client = await fetch.fetch(URL)
    assert client is not None
    assert client.client_name == "Example client"
    assert client.token_endpoint_auth_method == "none"
    assert [str(u) for u in client.redirect_uris or []] == ["http://127.0.0.1:3000/callback"]
    await fetch.fetch(URL)
    # One fetch, to the address that was checked; the name goes in Host and TLS SNI.
    assert calls == [
        "https://93.184.216.34/oauth/metadata.json Host=client.example.com SNI=client.example.com"
    ]


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.0.0.5", "192.168.1.1", "169.254.169.254", "::1"]
)
async def test_private_addresses_are_never_fetched(address: str) -> None:
    fetch, calls = fetcher(doc(), address=address)
    assert await fetch.fetch(URL) is None
    assert calls == []


@pytest.mark.parametrize(
    "body",
    [
        doc(client_id="https://other.example.com/meta.json"),
        doc(redirect_uris=["http://evil.example.com/cb"]),
        doc(redirect_uris=[]),
        doc(token_endpoint_auth_method="client_secret_post"),
        b"not json",
        b"x" * (MAX_BYTES + 1),
    ],
)
async def test_unacceptable_documents_are_refused(body: bytes | dict[str, object]) -> None:
    fetch, _ = fetcher(body)
    assert await fetch.fetch(URL) is None


async def test_non_200_is_refused() -> None:
    fetch, _ = fetcher(doc(), status=404)
    assert await fetch.fetch(URL) is None


@pytest.mark.parametrize(
    "address",
    [
        "64:ff9b::5db8:d822",  # NAT64 of 93.184.216.34: the translator reaches any IPv4
        "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
        "64:ff9b:1::5db8:d822",  # the local-use NAT64 prefix
        "::ffff:10.0.0.5",  # IPv4-mapped
        "2002:a00:5::1",  # 6to4 of 10.0.0.5
        "::a00:5",  # IPv4-compatible (deprecated)
    ],
)
async def test_ipv6_forms_that_lead_elsewhere_are_never_fetched(address: str) -> None:
    fetch, calls = fetcher(doc(), address=address)
    assert await fetch.fetch(URL) is None
    assert calls == []


def test_public_addresses_are_public() -> None:
    assert is_public_address("93.184.216.34")
    assert is_public_address("2606:2800:220:1:248:1893:25c8:1946")
    assert is_public_address("::ffff:93.184.216.34")
    assert not is_public_address("not an address")


async def test_cache_is_bounded_least_recently_used_out_first() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        url = f"https://{request.headers['host']}{request.url.path}"
        hosts.append(request.headers["host"])
        return httpx.Response(200, json={**doc(), "client_id": url})

    async def resolver(host: str) -> list[str]:
        return ["93.184.216.34"]

    fetch = ClientMetadataFetcher(
        resolver=resolver, transport=httpx.MockTransport(handler), cache_size=3
    )
    urls = [f"https://c{i}.example.com/meta.json" for i in range(50)]
    for url in urls:
        assert await fetch.fetch(url) is not None
    assert len(fetch._cache) == 3
    await fetch.fetch(urls[-3])  # a hit: now the most recently used
    await fetch.fetch(urls[0])  # evicted long ago: fetched again, evicting urls[-2]
    await fetch.fetch(urls[-3])
    await fetch.fetch(urls[-2])
    assert hosts[50:] == ["c0.example.com", "c48.example.com"]
    assert len(fetch._cache) == 3


async def test_a_resolver_that_hangs_is_cut_at_the_deadline() -> None:
    async def resolver(host: str) -> list[str]:
        await anyio.sleep_forever()
        raise AssertionError("unreachable")

    fetch = ClientMetadataFetcher(resolver=resolver, deadline=0.05)
    with anyio.fail_after(5):
        assert await fetch.fetch(URL) is None


async def test_a_body_that_trickles_is_cut_at_the_deadline() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield b'{"client_id": '
        await anyio.sleep_forever()

    async def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    async def resolver(host: str) -> list[str]:
        return ["93.184.216.34"]

    fetch = ClientMetadataFetcher(
        resolver=resolver, transport=httpx.MockTransport(handler), deadline=0.05
    )
    with anyio.fail_after(5):
        assert await fetch.fetch(URL) is None
