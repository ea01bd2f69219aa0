"""A real redis-server on 127.0.0.1 for tests: a free port, a private folder, awaited until
it answers PING (never a fixed sleep), stopped after."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from builder.state.redis import RedisStore
from builder.state.sqlite import SQLiteStore
from builder.state.store import Store
from tests.servers import bound_socket

__all__ = [
    "RedisServer",
    "StoreFactory",
    "make_store",
    "redis_available",
    "redis_server",
    "redis_service",
    "store",
    "store_kind",
]


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


@dataclass
class RedisServer:
    """One redis-server process; :meth:`restart` stops it and starts it again on the same
    port and folder (with ``appendonly``, what was written survives)."""

    folder: Path
    persistent: bool = False
    port: int = 0
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, db: int = 0, *, prefix: str | None = None) -> str:
        query = f"?prefix={prefix}" if prefix else ""
        return f"redis://127.0.0.1:{self.port}/{db}{query}"

    def start(self) -> None:
        if not self.port:
            sock = bound_socket()  # below the ephemeral range: the port stays ours to restart
            self.port = sock.getsockname()[1]
            sock.close()
        command = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.folder),
            "--save", "",
            "--appendonly", "yes" if self.persistent else "no",
            "--appendfsync", "always",
            "--protected-mode", "yes",
        ]  # fmt: skip
        log = (self.folder / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self._wait_ready(timeout=10.0)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                output = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{output}")
            if self.ping():
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port}: no PONG in {timeout} s")
            time.sleep(0.01)  # a poll interval, not a wait for readiness

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()  # SIGTERM: redis-server flushes the append-only file first
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def redis_server(folder: Path, *, persistent: bool = False) -> Iterator[RedisServer]:
    server = RedisServer(folder, persistent=persistent)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# Fixtures: imported by tests/state/conftest.py, and by the test modules elsewhere that run
# their store tests on both stores.

StoreFactory = Callable[..., Store]


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; each store on it gets a prefix of its own."""
    if not redis_available():
        pytest.fail("redis-server is not installed: run `make system-deps` (as root) first")
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(params=["sqlite", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return cast(str, request.param)


@pytest.fixture
async def make_store(
    store_kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[StoreFactory]:
    """Opens stores of this test's kind with the given options (``max_clients``, ...);
    closes them after. Redis stores get a fresh prefix, so tests never see each other."""
    made: list[Store] = []

    def make(**options: Any) -> Store:
        store: Store
        if store_kind == "sqlite":
            store = SQLiteStore(tmp_path / f"s{len(made)}.db", **options)
        else:
            server: RedisServer = request.getfixturevalue("redis_service")
            store = RedisStore.connect(server.url(prefix=f"t{uuid.uuid4().hex[:12]}"), **options)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Store:
    """A store of each kind, with its default options."""
    return make_store()
