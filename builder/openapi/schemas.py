"""OpenAPI schemas → the connector's param schemas and a tool's ``output_schema``.

Input side (:meth:`SchemaReader.param`): ``$ref``s followed, ``allOf`` merged, ``readOnly``
properties dropped, ``nullable``/``type: [x, "null"]`` reduced to ``x``. ``oneOf`` and
``anyOf`` become ``one_of`` only where the alternatives cannot overlap: alternatives are
grouped by type (integer joins number), each group is merged into one schema, and
``one_of`` lists the groups when there are several; overlapping alternatives of one type
would make valid arguments fail ``oneOf``, so they are merged and the description says
the value takes several shapes. Enums keep the values that fit the type; a pattern
Python cannot compile is dropped. Nesting deeper than :data:`MAX_INPUT_DEPTH` stops at
the type with a note, and a recursive schema is cut where it repeats with
"(recursive: see NAME)".

Output side (:meth:`SchemaReader.output`): a plain JSON Schema of types, properties, items
and formats (descriptions, ``required`` and enums left out: a response that disagrees
with its description should not fail the call), ``writeOnly`` properties dropped,
nullable types kept nullable; ``None`` when the schema is bigger than
:data:`MAX_OUTPUT_PROPERTIES` properties or deeper than :data:`MAX_OUTPUT_DEPTH` objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from builder.openapi.load import Document
from builder.openapi.text import PARAM_DESCRIPTION_LIMIT, plain_text, trim

__all__ = [
    "MAX_INPUT_DEPTH",
    "MAX_OUTPUT_DEPTH",
    "MAX_OUTPUT_PROPERTIES",
    "Flat",
    "SchemaReader",
    "fits",
]

MAX_INPUT_DEPTH = 4
"""Levels of nested objects and arrays below a param that are spelled out."""
MAX_OUTPUT_PROPERTIES = 40
"""Most properties, counted at every level, of a response schema kept as output_schema."""
MAX_OUTPUT_DEPTH = 3
"""Most levels of nested objects of a response schema kept as output_schema."""

_TYPES = ("string", "integer", "number", "boolean", "array", "object")
_Ref = tuple[Any, str]  # a raw schema and the URI of the document it is in


@dataclass
class Flat:
    """One schema with its ``$ref``s followed and ``allOf`` merged; sub-schemas stay raw."""

    types: list[str] = field(default_factory=list)
    nullable: bool = False
    description: str | None = None
    title: str | None = None
    enum: list[Any] | None = None
    default: Any = None
    has_default: bool = False
    format: str | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    read_only: bool = False
    write_only: bool = False
    properties: dict[str, _Ref] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    additional: bool | None = None
    items: _Ref | None = None
    alternatives: list[_Ref] = field(default_factory=list)
    binary: bool = False
    recursive: str | None = None  # the name of the schema this one repeats

    @property
    def type(self) -> str:
        """The one type the connector can state for this schema."""
        if self.types:
            return self.types[0]
        if self.properties or self.additional is not None:
            return "object"
        if self.items is not None:
            return "array"
        if self.enum:
            return _type_of(self.enum[0]) or "string"
        return "string"


class SchemaReader:
    """Reads the schemas of one description; ``notes`` collects what could not be said."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    # -- flattening ---------------------------------------------------------------------

    def flat(
        self, raw: Any, base: str, stack: tuple[str, ...] = ()
    ) -> tuple[Flat, tuple[str, ...]]:
        """``raw`` with refs followed and ``allOf`` merged; the stack of refs followed."""
        node, base, target = self.doc.deref(raw, base)
        if target is not None:
            if target in stack:
                out = Flat(types=_types(node)[0] or ["object"])
                out.recursive = _name(target)
                out.description = f"(recursive: see {out.recursive})"
                return out, stack
            stack = (*stack, target)
        out = Flat()
        if not isinstance(node, dict):
            return out, stack
        for part in node.get("allOf") or ():
            merged, stack = self.flat(part, base, stack)
            _merge(out, merged)
        types, nullable = _types(node)
        if types:
            out.types = types
        out.nullable = out.nullable or nullable
        if isinstance(node.get("description"), str):
            out.description = node["description"]
        if isinstance(node.get("title"), str):
            out.title = node["title"]
        if isinstance(node.get("enum"), list):
            out.enum = [v for v in node["enum"] if v is not None]
        elif "const" in node and node["const"] is not None:
            out.enum = [node["const"]]
        if "default" in node and node["default"] is not None:
            out.default, out.has_default = node["default"], True
        for key in ("format", "pattern"):
            if isinstance(node.get(key), str):
                setattr(out, key, node[key])
        for key, attr in (
            ("minimum", "minimum"),
            ("maximum", "maximum"),
            ("minLength", "min_length"),
            ("maxLength", "max_length"),
        ):
            value = node.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                setattr(out, attr, value)
        out.read_only = out.read_only or node.get("readOnly") is True
        out.write_only = out.write_only or node.get("writeOnly") is True
        properties = node.get("properties")
        if isinstance(properties, dict):
            for name, sub in properties.items():
                out.properties[str(name)] = (sub, base)
        required = node.get("required")
        if isinstance(required, list):
            out.required |= {str(r) for r in required}
        extra = node.get("additionalProperties")
        if extra is True or isinstance(extra, dict):
            out.additional = True
        elif extra is False:
            out.additional = False
        if "items" in node and isinstance(node["items"], dict):
            out.items = (node["items"], base)
        for key in ("oneOf", "anyOf"):
            for alt in node.get(key) or ():
                out.alternatives.append((alt, base))
        if len(out.types) > 1 and not out.alternatives:
            out.alternatives = [({"type": kind}, base) for kind in out.types]
        if out.format == "binary" or node.get("type") == "file" or "contentEncoding" in node:
            out.binary = True
        return out, stack

    # -- input ------------------------------------------------------------------------------

    def param(
        self, raw: Any, base: str, stack: tuple[str, ...] = (), *, depth: int = 0
    ) -> dict[str, Any] | None:
        """The connector schema (Param fields) of ``raw``; None for a schema of null only.

        Keys beyond the nested ``Schema`` model (``default``, ``min_length``,
        ``max_length``) are included; :func:`nested` strips them for nested schemas."""
        flat, stack = self.flat(raw, base, stack)
        return self.from_flat(flat, stack, depth=depth)

    def from_flat(self, flat: Flat, stack: tuple[str, ...], *, depth: int) -> dict[str, Any] | None:
        if not flat.types and flat.nullable and not flat.alternatives and not flat.properties:
            return None
        notes: list[str] = []
        alternatives = self._alternatives(flat, stack, depth, notes)
        if alternatives is not None and len(alternatives) == 1:
            only = alternatives[0]
            if flat.description:
                text = trim(plain_text(flat.description), PARAM_DESCRIPTION_LIMIT)
                if text:
                    only["description"] = text
            return only
        kind = alternatives[0]["type"] if alternatives else flat.type
        out: dict[str, Any] = {"type": kind}
        if flat.description or flat.title:
            out["description"] = flat.description or flat.title
        elif alternatives:
            described = [a["description"] for a in alternatives if a.get("description")]
            if described:
                out["description"] = described[0]
        if alternatives:
            out["one_of"] = [nested(a) for a in alternatives]
        if flat.recursive is not None:
            return out
        if kind in ("object", "array") and depth >= MAX_INPUT_DEPTH:
            notes.append("nested fields not listed")
        elif kind == "object" and not alternatives:
            properties: dict[str, Any] = {}
            for name, (sub, sub_base) in flat.properties.items():
                sub_flat, sub_stack = self.flat(sub, sub_base, stack)
                if sub_flat.read_only:
                    continue
                schema = self.from_flat(sub_flat, sub_stack, depth=depth + 1)
                if schema is None:
                    continue
                schema = nested(schema)
                if name in flat.required:
                    schema["required"] = True
                properties[name] = schema
            if properties:
                out["properties"] = properties
            if flat.additional is not None:
                out["additional_properties"] = flat.additional
        elif kind == "array" and flat.items is not None and not alternatives:
            item = self.param(flat.items[0], flat.items[1], stack, depth=depth + 1)
            if item is not None:
                out["items"] = nested(item)
        if not alternatives:
            _constraints(flat, kind, out)
        if notes:
            text = out.get("description", "")
            out["description"] = f"{text} ({'; '.join(notes)})".strip()
        if "description" in out:
            out["description"] = trim(plain_text(out["description"]), PARAM_DESCRIPTION_LIMIT)
            if not out["description"]:
                del out["description"]
        return out

    def _alternatives(
        self, flat: Flat, stack: tuple[str, ...], depth: int, notes: list[str]
    ) -> list[dict[str, Any]] | None:
        """oneOf/anyOf as one schema per type (see the module docstring), or None."""
        if not flat.alternatives:
            return None
        groups: dict[str, list[dict[str, Any]]] = {}
        for raw, base in flat.alternatives:
            schema = self.param(raw, base, stack, depth=depth)
            if schema is None:
                continue
            kind = "number" if schema["type"] == "integer" else schema["type"]
            groups.setdefault(kind, []).append(schema)
        if not groups:
            return None
        merged: list[dict[str, Any]] = []
        for group in groups.values():
            if len(group) > 1:
                notes.append(f"takes one of {len(group)} {group[0]['type']} shapes")
            merged.append(_merge_schemas(group))
        return merged

    # -- output -----------------------------------------------------------------------------

    def output(self, raw: Any, base: str) -> dict[str, Any] | None:
        """A JSON Schema of a response body, or None when it is too big or not an object."""
        budget = _Budget(MAX_OUTPUT_PROPERTIES)
        schema = self._output(raw, base, (), 0, budget)
        if budget.exceeded or schema is None:
            return None
        if schema.get("type") not in ("object", ["object", "null"]):
            return None
        schema["type"] = "object"
        return schema

    def _output(
        self, raw: Any, base: str, stack: tuple[str, ...], depth: int, budget: _Budget
    ) -> dict[str, Any] | None:
        flat, stack = self.flat(raw, base, stack)
        if flat.recursive is not None:
            budget.exceeded = True
        if budget.exceeded:
            return None
        if flat.alternatives:
            options = [self._output(a, b, stack, depth, budget) for a, b in flat.alternatives]
            kept = [o for o in options if o is not None]
            if not kept:
                return None
            return {"anyOf": kept} if len(kept) > 1 else kept[0]
        kind = flat.type if (flat.types or flat.properties or flat.items) else None
        out: dict[str, Any] = {}
        if kind is not None:
            out["type"] = [kind, "null"] if flat.nullable else kind
        if flat.format and kind == "string":
            out["format"] = flat.format
        if kind == "object" and flat.properties:
            if depth >= MAX_OUTPUT_DEPTH or len(flat.properties) > budget.left:
                budget.exceeded = True
                return None
            budget.left -= len(flat.properties)
            properties: dict[str, Any] = {}
            for name, (sub, sub_base) in flat.properties.items():
                sub_flat, _ = self.flat(sub, sub_base, stack)
                if sub_flat.write_only:
                    continue
                schema = self._output(sub, sub_base, stack, depth + 1, budget)
                properties[name] = schema if schema is not None else {}
            out["properties"] = properties
        elif kind == "array" and flat.items is not None:
            item = self._output(flat.items[0], flat.items[1], stack, depth, budget)
            if item is not None:
                out["items"] = item
        return out


