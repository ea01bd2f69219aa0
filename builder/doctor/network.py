"""The checks that ask the network: the provider's endpoints, its discovery document, the
clock against the provider's, and the public URL answering as this connector.

Every request has a bounded timeout; an HTTP answer of any status proves an endpoint
reachable. Requests carry no credentials: nothing secret is sent or printed.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx

from builder.doctor.report import Check
from builder.routes import HEALTH_PATH, MCP_PATH, PROTECTED_RESOURCE_METADATA_PATH

__all__ = [
    "Answer",
    "check_clock",
    "check_discovery",
    "check_endpoint",
    "check_public_url",
    "discovery_urls",
    "probe",
]

SKEW_WARN = 60.0
SKEW_FAIL = 300.0
OIDC_PATH = "/.well-known/openid-configuration"
RFC8414_PATH = "/.well-known/oauth-authorization-server"


@dataclass(frozen=True)
class Answer:
    """What one request got: a response (with the local times around it) or why none."""

    url: str
    response: httpx.Response | None
    error: str = ""
    sent: float = 0.0
    received: float = 0.0


async def probe(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    clock: Callable[[], float] = time.time,
    **kwargs: Any,
) -> Answer:
    """One request, within the client's read timeout in all (name resolution, connect,
    TLS and the answer together); a failure becomes a one-line reason, never an exception."""
    limit = http.timeout.read or 5.0
    late = f"no answer within {limit:g} s"
    sent = clock()
    try:
        with anyio.fail_after(limit):
            response = await http.request(method, url, **kwargs)
    except (httpx.TimeoutException, TimeoutError):
        return Answer(url, None, late)
    except httpx.ConnectError as exc:
        return Answer(url, None, f"cannot connect ({_reason(exc)})")
    except httpx.HTTPError as exc:
        return Answer(url, None, f"{type(exc).__name__} ({_reason(exc)})")
    return Answer(url, response, sent=sent, received=clock())


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[-1][:200]


def check_endpoint(name: str, field: str, answer: Answer) -> Check:
    """Check ``name``: the URL of spec field ``field`` answers HTTP (any status)."""
    if answer.response is not None:
        status = answer.response.status_code
        return Check(name, "ok", f"{answer.url} answers (HTTP {status})")
    return Check(
        name,
        "fail",
        f"{answer.url}: {answer.error}",
        f"check {field} and that this machine reaches the provider (DNS, proxy, firewall)",
    )


def check_clock(answer: Answer) -> Check:
    """The local clock against the ``Date`` of the provider's token endpoint answer."""
    response = answer.response
    date = response.headers.get("date") if response is not None else None
    if response is None or not date:
        why = "no answer from the token endpoint" if response is None else "no Date header"
        return Check("clock", "ok", f"not compared: {why}")
    try:
        theirs = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return Check("clock", "ok", f"not compared: Date header {date[:40]!r} unreadable")
    # The Date was set between sending and receiving; it has whole seconds only.
    skew = theirs - (answer.sent + answer.received) / 2
    text = f"local clock is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} the provider"
    fix = "synchronise this machine's clock (NTP, e.g. `timedatectl set-ntp true`)"
    if abs(skew) > SKEW_FAIL:
        return Check("clock", "fail", f"{text}: token expiry would be misjudged", fix)
    if abs(skew) > SKEW_WARN:
        return Check("clock", "warn", f"{text} (over {SKEW_WARN:g} s)", fix)
    return Check("clock", "ok", f"{text} (within {SKEW_WARN:g} s)")


