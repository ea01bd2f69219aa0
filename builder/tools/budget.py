"""Fitting a JSON result into a byte budget: lists keep their first items, long strings
their first characters, and the result says what was cut.

A result's size is the length in UTF-8 of its compact JSON text (``,`` and ``:``
separators, non-ASCII characters as they are): the text the model sees. Two caps trim it:

- the item cap ``k``: a list longer than ``k`` keeps its first ``k`` items (never fewer
  than its schema's ``minItems``);
- the string cap ``s``: a string more than ``s + 20`` characters long keeps its first ``s``
  characters (code points), followed by ``…[+N chars]``, N the characters cut. A string
  at most 20 characters over the cap is kept whole, so that a cut always saves more than
  its marker costs.

Object keys, numbers, booleans and null are never changed, and no key is ever dropped.
The size never shrinks when either cap grows, so each cap is found by binary search, in
this order (``STRING_FLOOR`` is 100):

1. The result fits: nothing is cut.
2. Strings alone: every list whole, the largest ``s >= STRING_FLOOR`` that fits.
3. Lists too: with ``s = STRING_FLOOR``, the largest ``k`` that fits; then, at that ``k``,
   the largest ``s >= STRING_FLOOR`` that fits (the room too small for one more item goes
   to the strings).
4. Every list at its minimum (``k = 0``), the largest ``s < STRING_FLOOR`` that fits.
5. Nothing fits: :func:`fit` returns ``None``.

Items are thus dropped only when strings of ``STRING_FLOOR`` characters are not enough, and
the same data and budget always give the same result. One ``k`` applies to every list,
nested ones too (``items[].labels`` keeps at most ``k`` labels per item).

With a JSON Schema, trimming keeps to what it can see of it: local ``$ref`` and ``allOf``
are followed along ``properties``, ``patternProperties``, ``additionalProperties``,
``prefixItems`` and ``items``; a list keeps at least its ``minItems``, a string at least
its ``minLength``; a string under ``enum``, ``const``, ``pattern`` or ``format`` is never
cut, nor is anything below a keyword whose branches it cannot follow (``anyOf``,
``oneOf``, ``not``, ``if``, ``contains``, ...). The caller still validates the result.

Data nested too deep to walk (some hundreds of levels) is not trimmed: ``None``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

__all__ = ["STRING_FLOOR", "Fitted", "ListCut", "fit", "json_size", "serialize"]

STRING_FLOOR = 100
"""Strings are not cut below this many characters before any list is."""
_SLACK = 20  # a string is cut only when it is longer than the cap by more than this
_MAX_LISTED = 5  # list paths named in a note; the others are counted

_STRING, _LIST, _DICT = range(3)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Keywords whose effect on a trimmed value cannot be told without choosing a branch.
_OPAQUE_KEYWORDS = frozenset(
    {
        "anyOf",
        "oneOf",
        "not",
        "if",
        "then",
        "else",
        "contains",
        "dependentSchemas",
        "unevaluatedItems",
        "unevaluatedProperties",
        "$dynamicRef",
        "$recursiveRef",
    }
)
_FROZEN_STRING = ("enum", "const", "pattern", "format")


def serialize(data: Any) -> str:
    """The JSON text of a result: compact, non-ASCII characters kept."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def json_size(text: str) -> int:
    """Bytes of ``text`` in UTF-8 (a lone surrogate, which JSON may carry, counts 3)."""
    return len(text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True, slots=True)
class ListCut:
    """The lists at one place of the result that lost items (``items[].labels``)."""

    path: str
    lists: int
    before: int
    """Items of the longest of them (of the only one when ``lists`` is 1)."""
    kept: int


