"""`mcpbuild import openapi SOURCE --update connector.yaml`: re-import, keeping the curation.

A generated tool carries `x-openapi.generated`, the fingerprint of each field as it was
written (see :mod:`builder.openapi.fingerprint`). A field whose value still has its
fingerprint was left alone by the author and takes the new upstream value; a field that
differs was edited and is kept, and the report says so, loudly when upstream changed it
too. A mapping field (`request`, `response`, a param) that is the generated value plus keys
the author added (a `select`, a `default`) counts as untouched: upstream's value is taken
and the author's keys stay on top.

Tools are matched by `x-openapi.operation` (`GET /path`), then by `operation_id` (a path
moved upstream). Operations new upstream are appended; operations gone upstream keep their
tool; tools without `x-openapi` are the author's own and never touched. The top-level
`x-openapi.imported` lists the operations seen at the last update, so that a tool the
author deleted is not added back.

The file is read and written with ruamel.yaml round-trip (comments, key order, quotes and
anchors survive), validated before it is written, and replaced atomically.
"""

from __future__ import annotations

import itertools
import os
import re
import tempfile
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from io import StringIO
from pathlib import Path
from typing import Any, Literal, Protocol

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarbool import ScalarBoolean
from ruamel.yaml.util import load_yaml_guess_indent

from builder.connector.load import load_connector_text
from builder.errors import SpecError, SpecIssue
from builder.openapi.fingerprint import GENERATED_FIELDS, fingerprint, fingerprints
from builder.openapi.selection import Selection
from builder.openapi.tools import MAX_NAME
from builder.openapi.write import node

__all__ = ["Change", "HasConnector", "UpdateReport", "merge", "stored_selection", "update_file"]

Kind = Literal["added", "removed", "moved", "changed", "kept", "conflicts"]
KINDS: tuple[Kind, ...] = ("added", "removed", "moved", "changed", "kept", "conflicts")

# Subsets of a mapping's keys tried when looking for the generated value under the
# author's additions: 2**10 hashes at most.
_MAX_SUBSET_KEYS = 10
_MISSING: Any = object()
WIDTH = 100  # of lines, as builder.openapi.write writes them


