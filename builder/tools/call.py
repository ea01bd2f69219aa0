"""One tool call = one HTTP request: check, build, send (with retries), shape, log."""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import anyio
import jmespath

from builder import explain
from builder.connector.models import Retry, Tool
from builder.connector.resolved import ResolvedConnector
from builder.errors import ToolCallError, UpstreamError
from builder.provider.values import fill_grant_refs
from builder.tools.arguments import ArgumentChecker
from builder.tools.pages import NextPage, Paginator, describe, next_link
from builder.tools.redact import Redactor
from builder.tools.request import OutgoingRequest, RequestBuilder, within
from builder.tools.request_id import REQUEST_ID, ensure_request_id
from builder.tools.response import ResponseShaper, Shaped, error_detail
from builder.tools.tracing import Tracing
from builder.tools.transport import TransportFailure, UpstreamClient, UpstreamResponse

__all__ = ["CallObserver", "Caller", "Credentials", "PreparedTool", "ToolRunner"]

logger = logging.getLogger("mcpbuild.tools")

_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 3
_FIRST_BACKOFF = 0.25


CallObserver = Callable[[str, str, "int | None", float], None]
"""``(tool, outcome, upstream status, seconds)`` after each call, e.g. for metrics."""


class Credentials(Protocol):
    """Where a call's upstream authorization comes from (the OAuth work plugs in here)."""

    async def headers(self) -> Mapping[str, str]:
        """Headers that authorize the request, e.g. ``Authorization: Bearer ...``."""
        ...

    async def rejected(self) -> bool:
        """The upstream answered 401: refresh and return True to retry once, or False."""
        ...

    async def values(self) -> Mapping[str, str]:
        """The signed-in user's ``${grant.NAME}`` values (read at sign-in)."""
        ...


@dataclass(frozen=True, slots=True)
class Caller:
    """Who makes a tool call: the upstream credentials to use, and the scopes granted
    (``None`` when no per-tool scope check applies: a connector without a provider, or
    the local sign-in of ``login`` and ``call``)."""

    credentials: Credentials | None = None
    scopes: Sequence[str] | None = None


@dataclass(frozen=True, slots=True)
class PreparedTool:
    """Everything about one tool that does not depend on a call's arguments."""

    tool: Tool
    checker: ArgumentChecker
    builder: RequestBuilder
    shaper: ResponseShaper
    retries: bool
    pages: Paginator | None = None