@dataclass(frozen=True, slots=True)
class Fitted:
    """A result that fits its budget, and what was cut to make it fit."""

    data: Any
    text: str
    size: int
    lists: tuple[ListCut, ...] = ()
    strings: int = 0
    """How many strings were shortened."""
    string_cap: int = 0

    @property
    def trimmed(self) -> bool:
        return bool(self.lists or self.strings)

    def note(self, limit: str) -> str | None:
        """``trimmed to fit 100000 bytes: `items` 500 → 37 items; 3 long strings
        shortened to 100 characters``, or None when nothing was cut."""
        if not self.trimmed:
            return None
        parts = [_describe(cut) for cut in self.lists[:_MAX_LISTED]]
        rest = sum(cut.lists for cut in self.lists[_MAX_LISTED:])
        if rest:
            parts.append(f"{rest} more {'list' if rest == 1 else 'lists'} cut")
        if self.strings:
            plural = "string" if self.strings == 1 else "strings"
            parts.append(f"{self.strings} long {plural} shortened to {self.string_cap} characters")
        return f"trimmed to fit {limit}: " + "; ".join(parts)


def fit(data: Any, budget: int, *, schema: Mapping[str, Any] | None = None) -> Fitted | None:
    """``data`` trimmed so that its JSON text is at most ``budget`` bytes, or None when
    even the smallest trim is too large (see the module docstring for the algorithm)."""
    text = serialize(data)
    size = json_size(text)
    if size <= budget:
        return Fitted(data, text, size)
    try:
        return _trimmed(data, budget, schema)
    except RecursionError:  # nested deeper than we walk; nothing sensible to trim
        return None


def _trimmed(data: Any, budget: int, schema: Mapping[str, Any] | None) -> Fitted | None:
    view = _expand(schema, schema) if schema is not None else []
    tree = _build(data, view, False, schema)
    if isinstance(tree, int):  # nothing to cut
        return None
    every, longest = tree.widest, max(tree.longest, STRING_FLOOR)

    def fits(k: int, s: int) -> bool:
        return _measure(tree, k, s) <= budget

    if fits(every, STRING_FLOOR):
        k, s = every, _largest(STRING_FLOOR, longest, lambda s: fits(every, s))
    elif fits(0, STRING_FLOOR):
        k = _largest(0, every, lambda k: fits(k, STRING_FLOOR))
        s = _largest(STRING_FLOOR, longest, lambda s: fits(k, s))
    elif fits(0, 0):
        k, s = 0, _largest(0, STRING_FLOOR, lambda s: fits(0, s))
    else:
        return None
    trim = _Trim(k, s)
    trimmed = trim.apply(tree, data, ())
    text = serialize(trimmed)
    size = json_size(text)
    if size > budget:  # the measure and the text disagree: never send more than promised
        return None
    return Fitted(trimmed, text, size, tuple(trim.cuts()), trim.strings, s)


def _largest(low: int, high: int, ok: Callable[[int], bool]) -> int:
    """The largest x in [low, high] with ok(x), given ok(low) and ok monotone."""
    while low < high:
        mid = (low + high + 1) // 2
        if ok(mid):
            low = mid
        else:
            high = mid - 1
    return low


# --- the sized tree ------------------------------------------------------------------


class _Node:
    """A value that some trim may change, with its full size and what may change below.

    Values no trim can change (numbers, short strings, anything frozen by the schema, a
    container with nothing to cut inside) are not nodes: only their size is kept.
    """

    __slots__ = (
        "fixed",
        "items",
        "kind",
        "longest",
        "members",
        "minimum",
        "size",
        "value",
        "widest",
    )

    def __init__(self, kind: int, value: Any, size: int) -> None:
        self.kind = kind
        self.value = value
        self.size = size
        self.longest = 0  # the longest cuttable string below, in characters
        self.widest = 0  # the longest cuttable list below, in items
        self.minimum = 0  # a list's minItems, a string's minLength
        self.fixed = 0  # an object's bytes besides its changeable values
        self.items: list[_Node | int] = []  # a list's items: a node, or the size of a fixed one
        self.members: list[tuple[str, _Node]] = []  # an object's changeable values


_View = list[Mapping[str, Any]] | None
"""The schemas a value must match, all of them (``[]``: none); None: cannot be followed."""


