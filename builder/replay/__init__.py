"""Offline tests of connectors: replay recorded upstream exchanges through a tool.

``mcpbuild test`` loads the cases next to a connector (:mod:`.cases`), runs each through
the real tool runner with the network replaced (:mod:`.runner`, :mod:`.client`), and
compares what was sent and returned (:mod:`.compare`). ``mcpbuild record`` writes such a
case from a live call (:mod:`.record`).
"""

from builder.replay.cases import Case, find_cases, load_case, load_case_text, load_cases
from builder.replay.runner import CaseResult, run_case

__all__ = [
    "Case",
    "CaseResult",
    "find_cases",
    "load_case",
    "load_case_text",
    "load_cases",
    "run_case",
]
