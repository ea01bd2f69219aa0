"""A served connector whose spec changes while it runs (``mcpbuild dev``).

:func:`reload` swaps a new :class:`~builder.server.handlers.Generation` into the running
server's :class:`~builder.server.handlers.LiveTools`: the same SDK server, session manager,
store, key and grants keep serving, and a call in flight finishes on the generation it
started with. :class:`ListChanges` then tells the connected clients:

- 2025-11-25 sessions get ``notifications/tools/list_changed`` (and
  ``notifications/resources/list_changed`` when the views changed) on their standalone
  GET stream. A client without that stream open misses it, as the protocol allows.
- 2026-07-28 clients have no session: they learn of changes only on a
  ``subscriptions/listen`` stream they opened, which this server serves (the SDK's
  :class:`~mcp.server.subscriptions.ListenHandler`, fed on every reload).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import mcp.types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.session import ServerSession
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    ResourcesListChanged,
    ToolsListChanged,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from builder.connector.models import Connector
from builder.connector.resolved import resolve_connector
from builder.errors import ConfigError
from builder.server.handlers import Generation
from builder.tools.call import ToolRunner
from builder.views import ViewCatalog

if TYPE_CHECKING:
    from builder.server.serve import Served, ServeOptions

__all__ = ["Change", "ListChanges", "reload"]

logger = logging.getLogger("mcpbuild.dev")


class ListChanges:
    """Tells connected clients that the tool (and resource) lists changed.

    Installed on a server as a middleware, it remembers, for each 2025-11-25 session that
    sent a request, a handle on its standalone channel; sessions the manager no longer
    holds (``is_open``) are forgotten before each announcement. At most ``max_sessions``
    are remembered, least recently active dropped first.
    """

    def __init__(self, *, max_sessions: int) -> None:
        self.bus = InMemorySubscriptionBus()
        self.listen = ListenHandler(self.bus)
        self.is_open: Callable[[str], bool] = lambda session_id: True
        self._max = max_sessions
        self._sessions: OrderedDict[str, ServerSession] = OrderedDict()

    def install(self, server: Server[Any]) -> None:
        """Watch ``server``'s sessions, and serve ``subscriptions/listen`` on it."""
        server.middleware.append(self)
        server.add_request_handler(
            "subscriptions/listen", types.SubscriptionsListenRequestParams, self.listen
        )

    async def __call__(self, ctx: ServerRequestContext[Any], call_next: CallNext) -> HandlerResult:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            headers = getattr(ctx.request, "headers", None)
            session_id = headers.get(MCP_SESSION_ID_HEADER) if headers is not None else None
            if session_id:
                self._sessions[session_id] = ctx.session
                self._sessions.move_to_end(session_id)
                while len(self._sessions) > self._max:
                    self._sessions.popitem(last=False)
        return await call_next(ctx)

    @property
    def sessions(self) -> int:
        """2025-11-25 sessions an announcement reaches."""
        return len(self._sessions)

    async def announce(self, *, tools: bool, resources: bool) -> None:
        """Send the list-changed notifications to every open session and listen stream."""
        for session_id in [s for s in self._sessions if not self.is_open(s)]:
            del self._sessions[session_id]
        for session in list(self._sessions.values()):
            # Fire and forget: the SDK drops a notification for a stream that is gone.
            if tools:
                await session.send_tool_list_changed()
            if resources:
                await session.send_resource_list_changed()
        if tools:
            await self.bus.publish(ToolsListChanged())
        if resources:
            await self.bus.publish(ResourcesListChanged())

    def close(self) -> None:
        """End the open listen streams (at shutdown), so that no request holds it up."""
        self.listen.close()


@dataclass(frozen=True, slots=True)
class Change:
    """What a reload changed, by tool name."""

    tools: int
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    resources_changed: bool

    @property
    def tools_changed(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self, filename: str) -> str:
        """``reloaded connector.yaml: 5 tools (+1 -0 ~2)``."""
        noun = "tool" if self.tools == 1 else "tools"
        counts = f"+{len(self.added)} -{len(self.removed)} ~{len(self.changed)}"
        return f"reloaded {filename}: {self.tools} {noun} ({counts})"


async def reload(
    served: Served, connector: Connector, options: ServeOptions, environ: Any
) -> Change:
    """Serve ``connector`` from the next request on, in place of the current spec.

    Everything is built before anything is swapped: a :class:`~builder.errors.ConfigError`
    (a missing variable, a view template, a provider that changed) leaves the running
    spec as it was. The OAuth parts keep their store, key, clients and grants; a changed
    provider is refused (see :meth:`~builder.auth.setup.OAuth.retarget`).
    """
    live, changes = served.live, served.changes
    if live is None or changes is None:
        raise RuntimeError("reload: this server was not opened with reloadable=True")
    resolved = resolve_connector(connector, environ, read_only=options.read_only)
    metrics = served.metrics
    runner = ToolRunner(
        resolved,
        served.client,
        on_call=metrics.tool_call if metrics is not None else None,
        tracing=served.runner.tracing,
    )
    new = Generation.of(runner, ViewCatalog(resolved, options.folder))
    if served.oauth is not None:
        served.oauth.retarget(resolved)  # refuses a changed provider before any swap
    elif resolved.provider is not None:
        raise ConfigError("a provider was added: restart to serve it with sign-in")
    old = live.swap(new)
    served.runner = runner
    change = _compare(old, new)
    await changes.announce(tools=change.tools_changed, resources=change.resources_changed)
    return change


def _compare(old: Generation, new: Generation) -> Change:
    def by_name(generation: Generation) -> dict[str, Any]:
        return {
            tool.name: (tool.model_dump(mode="json"), generation.runner.connector.tools[tool.name])
            for tool in generation.listed.tools
        }

    before, after = by_name(old), by_name(new)
    added = tuple(name for name in after if name not in before)
    removed = tuple(name for name in before if name not in after)
    # A tool changed when what clients see (its definition) or what a call does (its
    # request, its resolved headers) did.
    changed = tuple(name for name in after if name in before and before[name] != after[name])
    resources_changed = old.resources != new.resources or any(
        old.views.by_tool[name].html != view.html
        for name, view in new.views.by_tool.items()
        if name in old.views.by_tool
    )
    return Change(len(after), added, removed, changed, resources_changed)