def _build(value: Any, view: _View, frozen: bool, schema: Any) -> _Node | int:
    """The sized tree of ``value`` (its size alone when no trim can change it); ``view`` is
    what it must match, ``schema`` the whole output schema (local references point in it)."""
    frozen = frozen or view is None
    schemas = view or []
    if isinstance(value, str):
        size = _quoted_size(value)
        if frozen or len(value) <= _SLACK:
            return size
        if schemas:
            if any(k in s for s in schemas for k in _FROZEN_STRING):
                return size
            minimum = _largest_int(schemas, "minLength")
            if len(value) <= minimum + _SLACK:
                return size
        node = _Node(_STRING, value, size)
        node.longest = len(value)
        node.minimum = minimum if schemas else 0
        return node
    if isinstance(value, list):
        if schemas:
            items = [
                _build(v, _item_view(schemas, i, schema), frozen, schema)
                for i, v in enumerate(value)
            ]
        else:  # the common case, kept cheap: nothing to follow
            items = [_build(v, view, frozen, schema) for v in value]
        minimum = len(value) if frozen else _largest_int(schemas, "minItems")
        widest = len(value) if len(value) > minimum else 0
        longest = 0
        size = 2 + max(len(value) - 1, 0)
        for item in items:
            if isinstance(item, int):
                size += item
            else:
                size += item.size
                widest = max(widest, item.widest)
                longest = max(longest, item.longest)
        if not widest and not longest:
            return size
        node = _Node(_LIST, value, size)
        node.items, node.minimum, node.widest, node.longest = items, minimum, widest, longest
        return node
    if isinstance(value, dict):
        fixed = 1 + len(value) * 2 if value else 2
        members: list[tuple[str, _Node]] = []
        widest = longest = 0
        for key, v in value.items():
            fixed += _quoted_size(key)
            sub = _property_view(schemas, key, schema) if schemas else view
            child = _build(v, sub, frozen, schema)
            if isinstance(child, int):
                fixed += child
            else:
                members.append((key, child))
                widest = max(widest, child.widest)
                longest = max(longest, child.longest)
        size = fixed + sum(child.size for _, child in members)
        if not members:
            return size
        node = _Node(_DICT, value, size)
        node.fixed, node.members, node.widest, node.longest = fixed, members, widest, longest
        return node
    if value is None or value is True:
        return 4
    if value is False:
        return 5
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return len(repr(value))  # what json writes for them
    return json_size(serialize(value))


def _quoted_size(text: str) -> int:
    """Bytes of ``text`` as a JSON string, quotes included."""
    quoted = encode_basestring(text)
    return len(quoted) if quoted.isascii() else json_size(quoted)


def _untouched(node: _Node, k: int, s: int) -> bool:
    return node.widest <= k and node.longest <= s + _SLACK


def _keep(node: _Node, k: int) -> int:
    return min(len(node.items), max(k, node.minimum))


def _cap(node: _Node, s: int) -> int | None:
    """A string's kept characters under cap ``s``, or None when it is kept whole."""
    cap = max(s, node.minimum)
    return cap if node.longest > cap + _SLACK else None


def _marker(cut: int) -> str:
    return f"…[+{cut} chars]"


def _measure(node: _Node | int, k: int, s: int) -> int:
    """Bytes of ``node`` trimmed with item cap ``k`` and string cap ``s``."""
    if isinstance(node, int):
        return node
    if _untouched(node, k, s):
        return node.size
    if node.kind == _STRING:
        cap = _cap(node, s)
        if cap is None:
            return node.size
        return _quoted_size(node.value[:cap]) + json_size(_marker(len(node.value) - cap))
    if node.kind == _LIST:
        keep = _keep(node, k)
        return 2 + max(keep - 1, 0) + sum(_measure(node.items[i], k, s) for i in range(keep))
    return node.fixed + sum(_measure(child, k, s) for _, child in node.members)


