"""One OpenAPI operation → one connector tool (a plain dict, as written to the file).

The mapping, rule by rule:

- **Name**: the operationId (else method and path) in snake_case, at most
  :data:`MAX_NAME` characters; :func:`tool_names` makes them unique with ``_2``, ``_3``.
- **Description**: the summary, then the description, Markdown and HTML reduced to text,
  trimmed to :data:`~builder.openapi.text.DESCRIPTION_LIMIT`; the summary is the title.
- **Params**: path, query and header params keep their schema (types, enums, defaults,
  bounds, patterns, formats); a name the connector cannot take, or that another param took
  first (path, then query, header, body), gets a valid one and ``api_name``; a path param
  renamed is renamed in the path too. Array query params keep ``explode``; an object query
  param becomes one param per property (``name[prop]`` for ``style: deepObject``).
  ``Authorization``, ``Proxy-Authorization`` and ``Cookie`` headers and cookie params are
  left out: mcpbuild sends the user's credentials itself.
- **JSON body**: an object schema with at most :data:`MAX_BODY_PARAMS` properties, no
  ``additionalProperties`` and plain property names becomes one ``in: body`` param per
  property (required as the schema says, ``readOnly`` ones dropped); any other object
  (more properties, open, or no properties declared) becomes one ``spread: true`` param
  ``body`` with the properties inside, so the model sees one argument whose keys are the
  body's. A ``oneOf`` body takes its first object alternative. A body that is not an
  object (a list, a string) cannot be sent by mcpbuild: the operation is skipped, or its
  body left out when optional, and the report says so. So is a body on GET, HEAD or DELETE.
- **Form and multipart bodies**: ``body_format: form`` or ``multipart``, one param per
  property; a ``format: binary`` property of a multipart body is a ``file`` param (its
  content in base64, the media type from the ``encoding``).
- **Response**: the first 2xx response's JSON schema becomes ``response.output_schema``
  when small and an object (see :mod:`builder.openapi.schemas`); ``select`` is never set.
  A 2xx response with a ``Link`` header makes ``pagination: {style: link}``.
- **Scopes** from the operation's security requirement (:mod:`builder.openapi.security`);
  read-only, destructive and idempotent are left to the method's defaults.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from builder.connector.models import HTTP_METHODS, PARAM_NAME_PATTERN
from builder.openapi.fingerprint import fingerprints
from builder.openapi.load import Document
from builder.openapi.schemas import Flat, SchemaReader, fits, nested
from builder.openapi.security import Security
from builder.openapi.selection import Operation
from builder.openapi.swagger2 import to_v3_operation
from builder.openapi.text import DESCRIPTION_LIMIT, PARAM_DESCRIPTION_LIMIT, plain_text, trim

__all__ = ["MAX_BODY_PARAMS", "MAX_NAME", "Note", "ToolMapper", "tool_names"]

MAX_NAME = 64
"""Longest tool name written (several MCP clients cut or refuse longer ones)."""
MAX_BODY_PARAMS = 12
"""Most properties of a JSON body mapped to params of their own."""

_PARAM_NAME = re.compile(PARAM_NAME_PATTERN)
_OWN_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_SUCCESS = ("200", "201", "202", "203", "206", "2XX", "2xx")
_PLACES = ("path", "query", "header")


@dataclass(frozen=True)
class Note:
    """Something the report tells the author about one operation's tool."""

    code: str
    message: str
    operation: str
    tool: str | None = None


def tool_names(ops: Iterable[Operation]) -> list[str]:
    """A valid, short, unique tool name for each operation, in order."""
    names: list[str] = []
    taken: set[str] = set()
    for op in ops:
        base = _snake(op.operation_id or f"{op.method} {op.path}") or op.method.lower()
        if len(base) > MAX_NAME:
            digest = hashlib.sha256(base.encode()).hexdigest()[:6]
            base = f"{base[: MAX_NAME - 7].rstrip('_')}_{digest}"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base[: MAX_NAME - len(str(n)) - 1]}_{n}"
        taken.add(name)
        names.append(name)
    return names


