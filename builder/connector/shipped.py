"""The connectors shipped with mcpbuild (``connectors/*`` of the source tree), which
``mcpbuild init --from NAME`` copies as a working start.

In a source checkout (or an editable install) they are read from ``connectors/``; a wheel
carries a copy under ``builder/data/connectors/``, made at build time by ``setup.py``, so
there is no second copy in the tree to drift.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import builder

__all__ = ["SCHEMA_LINE", "copy_shipped", "shipped_names", "shipped_root"]

SPEC_FILE = "connector.yaml"
SCHEMA_LINE = re.compile(r"^# yaml-language-server: \$schema=.*$", re.MULTILINE)
_SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".mcpbuild", "*.db", "*.db-*")


def shipped_root(package: Path | None = None) -> Path:
    """``connectors/`` of the source checkout ``package`` sits in, else the copy in the
    package's data (``package``: the ``builder`` folder; default: this one)."""
    package = package or Path(builder.__file__).resolve().parent
    checkout = package.parent / "connectors"
    if (package.parent / "pyproject.toml").is_file() and (checkout / "demo" / SPEC_FILE).is_file():
        return checkout
    return package / "data" / "connectors"


def shipped_names(root: Path | None = None) -> list[str]:
    """The names ``init --from`` accepts, sorted."""
    root = root or shipped_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / SPEC_FILE).is_file())


def copy_shipped(name: str, target: Path, *, schema_ref: str, root: Path | None = None) -> Path:
    """Copy shipped connector ``name`` (its spec, replay cases and any other files) into
    folder ``target``, with the spec's ``$schema`` line pointing at ``schema_ref``;
    return the spec's path. Existing files are overwritten (the caller asks first)."""
    source = (root or shipped_root()) / name
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if _SKIP(str(source), [entry.name]):
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name, ignore=_SKIP, dirs_exist_ok=True)
        elif entry.name != SPEC_FILE:
            shutil.copyfile(entry, target / entry.name)
    text = (source / SPEC_FILE).read_text(encoding="utf-8")
    line = f"# yaml-language-server: $schema={schema_ref}"
    text = SCHEMA_LINE.sub(line, text, count=1) if SCHEMA_LINE.search(text) else f"{line}\n{text}"
    spec = target / SPEC_FILE
    spec.write_text(text, encoding="utf-8")
    return spec
