"""What the store costs per tool call: ``get_token`` + ``get_grant`` (the two reads behind
every authorized request), on SQLite (its in-process cache warm, as in a running server)
and on Redis (no cache: two round trips to a local redis-server).

Run from the repository root; it starts its own redis-server on a free port (Debian
package ``redis-server``) in a temporary folder and stops it after::

    .venv/bin/python bench/store_cost.py                 # 10,000 pairs, c=1 and c=16
    .venv/bin/python bench/store_cost.py --pairs 50000

For each store: wall time and this process's CPU time per pair, one at a time (c=1), and
with 16 tasks reading at once (c=16, wall time per pair = 1 / throughput). The loop is
uvloop's, as under ``mcpbuild serve``. Nothing is slept for: the server is polled with
PING until it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvloop

from builder.state.crypto import token_hash
from builder.state.redis import RedisStore
from builder.state.sqlite import SQLiteStore
from builder.state.store import Grant, Store, TokenRecord


@contextmanager
def redis_server(folder: Path) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)]
    process = subprocess.Popen(
        [*command, "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.01)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


async def seed(store: Store) -> str:
    grant = Grant("g" * 43, "client", ["notes.read"], "enc-" + "a" * 200, "enc-" + "r" * 200, None)
    grant.extra = {"user": "alice"}
    await store.save_grant(grant)
    token = TokenRecord(
        token_hash("access"), "access", "client", grant.grant_id, ["notes.read"], None,
        time.time() + 3600, auth_time=time.time(),
    )  # fmt: skip
    await store.save_token(token)
    return token.token_hash


async def pair(store: Store, hashed: str) -> None:
    record = await store.get_token(hashed)
    assert record is not None
    grant = await store.get_grant(record.grant_id)
    assert grant is not None


async def measure(store: Store, pairs: int, concurrency: int) -> tuple[float, float]:
    """Microseconds of wall time and of CPU time per pair."""
    hashed = await seed(store)
    for _ in range(500):
        await pair(store, hashed)  # warm: connections, caches, scripts

    async def worker(count: int) -> None:
        for _ in range(count):
            await pair(store, hashed)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(pairs // concurrency) for _ in range(concurrency)))
    done = (pairs // concurrency) * concurrency
    return (
        (time.perf_counter() - wall) / done * 1e6,
        (time.process_time() - cpu) / done * 1e6,
    )


async def run(pairs: int, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, redis_server(Path(tmp)) as port:
        print(f"{pairs} pairs of get_token + get_grant, median of {repeats} runs")
        print(f"{'store':<22}{'c':>4}{'wall µs/pair':>15}{'CPU µs/pair':>14}")
        for concurrency in (1, 16):
            for name in ("sqlite (cache warm)", "redis"):
                walls, cpus = [], []
                for n in range(repeats):
                    store: Store
                    if name == "redis":
                        store = RedisStore.connect(f"redis://127.0.0.1:{port}/0?prefix=bench{n}")
                    else:
                        store = SQLiteStore(Path(tmp) / f"bench{concurrency}-{n}.db")
                    wall, cpu = await measure(store, pairs, concurrency)
                    await store.close()
                    walls.append(wall)
                    cpus.append(cpu)
                print(
                    f"{name:<22}{concurrency:>4}{statistics.median(walls):>15.1f}"
                    f"{statistics.median(cpus):>14.1f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    uvloop.run(run(args.pairs, args.repeats))


if __name__ == "__main__":
    main()
