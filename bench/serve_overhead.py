"""What serving a tool over MCP costs: mcpbuild vs FastMCP 4.1.6 vs a direct call.

Run from the repository root (the first run also creates ``bench/.venv-fastmcp`` from
``bench/requirements-fastmcp.txt``, which takes a minute)::

    .venv/bin/python bench/serve_overhead.py                  # the table and the ratios
    .venv/bin/python bench/serve_overhead.py --profile        # ... then py-spy on mcpbuild
    .venv/bin/python bench/serve_overhead.py --profile both   # ... and on FastMCP too
    .venv/bin/python bench/serve_overhead.py --compare ".venv/bin/python bench/gc_untuned.py"
    .venv/bin/python bench/serve_overhead.py --workers 2      # ... and serve --workers 2

In one run, on one local upstream (``bench/serve_upstream.py``: ``GET /api/items``, three
items), the same tool (GET the items, keep ``id`` and ``name``) is called:

* (a) directly with httpx, no MCP: one ``httpx.AsyncClient`` (one connection) per worker
  doing the tool's GET and selection; the limit. (a0) is the same GET sent by the raw
  load generator itself: the ceiling of the rig, to show the load generator is not the
  bottleneck;
* (b) through ``mcpbuild serve`` over streamable HTTP (a connector YAML in a temp dir);
* (d) ``mcpbuild serve`` of the same tool behind OAuth: a seeded grant and client token,
  so the difference (d) - (b) is the cost of the token checks and the grant lookup;
* (c) through FastMCP 4.1.6, the tool hand-written as a FastMCP user would
  (``bench/fastmcp_server.py``: a shared ``httpx.AsyncClient``, default settings), in a
  venv with the same uvicorn, uvloop, httptools, sniffio, httpx, starlette, anyio and
  pydantic as mcpbuild's (checked at start: the run stops if they differ), so that the
  ratio measures the frameworks;
* (b1), (b2), ... with ``--compare CMD``: the plain connector served by another mcpbuild
  command, side by side, for a before/after in one run (``bench/gc_untuned.py`` is
  mcpbuild without its serve-time GC tuning);
* (w) with ``--workers N``: ``mcpbuild serve --workers N`` of the plain connector, its
  workers on every core (so sharing core 0 with the load generator and the upstream),
  beside the one process of (b); its CPU column sums the workers,

at concurrency 1 and 16. One raw-HTTP load generator (``bench/serve_loadgen.py``) drives
every MCP server: one keep-alive connection and one MCP session (protocol 2025-11-25) per
worker, JSON or SSE answers, every answer checked. The load generator (this process) and
the upstream are pinned to core 0, the MCP servers to core 1; everything binds 127.0.0.1.
Readiness is polled, never slept for. Before measuring, one call through each server must
return the same selected data; a case with any failed call is reported invalid.

The machine's speed drifts (shared cores), so the cases are interleaved: each case's
counted seconds are split into ``--slices`` slices, taken in rotating order, so that a slow
spell hits every case alike. Both MCP servers stay up, pinned to core 1, but only one is
loaded at a time; the CPU the idle one used meanwhile is measured and printed. Each MCP
row also shows the server's CPU time per call and how busy its core was, and every row how
busy core 0 was (this process and the upstream, from /proc): far from full in the MCP
cases, so the load generator is not what limits them.

After the table, each MCP server is loaded alone at the highest concurrency for
``--duration`` seconds in one go (``--no-tail`` skips it): its own p50 and p99, apart from
what interleaving adds to the table's (the first calls after seconds idle, the idle
servers' work on the shared core).

``--profile`` then samples the server with py-spy (``record --format raw``, idle frames
excluded) during a c=16 load and prints where its CPU time goes (``bench/serve_profile.py``).

Targets (issue 10): (b) at least 4x (c) in calls/s at c=16, with no errors; (b)'s p99 at
most 3x its p50 at c=16.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from processes import (
    READY_TIMEOUT,
    Pinning,
    cpu_seconds,
    free_port,
    pinned,
    pinning,
    started,
    tail,
    upstream,
    wait_listening,
    wait_workers,
)
from serve_loadgen import (
    CallError,
    Connection,
    LoadResult,
    McpSession,
    open_connection,
    run_load,
)
from serve_profile import summarize
from serve_upstream import ITEMS, PATH, selected_items

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
FASTMCP_VENV = BENCH / ".venv-fastmcp"
REQUIREMENTS = BENCH / "requirements-fastmcp.txt"
MCPBUILD = REPO / ".venv" / "bin" / "mcpbuild"
TOOL = "list_items"
QUIET = ("--log-level", "warning")
SPY_OPTIONS = ("--rate", "100", "--format", "raw", "--output")
# What both servers run on besides their framework; the same versions in both venvs.
SHARED = (
    "uvicorn", "uvloop", "httptools", "starlette", "anyio", "sniffio", "httpx", "httpcore",
    "h11", "pydantic", "pydantic-core",
)  # fmt: skip

CONNECTOR = """\
mcpbuild: 1
name: bench
description: The serve_overhead benchmark's connector.
api:
  base_url: http://127.0.0.1:{port}/api
