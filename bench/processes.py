"""Processes of the benchmarks: starting, pinning to a core, waiting until they listen,
stopping them, and the CPU time they used."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class Pinning:
    """Which cores the load generator (with the upstream) and the server under test use."""

    loadgen: int | None
    server: int | None
    every: str | None = None  # all cores, as taskset's list, for ``--workers``

    def describe(self) -> str:
        if self.loadgen is None or self.server is None:
            return "no pinning (fewer than 2 cores): load generator, upstream and server share"
        return (
            f"load generator + upstream pinned to core {self.loadgen}, "
            f"both MCP servers to core {self.server} (one loaded at a time)"
        )


def pinning() -> Pinning:
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        return Pinning(None, None)
    return Pinning(cores[0], cores[1], ",".join(str(core) for core in cores))


def pinned(command: Sequence[str], core: int | str | None) -> list[str]:
    """``command`` started on ``core`` (a number or a taskset list, via taskset, so every
    thread and child process inherits it)."""
    if core is None:
        return list(command)
    taskset = shutil.which("taskset")
    if taskset is None:
        raise SystemExit("taskset not found (util-linux); it pins the processes to cores")
    return [taskset, "--cpu-list", str(core), *command]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path, what: str) -> None:
    """Poll until ``127.0.0.1:port`` accepts a connection (or the process died)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.02)  # a poll interval, not a wait for readiness
    raise SystemExit(f"{what} did not listen on {port} within {READY_TIMEOUT:g} s:\n{tail(log)}")


def wait_workers(proc: subprocess.Popen[bytes], workers: int, log: Path, what: str) -> None:
    """Poll until ``workers`` processes under ``proc`` wait in their event loop (the kernel
    says ``epoll_wait``): the parent listens long before its workers have loaded, and the
    sessions opened meanwhile would all go to the first worker up."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        waiting = 0
        for pid in _process_tree(proc.pid)[1:]:
            with contextlib.suppress(OSError):
                waiting += "epoll" in Path(f"/proc/{pid}/wchan").read_text()
        if waiting >= workers:
            return
        time.sleep(0.1)  # a poll interval
    raise SystemExit(f"{what}: {workers} workers not up within {READY_TIMEOUT:g} s:\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def started(
    command: Sequence[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    try:
        yield proc
    finally:
        stop(proc)


@contextlib.contextmanager
def upstream(core: int | None, log: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The upstream API in its own process; yields its port and the process."""
    command = pinned([sys.executable, str(BENCH / "serve_upstream.py")], core)
    with log.open("wb") as err:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err)
    try:
        assert proc.stdout is not None
        line = _read_line(proc.stdout, proc, log)
        if not line.startswith("PORT "):
            raise SystemExit(f"the upstream said {line!r}:\n{tail(log)}")
        yield int(line.split()[1]), proc
    finally:
        stop(proc)


def _read_line(stream: IO[bytes], proc: subprocess.Popen[bytes], log: Path) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(READY_TIMEOUT):
            raise SystemExit(f"the upstream did not start:\n{tail(log)}")
    line = stream.readline().decode().strip()
    if not line and proc.poll() is not None:
        raise SystemExit(f"the upstream exited with {proc.returncode}:\n{tail(log)}")
    return line


# --- the FastMCP venv -------------------------------------------------------------------


def cpu_seconds(proc: subprocess.Popen[bytes] | None) -> float:
    """User + system CPU of a running process (all its threads) and of the processes it
    started (the workers of ``--workers``), from /proc."""
    if proc is None:
        return 0.0
    return sum(_cpu_ticks(pid) for pid in _process_tree(proc.pid)) / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: int) -> int:
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    return 0


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from each thread's ``children`` list in /proc."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
    return found


# --- servers ----------------------------------------------------------------------------
