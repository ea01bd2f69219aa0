"""``serve --workers N``: N processes accepting on one port.

uvicorn's own supervisor does the process work (``uvicorn.run(..., workers=N)``): this
process binds the socket once, starts N workers that accept on it (the kernel spreads
the connections), starts a worker again when one dies, and on SIGTERM or SIGINT passes
the signal on to every worker and waits for them; each worker then shuts down as one
``serve`` does (stops accepting, lets calls in flight finish within
``--shutdown-timeout``). A worker is a fresh interpreter (``spawn``), so the app reaches
it as an import string: :func:`app`, a factory that builds the served connector again
in the worker from the spec file and the options this process has already checked, both
passed in ``MCPBUILD_WORKER``. The spec is validated, the store reached and a ``--dev``
key made here first, so a mistake is reported once, before any worker starts.

What each worker keeps to itself: protocol sessions (2025-11-25), the rate limits, the
client-metadata cache and the upstream connection pool. What they share: the store
(Redis; see :func:`builder.server.serve.open_connector` for why not SQLite) and, with
``--metrics``, a folder of prometheus-client's multiprocess files that lives as long as
this process (``PROMETHEUS_MULTIPROC_DIR``), from which any worker answers ``/metrics``
with the sum over all.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import pickle
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette

from builder.server.operations import MULTIPROCESS_DIR_VARIABLE
from builder.server.serve import ServeOptions

__all__ = ["WORKER_VARIABLE", "WorkerStart", "app", "run_workers"]

WORKER_VARIABLE = "MCPBUILD_WORKER"

logger = logging.getLogger("mcpbuild.serve")


@dataclass(frozen=True)
class WorkerStart:
    """What a worker needs besides the options: the spec to load and how to log."""

    file: Path
    log_level: str = "info"
    log_format: Literal["json", "text"] = "text"


def run_workers(options: ServeOptions, start: WorkerStart, settings: dict[str, Any]) -> None:
    """Serve with ``options.workers`` processes until SIGTERM/SIGINT; ``settings`` are the
    uvicorn settings one process would use."""
    with tempfile.TemporaryDirectory(prefix="mcpbuild-metrics-") as metrics_dir:
        payload = (start, options)
        env = {WORKER_VARIABLE: base64.b64encode(pickle.dumps(payload)).decode("ascii")}
        extra: dict[str, Any] = {"workers": options.workers}
        if options.metrics:
            env[MULTIPROCESS_DIR_VARIABLE] = extra["metrics_dir"] = metrics_dir
        logger.info("starting workers", extra=extra)
        logger.warning(
            "--workers: a 2025-11-25 protocol session lives in the worker that opened it; "
            "a client's other connections may reach another worker and get 404 (unknown "
            "session). 2026-07-28 clients are stateless and unaffected; serve 2025-11-25 "
            "clients with one worker per replica behind a proxy sticky by Mcp-Session-Id"
        )
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)  # the workers inherit this process's environment
        try:
            uvicorn.run(f"{__name__}:app", factory=True, workers=options.workers, **settings)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def app() -> Starlette:
    """The app of one worker (uvicorn calls this factory in each worker process)."""
    from builder.connector import load_connector
    from builder.server.gc_tuning import tune_for_serving
    from builder.server.logs import configure_logging
    from builder.server.serve import open_connector

    start, options = pickle.loads(base64.b64decode(os.environ[WORKER_VARIABLE]))  # noqa: S301
    assert isinstance(start, WorkerStart)
    assert isinstance(options, ServeOptions)
    configure_logging(start.log_level, start.log_format)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_with_pid)
    served = open_connector(load_connector(str(start.file)), options)
    http = served.http_app(options)
    inner = http.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app_: Starlette) -> AsyncIterator[Any]:
        try:
            async with inner(app_) as state:
                yield state
        finally:
            _mark_dead()

    http.router.lifespan_context = lifespan
    tune_for_serving()  # after loading, before the first request
    return http


def _with_pid(record: logging.LogRecord) -> bool:
    """Every log line of a worker says which one (``pid=``)."""
    record.pid = record.process
    return True


def _mark_dead() -> None:
    """prometheus-client's clean-up for a process that ends: its live gauges go (its
    counters stay, and keep counting in the sum)."""
    folder = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    if folder:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), folder)  # type: ignore[no-untyped-call]
