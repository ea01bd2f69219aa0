"""What the inspector shows about one grant: its recent events and its refresh counts.

Everything here is keyed by grant id and bounded: a grant keeps its last ``per_grant``
events, at most ``grants`` grants are remembered (the least recently active go first),
a grant has at most ``subscribers`` live streams (the oldest is closed for a new one), and
a subscriber that does not read loses events rather than growing a queue. Nothing in an
event is a token: the code that adds an event has already redacted it.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = ["Event", "EventLog", "GrantStats"]


@dataclass(frozen=True)
class Event:
    """One line of the inspector's log: ``kind`` is ``upstream`` (an API exchange),
    ``token`` (an exchange with the provider's token endpoint), ``explain`` (an auth
    failure, in words) or ``action`` (something done from the inspector)."""

    id: int
    at: float
    kind: str
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": round(self.at, 3), "kind": self.kind, **self.data}


@dataclass
class GrantStats:
    """Upstream refreshes seen by this process for one grant."""

    refreshes: int = 0
    last_refresh_at: float | None = None
    last_refresh_error: str | None = None


@dataclass
class _Entry:
    events: deque[Event]
    stats: GrantStats = field(default_factory=GrantStats)
    streams: list[MemoryObjectSendStream[Event | None]] = field(default_factory=list)


class EventLog:
    """Per-grant ring buffers of events, with live subscribers."""

    def __init__(
        self,
        *,
        per_grant: int = 200,
        grants: int = 1000,
        subscribers: int = 4,
        queue: int = 256,
    ) -> None:
        self.per_grant = per_grant
        self.max_grants = grants
        self.max_subscribers = subscribers
        self.queue = queue
        self._ids = itertools.count(1)
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def _entry(self, grant_id: str) -> _Entry:
        entry = self._entries.get(grant_id)
        if entry is None:
            entry = self._entries[grant_id] = _Entry(deque(maxlen=self.per_grant))
            while len(self._entries) > self.max_grants:
                _, gone = self._entries.popitem(last=False)
                _close_all(gone)
        else:
            self._entries.move_to_end(grant_id)
        return entry

    def add(self, grant_id: str, kind: str, **data: Any) -> Event:
        """Record an event for ``grant_id`` and hand it to its live subscribers."""
        event = Event(next(self._ids), time.time(), kind, data)
        entry = self._entry(grant_id)
        entry.events.append(event)
        for stream in list(entry.streams):
            try:
                stream.send_nowait(event)
            except anyio.WouldBlock:
                pass  # a reader that does not keep up misses events; the buffer has them
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                entry.streams.remove(stream)
        return event

    def recent(self, grant_id: str) -> list[Event]:
        entry = self._entries.get(grant_id)
        return list(entry.events) if entry is not None else []

    def stats(self, grant_id: str) -> GrantStats:
        entry = self._entries.get(grant_id)
        return entry.stats if entry is not None else GrantStats()

    def refreshed(self, grant_id: str, error: str | None) -> None:
        """An upstream refresh for ``grant_id`` ended: ``error`` is None when it worked."""
        stats = self._entry(grant_id).stats
        stats.last_refresh_at = time.time()
        if error is None:
            stats.refreshes += 1
        stats.last_refresh_error = error

    @contextmanager
    def subscribe(self, grant_id: str) -> Iterator[MemoryObjectReceiveStream[Event | None]]:
        """A stream of the grant's events from now on; ``None`` means it was closed (the
        grant ended, or too many streams were opened after this one)."""
        entry = self._entry(grant_id)
        send, receive = anyio.create_memory_object_stream[Event | None](self.queue)
        entry.streams.append(send)
        while len(entry.streams) > self.max_subscribers:
            oldest = entry.streams.pop(0)
            _end(oldest)
        try:
            yield receive
        finally:
            if send in entry.streams:
                entry.streams.remove(send)
            send.close()
            receive.close()

    def end(self, grant_id: str) -> None:
        """Close the grant's live streams (its grant ended)."""
        entry = self._entries.get(grant_id)
        if entry is not None:
            _close_all(entry)

    def close(self) -> None:
        """Close every live stream (the server is stopping)."""
        for entry in self._entries.values():
            _close_all(entry)


def _end(stream: MemoryObjectSendStream[Event | None]) -> None:
    with suppress(anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
        stream.send_nowait(None)
    stream.close()


def _close_all(entry: _Entry) -> None:
    streams, entry.streams = entry.streams, []
    for stream in streams:
        _end(stream)