tools:
  - name: list_items
    description: List the items.
    request: {{method: GET, path: /items}}
    response:
      select: "items[].{{id: id, name: name}}"
"""

CONNECTOR_OAUTH = """\
mcpbuild: 1
name: bench-oauth
description: The same tool behind OAuth; the provider is never called, the grant is seeded.
provider:
  authorization_url: http://127.0.0.1:9/authorize
  token_url: http://127.0.0.1:9/token
  client_id: bench-client
  client_secret: ${{BENCH_CLIENT_SECRET}}
  scopes: {{items.read: Read the items}}
api:
  base_url: http://127.0.0.1:{port}/api
tools:
  - name: list_items
    description: List the items.
    scopes: [items.read]
    request: {{method: GET, path: /items}}
    response:
      select: "items[].{{id: id, name: name}}"
"""


def seed_grant(store: Path, key: str, mcp_url: str) -> str:
    """A signed-in user in a fresh store: a grant with an upstream token that never expires
    and one client access token for it; the token, for the load generator's workers."""

    from builder.state.crypto import Cipher, new_token, token_hash
    from builder.state.sqlite import SQLiteStore
    from builder.state.store import Grant, TokenRecord

    async def seed() -> str:
        db = SQLiteStore(store)
        cipher = Cipher(key)
        await db.save_grant(
            Grant(
                "bench-grant",
                "bench",
                ["items.read"],
                cipher.encrypt("up", context="bench-grant"),
                None,
                None,
            )
        )
        token = new_token()
        await db.save_token(
            TokenRecord(
                token_hash(token),
                "access",
                "bench",
                "bench-grant",
                ["items.read"],
                mcp_url,
                time.time() + 24 * 3600,
            )
        )
        await db.close()
        return token

    # servers() runs inside the benchmark's event loop: seed from a thread of its own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, seed()).result()


# --- processes: pinning, readiness, shutdown -------------------------------------------


def fastmcp_python() -> Path:
    """The FastMCP venv's interpreter, created or refreshed from the requirements file."""
    python = FASTMCP_VENV / "bin" / "python"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = FASTMCP_VENV / ".requirements.sha256"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    print(f"creating {FASTMCP_VENV.relative_to(REPO)} from {REQUIREMENTS.name} ...", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(FASTMCP_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], check=True
    )
    stamp.write_text(digest + "\n")
    return python


def shared_versions(python: Path | str) -> dict[str, str]:
    """The versions of the packages both servers must share, in ``python``'s environment."""
    code = (
        "import importlib.metadata as m, json, sys\n"
        "def v(name):\n"
        "    try:\n"
        "        return m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        return 'missing'\n"
        "print(json.dumps({name: v(name) for name in sys.argv[1:]}))"
    )
    out = subprocess.run(
        [str(python), "-c", code, *SHARED], check=True, capture_output=True, text=True
    )
    versions: dict[str, str] = json.loads(out.stdout)
    return versions


def same_environment(fastmcp: Path) -> str:
    """One line naming the shared packages; exits when the two venvs differ on any."""
    ours, peer = shared_versions(sys.executable), shared_versions(fastmcp)
    differ = [f"{name}: mcpbuild {ours[name]}, FastMCP {peer[name]}" for name in SHARED
              if ours[name] != peer[name] or ours[name] == "missing"]  # fmt: skip
    if differ:
        raise SystemExit(
            "the two servers' environments differ, so the ratio would not measure the "
            f"frameworks ({REQUIREMENTS.name} pins what constraints.txt pins):\n  "
            + "\n  ".join(differ)
        )
    return ", ".join(f"{name} {ours[name]}" for name in SHARED)