@dataclass
class _Budget:
    """Properties an output schema may still have; ``exceeded`` once it is too big."""

    left: int
    exceeded: bool = False


def nested(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without the keys only a top-level Param has."""
    return {k: v for k, v in schema.items() if k not in ("default", "min_length", "max_length")}


def fits(value: Any, schema: dict[str, Any]) -> bool:
    """Whether ``value`` fits ``schema``'s type, enum, bounds and pattern (for defaults)."""
    kind = schema.get("type")
    if kind is not None and _type_of(value) not in _compatible(kind):
        return False
    if schema.get("enum") is not None and value not in schema["enum"]:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        if schema.get("minimum") is not None and value < schema["minimum"]:
            return False
        if schema.get("maximum") is not None and value > schema["maximum"]:
            return False
    if isinstance(value, str):
        if schema.get("pattern") is not None and not re.search(schema["pattern"], value):
            return False
        if schema.get("min_length") is not None and len(value) < schema["min_length"]:
            return False
        if schema.get("max_length") is not None and len(value) > schema["max_length"]:
            return False
    if kind == "array" and isinstance(value, list) and "items" in schema:
        return all(fits(v, schema["items"]) for v in value)
    return True


def _constraints(flat: Flat, kind: str, out: dict[str, Any]) -> None:
    if kind == "string":
        if flat.pattern is not None and _compiles(flat.pattern):
            out["pattern"] = flat.pattern
        if flat.format:
            out["format"] = flat.format
        if flat.min_length is not None:
            out["min_length"] = int(flat.min_length)
        if flat.max_length is not None:
            out["max_length"] = int(flat.max_length)
    if kind in ("integer", "number"):
        for key in ("minimum", "maximum"):
            value = getattr(flat, key)
            if value is not None:
                out[key] = value
        if "minimum" in out and "maximum" in out and out["minimum"] > out["maximum"]:
            del out["minimum"], out["maximum"]
    if flat.enum:
        values = [v for v in flat.enum if _type_of(v) in _compatible(kind) and fits(v, out)]
        if values:
            out["enum"] = _unique(values)
    if flat.has_default and fits(flat.default, out):
        out["default"] = flat.default


def _merge(out: Flat, part: Flat) -> None:
    """Merge an ``allOf`` part into ``out``: properties and required add up."""
    out.types = out.types or part.types
    out.nullable = out.nullable or part.nullable
    for attr in ("description", "title", "format", "pattern", "minimum", "maximum"):
        if getattr(part, attr) is not None:
            setattr(out, attr, getattr(part, attr))
    for attr in ("min_length", "max_length", "enum", "items", "recursive"):
        if getattr(part, attr) is not None:
            setattr(out, attr, getattr(part, attr))
    if part.has_default:
        out.default, out.has_default = part.default, True
    out.read_only = out.read_only or part.read_only
    out.write_only = out.write_only or part.write_only
    out.properties.update(part.properties)
    out.required |= part.required
    if part.additional is not None:
        out.additional = part.additional
    out.alternatives.extend(part.alternatives)
    out.binary = out.binary or part.binary


def _merge_schemas(group: list[dict[str, Any]]) -> dict[str, Any]:
    """Several converted schemas of one type as one schema that accepts each of them."""
    if len(group) == 1:
        return group[0]
    types = {s["type"] for s in group}
    out: dict[str, Any] = {"type": "number" if "number" in types else group[0]["type"]}
    descriptions = [s["description"] for s in group if s.get("description")]
    if descriptions:
        out["description"] = descriptions[0]
    properties: dict[str, Any] = {}
    for schema in group:
        for name, sub in (schema.get("properties") or {}).items():
            properties.setdefault(name, {k: v for k, v in sub.items() if k != "required"})
    if properties:
        out["properties"] = properties
    if all("enum" in s for s in group):
        out["enum"] = _unique([v for s in group for v in s["enum"]])
    items = [s["items"] for s in group if "items" in s]
    if items and len(items) == len(group) and all(i == items[0] for i in items):
        out["items"] = items[0]
    return out


def _types(node: Any) -> tuple[list[str], bool]:
    """The non-null types ``node`` declares, and whether it allows null."""
    if not isinstance(node, dict):
        return [], False
    declared = node.get("type")
    names = declared if isinstance(declared, list) else [declared] if declared else []
    nullable = node.get("nullable") is True or "null" in names
    kinds = []
    for name in names:
        if name == "file":
            kinds.append("string")
        elif name in _TYPES:
            kinds.append(name)
    return kinds, nullable


def _type_of(value: Any) -> str | None:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return None


def _compatible(kind: str) -> tuple[str, ...]:
    return ("integer", "number") if kind == "number" else (kind,)


def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _unique(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if value not in out:
            out.append(value)
    return out


def _name(uri: str) -> str:
    """The last segment of a reference: ``#/components/schemas/Node`` → ``Node``."""
    fragment = uri.rsplit("#", 1)[-1] if "#" in uri else uri.rsplit("/", 1)[-1]
    last = fragment.rstrip("/").rsplit("/", 1)[-1]
    return last.replace("~1", "/").replace("~0", "~") or uri
