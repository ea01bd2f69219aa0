"""GitHub's official OpenAPI description, from the pinned npm package ``@octokit/openapi``."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent
GITHUB = HERE / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"


def github_description() -> str:
    """The description's path; an error that says how to install it when it is missing."""
    if not GITHUB.is_file():
        raise RuntimeError(
            f"{GITHUB} is missing: run `make unit`, or `cd {HERE} && npm ci` with Node "
            "from .venv/bin on PATH"
        )
    return str(GITHUB)
