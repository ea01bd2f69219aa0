"""One doctor check's verdict, and the report of them all as text or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Literal

__all__ = ["Check", "Report", "Status"]

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Check:
    """A check's verdict: its ``name``, what it found (``message``; may span lines, never a
    secret) and, when it is not ``ok``, the one-line ``fix``."""

    name: str
    status: Status
    message: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """Every check of one ``mcpbuild doctor`` run, in the order they were made."""

    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """No check failed (warnings leave a connector servable)."""
        return all(c.status != "fail" for c in self.checks)

    def find(self, name: str) -> Check | None:
        """The check called ``name``, if it was made."""
        return next((c for c in self.checks if c.name == name), None)

    def to_json(self) -> str:
        """``{"checks": [{"name", "status", "message", "fix"}, ...], "ok": bool}``."""
        return json.dumps(
            {"checks": [asdict(c) for c in self.checks], "ok": self.ok},
            indent=2,
            ensure_ascii=False,
        )

    def to_text(self) -> str:
        """One block per check: status, name and what it found, then ``fix:`` when needed;
        a count of each status at the end."""
        width = max((len(c.name) for c in self.checks), default=0) + 2
        lines = []
        for check in self.checks:
            first, *rest = check.message.splitlines() or [""]
            lines.append(f"{check.status:<5} {check.name:<{width}}{first}")
            indent = " " * (6 + width)
            lines.extend(indent + line for line in rest)
            if check.fix and check.status != "ok":
                lines.append(f"{indent}fix: {check.fix}")
        counts = {s: sum(1 for c in self.checks if c.status == s) for s in ("fail", "warn", "ok")}
        lines.append(f"{counts['fail']} failed, {counts['warn']} warned, {counts['ok']} ok")
        return "\n".join(lines)