class ToolRunner:
    """Runs the served connector's visible tools against the upstream API.

    Everything static was resolved at start-up (:func:`~builder.connector.resolved.
    resolve_connector`); the runner only prepares what each call reuses.
    """

    def __init__(
        self,
        connector: ResolvedConnector,
        client: UpstreamClient,
        *,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        jitter: Callable[[], float] = random.random,
        handle_key: bytes | None = None,
        on_call: CallObserver | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.connector = connector
        self.client = client
        self.on_call = on_call
        self.tracing = tracing
        self._sleep = sleep
        self._jitter = jitter
        api = connector.spec.api
        # A per-user origin (``${grant.instance_url}``) has no host until a call's grant.
        self.host = urlsplit(connector.base_url).netloc or "the API"
        self.retry: Retry = api.retry
        self.timeout = api.timeout
        self.request_id_header = api.request_id_header
        self._unauthorized = (
            jmespath.compile(api.unauthorized_when) if api.unauthorized_when else None
        )
        # Signs the next-page handles of `link` pagination: by default one key per runner,
        # so a handle works while this server runs (a shared key comes with replicas).
        self._handle_key = handle_key or secrets.token_bytes(32)
        self.tools: dict[str, PreparedTool] = {
            name: PreparedTool(
                tool=tool.spec,
                checker=ArgumentChecker(tool.spec),
                builder=RequestBuilder(tool, connector.base_url),
                shaper=ResponseShaper.for_tool(tool.spec, host=self.host),
                retries=tool.idempotent,
                pages=Paginator(tool.spec.pagination, self._handle_key)
                if tool.spec.pagination is not None
                else None,
            )
            for name, tool in connector.tools.items()
        }
        self.redactor = Redactor(list(connector.secrets))
        # Per-user request builders, by the grant's values (``${grant.NAME}``).
        self._per_grant: dict[tuple[tuple[str, str], ...], dict[str, PreparedTool]] = {}

    async def call(
        self, name: str, arguments: Mapping[str, Any] | None, credentials: Credentials | None = None
    ) -> Shaped:
        """Run tool ``name``; every failure becomes a tool error whose text is safe to show.

        The call's log line and upstream request carry the current request id, or a new
        one (:mod:`builder.tools.request_id`)."""
        started = time.perf_counter()
        _, request_id_token = ensure_request_id()
        prepared = self.tools.get(name)
        status: int | None = None
        attempts = 0
        outcome = "error"
        auth: list[str] = []  # the credential values sent: scrubbed from whatever comes back
        try:
            if prepared is None:
                known = ", ".join(self.tools)
                raise ToolCallError(f"unknown tool '{name}'; this server has: {known}")
            args = prepared.checker.check(arguments)
            if self.connector.per_grant:
                prepared = await self._for_grant(prepared, credentials)
            if prepared.pages is not None:
                result, status, attempts = await self._paged(prepared, args, credentials, auth)
            else:
                request = await prepared.builder.build(args)
                response, attempts = await self._send(prepared, request, credentials, auth)
                status = response.status
                if not 200 <= status < 300:
                    raise UpstreamError(self._failure_text(response, auth), status=status)
                result = prepared.shaper.shape(response, request.method)
            result = self.redactor.scrub_result(result, extra=auth)
            outcome = "ok" if not result.is_error else "error"
            return result
        except ToolCallError as exc:
            return Shaped(self.redactor.scrub(str(exc), extra=auth), is_error=True)
        finally:
            seconds = time.perf_counter() - started
            tool = name if prepared else "?"  # a name the server does not have is not a label
            logger.info(
                "tool call",
                extra={
                    "tool": tool,
                    "outcome": outcome,
                    "upstream_status": status,
                    "attempts": attempts,
                    "duration_ms": round(seconds * 1000, 1),
                },
            )
            if self.on_call is not None:
                self.on_call(tool, outcome, status, seconds)
            if self.tracing is not None:
                self.tracing.finished(outcome, status)
            if request_id_token is not None:
                REQUEST_ID.reset(request_id_token)

    async def _for_grant(
        self, prepared: PreparedTool, credentials: Credentials | None
    ) -> PreparedTool:
        """``prepared`` with the caller's grant values in its base URL and headers."""
        if credentials is None:
            raise ToolCallError(
                "this connector's API address depends on the signed-in user, and this call "
                "has no sign-in"
            )
        values = await credentials.values()
        key = tuple(sorted(values.items()))
        tools = self._per_grant.get(key)
        if tools is None:
            if len(self._per_grant) > 1000:
                self._per_grant.clear()
            tools = self._per_grant[key] = {}
        built = tools.get(prepared.tool.name)
        if built is None:
            resolved = self.connector.tools[prepared.tool.name]
            headers = {k: fill_grant_refs(v, values) for k, v in resolved.headers.items()}
            tool = dataclasses.replace(resolved, headers=MappingProxyType(headers))
            base = fill_grant_refs(self.connector.base_url, values)
            built = tools[prepared.tool.name] = dataclasses.replace(
                prepared, builder=RequestBuilder(tool, base)
            )
        return built

    async def _paged(
        self,
        prepared: PreparedTool,
        args: dict[str, Any],
        credentials: Credentials | None,
        auth: list[str],
    ) -> tuple[Shaped, int, int]:
        """One page with the argument for the next, or with ``auto`` every page up to the
        limits, joined; the result says whether more remain and how to ask."""
        pages = prepared.pages
        assert pages is not None
        rules = pages.pages
        args, url = pages.first(args)
        collected: list[Any] = []
        fetched = attempts = 0
        nxt = None
        status = 0
        while True:
            request = await prepared.builder.build(args)
            if url is not None:
                request = OutgoingRequest("GET", url, [], request.headers, None)
            response, tries = await self._send(prepared, request, credentials, auth)
            attempts += tries
            fetched += 1
            status = response.status
            if not 200 <= status < 300:
                raise UpstreamError(self._failure_text(response, auth), status=status)
            body, items = prepared.shaper.page(response)
            link = pages.link_in(body, request.url)
            if link is None and not rules.next:
                link = next_link(response.headers.get("link"), request.url)
            if link is not None and not within(prepared.builder.origin, link):
                raise UpstreamError(
                    f"{self.host}'s next page is outside the API's base URL "
                    f"({urlsplit(link).netloc}); not followed"
                )
            nxt = pages.after(args, body, items, link)
            if not rules.auto:
                note = describe(prepared.tool.name, nxt, guess=pages.may_have_more())
                shaped = prepared.shaper.finish(items, (note,))
                return _with_next(shaped, args, nxt), status, attempts
            if not isinstance(items, list):
                raise ToolCallError(
                    "automatic paging joins each page's selected result, which must be a list; "
                    f"this page's is {_json_type(items)} (check response.select)"
                )
            collected.extend(items)
            full = rules.max_items is not None and len(collected) >= rules.max_items
            if nxt is None or fetched >= rules.max_pages or full:
                break
            url = nxt.url
            if url is None:
                args = {**args, nxt.argument: nxt.value}
        shown = collected[: rules.max_items] if rules.max_items is not None else collected
        cut = len(collected) - len(shown)
        count = f"{len(shown)} items from {fetched} page{'s' if fetched != 1 else ''}"
        if nxt is None and not cut:
            note = f"All {count}; this is the last page."
        else:
            limit = f"{rules.max_items} items" if full else f"{rules.max_pages} pages"
            note = f"{count}, stopped at the limit of {limit}."
            if cut:
                note += (
                    f" {cut} more items of the last page are not shown (ask for smaller "
                    "pages to see them)."
                )
            note += " " + describe(prepared.tool.name, nxt, guess=pages.may_have_more())
        return _with_next(prepared.shaper.finish(shown, (note,)), args, nxt), status, attempts

    async def _send(
        self,
        prepared: PreparedTool,
        request: OutgoingRequest,
        credentials: Credentials | None,
        auth: list[str],
    ) -> tuple[UpstreamResponse, int]:
        """The final response and the attempts it took; ``auth`` gets the credential values
        sent, for scrubbing."""
        attempt = 0
        reauthorized = False
        if self.request_id_header is not None:
            request = _with_headers(request, {self.request_id_header: REQUEST_ID.get() or ""})
        while True:
            attempt += 1
            if credentials is not None:
                extra = await credentials.headers()
                auth.extend(v.split(" ", 1)[-1] for v in extra.values())
                request = _with_headers(request, extra)
            response = await self._follow(prepared, request)
            if (
                credentials is not None
                and not reauthorized
                and (response.status == 401 or self._says_unauthorized(response))
            ):
                reauthorized = True
                said = "401" if response.status == 401 else "api.unauthorized_when's error"
                explain.explain(
                    explain.upstream_unauthorized(self.host, said), tool=prepared.tool.name
                )
                if await credentials.rejected():
                    continue
            if (
                prepared.retries
                and response.status in _RETRY_STATUSES
                and attempt < self.retry.attempts
            ):
                wait = self._backoff(attempt, response.headers.get("retry-after"))
                if wait is not None:
                    await self._sleep(wait)
                    continue
            return response, attempt

    def _says_unauthorized(self, response: UpstreamResponse) -> bool:
        """``api.unauthorized_when`` matches a successful JSON answer (Slack's HTTP 200
        ``token_expired``)."""
        if self._unauthorized is None or not 200 <= response.status < 300:
            return False
        try:
            body = json.loads(response.body)
        except ValueError:
            return False
        return self._unauthorized.search(body) not in (None, False, "", 0, [], {})

    async def _follow(self, prepared: PreparedTool, request: OutgoingRequest) -> UpstreamResponse:
        for _ in range(_MAX_REDIRECTS + 1):
            response = await self._once(prepared, request)
            if response.status not in _REDIRECTS or request.method not in ("GET", "HEAD"):
                return response
            target = urljoin(request.url, response.headers.get("location", ""))
            if not within(prepared.builder.origin, target):
                raise UpstreamError(
                    f"{self.host} answered HTTP {response.status} redirecting to another "
                    f"origin ({urlsplit(target).netloc or 'no location'}); not followed",
                    status=response.status,
                )
            request = OutgoingRequest(request.method, target, [], request.headers, None)
        raise UpstreamError(f"{self.host} redirected more than {_MAX_REDIRECTS} times")

    async def _once(self, prepared: PreparedTool, request: OutgoingRequest) -> UpstreamResponse:
        try:
            if self.tracing is None:
                return await self.client.send(
                    request, timeout=self.timeout, read_limit=prepared.shaper.read_limit
                )
            with self.tracing.upstream(
                request.method, self.host, prepared.tool.request.path
            ) as span:
                request = _with_headers(request, span.headers)
                response = await self.client.send(
                    request, timeout=self.timeout, read_limit=prepared.shaper.read_limit
                )
                span.answered(response.status)
                return response
        except TransportFailure as exc:
            if exc.kind == "timeout":
                message = f"{self.host} did not answer within {self.timeout:g} s"
            elif exc.kind == "connect":
                message = f"could not connect to {self.host}"
            else:
                message = f"the connection to {self.host} broke before a full response came"
            raise UpstreamError(message) from None

    def _backoff(self, attempt: int, retry_after: str | None) -> float | None:
        """Seconds to wait before the next attempt, or None when the wait is too long."""
        if retry_after is not None:
            wait = _parse_retry_after(retry_after)
            if wait is not None:
                return wait if wait <= self.retry.max_wait else None
        ceiling = min(self.retry.max_wait, _FIRST_BACKOFF * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + self._jitter() / 2)

    def _failure_text(self, response: UpstreamResponse, auth: list[str]) -> str:
        text = f"{self.host} answered HTTP {response.status}"
        if response.reason:
            text += f" {response.reason}"
        detail = self.redactor.scrub(error_detail(response), extra=auth)
        if detail:
            text += f": {detail}"
        if response.status == 429:
            after = response.headers.get("retry-after")
            text += f" (rate limited{'; retry after ' + after + ' s' if after else ''})"
        return text


def _json_type(value: Any) -> str:
    names = {dict: "an object", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _with_headers(request: OutgoingRequest, extra: Mapping[str, str]) -> OutgoingRequest:
    if not extra:
        return request
    return OutgoingRequest(
        request.method, request.url, request.query, {**request.headers, **extra}, request.body
    )


def _parse_retry_after(value: str) -> float | None:
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    wait: float = when.timestamp() - time.time()
    return max(0.0, wait)


def _with_next(result: Shaped, args: dict[str, Any], nxt: NextPage | None) -> Shaped:
    """``result`` with the arguments that ask for the page after it, when there is one."""
    if nxt is None or result.is_error:
        return result
    return dataclasses.replace(result, next_arguments={**args, nxt.argument: nxt.value})