class _Trim:
    """Builds the trimmed value with caps ``k`` and ``s``, noting every cut."""

    def __init__(self, k: int, s: int) -> None:
        self.k = k
        self.s = s
        self.strings = 0
        self._lists: dict[str, list[int]] = {}  # path -> [lists, longest before, kept]

    def apply(self, node: _Node | int, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(node, int) or _untouched(node, self.k, self.s):
            return value
        if node.kind == _STRING:
            cap = _cap(node, self.s)
            if cap is None:
                return value
            self.strings += 1
            return value[:cap] + _marker(len(value) - cap)
        if node.kind == _LIST:
            keep = _keep(node, self.k)
            if keep < len(node.items):
                self._note_list(_render(path), len(node.items), keep)
            inner = (*path, "[]")
            return [self.apply(node.items[i], value[i], inner) for i in range(keep)]
        out = dict(value)
        for key, child in node.members:
            out[key] = self.apply(child, value[key], (*path, key))
        return out

    def _note_list(self, path: str, before: int, kept: int) -> None:
        seen = self._lists.setdefault(path, [0, 0, 0])
        seen[0] += 1
        seen[1] = max(seen[1], before)
        seen[2] = max(seen[2], kept)

    def cuts(self) -> Iterator[ListCut]:
        for path, (lists, before, kept) in self._lists.items():
            yield ListCut(path, lists, before, kept)


def _render(path: tuple[str, ...]) -> str:
    """``items[].labels``; the empty path (the result itself) is ``@``, as in JMESPath."""
    out = ""
    for part in path:
        if part == "[]":
            out += part
        else:
            name = part if _IDENTIFIER.match(part) else json.dumps(part, ensure_ascii=False)
            out += f".{name}" if out else name
    return out or "@"


def _describe(cut: ListCut) -> str:
    where = "the result" if cut.path == "@" else f"`{cut.path}`"
    if cut.lists == 1:
        return f"{where} {cut.before} → {cut.kept} {'item' if cut.kept == 1 else 'items'}"
    return f"{where} {cut.lists} lists → at most {cut.kept} {'item' if cut.kept == 1 else 'items'}"


# --- following the schema -------------------------------------------------------------


def _expand(schema: Any, root: Any, depth: int = 0) -> _View:
    """The plain schemas ``schema`` amounts to, through local ``$ref`` and ``allOf``."""
    if not isinstance(schema, Mapping):
        return []  # true (or false, which nothing matches anyway)
    if depth > 32 or any(k in schema for k in _OPAQUE_KEYWORDS):
        return None
    out: list[Mapping[str, Any]] = [schema]
    parts: list[Any] = list(schema.get("allOf") or [])
    ref = schema.get("$ref")
    if ref is not None:
        target = _pointer(root, ref)
        if target is None:
            return None
        parts.append(target)
    for part in parts:
        more = _expand(part, root, depth + 1)
        if more is None:
            return None
        out.extend(more)
    return out


def _pointer(root: Any, ref: Any) -> Any:
    """What a local reference (``#/$defs/item``) points at, or None."""
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node = root
    for token in ref[1:].split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


def _property_view(view: list[Mapping[str, Any]], key: str, root: Any) -> _View:
    out: list[Mapping[str, Any]] = []
    for schema in view:
        matched = False
        properties = schema.get("properties")
        if isinstance(properties, Mapping) and key in properties:
            matched = True
            if not _add(out, properties[key], root):
                return None
        patterns = schema.get("patternProperties")
        if isinstance(patterns, Mapping):
            for pattern, sub in patterns.items():
                try:
                    hit = re.search(pattern, key) is not None
                except re.error:
                    return None
                if hit:
                    matched = True
                    if not _add(out, sub, root):
                        return None
        extra = schema.get("additionalProperties")
        if not matched and isinstance(extra, Mapping) and not _add(out, extra, root):
            return None
    return out


def _item_view(view: list[Mapping[str, Any]], index: int, root: Any) -> _View:
    out: list[Mapping[str, Any]] = []
    for schema in view:
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if isinstance(items, list):  # draft 4-7 tuple form
            prefix, items = items, schema.get("additionalItems")
        sub = prefix[index] if isinstance(prefix, list) and index < len(prefix) else items
        if isinstance(sub, Mapping) and not _add(out, sub, root):
            return None
    return out


def _add(out: list[Mapping[str, Any]], schema: Any, root: Any) -> bool:
    more = _expand(schema, root)
    if more is None:
        return False
    out.extend(more)
    return True


def _largest_int(schemas: list[Mapping[str, Any]], keyword: str) -> int:
    values = [s.get(keyword) for s in schemas]
    return max((v for v in values if isinstance(v, int) and not isinstance(v, bool)), default=0)
