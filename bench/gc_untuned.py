"""``mcpbuild`` with the serve-time GC tuning off (``builder/server/gc_tuning.py``): the
"before" of that change, served side by side with the "after" in one run::

    .venv/bin/python bench/serve_overhead.py --compare ".venv/bin/python bench/gc_untuned.py"

It takes ``mcpbuild``'s arguments. One process only: the workers of ``--workers`` are fresh
interpreters, which tune as usual.
"""

from __future__ import annotations

import sys

from builder.server import gc_tuning


def untuned() -> None:
    """CPython's default collector, as before the tuning."""


def main() -> None:
    # Before builder.server.serve imports the name, so that it imports this one.
    gc_tuning.tune_for_serving = untuned
    import builder.server.serve
    from builder.cli import main as mcpbuild

    if vars(builder.server.serve)["tune_for_serving"] is not untuned:
        raise SystemExit("gc_untuned: builder.server.serve was imported before the patch")
    sys.argv[0] = "mcpbuild"
    mcpbuild()


if __name__ == "__main__":
    main()
