"""Swagger 2.0 → the OpenAPI 3.x shape, so one mapping reads both.

What changes: ``host``/``basePath``/``schemes`` become ``servers``; an ``in: body`` param
becomes ``requestBody`` (its media type from ``consumes``); ``in: formData`` params become
a form body, multipart when one of them is a ``type: file`` or ``consumes`` says so; a
param's own ``type``/``items``/``enum``/``default`` move into its ``schema`` and
``collectionFormat`` into ``style``/``explode``; a response's ``schema`` moves under
``content`` (media type from ``produces``) and its headers get a ``schema``;
``securityDefinitions`` become ``components.securitySchemes`` (oauth2 ``accessCode`` →
``authorizationCode``, ``application`` → ``clientCredentials``, ``basic`` → http basic).

A param or response that a ``$ref`` brought from another file has its own ``$ref``s made
absolute, so they still point where they did once moved into the converted operation.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from builder.openapi.load import Document

__all__ = ["security_schemes", "servers", "to_v3_operation"]

_PARAM_SCHEMA_KEYS = (
    "type",
    "format",
    "items",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
)
_COLLECTION_STYLES = {
    "csv": ("form", False),
    "multi": ("form", True),
    "ssv": ("spaceDelimited", False),
    "tsv": ("tabDelimited", False),
    "pipes": ("pipeDelimited", False),
}
_FLOWS = {
    "accessCode": "authorizationCode",
    "implicit": "implicit",
    "password": "password",
    "application": "clientCredentials",
}


def servers(root: dict[str, Any]) -> list[dict[str, Any]]:
    """The 3.x ``servers`` of a Swagger 2.0 description (https first when offered)."""
    host = root.get("host")
    if not isinstance(host, str) or not host:
        return []
    schemes = [s for s in root.get("schemes") or [] if isinstance(s, str)] or ["https"]
    scheme = "https" if "https" in schemes else schemes[0]
    base_path = root.get("basePath") if isinstance(root.get("basePath"), str) else ""
    return [{"url": f"{scheme}://{host}{base_path}".rstrip("/")}]


def security_schemes(root: dict[str, Any]) -> dict[str, Any]:
    """``securityDefinitions`` as 3.x ``securitySchemes``."""
    out: dict[str, Any] = {}
    for name, scheme in (root.get("securityDefinitions") or {}).items():
        if not isinstance(scheme, dict):
            continue
        kind = scheme.get("type")
        if kind == "oauth2":
            flow: dict[str, Any] = {"scopes": scheme.get("scopes") or {}}
            for key in ("authorizationUrl", "tokenUrl"):
                if key in scheme:
                    flow[key] = scheme[key]
            flow_name = _FLOWS.get(str(scheme.get("flow")), "authorizationCode")
            out[name] = {"type": "oauth2", "flows": {flow_name: flow}}
        elif kind == "basic":
            out[name] = {"type": "http", "scheme": "basic"}
        else:
            out[name] = dict(scheme)
        if "description" in scheme:
            out[name]["description"] = scheme["description"]
    return out


def to_v3_operation(
    doc: Document, operation: dict[str, Any], shared: list[Any], base: str
) -> dict[str, Any]:
    """``operation`` (with the path item's ``shared`` params) in the 3.x shape."""
    root = doc.root
    consumes = operation.get("consumes") or root.get("consumes") or ["application/json"]
    produces = operation.get("produces") or root.get("produces") or ["application/json"]
    params: dict[tuple[str, str], dict[str, Any]] = {}
    for raw in [*shared, *(operation.get("parameters") or [])]:
        node, node_base, _ = doc.deref(raw, base)
        if isinstance(node, dict):
            param = _absolute(node, node_base)
            params[(str(param.get("in")), str(param.get("name")))] = param
    out: dict[str, Any] = {
        k: v for k, v in operation.items() if k not in ("parameters", "responses", "consumes")
    }
    out["parameters"] = []
    form: dict[str, Any] = {}
    form_required: list[str] = []
    multipart = any("multipart/form-data" in str(c) for c in consumes)
    for (where, name), param in params.items():
        if where == "body":
            media = next((c for c in consumes if "json" in str(c)), consumes[0])
            out["requestBody"] = {
                "required": bool(param.get("required")),
                "description": param.get("description"),
                "content": {media: {"schema": param.get("schema") or {}}},
            }
        elif where == "formData":
            schema = _param_schema(param)
            if param.get("type") == "file":
                multipart = True
                schema = {"type": "string", "format": "binary"}
            if param.get("description"):
                schema["description"] = param["description"]
            form[name] = schema
            if param.get("required"):
                form_required.append(name)
        else:
            converted = {
                k: v
                for k, v in param.items()
                if k not in (*_PARAM_SCHEMA_KEYS, "collectionFormat", "allowEmptyValue")
            }
            converted["schema"] = _param_schema(param)
            style = _COLLECTION_STYLES.get(str(param.get("collectionFormat", "csv")))
            if param.get("type") == "array" and style is not None:
                converted["style"], converted["explode"] = style
            out["parameters"].append(converted)
    if form:
        media = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
        schema = {"type": "object", "properties": form}
        if form_required:
            schema["required"] = form_required
        out["requestBody"] = {
            "required": bool(form_required),
            "content": {media: {"schema": schema}},
        }
    out["responses"] = {}
    for status, raw in (operation.get("responses") or {}).items():
        node, node_base, _ = doc.deref(raw, base)
        if not isinstance(node, dict):
            continue
        response = _absolute(node, node_base)
        converted = {"description": response.get("description", "")}
        if "schema" in response:
            media = next((p for p in produces if "json" in str(p)), produces[0])
            converted["content"] = {media: {"schema": response["schema"]}}
        headers = response.get("headers")
        if isinstance(headers, dict):
            converted["headers"] = {
                h: {"description": v.get("description"), "schema": _param_schema(v)}
                for h, v in headers.items()
                if isinstance(v, dict)
            }
        out["responses"][status] = converted
    return out


def _param_schema(param: dict[str, Any]) -> dict[str, Any]:
    return {k: param[k] for k in _PARAM_SCHEMA_KEYS if k in param}


def _absolute(node: Any, base: str) -> Any:
    """A copy of ``node`` with every ``$ref`` made absolute against ``base``."""
    if isinstance(node, dict):
        return {
            k: urljoin(base, v) if k == "$ref" and isinstance(v, str) else _absolute(v, base)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolute(v, base) for v in node]
    return node
