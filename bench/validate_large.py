"""Time `validate` on a generated 1,000-tool spec against `yaml.safe_load` of the same file.

    .venv/bin/python bench/validate_large.py [--tools 1000] [--repeat 7]

Both are measured in this one run, interleaved, and reported as a ratio of medians
(the machines are shared and noisy; absolute times mean little).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import yaml

from builder.connector import load_connector


def generate(tools: int) -> str:
    out = [
        "mcpbuild: 1",
        "name: large",
        "provider:",
        "  authorization_url: https://auth.example.com/authorize",
        "  token_url: https://auth.example.com/token",
        "  client_id: ${LARGE_CLIENT_ID}",
        "  client_secret: ${LARGE_CLIENT_SECRET}",
        "  scopes: {items.read: Read items, items.write: Write items}",
        "api:",
        "  base_url: https://api.example.com/v1",
        "  headers: {Accept: application/json}",
        "tools:",
    ]
    for i in range(tools):
        write = i % 3 == 0
        out += [
            f"  - name: tool_{i}",
            f"    description: Tool number {i}, which fetches or changes items of kind {i}.",
            f"    scopes: [{'items.write' if write else 'items.read'}]",
            f"    request: {{method: {'POST' if write else 'GET'}, path: "
            f'"/kinds/{i}/items/{{item_id}}"}}',
            "    params:",
            "      item_id: {type: string, in: path, description: The item id.}",
            "      limit: {type: integer, in: query, default: 20, minimum: 1, maximum: 100}",
            "      tags: {type: array, in: query, items: {type: string}, required: false}",
        ]
        if write:
            out.append("      title: {type: string, in: body, max_length: 200}")
        out += ["    response:", '      select: "items[].{id: id, title: title}"']
    return "\n".join(out) + "\n"


def timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tools", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.yaml"
        path.write_text(generate(args.tools))
        connector = load_connector(str(path))
        assert len(connector.tools) == args.tools
        size_kib = path.stat().st_size / 1024

        def safe_load() -> None:
            with path.open() as fh:
                yaml.safe_load(fh)

        def c_load() -> None:
            with path.open() as fh:
                yaml.load(fh, Loader=yaml.CSafeLoader)

        validate_t: list[float] = []
        safe_load_t: list[float] = []
        c_load_t: list[float] = []
        for _ in range(args.repeat):
            validate_t.append(timed(load_connector, str(path)))
            safe_load_t.append(timed(safe_load))
            c_load_t.append(timed(c_load))
    v, s = statistics.median(validate_t), statistics.median(safe_load_t)
    c = statistics.median(c_load_t)
    print(f"spec: {args.tools} tools, {size_kib:.0f} KiB, {args.repeat} runs each, medians")
    print(f"yaml.safe_load:      {s * 1000:8.1f} ms")
    print(f"mcpbuild validate:   {v * 1000:8.1f} ms")
    print(f"yaml CSafeLoader:    {c * 1000:8.1f} ms")
    print(f"ratio validate/safe_load: {v / s:.2f}x (target <= 3x)")
    print(f"ratio validate/CSafeLoader load: {v / c:.2f}x")


if __name__ == "__main__":
    main()
