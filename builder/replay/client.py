"""An upstream client that answers from a case's recorded exchanges, and one that records.

:class:`ReplayClient` takes the place of the network in ``mcpbuild test``: each request the
tool sends is compared with the next expected one and answered with its recorded response.
:class:`RecordingClient` wraps the real client in ``mcpbuild record`` and keeps every
exchange as it happened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus

from multidict import CIMultiDict, CIMultiDictProxy

from builder.errors import TransportFailure
from builder.replay.cases import Exchange
from builder.replay.compare import expected_view, render_diff, same, sent_view, show
from builder.tools.request import Origin, OutgoingRequest
from builder.tools.transport import UpstreamClient, UpstreamResponse

__all__ = ["RecordedExchange", "RecordingClient", "ReplayClient", "fixed_response"]


class ReplayClient:
    """Serves ``exchanges`` in order; every difference is kept in :attr:`failures`.

    A request that differs from the expected one, or one more than the case recorded, is
    not answered (a :class:`TransportFailure`, so the tool call stops there).
    """

    def __init__(
        self, exchanges: Sequence[Exchange], base_url: str, env: Mapping[str, str]
    ) -> None:
        self.exchanges = list(exchanges)
        self.base_path = Origin.of(base_url).path
        self.env = env
        self.sent: list[OutgoingRequest] = []
        self.failures: list[str] = []

    async def send(
        self, request: OutgoingRequest, *, timeout: float, read_limit: int
    ) -> UpstreamResponse:
        index = len(self.sent)
        self.sent.append(request)
        if index >= len(self.exchanges):
            got = sent_view(request, self.base_path, None)
            self.failures.append(
                f"request {index + 1}: the tool sent a request the case does not expect "
                f"(it expects {_count(len(self.exchanges))}):\n" + show(got)
            )
            raise TransportFailure("connect")
        exchange = self.exchanges[index]
        expected = expected_view(exchange.request, self.env)
        got = sent_view(request, self.base_path, exchange.request)
        if not same(expected, got):
            self.failures.append(
                f"request {index + 1} of {len(self.exchanges)} differs from the case:\n"
                + render_diff(expected, got, got_label="sent", view=True)
            )
            raise TransportFailure("connect")
        return fixed_response(
            exchange.response.status,
            exchange.response.headers,
            exchange.response.body,
            read_limit=read_limit,
        )

    def unsent(self) -> list[str]:
        """The expected requests the tool never sent, as one failure (or none)."""
        if len(self.sent) >= len(self.exchanges):
            return []
        missing = self.exchanges[len(self.sent)].request
        return [
            f"the tool sent {len(self.sent)} of the {_count(len(self.exchanges))} the case "
            f"expects; the next one was {missing.method} {missing.path}"
        ]

    async def aclose(self) -> None:
        return None


def fixed_response(
    status: int, headers: Mapping[str, str], body: bytes, *, read_limit: int
) -> UpstreamResponse:
    """A response as the real transport gives it: case-insensitive headers, the body cut
    at ``read_limit``."""
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    proxy = CIMultiDictProxy(CIMultiDict(headers))
    truncated = len(body) > read_limit
    return UpstreamResponse(status, reason, proxy, body[:read_limit], truncated)


@dataclass(frozen=True, slots=True)
class RecordedExchange:
    """One live request and the response it got."""

    request: OutgoingRequest
    response: UpstreamResponse


@dataclass
class RecordingClient:
    """Wraps the real upstream client and keeps every exchange, in order."""

    inner: UpstreamClient
    exchanges: list[RecordedExchange] = field(default_factory=list)

    async def send(
        self, request: OutgoingRequest, *, timeout: float, read_limit: int
    ) -> UpstreamResponse:
        response = await self.inner.send(request, timeout=timeout, read_limit=read_limit)
        self.exchanges.append(RecordedExchange(request, response))
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _count(n: int) -> str:
    return f"{n} request{'s' if n != 1 else ''}"
