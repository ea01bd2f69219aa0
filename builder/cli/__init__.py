"""The ``mcpbuild`` command line: parses arguments and calls into the other packages.

One module per group of commands; importing them registers their commands on ``app``, in
the order ``--help`` lists them.
"""

# isort: skip_file
from __future__ import annotations

from builder.cli.common import app
from builder.cli import spec  # noqa: F401  validate, schema, init, tools
from builder.cli import serving  # noqa: F401  serve, dev, login, call, keygen, demo
from builder.cli import doctor  # noqa: F401  doctor
from builder.cli import presets  # noqa: F401  presets
from builder.cli import replay  # noqa: F401  test, record
from builder.cli import openapi  # noqa: F401  import openapi

__all__ = ["app", "main"]


def main() -> None:
    """Entry point of the ``mcpbuild`` console script."""
    app(prog_name="mcpbuild")
