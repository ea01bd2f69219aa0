"""The operations of a description, and which of them an import takes.

An operation is selected when it has one of ``tags``, or is named by ``operations`` (its
operationId, or ``METHOD /path``), or its path matches one of the ``paths`` globs — the
union of the three — and, when ``methods`` are given, its method is one of them
(``--method`` alone selects every operation with those methods). Deprecated operations
are left out unless ``operations`` names them. Each tag, operationId and method given
must exist in the description: a typo is an error that lists what does.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from builder.errors import DescriptionError, SelectionNeeded
from builder.openapi.load import Document

__all__ = ["METHODS", "Operation", "Selection", "operations", "select", "tag_table"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
UNTAGGED = "(untagged)"


@dataclass(frozen=True)
class Selection:
    """What to import: tags, operations (id or ``METHOD /path``), path globs, methods."""

    tags: Sequence[str] = ()
    operations: Sequence[str] = ()
    paths: Sequence[str] = ()
    methods: Sequence[str] = ()

    def __post_init__(self) -> None:
        for name in ("tags", "operations", "paths", "methods"):
            object.__setattr__(self, name, tuple(getattr(self, name) or ()))

    @property
    def is_empty(self) -> bool:
        """Nothing selected: every operation is imported (when there are few enough)."""
        return not (self.tags or self.operations or self.paths or self.methods)

    def as_dict(self) -> dict[str, list[str]]:
        """The non-empty lists, as written in the connector's ``x-openapi.selection``."""
        return {
            name: list(getattr(self, name))
            for name in ("tags", "operations", "paths", "methods")
            if getattr(self, name)
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Selection:
        """The selection written in a connector's ``x-openapi.selection``."""
        data = data or {}
        return cls(
            tags=[str(v) for v in data.get("tags") or ()],
            operations=[str(v) for v in data.get("operations") or ()],
            paths=[str(v) for v in data.get("paths") or ()],
            methods=[str(v) for v in data.get("methods") or ()],
        )


@dataclass(frozen=True)
class Operation:
    """One operation of the description."""

    method: str
    path: str
    operation_id: str | None
    tags: tuple[str, ...]
    node: dict[str, Any] = field(repr=False, compare=False)
    shared: list[Any] = field(repr=False, compare=False)  # the path item's parameters
    base: str = field(repr=False, compare=False)

    @property
    def key(self) -> str:
        """``GET /repos/{owner}/{repo}/issues``."""
        return f"{self.method} {self.path}"

    @property
    def deprecated(self) -> bool:
        return self.node.get("deprecated") is True


def operations(doc: Document) -> list[Operation]:
    """Every operation of the description, in file order."""
    out: list[Operation] = []
    paths = doc.root.get("paths") or {}
    if not isinstance(paths, dict):
        raise DescriptionError(f"{doc.source}: expected 'paths' to be a mapping")
    for path, raw in paths.items():
        item, base, _ = doc.deref(raw, doc.uri)
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in METHODS:
            node = item.get(method)
            if not isinstance(node, dict):
                continue
            op_id = node.get("operationId")
            tags = tuple(str(t) for t in node.get("tags") or ())
            out.append(
                Operation(
                    method.upper(),
                    str(path),
                    str(op_id) if op_id is not None else None,
                    tags,
                    node,
                    shared if isinstance(shared, list) else [],
                    base,
                )
            )
    return out


def tag_table(ops: Iterable[Operation]) -> dict[str, int]:
    """Each tag with its number of operations, most first (``(untagged)`` for the rest)."""
    counts: Counter[str] = Counter()
    for op in ops:
        for tag in op.tags or (UNTAGGED,):
            counts[tag] += 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def select(ops: list[Operation], selection: Selection, *, limit: int) -> list[Operation]:
    """The operations ``selection`` takes; raise :class:`SelectionNeeded` when it is empty
    and there are more than ``limit``, :class:`DescriptionError` for a name that no
    operation has."""
    if selection.is_empty:
        current = [op for op in ops if not op.deprecated]
        if len(current) > limit:
            raise SelectionNeeded(
                f"the description has {len(current)} operations, more than {limit}: choose "
                "some with --tag, --operation, --path or --method",
                tags=tag_table(current),
                operations=len(current),
            )
        return current
    _check_names(ops, selection)
    methods = {m.upper() for m in selection.methods}
    named = set(selection.operations)
    chosen: list[Operation] = []
    by_name = not (selection.tags or selection.operations or selection.paths)
    for op in ops:
        hit = (
            by_name
            or any(tag in selection.tags for tag in op.tags)
            or op.operation_id in named
            or op.key in named
            or any(fnmatch.fnmatchcase(op.path, glob) for glob in selection.paths)
        )
        if not hit or (methods and op.method not in methods):
            continue
        if op.deprecated and op.operation_id not in named and op.key not in named:
            continue
        chosen.append(op)
    if not chosen:
        raise DescriptionError("the selection matches no operation of the description")
    return chosen


def _check_names(ops: list[Operation], selection: Selection) -> None:
    tags = {t for op in ops for t in op.tags}
    for tag in selection.tags:
        if tag not in tags:
            raise DescriptionError(
                f"--tag: no operation has tag '{tag}'{_near(tag, tags)}; tags: "
                + ", ".join(sorted(tags))
            )
    names = {op.operation_id for op in ops if op.operation_id} | {op.key for op in ops}
    for name in selection.operations:
        if name not in names:
            raise DescriptionError(
                f"--operation: no operation has id '{name}'{_near(name, names)} "
                "(give an operationId or 'METHOD /path')"
            )
    for method in selection.methods:
        if method.lower() not in METHODS:
            raise DescriptionError(
                f"--method: expected one of {', '.join(m.upper() for m in METHODS)}, got '{method}'"
            )


def _near(name: str, candidates: Iterable[str]) -> str:

    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
