"""Sign-ins that failed at ``/oauth/callback``, explained: logged always, and kept a few
minutes for the browser that started them (the inspector asks with its client id and the
``state`` only it knows)."""

from __future__ import annotations

import time
from collections import OrderedDict

from builder import explain
from builder.state.store import Pending

__all__ = ["SignInProblems"]


class SignInProblems:
    """The consent flow's ``on_problem`` hook (:data:`builder.auth.consent.SignInProblem`)."""

    def __init__(self, redirect_uri: str, *, keep: int = 1000, ttl: float = 600.0) -> None:
        self.redirect_uri = redirect_uri
        self.keep = keep
        self.ttl = ttl
        self._found: OrderedDict[tuple[str, str], tuple[float, str]] = OrderedDict()

    def __call__(self, kind: str, pending: Pending, detail: str) -> None:
        if kind == "redirect_uri_mismatch":
            sentence = explain.redirect_uri_mismatch(self.redirect_uri, detail)
        elif kind == "consent_cookie_missing":
            sentence = explain.consent_cookie_missing(detail)
        else:
            return
        explain.explain(sentence, client=pending.client_id[:12])
        if pending.state is None:
            return
        self._found[(pending.client_id, pending.state)] = (time.monotonic() + self.ttl, sentence)
        while len(self._found) > self.keep:
            self._found.popitem(last=False)

    def take(self, client_id: str, state: str) -> str | None:
        """What went wrong with the sign-in that ``client_id`` started with ``state``."""
        found = self._found.pop((client_id, state), None)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]
