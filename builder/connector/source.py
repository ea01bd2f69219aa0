"""Reading YAML while keeping where every value came from.

PyYAML composes a node tree with marks; we walk it ourselves into plain Python
values and a table from each value's path (``("tools", 2, "params", "owner", "in")``)
to its line and column, so every later error can point at the file. Duplicate keys
are errors here, not silent overwrites.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from builder.errors import SpecError, SpecIssue

__all__ = ["MAX_SPEC_BYTES", "Located", "Path", "Position", "load_yaml", "read_spec_text"]

Path = tuple[str | int, ...]
MAX_SPEC_BYTES = 5 * 1024 * 1024
# Alias-heavy documents ("billion laughs") expand exponentially when walked.
MAX_NODES = 1_000_000

try:
    _Loader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _Loader = yaml.SafeLoader

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


@dataclass(frozen=True, slots=True)
class Position:
    """A 1-based line and column in a source file."""

    line: int
    column: int


@dataclass(slots=True)
class Located:
    """A loaded document and the position of every value (and every mapping key) in it."""

    data: Any
    values: dict[Path, Position] = field(default_factory=dict)
    keys: dict[Path, Position] = field(default_factory=dict)
    issues: list[SpecIssue] = field(default_factory=list)

    def position(self, path: Path, *, key: bool = False) -> Position:
        """Where ``path`` is (its key, with ``key=True``), or its nearest ancestor's value."""
        if key and path in self.keys:
            return self.keys[path]
        for end in range(len(path), -1, -1):
            if path[:end] in self.values:
                return self.values[path[:end]]
        return Position(1, 1)


def read_spec_text(filename: str) -> str:
    """Read a spec file as UTF-8 text, refusing what cannot be a spec with one clear error."""
    try:
        with open(filename, "rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError.single(
            filename, None, f"cannot read file: {exc.strerror or exc}", code="io_error"
        ) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError.single(
            filename,
            None,
            f"file is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB; expected a connector spec",
            code="too_large",
        )
    if b"\x00" in raw:
        raise SpecError.single(
            filename, None, "file is binary (contains NUL bytes); expected YAML text", code="binary"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError.single(
            filename, Position(line, 1), "file is not valid UTF-8 text", code="encoding"
        ) from None


def load_yaml(text: str, filename: str) -> Located:
    """Parse one YAML document into values and positions, or raise :class:`SpecError`.

    Problems that leave the document readable (a duplicate key) are collected in
    ``Located.issues`` so that validation can go on and report everything at once.
    """
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Position(mark.line + 1, mark.column + 1) if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise SpecError.single(filename, pos, f"invalid YAML: {problem}", code="yaml") from None
    except yaml.YAMLError as exc:
        raise SpecError.single(filename, None, f"invalid YAML: {exc}", code="yaml") from None
    except RecursionError:
        raise SpecError.single(
            filename, None, "invalid YAML: nested too deeply", code="yaml"
        ) from None
    if not nodes or nodes[0] is None:
        raise SpecError.single(
            filename, None, "file is empty; expected a connector spec mapping", code="empty"
        )
    if len(nodes) > 1:
        second = nodes[1]
        raise SpecError.single(
            filename,
            _mark(second) if second is not None else None,
            "expected one YAML document, got several (remove the `---`)",
            code="yaml",
        )
    walker = _Walker(filename)
    try:
        data = walker.walk(nodes[0], ())
    except RecursionError:
        raise SpecError.single(filename, None, "document nested too deeply", code="yaml") from None
    return Located(data, walker.values, walker.keys, walker.issues)


def _mark(node: yaml.Node) -> Position:
    return Position(node.start_mark.line + 1, node.start_mark.column + 1)


class _Walker:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.values: dict[Path, Position] = {}
        self.keys: dict[Path, Position] = {}
        self.issues: list[SpecIssue] = []
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def walk(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise SpecError.single(
                self.filename,
                _mark(node),
                f"document expands to more than {MAX_NODES} values (aliases?)",
                code="too_large",
            )
        self.values[path] = _mark(node)
        if node.tag == _STR_TAG and isinstance(node, yaml.ScalarNode):
            return node.value
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
            raise SpecError.single(
                self.filename, _mark(node), f"invalid YAML: unsupported tag {node.tag}", code="yaml"
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            return self.constructor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.issues.append(
                SpecIssue(self.filename, _mark(node), path, f"invalid value: {exc}", "yaml")
            )
            return None

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        seen: dict[Any, Position] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.update(self._merge(value_node, path))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.issues.append(
                    SpecIssue(
                        self.filename,
                        _mark(key_node),
                        path,
                        "expected a plain key, got a mapping or list as key",
                        "yaml",
                    )
                )
                continue
            key = key_node.value if key_node.tag == _STR_TAG else self.walk(key_node, path)
            if not isinstance(key, str):
                key = str(key)
            here = _mark(key_node)
            if key in seen:
                first = seen[key]
                self.issues.append(
                    SpecIssue(
                        self.filename,
                        here,
                        (*path, key),
                        f"duplicate key '{key}' (first defined at line {first.line})",
                        "duplicate_key",
                    )
                )
                continue
            seen[key] = here
            self.keys[(*path, key)] = here
            result[key] = self.walk(value_node, (*path, key))
        if merged:
            return {**merged, **result}
        return result

    def _merge(self, node: yaml.Node, path: Path) -> dict[Any, Any]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        merged: dict[Any, Any] = {}
        for source in reversed(sources):
            if not isinstance(source, yaml.MappingNode):
                self.issues.append(
                    SpecIssue(
                        self.filename, _mark(source), path, "expected a mapping to merge", "yaml"
                    )
                )
                continue
            merged.update(self._mapping(source, path))
        return merged
