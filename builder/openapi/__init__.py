"""``mcpbuild import openapi``: a connector from an OpenAPI 3.0/3.1 or Swagger 2.0 description.

:func:`generate` reads the description (:mod:`.load`, references by ``referencing``),
brings Swagger 2.0 to the 3.x shape (:mod:`.swagger2`), picks the operations
(:mod:`.selection`), maps each to a tool (:mod:`.tools`, schemas in :mod:`.schemas`,
security in :mod:`.security`) and measures the result (:mod:`.quality`);
:func:`write_connector` writes it as commented YAML (:mod:`.write`). Each tool carries
``x-openapi: {operation, operation_id, generated}``, ``generated`` holding the
:func:`~.fingerprint.fingerprints` of its fields as generated, for ``--update``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from builder.connector.checks import is_loopback_host
from builder.errors import DescriptionError, SelectionNeeded, SpecError
from builder.openapi import swagger2
from builder.openapi.fingerprint import fingerprint, fingerprints
from builder.openapi.load import Document, load_description
from builder.openapi.quality import QualityReport, measure
from builder.openapi.security import env_prefix, read_security
from builder.openapi.selection import Operation, Selection, operations, select
from builder.openapi.text import plain_text, trim
from builder.openapi.tools import Note, ToolMapper, tool_names
from builder.openapi.write import render_connector, write_connector

__all__ = [
    "DEFAULT_MAX_TOOLS",
    "DescriptionError",
    "Generated",
    "Note",
    "Operation",
    "QualityReport",
    "Selection",
    "SelectionNeeded",
    "fingerprint",
    "fingerprints",
    "generate",
    "render_connector",
    "write_connector",
]

DEFAULT_MAX_TOOLS = 40
"""Tools above which the report warns, and operations above which no selection is refused."""


@dataclass
class Generated:
    """The result of an import: the connector (a plain dict, ready to write), the quality
    report, and the operations selected, in description order."""

    connector: dict[str, Any]
    report: QualityReport
    operations: list[Operation] = field(default_factory=list)

    def notes_by_tool(self) -> dict[str, list[str]]:
        """The report's notes about each tool, for comments above it."""
        out: dict[str, list[str]] = {}
        for note in self.report.notes:
            if note.tool is not None and note.code not in ("skipped",):
                out.setdefault(note.tool, []).append(note.message)
        return out


def generate(
    source: str,
    selection: Selection,
    *,
    base_url: str | None = None,
    name: str | None = None,
    max_tools: int = DEFAULT_MAX_TOOLS,
) -> Generated:
    """Import the operations ``selection`` takes from the description at ``source``.

    Raises :class:`SelectionNeeded` when nothing is selected and the description has more
    than ``max_tools`` operations, :class:`DescriptionError` when it cannot be read or
    nothing selected can be a tool."""
    doc = load_description(source)
    swagger = _version(doc)
    ops = operations(doc)
    chosen = select(ops, selection, limit=max_tools)
    raw_info = doc.root.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    title = str(info.get("title") or "").strip()
    connector_name = name or _slug(title) or "imported"
    prefix = env_prefix(connector_name)
    schemes = _schemes(doc, swagger)
    used = {
        str(scheme)
        for op in chosen
        for alternative in op.node.get("security", doc.root.get("security")) or ()
        if isinstance(alternative, dict)
        for scheme in alternative
    }
    security = read_security(schemes, doc.root.get("security"), used, prefix)
    mapper = ToolMapper(doc, security, swagger=swagger)
    tools: list[dict[str, Any]] = []
    for op, tool_name in zip(chosen, tool_names(chosen), strict=True):
        tool = mapper.tool(op, tool_name)
        if tool is not None:
            tools.append(tool)
    notes = mapper.notes
    if not tools:
        reasons = "; ".join(f"{n.operation}: {n.message}" for n in notes if n.code == "skipped")
        raise DescriptionError(f"none of the selected operations can be a tool ({reasons})")
    connector: dict[str, Any] = {"mcpbuild": 1, "name": connector_name}
    if title:
        connector["title"] = trim(title, 100)
    if info.get("description"):
        connector["description"] = trim(plain_text(str(info["description"])), 500)
    if info.get("version") is not None:
        connector["version"] = str(info["version"])
    marker: dict[str, Any] = {"source": source}
    if selection.as_dict():
        marker["selection"] = selection.as_dict()
    # What this import saw, so that an update does not bring back a tool the author deleted.
    marker["imported"] = sorted(str(t["x-openapi"]["operation"]) for t in tools)
    connector["x-openapi"] = marker
    if security.provider is not None:
        connector["provider"] = security.provider
    if security.others:
        why = (
            f"users sign in with {security.scheme}"
            if security.scheme
            else "no OAuth 2.0 authorization code flow to sign users in with"
        )
        notes.append(Note("security", f"{why}; not used: " + ", ".join(security.others), ""))
    connector["api"] = {"base_url": _base_url(doc, swagger, base_url, prefix, notes)}
    connector["tools"] = tools
    report = _measure(connector, notes, max_tools)
    return Generated(connector, report, chosen)