class HasConnector(Protocol):
    """What :func:`update_file` needs of `builder.openapi.generate(...)`'s result."""

    @property
    def connector(self) -> Mapping[str, Any]: ...

    def notes_by_tool(self) -> Mapping[str, Iterable[str]]: ...


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the report. `key` is stable, for tests and tools: the field path
    (`tools[1].description`) or, for a tool added, removed or not added back, the
    operation; `label` is what a grouped line says of a kept edit (`params.since
    (removed)`)."""

    kind: Kind
    key: str
    message: str
    label: str = ""


@dataclass(slots=True)
class UpdateReport:
    """What a re-import changed, kept and could not take."""

    changes: list[Change] = field(default_factory=list)
    written: bool = False

    def add(self, kind: Kind, key: str, message: str, label: str = "") -> None:
        self.changes.append(Change(kind, key, message, label))

    def of(self, kind: Kind) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    def as_dict(self) -> dict[str, list[str]]:
        """`{"added": [...], "removed": [...], ..., "conflicts": [...]}`: the keys."""
        return {kind: [c.key for c in self.of(kind)] for kind in KINDS}

    def lines(self) -> list[str]:
        """The report for people: conflicts first, then what changed upstream, then what
        was kept, one line per tool (a curated connector keeps many edits)."""
        order: tuple[Kind, ...] = ("conflicts", "added", "removed", "moved", "changed")
        out = [c.message for kind in order for c in self.of(kind)]
        edits: dict[str, list[str]] = {}
        not_added: list[str] = []
        for change in self.of("kept"):
            if change.label:
                edits.setdefault(change.message, []).append(change.label)
            else:
                not_added.append(change.key)
        out += [f"{head}: {', '.join(labels)}" for head, labels in edits.items()]
        if not_added:
            shown = ", ".join(not_added[:5])
            more = f" and {len(not_added) - 5} more" if len(not_added) > 5 else ""
            out.append(
                f"kept your removal of {len(not_added)} tool(s), not added back: {shown}{more}"
            )
        return out or ["nothing changed upstream"]

    def __str__(self) -> str:
        return "\n".join(self.lines())


def update_file(path: Path, generated: HasConnector) -> UpdateReport:
    """Merge `generated` into the connector at `path` and write it back if it changed.

    Raises :class:`SpecError` when the file is invalid or not an imported connector, and
    when the merged connector would be invalid; the file is then left as it was.
    """
    text = path.read_text(encoding="utf-8")
    name = str(path)
    load_connector_text(text, name)  # an invalid file is the author's to fix first
    yaml = _yaml_for(text)
    current = yaml.load(text)
    if not isinstance(current, CommentedMap) or not isinstance(current.get("x-openapi"), Mapping):
        raise SpecError.single(
            name,
            None,
            "expected an `x-openapi` mapping at the top, written by `mcpbuild import "
            "openapi`; this file was not imported, so there is nothing to update",
            code="not_imported",
        )
    given = _selection(generated.connector)
    stored = _selection(current)
    if given != stored:
        raise SpecError.single(
            name,
            None,
            f"x-openapi.selection: expected the operations the file was imported with "
            f"({_describe(stored)}), got {_describe(given)}; new operations are added only "
            "from the stored selection (read it with builder.openapi.update.stored_selection)",
            code="selection_mismatch",
        )
    report = merge(current, generated.connector, notes=generated.notes_by_tool())
    out = StringIO()
    yaml.dump(current, out)
    new_text = out.getvalue()
    if new_text == text:
        return report
    try:
        load_connector_text(new_text, name)
    except SpecError as exc:
        raise _not_written(name, exc, report) from None
    _write_atomically(path, new_text)
    report.written = True
    return report


def stored_selection(path: Path) -> Selection:
    """The selection the connector at `path` was imported with (`x-openapi.selection`), for
    generating what `--update` merges."""
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    return Selection.from_dict(_selection(data) if isinstance(data, Mapping) else {})


def _selection(connector: Mapping[str, Any]) -> dict[str, list[str]]:
    note = connector.get("x-openapi")
    raw = note.get("selection") if isinstance(note, Mapping) else None
    return Selection.from_dict(_plain(raw) if isinstance(raw, Mapping) else None).as_dict()


def _describe(selection: dict[str, list[str]]) -> str:
    if not selection:
        return "every operation"
    return "; ".join(f"{k}: {', '.join(v)}" for k, v in selection.items())


def merge(
    current: CommentedMap,
    generated: Mapping[str, Any],
    *,
    notes: Mapping[str, Iterable[str]] | None = None,
) -> UpdateReport:
    """Merge the freshly `generated` connector into the author's `current` one, in place.
    `notes` by generated tool name are written above the tools added, as the import does."""
    return _Merger(current, generated, notes or {}).run()


class _Merger:
    def __init__(
        self,
        current: CommentedMap,
        generated: Mapping[str, Any],
        notes: Mapping[str, Iterable[str]],
    ) -> None:
        self.current = current
        self.generated = generated
        self.notes = notes
        self.report = UpdateReport()
        # Tools whose name is to come from upstream: (tool, index, wanted name, notes).
        self.renames: list[tuple[CommentedMap, int, str, dict[str, str]]] = []
        self.tool_name = ""  # of the tool being merged, for the report

    def run(self) -> UpdateReport:
        tools = self.current.setdefault("tools", CommentedSeq())
        gen_tools = [t for t in self.generated.get("tools") or [] if _op(t)]
        matched = self._match(tools, gen_tools)
        top = self.current.setdefault("x-openapi", CommentedMap())
        imported = top.get("imported")
        known = {str(op) for op in imported} if isinstance(imported, list) else None

        for index, tool in enumerate(tools):
            if not isinstance(tool, CommentedMap) or not isinstance(tool.get("x-openapi"), Mapping):
                continue  # the author's own tool
            gen = matched.get(index)
            note = tool["x-openapi"]
            if gen is None:
                self.report.add(
                    "removed",
                    str(note.get("operation")),
                    f"removed upstream: tool {tool.get('name')} (tools[{index}]) still calls "
                    f"{note.get('operation')}",
                )
                continue
            self._merge_tool(tool, index, gen)

        new_tools: list[dict[str, Any]] = []
        taken_by_match = {id(g) for g in matched.values()}
        for gen in gen_tools:
            if id(gen) in taken_by_match:
                continue
            if known is not None and _op(gen) in known:
                self.report.add(
                    "kept",
                    _op(gen),
                    f"kept your removal of the tool for {_op(gen)}: not added back",
                )
                continue
            new_tools.append(gen)

        self._rename(tools, new_tools)
        self._add_scopes(tools)
        gen_top = self.generated.get("x-openapi") or {}
        if gen_top.get("source") is not None:
            _assign(top, "source", gen_top["source"])
        fresh = "imported" not in top
        _assign(top, "imported", sorted(_op(t) for t in gen_tools))
        if fresh:
            top.yaml_set_comment_before_after_key(
                "imported",
                before="operations seen at the last update: a tool you delete is not added back",
                indent=2,
            )
        return self.report

    def _match(
        self, tools: list[Any], gen_tools: list[dict[str, Any]]
    ) -> dict[int, dict[str, Any]]:
        """Each imported tool's generated counterpart: same operation, else same id."""
        by_op = {_op(g): g for g in gen_tools}
        by_id = {g["x-openapi"].get("operation_id"): g for g in gen_tools}
        by_id.pop(None, None)
        matched: dict[int, dict[str, Any]] = {}
        used: set[int] = set()
        imported = [
            (i, t["x-openapi"])
            for i, t in enumerate(tools)
            if isinstance(t, Mapping) and isinstance(t.get("x-openapi"), Mapping)
        ]
        for i, note in imported:
            gen = by_op.get(str(note.get("operation")))
            if gen is not None and id(gen) not in used:
                matched[i] = gen
                used.add(id(gen))
        for i, note in imported:
            if i in matched or note.get("operation_id") is None:
                continue
            gen = by_id.get(str(note.get("operation_id")))
            if gen is not None and id(gen) not in used:
                matched[i] = gen
                used.add(id(gen))
                self.report.add(
                    "moved",
                    f"{note.get('operation')} -> {_op(gen)}",
                    f"moved upstream: tools[{i}] {tools[i].get('name')} is now "
                    f"{_op(gen)} (was {note.get('operation')})",
                )
        return matched

    def _merge_tool(self, tool: CommentedMap, index: int, gen: Mapping[str, Any]) -> None:
        note = tool["x-openapi"]
        stored = {str(k): str(v) for k, v in (note.get("generated") or {}).items()}
        new = fingerprints(_plain(gen))
        where = f"tools[{index}]"
        self.tool_name = str(tool.get("name"))
        order = [k for k in gen if not str(k).startswith("x-")]
        for name in GENERATED_FIELDS:
            if name == "name" and _renamed_upstream(tool, stored, new):
                self.renames.append((tool, index, str(gen["name"]), new))
                continue
            self._merge_value(
                tool,
                name,
                gen.get(name, _MISSING),
                stored.get(name),
                new.get(name),
                order,
                f"{where}.{name}",
            )

        gen_params = gen.get("params") or {}
        names = list(gen_params)
        names += [k[7:] for k in stored if k.startswith("params.") and k[7:] not in gen_params]
        if names:
            params = tool.get("params")
            if not isinstance(params, CommentedMap):
                params = CommentedMap()
            for pname in names:
                key = f"params.{pname}"
                self._merge_value(
                    params,
                    pname,
                    gen_params.get(pname, _MISSING),
                    stored.get(key),
                    new.get(key),
                    names,
                    f"{where}.params.{pname}",
                )
            if params and "params" not in tool:
                _insert(tool, "params", params, order)
            elif not params and "params" in tool:
                del tool["params"]

        _assign(note, "operation", _op(gen))
        gen_note = gen.get("x-openapi") or {}
        if gen_note.get("operation_id") is not None:
            _assign(note, "operation_id", gen_note["operation_id"])
        # From now on a field differing from what upstream generates is the author's: an
        # edit stays recognised, and a conflict is reported once, not at every update.
        _assign(note, "generated", new)

    def _merge_value(
        self,
        container: CommentedMap,
        key: str,
        new_value: Any,
        stored: str | None,
        new: str | None,
        order: list[str],
        where: str,
    ) -> None:
        """Merge one field or param: upstream's value where the author left it alone."""
        current = container.get(key, _MISSING)
        if stored is None:
            if current is _MISSING and new_value is not _MISSING:
                _insert(container, key, _styled(new_value, where), order)
                self.report.add("changed", where, f"{where}: added upstream")
            elif (
                current is not _MISSING
                and new_value is not _MISSING
                and (_plain(current) != _plain(new_value))
            ):
                self.report.add(
                    "conflicts",
                    where,
                    f"kept your {where}; upstream now generates it too, differently",
                )
            return  # else the author's own, or absent on both sides
        if current is _MISSING:
            if new is None:
                return  # removed by the author and upstream alike
            if new != stored:
                self.report.add(
                    "conflicts", where, f"kept your removal of {where}; upstream changed it"
                )
            else:
                self._kept(where, f"{where.split('.', 1)[1]} (removed)")
            return
        additions = _additions(current, stored)
        if additions is None or (additions and new_value is _MISSING):
            if new == stored:
                self._kept(where, where.split(".", 1)[1])
            elif new is None:
                self.report.add(
                    "conflicts", where, f"kept your edit of {where}; upstream removed it"
                )
            else:
                self.report.add(
                    "conflicts", where, f"kept your edit of {where}; upstream changed it too"
                )
            return
        if new_value is _MISSING:
            del container[key]
            self.report.add("changed", where, f"{where}: removed upstream")
            return
        if new == stored:
            return
        value = _styled(new_value, where)
        for extra in additions:
            if extra in value and _plain(current[extra]) != value[extra]:
                self.report.add(
                    "conflicts",
                    f"{where}.{extra}",
                    f"kept your edit of {where}.{extra}; upstream changed it too",
                )
            value[extra] = current[extra]
        _assign(container, key, value)
        self.report.add("changed", where, f"{where}: updated from upstream")

    def _kept(self, where: str, label: str) -> None:
        tool = where.split(".", 1)[0]
        self.report.add("kept", where, f"kept your edits of {tool} {self.tool_name}", label)

    def _rename(self, tools: CommentedSeq, new_tools: list[dict[str, Any]]) -> None:
        """Name the renamed and the added tools, suffixed where a name is taken."""
        moving = {id(t) for t, *_ in self.renames}
        taken = {
            str(t.get("name")) for t in tools if isinstance(t, Mapping) and id(t) not in moving
        }
        for tool, index, wanted, kept in self.renames:
            name = _unique(wanted, taken)
            taken.add(name)
            kept["name"] = fingerprint(name)
            _assign(tool["x-openapi"], "generated", kept)
            if name != tool.get("name"):
                self.report.add(
                    "changed",
                    f"tools[{index}].name",
                    f"tools[{index}].name: renamed upstream from {tool.get('name')} to {name}",
                )
                tool["name"] = name
        for gen in new_tools:
            tool = node(_plain(gen), ("tools",))
            name = _unique(str(tool["name"]), taken)
            taken.add(name)
            if name != tool["name"]:
                tool["name"] = name
                tool["x-openapi"]["generated"] = fingerprints(_plain(tool))
            tools.append(tool)
            # The comment the import writes above each tool: its operation, its notes.
            lines = [_op(gen), *(f"note: {n}" for n in self.notes.get(str(gen["name"]), ()))]
            before = "\n".join(lines)
            tools.yaml_set_comment_before_after_key(len(tools) - 1, before=f"\n{before}", indent=2)
            self.report.add(
                "added",
                _op(gen),
                f"added tools[{len(tools) - 1}] {name} for {_op(gen)}",
            )

    def _add_scopes(self, tools: CommentedSeq) -> None:
        """Declare the scopes the tools now name that upstream declares and the file not."""
        provider = self.current.get("provider")
        gen_scopes = (self.generated.get("provider") or {}).get("scopes") or {}
        if not isinstance(provider, CommentedMap) or not gen_scopes:
            return
        scopes = provider.setdefault("scopes", CommentedMap())
        for tool in tools:
            named = tool.get("scopes") if isinstance(tool, Mapping) else None
            for scope in named or []:
                if scope not in scopes and scope in gen_scopes:
                    scopes[scope] = gen_scopes[scope]
                    where = f"provider.scopes.{scope}"
                    self.report.add("changed", where, f"{where}: added upstream")