def _snake(text: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", text)
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class ToolMapper:
    """Maps the operations of one description; ``notes`` collects what the report says."""

    def __init__(self, doc: Document, security: Security, *, swagger: bool) -> None:
        self.doc = doc
        self.reader = SchemaReader(doc)
        self.security = security
        self.swagger = swagger
        self.notes: list[Note] = []

    def tool(self, op: Operation, name: str) -> dict[str, Any] | None:
        """The tool of ``op`` named ``name``, or None when it cannot be one."""
        notes_before = len(self.notes)
        try:
            return self._tool(op, name)
        finally:
            for i in range(notes_before, len(self.notes)):
                note = self.notes[i]
                self.notes[i] = Note(note.code, note.message, note.operation, name)

    def _note(self, op: Operation, code: str, message: str) -> None:
        self.notes.append(Note(code, message, op.key))

    def _tool(self, op: Operation, name: str) -> dict[str, Any] | None:
        if op.method not in HTTP_METHODS:
            self._note(op, "skipped", f"{op.method} is not a method mcpbuild sends; skipped")
            return None
        if self.swagger:
            node, shared = to_v3_operation(self.doc, op.node, op.shared, op.base), []
        else:
            node, shared = op.node, op.shared
        path = op.path
        params: dict[str, dict[str, Any]] = {}
        request: dict[str, Any] = {"method": op.method, "path": path}
        path = self._parameters(op, node, shared, params)
        request["path"] = path
        if not self._body(op, node, params, request):
            return None
        tool: dict[str, Any] = {"name": name}
        summary = plain_text(str(node.get("summary") or "")).replace("\n", " ")
        if summary:
            tool["title"] = trim(summary, 100)
        tool["description"] = self._description(op, node, summary)
        scopes = self.security.scopes(node)
        if scopes:
            self.security.declare(scopes)
            tool["scopes"] = scopes
        tool["request"] = request
        if params:
            tool["params"] = params
            bare = [n for n, p in params.items() if not p.get("description")]
            if bare:
                self._note(
                    op, "param_description", "params without a description: " + ", ".join(bare)
                )
        response, link = self._response(op, node)
        if response:
            tool["response"] = response
        if link:
            handle = next(n for n in ("cursor", "page_cursor", "next_page") if n not in params)
            tool["pagination"] = (
                {"style": "link"}
                if handle == "cursor"
                else {
                    "style": "link",
                    "cursor_param": handle,
                }
            )
        marker: dict[str, Any] = {"operation": op.key}
        if op.operation_id:
            marker["operation_id"] = op.operation_id
        marker["generated"] = fingerprints(tool)
        tool["x-openapi"] = marker
        return tool

    # -- description ----------------------------------------------------------------------

    def _description(self, op: Operation, node: dict[str, Any], summary: str) -> str:
        text = plain_text(str(node.get("description") or ""))
        if summary and not text.startswith(summary.rstrip(".")):
            text = f"{summary.rstrip('.')}.\n\n{text}".strip()
        if not text:
            self._note(op, "missing_description", "no summary or description")
            return f"{op.method} {op.path}"
        if len(text) > DESCRIPTION_LIMIT:
            self._note(
                op,
                "long_description",
                f"description of {len(text)} characters trimmed to {DESCRIPTION_LIMIT}",
            )
        return trim(text, DESCRIPTION_LIMIT)

    # -- path, query and header params ----------------------------------------------------

    def _parameters(
        self,
        op: Operation,
        node: dict[str, Any],
        shared: list[Any],
        params: dict[str, dict[str, Any]],
    ) -> str:
        """Fill ``params`` from the operation's parameters; return the (renamed) path."""
        found: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
        for raw in [*shared, *(node.get("parameters") or [])]:
            item, base, _ = self.doc.deref(raw, op.base)
            if isinstance(item, dict) and "name" in item:
                found[(str(item.get("in")), str(item["name"]))] = (item, base)
        path = op.path
        ordered = sorted(found.items(), key=lambda kv: _order(kv[0][0]))
        for (where, api_name), (item, base) in ordered:
            if where == "cookie":
                self._note(op, "skipped_param", f"cookie param '{api_name}' left out")
                continue
            if where not in _PLACES:
                continue
            if where == "header" and api_name.lower() in _OWN_HEADERS:
                continue  # mcpbuild sends the user's credentials itself
            schema = self._param_schema(item, base)
            if schema is None:
                continue
            if where == "query" and schema["type"] == "object":
                self._object_query(op, item, schema, api_name, params)
                continue
            if where in ("path", "header") and schema["type"] in ("object", "array"):
                schema = _scalar(schema)
            name = _free_name(api_name, where, params)
            if where == "path":
                if name != api_name:
                    path = path.replace("{" + api_name + "}", "{" + name + "}")
                schema.pop("required", None)
                schema.pop("default", None)
            elif name != api_name:
                schema["api_name"] = api_name
            if where == "query" and schema["type"] == "array":
                self._array_style(op, item, schema, api_name)
            if where != "path":
                _set_required(schema, item.get("required") is True)
            params[name] = _param(schema, where)
        return path

    def _param_schema(self, item: dict[str, Any], base: str) -> dict[str, Any] | None:
        raw = item.get("schema")
        if raw is None and isinstance(item.get("content"), dict):
            media = next(iter(item["content"].values()), None)
            raw = media.get("schema") if isinstance(media, dict) else None
        schema = self.reader.param(raw, base) if raw is not None else {"type": "string"}
        if schema is None:
            return None
        if item.get("description"):
            text = trim(plain_text(str(item["description"])), PARAM_DESCRIPTION_LIMIT)
            if text:
                schema["description"] = text
        return schema

    def _object_query(
        self,
        op: Operation,
        item: dict[str, Any],
        schema: dict[str, Any],
        api_name: str,
        params: dict[str, dict[str, Any]],
    ) -> None:
        deep = item.get("style") == "deepObject"
        if not deep and item.get("explode") is False:
            self._note(
                op,
                "skipped_param",
                f"query object '{api_name}' (style form, not exploded) left out",
            )
            return
        for prop, sub in (schema.get("properties") or {}).items():
            if sub["type"] == "object":
                continue
            wire = f"{api_name}[{prop}]" if deep else prop
            name = _free_name(f"{api_name}_{prop}" if deep else prop, "query", params)
            sub = dict(sub)
            required = sub.pop("required", False) is True and item.get("required") is True
            if name != wire:
                sub["api_name"] = wire
            _set_required(sub, required)
            params[name] = _param(sub, "query")

    def _array_style(
        self, op: Operation, item: dict[str, Any], schema: dict[str, Any], api_name: str
    ) -> None:
        style = item.get("style", "form")
        if style != "form":
            self._note(
                op,
                "param_style",
                f"query array '{api_name}' has style {style}; mcpbuild sends it comma-separated",
            )
            schema["explode"] = False
        elif item.get("explode") is False:
            schema["explode"] = False
        items = schema.get("items")
        if isinstance(items, dict) and items.get("type") in ("object", "array"):
            schema["items"] = _scalar(items)

    # -- the body -------------------------------------------------------------------------

    def _body(
        self,
        op: Operation,
        node: dict[str, Any],
        params: dict[str, dict[str, Any]],
        request: dict[str, Any],
    ) -> bool:
        """Add the body's params; False when the operation cannot be a tool."""
        raw = node.get("requestBody")
        if raw is None:
            return True
        body, base, _ = self.doc.deref(raw, op.base)
        if not isinstance(body, dict):
            return True
        required = body.get("required") is True
        content = body.get("content") or {}
        media, kind = _media(content)

        def refuse(reason: str) -> bool:
            if required:
                self._note(op, "skipped", f"{reason}; skipped")
                return False
            self._note(op, "body_left_out", f"{reason}; the optional body is left out")
            return True

        if kind is None:
            found = ", ".join(map(str, content)) or "none"
            return refuse(f"request body of media type {found}, which mcpbuild does not send")
        if op.method in ("GET", "HEAD", "DELETE"):
            return refuse(f"a {op.method} request with a body, which mcpbuild does not send")
        schema_raw = content[media].get("schema") if isinstance(content[media], dict) else None
        flat, stack = self.reader.flat(schema_raw or {}, base)
        if flat.alternatives and not flat.properties:
            objects = [
                (a, b) for a, b in flat.alternatives if self.reader.flat(a, b)[0].type == "object"
            ]
            if objects:
                if len(objects) < len(flat.alternatives):
                    self._note(op, "body_shape", "the body's non-object alternatives are left out")
                flat, stack = self.reader.flat(objects[0][0], objects[0][1], stack)
        if flat.type != "object":
            return refuse(f"a JSON body of type {flat.type}, which mcpbuild cannot send")
        if kind != "json":
            request["body_format"] = kind
        properties = {k: v for k, v in flat.properties.items()}
        simple = kind != "json" or (
            0 < len(properties) <= MAX_BODY_PARAMS
            and flat.additional is not True
            and all(_PARAM_NAME.match(k) and "." not in k for k in properties)
        )
        if simple:
            self._body_params(op, flat, stack, kind, content[media], required, params)
            return True
        schema = self.reader.from_flat(flat, stack, depth=0) or {"type": "object"}
        schema = nested(schema)
        if "description" not in schema and body.get("description"):
            schema["description"] = trim(
                plain_text(str(body["description"])), PARAM_DESCRIPTION_LIMIT
            )
        if "additional_properties" not in schema and not flat.properties:
            schema["additional_properties"] = True
        name = _free_name("body", "body", params)
        schema["spread"] = True
        _set_required(schema, required)
        params[name] = _param(schema, "body")
        return True

    def _body_params(
        self,
        op: Operation,
        flat: Flat,
        stack: tuple[str, ...],
        kind: str,
        media: Any,
        required: bool,
        params: dict[str, dict[str, Any]],
    ) -> None:
        encoding = media.get("encoding") if isinstance(media, dict) else None
        for prop, (raw, base) in flat.properties.items():
            sub_flat, sub_stack = self.reader.flat(raw, base, stack)
            if sub_flat.read_only:
                continue
            schema = self.reader.from_flat(sub_flat, sub_stack, depth=0)
            if schema is None:
                continue
            if kind == "multipart" and sub_flat.binary:
                media_type = "application/octet-stream"
                if isinstance(encoding, dict) and isinstance(encoding.get(prop), dict):
                    declared = str(encoding[prop].get("contentType") or "")
                    media_type = declared.split(",")[0].strip() or media_type
                schema = {
                    "type": "string",
                    **({"description": schema["description"]} if "description" in schema else {}),
                    "file": {"media_type": media_type},
                }
            elif kind != "json" and schema["type"] == "object":
                schema = _scalar(schema)
                self._note(op, "body_shape", f"form field '{prop}' is an object; sent as a string")
            name = _free_name(prop, "body", params)
            if name != prop:
                schema["api_name"] = prop
            _set_required(schema, required and prop in flat.required)
            params[name] = _param(schema, "body")

    # -- the response ---------------------------------------------------------------------

    def _response(self, op: Operation, node: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        responses = node.get("responses") or {}
        statuses = [s for s in _SUCCESS if s in responses] + [
            str(s) for s in responses if str(s).startswith("2") and str(s) not in _SUCCESS
        ]
        if not statuses:
            self._note(op, "no_response_schema", "no 2xx response is described")
            return {}, False
        raw, base, _ = self.doc.deref(responses[statuses[0]], op.base)
        if not isinstance(raw, dict):
            return {}, False
        headers = raw.get("headers") or {}
        link = any(str(h).lower() == "link" for h in headers)
        content = raw.get("content") or {}
        if not content:
            if statuses[0] not in ("202", "204", "205") and op.method in ("GET", "POST"):
                self._note(
                    op, "no_response_schema", f"response {statuses[0]} has no content described"
                )
            return {}, link
        media = next((m for m in content if _is_json(str(m))), None)
        if media is None:
            return {}, link
        schema = content[media].get("schema") if isinstance(content[media], dict) else None
        if schema is None:
            self._note(op, "no_response_schema", f"response {statuses[0]} ({media}) has no schema")
            return {}, link
        output = self.reader.output(schema, base)
        return ({"output_schema": output} if output else {}), link


def _order(where: str) -> int:
    return {"path": 0, "query": 1, "header": 2}.get(where, 3)


def _media(content: dict[str, Any]) -> tuple[str | None, str | None]:
    """The media type of a request body mcpbuild can send, and its body_format."""
    for media in content:
        if _is_json(str(media)):
            return str(media), "json"
    for media in content:
        if str(media).startswith("application/x-www-form-urlencoded"):
            return str(media), "form"
    for media in content:
        if str(media).startswith("multipart/form-data"):
            return str(media), "multipart"
    return None, None


def _is_json(media: str) -> bool:
    kind = media.split(";")[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json") or kind == "*/*"


def _free_name(api_name: str, where: str, params: dict[str, Any]) -> str:
    """A valid param name for ``api_name`` that no earlier param has."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", api_name)
    if where == "body":
        name = name.replace(".", "_")
    if not name or not re.match(r"[A-Za-z_]", name):
        name = f"_{name}"
    name = name[:64]
    if name in params:
        name = f"{where}_{name}"[:64]
    n = 1
    candidate = name
    while candidate in params:
        n += 1
        candidate = f"{name[:60]}_{n}"
    return candidate


def _scalar(schema: dict[str, Any]) -> dict[str, Any]:
    """An object or array schema sent as a string (JSON or comma-separated)."""
    out: dict[str, Any] = {"type": "string"}
    what = "a JSON object" if schema["type"] == "object" else "a list"
    text = schema.get("description", "")
    out["description"] = f"{text} ({what}, written as a string)".strip()
    return out


def _set_required(schema: dict[str, Any], required: bool) -> None:
    """Param ``required``: written only when the default (required unless it has a
    default) would be wrong."""
    schema.pop("required", None)
    if "default" in schema and not fits(schema["default"], schema):
        del schema["default"]
    has_default = "default" in schema
    if required and has_default:
        schema["required"] = True
    elif not required and not has_default:
        schema["required"] = False


def _param(schema: dict[str, Any], where: str) -> dict[str, Any]:
    """The param's fields in the order the file shows them."""
    out: dict[str, Any] = {"type": schema["type"], "in": where}
    for key, value in schema.items():
        if key not in out:
            out[key] = value
    return out