def discovery_urls(authorization_url: str) -> list[str]:
    """Where a discovery document may be, for an issuer at the authorization URL's origin
    or any of its parent paths, longest first: OIDC (``ISSUER/.well-known/openid-
    configuration``) and RFC 8414 (``ORIGIN/.well-known/oauth-authorization-server/PATH``)."""
    parts = urlsplit(authorization_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    segments = [s for s in parts.path.split("/") if s]
    urls: list[str] = []
    for k in range(len(segments) - 1, -1, -1):
        prefix = "".join(f"/{s}" for s in segments[:k])
        urls += [f"{origin}{prefix}{OIDC_PATH}", f"{origin}{RFC8414_PATH}{prefix}"]
    return urls


async def find_discovery(
    http: httpx.AsyncClient, authorization_url: str
) -> tuple[str, dict[str, Any]] | None:
    """The first discovery document found (in :func:`discovery_urls` order), if any."""
    candidates = discovery_urls(authorization_url)
    found: dict[int, dict[str, Any]] = {}

    async def fetch(i: int, url: str) -> None:
        answer = await probe(http, "GET", url, headers={"Accept": "application/json"})
        if answer.response is None or answer.response.status_code != 200:
            return
        try:
            document = answer.response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return
        if isinstance(document, dict) and "authorization_endpoint" in document:
            found[i] = document

    async with anyio.create_task_group() as tg:
        for i, url in enumerate(candidates):
            tg.start_soon(fetch, i, url)
    if not found:
        return None
    first = min(found)
    return candidates[first], found[first]


def check_discovery(
    found: tuple[str, dict[str, Any]] | None,
    *,
    authorization_url: str,
    token_url: str,
    pkce: bool,
    scopes: Sequence[str],
) -> Check:
    """The provider's discovery document agrees with the spec: the same endpoints, S256
    when PKCE is on, and the spec's scopes among those it lists (when it lists any)."""
    if found is None:
        return Check(
            "discovery",
            "ok",
            "no discovery document (OIDC or RFC 8414) near the authorization URL: nothing to "
            "compare (many providers publish none)",
        )
    url, doc = found
    fails: list[str] = []
    warns: list[str] = []
    for key, field, ours in (
        ("authorization_endpoint", "authorization_url", authorization_url),
        ("token_endpoint", "token_url", token_url),
    ):
        theirs = doc.get(key)
        if isinstance(theirs, str) and theirs.rstrip("/") != ours.rstrip("/"):
            fails.append(f"{key} is {theirs}, but provider.{field} is {ours}")
    methods = doc.get("code_challenge_methods_supported")
    if pkce and isinstance(methods, list) and "S256" not in methods:
        fails.append(f"PKCE is on, but code_challenge_methods_supported is {methods} (no S256)")
    elif pkce and methods is None:
        warns.append("it does not list code_challenge_methods_supported (S256 for PKCE)")
    listed = doc.get("scopes_supported")
    if isinstance(listed, list) and listed:
        unlisted = [s for s in scopes if s not in listed]
        if unlisted:
            warns.append(f"scopes_supported does not list {', '.join(unlisted)}")
    if fails:
        return Check(
            "discovery",
            "fail",
            f"{url} disagrees with the spec:\n" + "\n".join([*fails, *warns]),
            "copy the endpoints from the discovery document into provider (or set "
            "provider.pkce: false if the provider has no PKCE)",
        )
    if warns:
        return Check(
            "discovery",
            "warn",
            f"{url}: endpoints agree, but\n" + "\n".join(warns),
            "check the scope names against the provider's documentation",
        )
    return Check("discovery", "ok", f"{url} agrees with the spec (endpoints, PKCE, scopes)")


async def check_public_url(http: httpx.AsyncClient, public_url: str, oauth: bool) -> Check:
    """The public URL reaches this connector's server, as clients and the provider will:
    its protected resource metadata names ``PUBLIC_URL/mcp`` (``/healthz`` without OAuth).
    The request goes to the public URL itself, so its Host header is the public one."""
    path = PROTECTED_RESOURCE_METADATA_PATH + MCP_PATH if oauth else HEALTH_PATH
    answer = await probe(http, "GET", public_url + path)
    start = "start `mcpbuild serve` (with this --public-url) and run doctor again"
    if answer.response is None:
        return Check(
            "public_url", "warn", f"nothing answers at {answer.url}: {answer.error}", start
        )
    response = answer.response
    if response.status_code == 421:
        return Check(
            "public_url",
            "fail",
            f"{answer.url} refused the Host header {urlsplit(public_url).netloc} (HTTP 421)",
            "start serve with --public-url set to this URL (or --allow-host for the proxy)",
        )
    if response.status_code != 200:
        return Check(
            "public_url",
            "warn",
            f"{answer.url} answers HTTP {response.status_code}: not a running mcpbuild serve",
            start,
        )
    if not oauth:
        return Check("public_url", "ok", f"{answer.url} answers (HTTP 200)")
    try:
        resource = response.json().get("resource")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        resource = None
    expected = public_url + MCP_PATH
    if resource is not None and str(resource).rstrip("/") != expected:
        return Check(
            "public_url",
            "fail",
            f"the server at {public_url} calls itself {resource}, not {expected}",
            f"start serve with --public-url {public_url}",
        )
    return Check("public_url", "ok", f"{answer.url} answers as resource {expected}")
