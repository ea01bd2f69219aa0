"""The garbage collector of a serving process, set once after start-up.

With CPython's defaults a serving process's full collections walk every object that
imports and start-up left behind (about 140,000: the SDK, pydantic's models, the
connector) and last 150-450 ms each on the 2-core benchmark machine; one every ~30 s of
load is most of the p99 tail at 16 concurrent calls (DESIGN.md §8). Measured with
``bench/serve_overhead.py --compare`` (``bench/gc_untuned.py`` is the "before"), two
changes, made once before the first request:

* :func:`gc.freeze` moves start-up's objects to the permanent generation, which no
  collection walks (full collections fall to ~20 ms): that removes the long pauses;
* a gen0 threshold of 50,000 instead of 700: a tool call leaves a few thousand container
  objects, so the default runs a young collection every few calls, each walking the
  calls in flight; now one in a few thousand calls pays for one: 7-26% more calls/s.
  Cyclic garbage still goes: young collections still run, and full ones too, over what
  was allocated since start-up.

Only for ``serve`` processes (:func:`builder.server.serve.run_http` and each worker of
``--workers``): never in a process that goes on loading code, such as the tests'.
"""

from __future__ import annotations

import gc

__all__ = ["SERVING_THRESHOLDS", "tune_for_serving"]

SERVING_THRESHOLDS = (50_000, 20, 100)
"""gen0 allocations, then gen0 collections per gen1, gen1 collections per full one."""


def tune_for_serving() -> None:
    """Collect start-up's garbage, freeze what is left, raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVING_THRESHOLDS)