def _op(tool: Mapping[str, Any]) -> str:
    note = tool.get("x-openapi")
    return str(note.get("operation") or "") if isinstance(note, Mapping) else ""


def _plain(value: Any) -> Any:
    """`value` as plain JSON data: ruamel's scalars and containers unwrapped."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bool | ScalarBoolean):
        return bool(value)
    for kind in (int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return value


def _renamed_upstream(tool: Mapping[str, Any], stored: dict[str, str], new: dict[str, str]) -> bool:
    """The author kept the generated name, and upstream generates another one."""
    before = stored.get("name")
    if before is None or "name" not in tool or fingerprint(_plain(tool["name"])) != before:
        return False
    return new.get("name") not in (None, before)


def _additions(current: Any, stored: str) -> list[str] | None:
    """The keys the author added to a generated value that still has fingerprint `stored`
    underneath them; `[]` when untouched; None when edited."""
    if fingerprint(_plain(current)) == stored:
        return []
    if not isinstance(current, Mapping) or len(current) > _MAX_SUBSET_KEYS:
        return None
    keys = [str(k) for k in current]
    plain = _plain(current)
    for size in range(len(keys) - 1, -1, -1):
        for base in itertools.combinations(keys, size):
            if fingerprint({k: plain[k] for k in base}) == stored:
                return [k for k in keys if k not in base]
    return None


def _assign(container: MutableMapping[str, Any], key: str, value: Any) -> None:
    """Set `container[key]`, changing only what differs, so comments and styles of the
    parts that stay the same survive."""
    old = container.get(key, _MISSING)
    if old is not _MISSING and _plain(old) == _plain(value):
        return
    if isinstance(old, CommentedMap) and isinstance(value, Mapping):
        for k in [k for k in old if k not in value]:
            del old[k]
        for k, v in value.items():
            if k in old:
                _assign(old, k, v)
            else:
                old[k] = v
        return
    container[key] = value


def _styled(value: Any, where: str) -> Any:
    """`value` as the import writes it at `where` (`tools[1].params.labels`)."""
    return node(_plain(value), ("tools", *where.split(".", 1)[1].split(".")))


def _insert(container: CommentedMap, key: str, value: Any, order: list[str]) -> None:
    """Insert `key` after the nearest key that comes before it in `order`."""
    before = order[: order.index(key)] if key in order else []
    keys = list(container)
    at = 0
    for prior in reversed(before):
        if prior in keys:
            at = keys.index(prior) + 1
            break
    container.insert(at, key, value)


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3`... when it is taken, cut as `tool_names` cuts them."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name[: MAX_NAME - len(str(n)) - 1]}_{n}"
    return candidate


def _yaml_for(text: str) -> YAML:
    """A round-trip YAML that writes `text` back as it was: same indents and quotes."""
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = WIDTH  # so that a long string the import folded is folded the same way
    seq, offset = _sequence_indent(text)
    yaml.indent(mapping=_mapping_indent(text), sequence=seq, offset=offset)
    return yaml


def _mapping_indent(text: str) -> int:
    lines = text.splitlines()
    for line, following in itertools.pairwise(lines):
        if re.match(r"^[^\s#-][^:]*:\s*(#.*)?$", line):
            m = re.match(r"^( +)[^\s#-]", following)
            if m:
                return len(m.group(1))
    return 2


def _sequence_indent(text: str) -> tuple[int, int]:
    """ruamel's `(sequence, offset)`: where an item's content starts, where its dash is."""
    _, indent, dash = load_yaml_guess_indent(text)
    return (indent or 4), (dash if dash is not None else 2)


def _not_written(name: str, exc: SpecError, report: UpdateReport) -> SpecError:
    """The merged connector's problems, said to be in a file that was not written."""
    lines = "\n".join(f"  {line}" for line in report.lines())
    head = SpecIssue(
        name,
        None,
        (),
        "not written: after the update the connector would be invalid (problems below); "
        f"the file is unchanged. The update would have done:\n{lines}",
        "update_invalid",
    )
    after = f"{name} (as updated)"
    return SpecError([head, *(replace(issue, filename=after) for issue in exc.issues)])


def _write_atomically(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
