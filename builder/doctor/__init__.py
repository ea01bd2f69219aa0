"""``mcpbuild doctor``: what stands between a connector spec and a working sign-in, each
finding with a verdict (ok, warn, fail) and a one-line fix.

It needs no secret: a missing variable is a finding, not a stop. It reads each decision
where it is made (the spec's rules, the variables serving resolves, the redirect URIs)
and asks the network what only the network knows: that the provider answers, that its
discovery document agrees with the spec, that the clocks agree, and that the public URL
reaches this connector.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import anyio
import httpx

from builder.doctor import network, offline
from builder.doctor.report import Check, Report, Status
from builder.routes import DEFAULT_LOGIN_PORT

__all__ = ["Check", "DoctorOptions", "Report", "Status", "run_doctor"]


@dataclass(frozen=True)
class DoctorOptions:
    """Where the connector will be served, and how long the network may take."""

    public_url: str
    """The origin clients and the provider see (``serve --public-url``)."""
    login_port: int = DEFAULT_LOGIN_PORT
    timeout: float = 5.0
    """Seconds for each request (connect, read) to the provider or the public URL."""
    clock: Callable[[], float] = field(default=time.time)
    """The local clock compared with the provider's."""


async def run_doctor(path: str, env: Mapping[str, str], options: DoctorOptions) -> Report:
    """Every check of the spec at ``path`` with the variables of ``env``."""
    public_url = options.public_url.rstrip("/")
    spec = offline.load_spec(path)
    checks: list[Check] = [spec.check]
    connector = spec.connector
    if connector is None:
        return Report(tuple(checks))
    checks.append(offline.check_env(connector, env))
    key = offline.check_secret_key(connector, env)
    if key is not None:
        checks.append(key)
    checks.append(offline.check_redirect_uri(connector, public_url, options.login_port))
    provider = connector.provider
    urls: dict[str, str | None] = {}
    if provider is not None:
        urls["provider.authorization_url"] = offline.substitute(provider.authorization_url, env)
        urls["provider.token_url"] = offline.substitute(provider.token_url, env)
    urls["api.base_url"] = offline.substitute(connector.api.base_url, env)
    urls["--public-url"] = public_url
    checks.append(offline.check_https(urls))
    checks.append(offline.check_scopes(connector))
    timeout = httpx.Timeout(options.timeout)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as http:
        if provider is not None:
            checks += await _provider_checks(
                http,
                options,
                authorization_url=urls["provider.authorization_url"],
                token_url=urls["provider.token_url"],
                pkce=provider.pkce,
                scopes=list(provider.scopes),
            )
        checks.append(await network.check_public_url(http, public_url, provider is not None))
    return Report(tuple(checks))


async def _provider_checks(
    http: httpx.AsyncClient,
    options: DoctorOptions,
    *,
    authorization_url: str | None,
    token_url: str | None,
    pkce: bool,
    scopes: list[str],
) -> list[Check]:
    if authorization_url is None or token_url is None:
        unset = "provider URLs use a variable that is not set (see env)"
        return [Check("provider", "fail", f"not checked: {unset}", "set the variables env names")]
    answers: dict[str, network.Answer] = {}
    found: tuple[str, dict[str, object]] | None = None

    async def authorize() -> None:
        answers["auth"] = await network.probe(http, "GET", authorization_url, clock=options.clock)

    async def token() -> None:
        # No credentials and no grant: any answer (400 invalid_request) proves the
        # endpoint, and its Date header gives the provider's clock.
        answers["token"] = await network.probe(http, "POST", token_url, clock=options.clock)

    async def discover() -> None:
        nonlocal found
        found = await network.find_discovery(http, authorization_url)

    async with anyio.create_task_group() as tg:
        tg.start_soon(authorize)
        tg.start_soon(token)
        tg.start_soon(discover)
    if found is None and answers["auth"].response is None:
        discovery = Check(
            "discovery", "ok", "not checked: the authorization endpoint does not answer"
        )
    else:
        discovery = network.check_discovery(
            found,
            authorization_url=authorization_url,
            token_url=token_url,
            pkce=pkce,
            scopes=scopes,
        )
    return [
        network.check_endpoint(
            "authorization_endpoint", "provider.authorization_url", answers["auth"]
        ),
        network.check_endpoint("token_endpoint", "provider.token_url", answers["token"]),
        discovery,
        network.check_clock(answers["token"]),
    ]
