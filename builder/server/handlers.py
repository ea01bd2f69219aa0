"""The MCP side of a connector: a low-level SDK server whose tools come from the spec."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mcp.types as types
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from builder import __version__
from builder.tools.call import Caller, ToolRunner
from builder.tools.definition import tool_definition
from builder.tools.response import Shaped
from builder.tools.tracing import Tracing
from builder.views import UI_EXTENSION, ViewCatalog

__all__ = [
    "CallerFor",
    "Generation",
    "LiveTools",
    "build_server",
    "response_uri",
    "tool_result",
]

logger = logging.getLogger("mcpbuild.server")


_RESOURCE_NOT_FOUND = -32002  # MCP's code for an unknown resource URI

CallerFor = Callable[[ServerRequestContext[Any]], Caller]


class _HideInternalErrors:
    """Turn an unexpected exception into a generic JSON-RPC error in both protocol
    generations; the SDK would otherwise send ``str(exc)`` to 2025-11-25 clients."""

    async def __call__(self, ctx: ServerRequestContext[Any], call_next: CallNext) -> HandlerResult:
        try:
            return await call_next(ctx)
        except (MCPError, ValidationError):
            raise
        except Exception as exc:
            logger.error("internal error in %s: %s", ctx.method, type(exc).__name__)
            raise MCPError(code=types.INTERNAL_ERROR, message="Internal server error") from None


@dataclass(frozen=True, slots=True)
class Generation:
    """One version of the served spec: the runner, the views and the lists they give.

    A request reads the current generation once, at its start, and keeps it to its end:
    a reload in between (``mcpbuild dev``) never changes the spec under a call.
    """

    runner: ToolRunner
    views: ViewCatalog
    listed: types.ListToolsResult
    resources: types.ListResourcesResult

    @classmethod
    def of(cls, runner: ToolRunner, views: ViewCatalog | None = None) -> Generation:
        """The runner's visible tools, and their ``views`` as ``ui://`` resources."""
        resolved = runner.connector
        views = views if views is not None else ViewCatalog(resolved)
        listed = types.ListToolsResult(
            tools=[
                types.Tool.model_validate(
                    {**tool_definition(t.spec), "_meta": views.tool_meta(name)}
                )
                for name, t in resolved.tools.items()
            ]
        )
        resources = types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=view.uri,
                    name=f"{name}-view",
                    title=view.title,
                    description=f"How {name}'s results are shown in hosts with MCP Apps.",
                    mime_type=views.mime_type,
                )
                for name, view in views.by_tool.items()
            ]
        )
        return cls(runner, views, listed, resources)


class LiveTools:
    """The generation a reloading server serves now; :meth:`swap` replaces it at once.

    Given to :func:`build_server` instead of a runner, it makes a server whose lists may
    change: it declares ``listChanged`` for tools and resources (2025-11-25; the
    2026-07-28 generation learns of changes through ``subscriptions/listen``).
    """

    def __init__(self, current: Generation) -> None:
        self.current = current

    def swap(self, new: Generation) -> Generation:
        """Serve ``new`` from the next request on; return the generation it replaces."""
        old, self.current = self.current, new
        return old


