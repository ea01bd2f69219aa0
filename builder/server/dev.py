"""``mcpbuild dev``: serve a connector with development defaults and swap in its spec on
every save, without a restart (:func:`~builder.server.live.reload`)."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from watchfiles import Change, awatch

from builder.connector.load import load_connector
from builder.connector.models import Connector
from builder.errors import ConfigError, SpecError
from builder.server.live import reload
from builder.server.serve import Served, ServeOptions

__all__ = ["STATE_DIR", "SpecWatcher", "dev_store_url"]

logger = logging.getLogger("mcpbuild.dev")

STATE_DIR = ".mcpbuild"
"""Where ``dev`` keeps its store and generated key, in the connector's folder."""


def dev_store_url(folder: Path) -> str:
    """``sqlite:///<folder>/.mcpbuild/state.db``; the folder gets a ``.gitignore`` of
    ``*`` so that the store and the key are never committed, whatever the repository
    ignores."""
    state = folder / STATE_DIR
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    ignore = state / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# mcpbuild dev: the store and the generated key; never commit them\n*\n")
    return f"sqlite:///{state / 'state.db'}"


class SpecWatcher:
    """Watches the spec file and the view templates it names; reloads on each save.

    An invalid save keeps the last good spec serving and prints every problem as
    ``file:line:col: path: message``.
    """

    def __init__(
        self,
        file: Path,
        served: Served,
        options: ServeOptions,
        environ: Mapping[str, str] | None = None,
        *,
        connector: Connector,
        out: TextIO | None = None,
    ) -> None:
        self.file = file
        self.served = served
        self.options = options
        self.environ = os.environ if environ is None else environ
        self.folder = file.resolve().parent
        self.out = out
        self.watched: set[Path] = set()
        self._track(connector)

    def _track(self, connector: Connector) -> None:
        """The spec and each view template of the last spec that validated (even if its
        templates then failed: creating the missing one must trigger a reload)."""
        templates = {
            (self.folder / tool.view.template).resolve()
            for tool in connector.tools
            if tool.view is not None and tool.view.template is not None
        }
        self.watched = {self.file.resolve(), *templates}

    def _say(self, line: str) -> None:
        print(line, file=self.out or sys.stderr, flush=True)

    async def reload_once(self) -> bool:
        """Load, validate and swap in the spec on disk; False (and the errors printed)
        when it is kept out."""
        started = time.perf_counter()
        name = self.file.name
        try:
            connector = load_connector(str(self.file))
        except SpecError as exc:
            for issue in exc.issues:
                self._say(issue.render())
            logger.error(
                f"reload of {name} failed: still serving the last good spec",
                extra={"issues": len(exc.issues)},
            )
            return False
        self._track(connector)
        try:
            change = await reload(self.served, connector, self.options, self.environ)
        except ConfigError as exc:
            self._say(f"{self.file}: {exc}")
            logger.error(f"reload of {name} failed: still serving the last good spec")
            return False
        extra: dict[str, object] = {
            key: ",".join(names)
            for key, names in (
                ("added", change.added),
                ("removed", change.removed),
                ("changed", change.changed),
            )
            if names
        }
        extra["ms"] = round((time.perf_counter() - started) * 1000, 1)
        logger.info(change.summary(name), extra=extra)
        return True

    def _relevant(self, change: Change, path: str) -> bool:
        return Path(path).resolve() in self.watched

    async def run(self) -> None:
        """Reload after each batch of saves, until cancelled."""
        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # our line says it all
        # The whole folder, not the files: editors save by writing a new file and
        # renaming it over the old one, which a watch on the old file would miss.
        # rust_timeout: how long the watching thread blocks before it looks at whether it
        # was cancelled; its default (5 s) held every shutdown up for that long.
        async for _ in awatch(
            self.folder, watch_filter=self._relevant, debounce=400, rust_timeout=250
        ):
            await self.reload_once()
