"""Where a server's CPU goes, from py-spy's raw (collapsed) stacks: ``bench/serve_overhead.py
--profile``. Also usable alone on a saved file::

    .venv/bin/python bench/serve_profile.py /tmp/serve_overhead-profile/mcpbuild.raw

Each line of the raw format is one distinct stack, root first, frames as
``function (path/file.py:line)`` joined by ``;``, then a space and its sample count. Two
views are printed:

* by component: each sample goes to the innermost frame that belongs to a component
  (mcpbuild, FastMCP, the MCP SDK, starlette/uvicorn, httpx/httpcore or aiohttp); generic
  code (the event loop, anyio, h11, pydantic, json, the import system) is charged to
  whoever called it, and samples with no component at all are the event loop's own work.
  A failing import on the hot path is shown apart, as it is cheap to remove;
* by library: each sample goes to the package of its leaf frame (self time).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

__all__ = ["summarize"]

# A frame's top-level module (its path's first part, as py-spy prints it) -> component.
COMPONENTS: dict[str, str] = {
    "builder": "mcpbuild (handlers, tool runner, shaping)",
    "fastmcp": "FastMCP framework",
    "fastmcp_server.py": "the hand-written tool (fastmcp_server.py)",
    "mcp": "MCP SDK (transport, JSON-RPC dispatch, session)",
    "mcp_types": "MCP SDK (transport, JSON-RPC dispatch, session)",
    "starlette": "starlette/uvicorn (HTTP server, ASGI)",
    "sse_starlette": "starlette/uvicorn (HTTP server, ASGI)",
    "uvicorn": "starlette/uvicorn (HTTP server, ASGI)",
    "httpx": "httpx upstream client (httpx, httpcore)",
    "httpcore": "httpx upstream client (httpx, httpcore)",
    "aiohttp": "aiohttp upstream client (aiohttp, yarl, multidict)",
    "yarl": "aiohttp upstream client (aiohttp, yarl, multidict)",
    "multidict": "aiohttp upstream client (aiohttp, yarl, multidict)",
}
LOOP_ENTRY = "Runner.run (asyncio/runners.py"
LOOP_FILES = ("asyncio/base_events.py", "asyncio/events.py")
NO_COMPONENT = "event loop itself (asyncio/anyio scheduling, selectors)"
IMPORT = "  of which: a failing import per call ({caller})"

LIBRARIES: dict[str, str] = {
    **COMPONENTS,
    "json": "json/pydantic (+jmespath, jsonschema)",
    "pydantic": "json/pydantic (+jmespath, jsonschema)",
    "pydantic_core": "json/pydantic (+jmespath, jsonschema)",
    "jmespath": "json/pydantic (+jmespath, jsonschema)",
    "jsonschema": "json/pydantic (+jmespath, jsonschema)",
    "asyncio": "asyncio/anyio/selectors (event loop, sockets)",
    "anyio": "asyncio/anyio/selectors (event loop, sockets)",
    "selectors.py": "asyncio/anyio/selectors (event loop, sockets)",
    "socket.py": "asyncio/anyio/selectors (event loop, sockets)",
    "h11": "h11 (HTTP/1.1 parsing, both sides)",
    "logging": "logging",
    "opentelemetry": "opentelemetry",
    "_distutils_hack": "import system (failing imports)",
}


def path(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``path/to/file.py``."""
    start = frame.rfind(" (")
    return frame[start + 2 : frame.rfind(":")] if start >= 0 else frame


def module(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``path`` (the top-level module or file)."""
    where = path(frame)
    if where.startswith("<frozen importlib"):
        return "_distutils_hack"  # the import system, grouped with its setuptools hook
    return where.split("/", 1)[0]


def function(frame: str) -> str:
    """``func (path/to/file.py:12)`` -> ``func (path/to/file.py)``."""
    return frame[: frame.rfind(":")] + ")" if frame.endswith(")") else frame


def below_loop(frames: list[str]) -> list[str]:
    """The frames of the callback the event loop is running; none for the loop's own work.

    The loop is ``asyncio.Runner.run`` and, with the stdlib loop, the ``base_events``
    frames and ``Handle._run`` under it (uvloop's are native, so py-spy shows none).
    """
    start = next((i for i, f in enumerate(frames) if f.startswith(LOOP_ENTRY)), None)
    if start is None:
        return frames
    i = start + 1
    while i < len(frames) and path(frames[i]) in LOOP_FILES:
        i += 1
    return frames[i:]


def component(frames: list[str]) -> str:
    for frame in reversed(below_loop(frames)):
        name = COMPONENTS.get(module(frame))
        if name is not None:
            return name
    return NO_COMPONENT


def failing_import(frames: list[str]) -> str | None:
    """The caller of an import on this stack (after start-up, imports are failing ones)."""
    for i, frame in enumerate(frames):
        if frame.startswith("_find_and_load ") and i:
            return function(frames[i - 1])
    return None


def load(raw: Path) -> list[tuple[list[str], int]]:
    stacks: list[tuple[list[str], int]] = []
    for line in raw.read_text().splitlines():
        joined, _, weight = line.rpartition(" ")
        if joined and weight.isdigit():
            stacks.append((joined.split(";"), int(weight)))
    return stacks


def summarize(raw: Path, top: int = 12) -> str:
    """The two views, and the top functions by self and by total time."""
    stacks = load(raw)
    total = sum(count for _, count in stacks)
    if not total:
        return "no samples"
    components: Counter[str] = Counter()
    imports: dict[str, Counter[str]] = {}
    libraries: Counter[str] = Counter()
    selfs: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for frames, count in stacks:
        owner = component(frames)
        components[owner] += count
        caller = failing_import(frames)
        if caller is not None:
            imports.setdefault(owner, Counter())[caller] += count
        leaf = module(frames[-1])
        if leaf == "h11":
            leaf = "httpcore" if any(module(f) == "httpcore" for f in frames) else "uvicorn"
            libraries[f"h11 under {COMPONENTS[leaf]}"] += count
        else:
            libraries[LIBRARIES.get(leaf, "other (stdlib, typing, urllib, ...)")] += count
        selfs[function(frames[-1])] += count
        for name in {function(f) for f in frames}:
            totals[name] += count

    def pct(n: int) -> str:
        return f"{100 * n / total:5.1f}%"

    out = [f"{total} samples of busy CPU (idle excluded)", "", "by component (inclusive of"]
    out[-1] += " the generic code each one calls):"
    for name, n in components.most_common():
        out.append(f"  {pct(n)}  {name}")
        for caller, m in sorted(imports.get(name, Counter()).items(), key=lambda kv: -kv[1]):
            out.append(f"  {pct(m)}  {IMPORT.format(caller=caller)}")
    out += ["", "by library (self time of the leaf frame):"]
    out += [f"  {pct(n)}  {name}" for name, n in libraries.most_common()]
    out += ["", f"top {top} functions by self time:"]
    out += [f"  {pct(n)}  {name}" for name, n in selfs.most_common(top)]
    # Ancestors of nearly every sample (main, the event loop) say nothing; leave them out.
    inner = [(name, n) for name, n in totals.most_common() if n < 0.9 * total]
    out += ["", f"top {top} functions by total time (below the event loop):"]
    out += [f"  {pct(n)}  {name}" for name, n in inner[:top]]
    return "\n".join(out)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}:\n{summarize(Path(name))}\n")