class _ListChangingServer(Server[Any]):
    """A server whose tool and resource lists change while it runs (``mcpbuild dev``)."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True, resources_changed=True),
            experimental_capabilities,
            extensions,
        )


def build_server(
    runner: ToolRunner | LiveTools,
    *,
    caller_for: CallerFor | None = None,
    views: ViewCatalog | None = None,
    tracing: Tracing | None = None,
) -> Server[Any]:
    """A low-level MCP server exposing the runner's visible tools, and their ``views``
    as ``ui://`` resources (MCP Apps).

    Given a :class:`LiveTools` (whose generation carries its views) instead of a runner,
    every request reads the generation current when it starts.

    The tool handler checks the caller's scopes itself, from the token the SDK
    authenticated, whatever the bearer gate in front of it decided: no path reaches the
    upstream without that check. With ``tracing``, each tool call is a span
    (:mod:`builder.tools.tracing`).
    """
    if isinstance(runner, LiveTools):
        live: LiveTools | None = runner
        holder = runner
    else:
        live = None
        holder = LiveTools(Generation.of(runner, views))
    connector = holder.current.runner.connector.spec

    async def on_list_resources(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return holder.current.resources

    async def on_read_resource(
        ctx: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        views = holder.current.views
        view = views.by_uri.get(str(params.uri))
        if view is None:
            raise MCPError(
                code=_RESOURCE_NOT_FOUND,
                message=f"no resource '{params.uri}' on this server",
            )
        contents = types.TextResourceContents(
            uri=view.uri, mime_type=views.mime_type, text=view.html, meta=view.resource_meta
        )
        return types.ReadResourceResult(contents=[contents])

    async def on_list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return holder.current.listed

    async def on_call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        # One generation for the whole call, whatever a reload swaps in meanwhile.
        generation = holder.current
        runner, views, resolved = generation.runner, generation.views, generation.runner.connector
        name = params.name
        if name in resolved.hidden:
            return _error(f"tool '{name}' changes data and this server is read-only")
        if name not in resolved.tools:
            known = ", ".join(sorted(resolved.tools))
            return _error(f"unknown tool '{name}'; this server has: {known}")
        caller = caller_for(ctx) if caller_for is not None else Caller()
        if caller.scopes is not None:
            missing = resolved.missing_scopes(name, caller.scopes)
            if missing:
                logger.warning("tool call refused: missing scope", extra={"tool": name})
                return _error(
                    f"tool '{name}' needs scope {' '.join(missing)}, which this sign-in has "
                    "not granted; sign in again and approve it"
                )
        result = await runner.call(name, params.arguments, caller.credentials)
        out = tool_result(name, result)
        if name in views.by_tool and _shows_views(ctx):
            meta = views.result_meta(name, result, params.arguments)
            if meta is not None:
                out.meta = meta
        return out

    async def on_call_tool_traced(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        assert tracing is not None
        resolved = holder.current.runner.connector
        known = params.name in resolved.tools or params.name in resolved.hidden
        with tracing.tool_call(params.name if known else "?", ctx.meta):
            return await on_call_tool(ctx, params)

    has_views = live is not None or bool(holder.current.views.by_tool)
    server: Server[Any] = (_ListChangingServer if live is not None else Server)(
        connector.name,
        version=connector.version or __version__,
        title=connector.title,
        description=connector.description,
        on_list_tools=on_list_tools,
        # Chosen once: with tracing off, a call pays nothing for it.
        on_call_tool=on_call_tool if tracing is None else on_call_tool_traced,
        on_list_resources=on_list_resources if has_views else None,
        on_read_resource=on_read_resource if has_views else None,
    )
    # The SDK's default OpenTelemetry middleware costs ~7% of a call with no tracer set up.
    server.middleware = [_HideInternalErrors()]
    return server


def _shows_views(ctx: ServerRequestContext[Any]) -> bool:
    """Whether the client declared the MCP Apps extension (in ``initialize``, or on the
    request for 2026-07-28): only such a host gets the values a view shows, so others get
    exactly the result they got before views, at no extra cost."""
    capabilities = ctx.session.client_capabilities
    extensions = capabilities.extensions if capabilities is not None else None
    return extensions is not None and UI_EXTENSION in extensions


def tool_result(name: str, result: Shaped) -> types.CallToolResult:
    """The MCP result of tool ``name``'s :class:`Shaped` result.

    The first content item is the result itself: its text (the JSON text of a JSON result,
    so it parses), an ``ImageContent`` for an ``image/*`` response, or an
    ``EmbeddedResource`` holding a ``BlobResourceContents`` for any other binary one (its
    URI from :func:`response_uri`). Then, as one more text item, the notes (what the
    budget cut, more pages) or, after a binary item, its one-line description.
    """
    content: list[types.ContentBlock] = []
    if result.blob is not None:
        data = base64.b64encode(result.blob).decode("ascii")
        mime = result.mime_type or "application/octet-stream"
        if mime.startswith("image/"):
            content.append(types.ImageContent(type="image", data=data, mime_type=mime))
        else:
            blob = types.BlobResourceContents(
                uri=response_uri(name, result.blob), mime_type=mime, blob=data
            )
            content.append(types.EmbeddedResource(type="resource", resource=blob))
    content.append(types.TextContent(type="text", text=result.text))
    if result.notes:
        content.append(types.TextContent(type="text", text="\n".join(result.notes)))
    return types.CallToolResult(
        content=content, structured_content=result.structured, is_error=result.is_error
    )


def response_uri(name: str, blob: bytes) -> str:
    """``mcpbuild://response/<tool>/<sha256 of the bytes, 32 hex digits>``: the same file
    from the same tool always has the same URI."""
    return f"mcpbuild://response/{name}/{hashlib.sha256(blob).hexdigest()[:32]}"


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)
