"""Time `import openapi` of GitHub's whole description, and `validate` of the result.

    PATH=".venv/bin:$PATH" make tests/openapi/node_modules/.installed   # once
    .venv/bin/python bench/import_openapi.py [--repeat 3]

Every operation is selected (``--path '*'``: deprecated ones are left out, as without a
selection), the connector is written to a temporary file, then loaded and checked as
``mcpbuild validate`` does. Medians of ``--repeat`` runs; the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from builder.connector import load_connector
from builder.openapi import Selection, generate, write_connector

DESCRIPTION = (
    Path(__file__).resolve().parents[1]
    / "tests/openapi/node_modules/@octokit/openapi/generated/api.github.com.json"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not DESCRIPTION.exists():
        raise SystemExit(f"{DESCRIPTION} is missing: make tests/openapi/node_modules/.installed")
    imports: list[float] = []
    validates: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "connector.yaml"
        for _ in range(args.repeat):
            start = time.perf_counter()
            generated = generate(str(DESCRIPTION), Selection(paths=["*"]), max_tools=2000)
            write_connector(generated.connector, target, notes=generated.notes_by_tool())
            imports.append(time.perf_counter() - start)
            start = time.perf_counter()
            connector = load_connector(str(target))
            validates.append(time.perf_counter() - start)
        size = target.stat().st_size
    report = generated.report
    print(f"description: {DESCRIPTION.name} ({DESCRIPTION.stat().st_size:,} bytes)")
    print(
        f"operations selected: {len(generated.operations)}, tools: {len(connector.tools)}, "
        f"skipped or dropped: {len(generated.operations) - len(connector.tools)}"
    )
    print(
        f"connector.yaml: {size:,} bytes; tools/list {report.tools_list_bytes:,} bytes "
        f"(~{report.tools_list_tokens:,} tokens)"
    )
    print(
        f"import (read, map, measure, write): median {statistics.median(imports):.2f} s "
        f"over {args.repeat} runs"
    )
    print(f"validate (load_connector):          median {statistics.median(validates):.2f} s")


if __name__ == "__main__":
    main()