def fastmcp_version(python: Path) -> str:
    out = subprocess.run(
        [
            str(python),
            "-c",
            "import fastmcp, mcp, importlib.metadata as m; "
            "print(fastmcp.__version__, m.version('mcp'))",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    fastmcp, mcp = out.stdout.split()
    return f"fastmcp {fastmcp} (mcp {mcp})"


# --- the cases --------------------------------------------------------------------------

Worker = Callable[[], Awaitable[Any]]
Close = Callable[[], Awaitable[None]]


@dataclass
class Case:
    """One way to call the tool; ``open`` makes ``concurrency`` workers and their closer."""

    key: str
    label: str
    open: Callable[[int], Awaitable[tuple[list[Worker], Close]]]
    server: subprocess.Popen[bytes] | None = None
    reopened: list[int] = field(default_factory=list)  # sessions opened again, per open


@dataclass
class Row:
    """One case at one concurrency, all slices merged."""

    case: Case
    result: LoadResult
    server_cpu: float = 0.0  # seconds of the server's CPU while this case ran
    rig_cpu: float = 0.0  # seconds of CPU of this process and the upstream, the same time

    @property
    def valid(self) -> bool:
        return self.result.errors == 0 and self.result.calls > 0


@dataclass(frozen=True)
class Options:
    """What to measure, and how."""

    duration: float
    warmup: float
    slices: int
    concurrency: tuple[int, ...]
    profile: tuple[str, ...]
    profile_dir: Path
    mcpbuild: tuple[str, ...]
    compare: tuple[tuple[str, ...], ...]
    workers: int
    tail: bool
    pins: Pinning


def raw_direct(port: int) -> Callable[[int], Awaitable[tuple[list[Worker], Close]]]:
    """(a0): the load generator's own GET, checked byte for byte."""
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    expected = json.dumps(ITEMS, separators=(",", ":")).encode()

    def worker(conn: Connection) -> Worker:
        async def call() -> None:
            response = await conn.request(request)
            if response.status != 200 or response.body != expected:
                raise CallError(f"HTTP {response.status}: {response.body[:200]!r}")

        return call

    async def open_(concurrency: int) -> tuple[list[Worker], Close]:
        conns = [await open_connection(port) for _ in range(concurrency)]

        async def close() -> None:
            for conn in conns:
                conn.close()

        return [worker(conn) for conn in conns], close

    return open_


def httpx_direct(port: int) -> Callable[[int], Awaitable[tuple[list[Worker], Close]]]:
    """(a): the tool's own work with httpx and no MCP: GET, parse, select."""
    url = f"http://127.0.0.1:{port}{PATH}"
    expected = selected_items()

    def worker(client: httpx.AsyncClient) -> Worker:
        async def call() -> None:
            response = await client.get(url)
            if response.status_code != 200:
                raise CallError(f"HTTP {response.status_code}")
            data = [{"id": i["id"], "name": i["name"]} for i in response.json()["items"]]
            if data != expected:
                raise CallError(f"a different result: {data!r}")

        return call

    async def open_(concurrency: int) -> tuple[list[Worker], Close]:
        limits = httpx.Limits(max_connections=1)
        clients = [httpx.AsyncClient(limits=limits, trust_env=False) for _ in range(concurrency)]

        async def close() -> None:
            for client in clients:
                await client.aclose()

        return [worker(client) for client in clients], close

    return open_


def through_mcp(
    port: int, token: str | None = None, reopened: list[int] | None = None
) -> Callable[[int], Awaitable[tuple[list[Worker], Close]]]:
    """(b), (c), (d): one connection and one MCP session per worker; the sessions opened
    again after a 404 are added to ``reopened``."""

    async def open_(concurrency: int) -> tuple[list[Worker], Close]:
        sessions = await mcp_sessions(port, concurrency, token)

        async def close() -> None:
            for session in sessions:
                session.conn.close()
            if reopened is not None:
                reopened.append(sum(session.reopened for session in sessions))

        return [_tool_call(session) for session in sessions], close

    return open_


async def mcp_sessions(port: int, concurrency: int, token: str | None) -> list[McpSession]:
    """Open the sessions; every later answer must equal the first call's."""
    sessions: list[McpSession] = []
    for _ in range(concurrency):
        session = McpSession(await open_connection(port), port, token=token)
        await session.open()
        sessions.append(session)
    text = await sessions[0].call_tool(TOOL)
    for session in sessions:
        session.expected_text = text
    return sessions


def _tool_call(session: McpSession) -> Worker:
    async def call() -> None:
        await session.call_tool(TOOL)

    return call


async def check_correct(port: int, label: str, token: str | None = None) -> Any:
    """One call through the server: its result must be the selected data."""
    session = McpSession(await open_connection(port), port, token=token)
    try:
        info = await session.open()
        data = json.loads(await session.call_tool(TOOL))
    finally:
        session.conn.close()
    if data != selected_items():
        raise SystemExit(f"{label} returned {data!r}, expected {selected_items()!r}")
    server = info.get("serverInfo", {})
    print(f"  {label}: correct ({server.get('name')} {server.get('version')}): {data}")
    return data


@dataclass(frozen=True)
class Server:
    """How to start one MCP server under test."""

    key: str
    name: str
    label: str
    port: int
    command: list[str]
    env: dict[str, str] | None = None
    token: str | None = None


def servers(options: Options, upstream_port: int, work: Path, fastmcp: Path) -> list[Server]:
    spec = work / "connector.yaml"
    spec.write_text(CONNECTOR.format(port=upstream_port))
    # The load generator opens one protocol session per worker, all as one user from one
    # address: raise serve's per-user session bound (8) above the highest concurrency.
    os.environ["MCPBUILD_SESSIONS_PER_USER"] = str(max(64, *options.concurrency))
    ports = free_port(), free_port(), free_port()
    core = options.pins.server
    mcpbuild = [*options.mcpbuild, "serve", str(spec), "--port", str(ports[0]), *QUIET]
    oauth_spec = work / "connector-oauth.yaml"
    oauth_spec.write_text(CONNECTOR_OAUTH.format(port=upstream_port))
    key = base64.urlsafe_b64encode(os.urandom(32)).decode()
    store = work / "oauth.db"
    token = seed_grant(store, key, f"http://127.0.0.1:{ports[2]}/mcp")
    oauth = [
        *options.mcpbuild,
        "serve",
        str(oauth_spec),
        "--port",
        str(ports[2]),
        "--store",
        f"sqlite:///{store}",
        *QUIET,
    ]
    oauth_env = {**os.environ, "MCPBUILD_SECRET_KEY": key, "BENCH_CLIENT_SECRET": "bench-secret"}
    peer = [str(fastmcp), str(BENCH / "fastmcp_server.py"), "--port", str(ports[1])]
    upstream_url = f"http://127.0.0.1:{upstream_port}/api"
    others = []
    for n, command in enumerate(options.compare, 1):
        port = free_port()
        serve = [*command, "serve", str(spec), "--port", str(port), *QUIET]
        label = f"--compare {n}: {shlex.join(command)}"
        others.append(Server(f"b{n}", f"compare{n}", label[:41], port, pinned(serve, core)))
    if options.workers:
        # N processes on every core (this process is pinned to one: taskset lifts that);
        # they share core 0 with the load generator and the upstream, as on any 2-core box.
        port = free_port()
        workers = ("--workers", str(options.workers))
        serve = [*options.mcpbuild, "serve", str(spec), "--port", str(port), *workers, *QUIET]
        label = f"mcpbuild serve --workers {options.workers}"
        others.append(Server("w", "workers", label, port, pinned(serve, options.pins.every)))
    return [
        Server("b", "mcpbuild", "mcpbuild serve", ports[0], pinned(mcpbuild, core)),
        *others,
        Server(
            "d",
            "mcpbuild-oauth",
            "mcpbuild serve, OAuth on",
            ports[2],
            pinned(oauth, core),
            oauth_env,
            token,
        ),
        Server(
            "c",
            "fastmcp",
            "FastMCP 4.1.6",
            ports[1],
            pinned(peer, core),
            {**os.environ, "BENCH_UPSTREAM": upstream_url},
        ),
    ]


# --- the run ----------------------------------------------------------------------------


async def measure(
    cases: list[Case],
    concurrency: int,
    options: Options,
    upstream_proc: subprocess.Popen[bytes],
) -> tuple[list[Row], float]:
    """Every case at one concurrency, interleaved; the rows and the idle servers' CPU."""
    print(f"  measuring c={concurrency} ...", flush=True)
    opened = [await case.open(concurrency) for case in cases]
    rows = [Row(case, LoadResult(concurrency=concurrency, seconds=0.0)) for case in cases]
    idle_cpu = 0.0
    try:
        for (workers, _), row in zip(opened, rows, strict=True):  # warm up, uncounted
            warm = await run_load(workers, warmup=options.warmup, duration=0.0)
            row.result.errors += warm.errors  # an error is an error, warm or not
            row.result.first_errors += warm.first_errors
        for turn in range(options.slices):
            for i in range(len(cases)):
                index = (i + turn) % len(cases)
                workers, _ = opened[index]
                row = rows[index]
                before = [cpu_seconds(case.server) for case in cases]
                rig = time.process_time() + cpu_seconds(upstream_proc)
                part = await run_load(
                    workers, warmup=0.0, duration=options.duration / options.slices
                )
                row.rig_cpu += time.process_time() + cpu_seconds(upstream_proc) - rig
                after = [cpu_seconds(case.server) for case in cases]
                for j in range(len(cases)):
                    spent = after[j] - before[j]
                    if j == index:
                        row.server_cpu += spent
                    else:
                        idle_cpu += spent
                row.result.seconds += part.seconds
                row.result.latencies_ns += part.latencies_ns
                row.result.errors += part.errors
                row.result.first_errors += part.first_errors[: 3 - len(row.result.first_errors)]
    finally:
        for _, close in opened:
            await close()
    return rows, idle_cpu


async def run_async(
    options: Options, up: tuple[int, subprocess.Popen[bytes]], work: Path, fastmcp: Path
) -> int:
    up_port, upstream_proc = up
    with contextlib.ExitStack() as stack:
        cases = [
            Case("a0", "direct, raw load generator (rig ceiling)", raw_direct(up_port)),
            Case("a", "direct httpx, no MCP (the limit)", httpx_direct(up_port)),
        ]
        started_servers: list[tuple[Server, subprocess.Popen[bytes]]] = []
        for server in servers(options, up_port, work, fastmcp):
            log = work / f"{server.name}.log"
            proc = stack.enter_context(started(server.command, log, server.env))
            started_servers.append((server, proc))
        results = []
        for server, proc in started_servers:
            wait_listening(proc, server.port, work / f"{server.name}.log", server.label)
            if server.key == "w":
                wait_workers(proc, options.workers, work / f"{server.name}.log", server.label)
            results.append(await check_correct(server.port, server.label, server.token))
            reopened: list[int] = []
            mcp = through_mcp(server.port, server.token, reopened)
            cases.append(Case(server.key, server.label, mcp, proc, reopened))
        if any(result != results[0] for result in results):
            raise SystemExit(f"the servers disagree: {results!r}")
        print("  both servers return the same selected data")
        rows: list[Row] = []
        idle = 0.0
        for concurrency in options.concurrency:
            measured, spent = await measure(cases, concurrency, options, upstream_proc)
            rows += measured
            idle += spent
        for server, proc in started_servers:
            if proc.poll() is not None:
                raise SystemExit(f"{server.label} died:\n{tail(work / f'{server.name}.log')}")
        report(rows, options, idle)
        if options.tail:
            await tail_pass([case for case in cases if case.server is not None], options)
        for server, proc in started_servers:
            if server.name in options.profile:
                await profile_server(server, proc, fastmcp, options)
    return 0 if all(row.valid for row in rows) else 1


def run(options: Options) -> int:
    pins = options.pins
    if pins.loadgen is not None:
        os.sched_setaffinity(0, {pins.loadgen})
    fastmcp = fastmcp_python()
    print(f"serve_overhead: {os.cpu_count()} cores; {pins.describe()}")
    print(
        "load generator: raw asyncio HTTP/1.1 client in this process (stdlib event loop), "
        "one connection + one MCP session per worker"
    )
    print(f"same environment for both servers: {same_environment(fastmcp)}")
    print(
        f"mcpbuild: {' '.join(options.mcpbuild)}; peer: {fastmcp_version(fastmcp)}\n"
        f"{options.duration:g} s counted per case and concurrency, in {options.slices} "
        f"interleaved slices, after {options.warmup:g} s warm-up"
    )
    with tempfile.TemporaryDirectory(prefix="serve_overhead-") as tmp:
        work = Path(tmp)
        with upstream(pins.loadgen, work / "upstream.log") as up:
            print(f"upstream: 127.0.0.1:{up[0]}{PATH} (raw asyncio server, own process)")
            return asyncio.run(run_async(options, up, work, fastmcp))


# --- the report -------------------------------------------------------------------------


def report(rows: list[Row], options: Options, idle_cpu: float) -> None:
    print()
    print(
        f"{'case':<46} {'conc':>4} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'p99/p50':>7}"
        f" {'errors':>6}"
        f" {'server CPU/call':>15} {'server core':>11} {'loadgen+upstream core':>21}"
    )
    for row in rows:
        r = row.result
        cpu = busy = ""
        if row.case.server is not None and r.calls:
            cpu = f"{1e6 * row.server_cpu / r.calls:.0f} us"
            busy = f"{100 * row.server_cpu / r.seconds:.0f}%"
        rig = f"{100 * row.rig_cpu / r.seconds:.0f}%" if r.seconds else ""
        mark = "" if row.valid else "  INVALID"
        key = f"({row.case.key})"
        print(
            f"{key:<4} {row.case.label:<41} {r.concurrency:>4} {r.rate:>8.0f} "
            f"{r.percentile_ms(50):>7.2f} {r.percentile_ms(99):>7.2f} {tail_ratio(r):>6.1f}x"
            f" {r.errors:>6}"
            f" {cpu:>15} {busy:>11} {rig:>21}{mark}"
        )
        for error in r.first_errors:
            print(f"      e.g. {error}")
    print(f"(the idle MCP servers used {1000 * idle_cpu:.0f} ms of CPU while one ran)")
    for case in {row.case.key: row.case for row in rows}.values():
        if sum(case.reopened):
            print(
                f"({case.key}) sessions opened again after a 404 (the session lives in "
                f"another worker): {sum(case.reopened)}, per concurrency {case.reopened}"
            )
    print()
    by = {(row.case.key, row.result.concurrency): row for row in rows}
    for concurrency in options.concurrency:
        parts = []
        compared = tuple(("b", f"b{n}") for n in range(1, len(options.compare) + 1))
        pairs = (("b", "c"), ("b", "a"), ("c", "a"), ("d", "b"), *compared, ("w", "b"))
        for top, bottom in pairs:
            num, den = by.get((top, concurrency)), by.get((bottom, concurrency))
            if num is None or den is None or not den.result.rate:
                continue
            ratio = num.result.rate / den.result.rate
            valid = "" if num.valid and den.valid else " (INVALID)"
            parts.append(f"({top})/({bottom}) = {ratio:.2f}x{valid}")
        print(f"c={concurrency:<3} " + "   ".join(parts))
        plain, oauth = by.get(("b", concurrency)), by.get(("d", concurrency))
        if plain and oauth and plain.result.calls and oauth.result.calls:
            extra = oauth.server_cpu / oauth.result.calls - plain.server_cpu / plain.result.calls
            print(f"      token checks (d) - (b): {1e6 * extra:+.0f} us of server CPU per call")
    ours, peer = by.get(("b", 16)), by.get(("c", 16))
    if ours is not None and peer is not None and peer.result.rate:
        ok = ours.result.rate >= 4 * peer.result.rate and ours.valid and peer.valid
        print(f"target (b)/(c) >= 4x at c=16 with no errors: {'MET' if ok else 'NOT MET'}")
    if ours is not None and ours.result.calls:
        ok = tail_ratio(ours.result) <= 3
        print(f"target (b) p99 <= 3x p50 at c=16: {'MET' if ok else 'NOT MET'}")


def tail_ratio(result: LoadResult) -> float:
    """p99 / p50: how far the slow calls are from the typical one."""
    median = result.percentile_ms(50)
    return result.percentile_ms(99) / median if median else 0.0


async def tail_pass(cases: list[Case], options: Options) -> None:
    """Each MCP server loaded alone at the highest concurrency, ``--duration`` seconds in
    one go: its own tail, apart from what interleaving adds to the table's (the first
    calls of a slice after seconds idle, and the idle servers' work on the same core)."""
    concurrency = max(options.concurrency)
    print(f"\ntail at c={concurrency}, each server loaded alone for {options.duration:g} s:")
    for case in cases:
        workers, close = await case.open(concurrency)
        try:
            await run_load(workers, warmup=options.warmup, duration=0.0)
            result = await run_load(workers, warmup=0.0, duration=options.duration)
        finally:
            await close()
        print(
            f"  ({case.key}) {case.label:<41} {result.rate:>6.0f} calls/s  p50 "
            f"{result.percentile_ms(50):6.2f} ms  p99 {result.percentile_ms(99):6.2f} ms  "
            f"p99/p50 {tail_ratio(result):.1f}x  errors {result.errors}"
        )


# --- profiling --------------------------------------------------------------------------


async def profile_server(
    server: Server, proc: subprocess.Popen[bytes], fastmcp: Path, options: Options
) -> None:
    """Sample the running ``server`` with py-spy during a c=16 load; print the summary."""
    py_spy = fastmcp.parent / "py-spy"
    options.profile_dir.mkdir(parents=True, exist_ok=True)
    raw = options.profile_dir / f"{server.name}.raw"
    spy_log = raw.with_suffix(".py-spy.log")
    print(f"\nprofiling {server.label} at c=16 with py-spy ({options.duration:g} s) ...")
    sessions = await mcp_sessions(server.port, 16, server.token)
    calls = [_tool_call(s) for s in sessions]
    try:
        await run_load(calls, warmup=options.warmup, duration=0.0)
        command = [str(py_spy), "record", "--pid", str(proc.pid), *SPY_OPTIONS, str(raw)]
        with spy_log.open("wb") as out:
            spy = subprocess.Popen(
                pinned(command, options.pins.loadgen), stdout=out, stderr=subprocess.STDOUT
            )
        try:
            await _wait_for_text(spy_log, "Sampling process", spy)
            result = await run_load(calls, warmup=0.0, duration=options.duration)
        finally:
            spy.send_signal(signal.SIGINT)
            await asyncio.to_thread(spy.wait, 30)
    finally:
        for session in sessions:
            session.conn.close()
    print(
        f"  under py-spy: {result.rate:.0f} calls/s, p50 {result.percentile_ms(50):.2f} ms, "
        f"errors {result.errors}; raw stacks in {raw}"
    )
    print("  " + summarize(raw).replace("\n", "\n  "))


async def _wait_for_text(path: Path, text: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise SystemExit(f"py-spy exited with {proc.returncode}:\n{tail(path)}")
        await asyncio.sleep(0.02)  # a poll interval
    raise SystemExit(f"py-spy did not start:\n{tail(path)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--duration", type=float, default=8.0, help="counted seconds per case and concurrency"
    )
    parser.add_argument("--slices", type=int, default=8, help="interleaved slices per case")
    parser.add_argument("--warmup", type=float, default=1.0, help="uncounted seconds per case")
    parser.add_argument(
        "--concurrency", default="1,16", help="comma-separated worker counts (default 1,16)"
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="mcpbuild",
        choices=("mcpbuild", "fastmcp", "both"),
        help="after the table, py-spy the server at c=16 (default: mcpbuild)",
    )
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "serve_overhead-profile",
        help="where py-spy's raw stacks go",
    )
    parser.add_argument(
        "--mcpbuild",
        default=str(MCPBUILD),
        help="the mcpbuild command to serve with (e.g. another checkout's, for an A/B run)",
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="COMMAND",
        help="another mcpbuild command served side by side as case (b1), (b2), ... (the plain "
        "connector), for a before/after in one run; repeatable",
    )
    parser.add_argument(
        "--tail",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="after the table, load each MCP server alone (uninterleaved) at the highest "
        "concurrency and print its p50/p99 (default: on)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="also serve the plain connector with `mcpbuild serve --workers N` on every core, "
        "as case (w), beside the one process of (b)",
    )
    args = parser.parse_args(argv)
    profile = {"both": ("mcpbuild", "fastmcp"), None: ()}.get(args.profile, (args.profile,))
    options = Options(
        duration=args.duration,
        warmup=args.warmup,
        slices=max(1, args.slices),
        concurrency=tuple(int(c) for c in args.concurrency.split(",")),
        profile=tuple(profile),
        profile_dir=args.profile_dir,
        mcpbuild=tuple(shlex.split(args.mcpbuild)),
        compare=tuple(tuple(shlex.split(command)) for command in args.compare),
        workers=args.workers,
        tail=args.tail,
        pins=pinning(),
    )
    return run(options)


if __name__ == "__main__":
    sys.exit(main())
