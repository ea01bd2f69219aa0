"""Build hook: the wheel carries the shipped connectors (``connectors/*``) as package data
under ``builder/data/connectors/``, for ``mcpbuild init --from NAME``.

They are copied at build time rather than kept twice in the tree, where a copy would drift
from the connectors the tests check. An editable install reads ``connectors/`` itself
(``builder.connector.shipped.shipped_root``). Everything else is in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".mcpbuild", "*.db", "*.db-*")


def copy_connectors(source: Path, build_lib: Path) -> list[Path]:
    """Copy every ``source/NAME/`` with a ``connector.yaml`` into the built package."""
    target = build_lib / "builder" / "data" / "connectors"
    copied = []
    for folder in sorted(p for p in source.iterdir() if (p / "connector.yaml").is_file()):
        shutil.copytree(folder, target / folder.name, ignore=IGNORE, dirs_exist_ok=True)
        copied.append(target / folder.name)
    return copied


class BuildWithConnectors(build_py):
    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            copy_connectors(HERE / "connectors", Path(self.build_lib))


if __name__ == "__main__":
    setup(cmdclass={"build_py": BuildWithConnectors})
