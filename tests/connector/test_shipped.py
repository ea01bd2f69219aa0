"""The shipped connectors `init --from` copies: read from connectors/ in a checkout, and
from the copy setup.py puts in the wheel otherwise."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from builder.connector import load_connector
from builder.connector.shipped import copy_shipped, shipped_names, shipped_root

ROOT = Path(__file__).resolve().parents[2]


def _setup_module() -> Any:
    spec = importlib.util.spec_from_file_location("mcpbuild_setup", ROOT / "setup.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: setup() is not called
    return module


def test_a_checkout_reads_connectors_itself() -> None:
    assert shipped_root() == ROOT / "connectors"
    names = shipped_names()
    assert names == sorted(p.parent.name for p in ROOT.glob("connectors/*/connector.yaml"))


def test_the_wheel_layout_carries_every_connector_and_init_copies_from_it(
    tmp_path: Path,
) -> None:
    build_lib = tmp_path / "build"
    (build_lib / "builder").mkdir(parents=True)
    copied = _setup_module().copy_connectors(ROOT / "connectors", build_lib)
    package = build_lib / "builder"
    root = shipped_root(package)
    assert root == package / "data" / "connectors"  # no checkout around it
    assert [p.name for p in copied] == shipped_names() == shipped_names(root)
    for name in shipped_names(root):
        spec = copy_shipped(name, tmp_path / "out" / name, schema_ref="x.json", root=root)
        assert spec.read_text().startswith("# yaml-language-server: $schema=x.json\n")
        assert (
            load_connector(str(spec)).name
            == load_connector(str(ROOT / "connectors" / name / "connector.yaml")).name
        )
        assert sorted(p.name for p in (spec.parent / "tests").iterdir()) == sorted(
            p.name for p in (ROOT / "connectors" / name / "tests").iterdir()
        )
