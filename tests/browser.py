"""What the browser tests share: Debian's Chromium, how it is launched, and where their
screenshots go.

The README's images under ``docs/`` are refreshed only when asked, with
``MCPBUILD_SCREENSHOTS=1 make test``: an ordinary test run leaves the checked-in files alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["CHROMIUM", "FLAGS", "screenshot_dir"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot_dir() -> Path:
    """``docs/`` with ``MCPBUILD_SCREENSHOTS`` set, else a folder under the temp directory."""
    if os.environ.get("MCPBUILD_SCREENSHOTS"):
        folder = Path(__file__).resolve().parents[1] / "docs"
    else:
        folder = Path(tempfile.gettempdir()) / "mcpbuild-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
