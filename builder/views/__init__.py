"""Views of tool results for MCP Apps hosts (``io.modelcontextprotocol/ui``)."""

from builder.views.catalog import (
    ToolView,
    ViewCatalog,
    describe_view,
    template_problem,
    view_meta,
    view_uri,
)
from builder.views.document import MIME_TYPE, UI_EXTENSION
from builder.views.payload import PAYLOAD_KEY, safe_url

__all__ = [
    "MIME_TYPE",
    "PAYLOAD_KEY",
    "UI_EXTENSION",
    "ToolView",
    "ViewCatalog",
    "describe_view",
    "safe_url",
    "template_problem",
    "view_meta",
    "view_uri",
]