def _measure(connector: dict[str, Any], notes: list[Note], max_tools: int) -> QualityReport:
    """Measure the connector; a tool that does not validate is dropped and reported."""
    for _ in range(3):
        try:
            return measure(connector, notes, max_tools)[1]
        except SpecError as exc:
            bad = {i.path[1] for i in exc.issues if i.path[:1] == ("tools",) and len(i.path) > 1}
            if not bad or any(i.path[:1] != ("tools",) for i in exc.issues):
                raise DescriptionError(
                    "the generated connector does not validate: "
                    + "; ".join(f"{i.location}: {i.message}" for i in exc.issues[:5])
                ) from None
            tools = connector["tools"]
            for index in sorted((b for b in bad if isinstance(b, int)), reverse=True):
                tool = tools.pop(index)
                problems = [i for i in exc.issues if i.path[:2] == ("tools", index)]
                marker = tool.get("x-openapi") or {}
                notes.append(
                    Note(
                        "invalid_tool",
                        "; ".join(f"{i.location}: {i.message}" for i in problems[:2]),
                        str(marker.get("operation", "")),
                        str(tool.get("name")),
                    )
                )
            if not tools:
                raise DescriptionError("no generated tool validates") from None
    raise DescriptionError("the generated connector does not validate")


def _version(doc: Document) -> bool:
    """True for Swagger 2.0; raise for a version this importer does not read."""
    if "swagger" in doc.root:
        if str(doc.root["swagger"]).startswith("2."):
            return True
        raise DescriptionError(f"{doc.source}: expected swagger 2.0, got {doc.root['swagger']}")
    version = str(doc.root.get("openapi"))
    if not re.match(r"3\.[01]\.", version):
        raise DescriptionError(
            f"{doc.source}: expected OpenAPI 3.0 or 3.1 (or Swagger 2.0), got {version}"
        )
    return False


def _schemes(doc: Document, swagger: bool) -> dict[str, Any]:
    if swagger:
        return swagger2.security_schemes(doc.root)
    components = doc.root.get("components") or {}
    out: dict[str, Any] = {}
    for key, raw in (components.get("securitySchemes") or {}).items():
        out[str(key)] = doc.deref(raw, doc.uri)[0]
    return out


def _base_url(
    doc: Document, swagger: bool, given: str | None, prefix: str, notes: list[Note]
) -> str:
    if given:
        return given.rstrip("/")
    servers = swagger2.servers(doc.root) if swagger else doc.root.get("servers") or []
    placeholder = f"${{{prefix}_BASE_URL}}"
    first = servers[0] if servers and isinstance(servers[0], dict) else {}
    url = str(first.get("url") or "")
    for variable, spec in (first.get("variables") or {}).items():
        if isinstance(spec, dict) and "default" in spec:
            url = url.replace("{" + str(variable) + "}", str(spec["default"]))
    parts = urlsplit(url)
    if not url or not parts.scheme or not parts.hostname or "{" in url:
        what = f"server URL '{url}' is not absolute" if url else "no server URL"
        notes.append(Note("base_url", f"{what}: api.base_url is {placeholder}", ""))
        return placeholder
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        url = "https" + url[4:]
        notes.append(Note("base_url", f"the server URL is http; api.base_url uses {url}", ""))
    return url.rstrip("/")


def _slug(title: str) -> str:
    """``GitHub's official OpenAPI spec`` → ``github-s-official-openapi``: at most 4 words."""
    words = re.sub(r"[^a-z0-9]+", " ", title.lower()).split()
    return "-".join(words[:4])[:63].strip("-")
