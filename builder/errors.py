"""The exception root of mcpbuild.

::

    MCPBuildError
    ├── SpecError            a connector spec is unreadable or invalid (carries every issue)
    ├── ConfigError          serve-time configuration: a missing ${VAR}, a bad option
    └── ToolCallError        one tool call failed; its message is safe to show the model
        ├── ArgumentError    an argument does not match the tool's input schema
        └── UpstreamError    the API answered with an error, timed out or was unreachable

Messages never carry secrets: they name variables, fields and hosts, not values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from builder.connector.source import Path, Position

__all__ = [
    "ArgumentError",
    "ConfigError",
    "MCPBuildError",
    "SpecError",
    "SpecIssue",
    "ToolCallError",
    "UpstreamError",
]


class MCPBuildError(Exception):
    """Root of every error mcpbuild raises on purpose."""


@dataclass(frozen=True, slots=True)
class SpecIssue:
    """One problem in a spec file, with where it is and a stable ``code``."""

    filename: str
    position: Position | None
    path: Path
    message: str
    code: str

    @property
    def location(self) -> str:
        """``tools[2].params.owner.in``: the field path in the spec's own notation."""
        out = ""
        for part in self.path:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else part
        return out

    def render(self) -> str:
        """``connector.yaml:12:7: tools[2].params.owner.in: expected ..., got ...``."""
        where = self.filename
        if self.position is not None:
            where += f":{self.position.line}:{self.position.column}"
        loc = self.location
        return f"{where}: {loc}: {self.message}" if loc else f"{where}: {self.message}"


class SpecError(MCPBuildError):
    """A connector spec is unreadable or invalid; ``issues`` lists every problem found."""

    def __init__(self, issues: list[SpecIssue]) -> None:
        self.issues = sorted(
            issues,
            key=lambda i: (
                i.filename,
                i.position.line if i.position else 0,
                i.position.column if i.position else 0,
            ),
        )
        super().__init__("\n".join(issue.render() for issue in self.issues))

    @classmethod
    def single(
        cls, filename: str, position: Position | None, message: str, *, code: str
    ) -> SpecError:
        return cls([SpecIssue(filename, position, (), message, code)])


class ConfigError(MCPBuildError):
    """Serve-time configuration is wrong (a missing environment variable, a bad option)."""


class ToolCallError(MCPBuildError):
    """A tool call failed; the message is written for the model and is safe to show."""


class ArgumentError(ToolCallError):
    """A tool argument does not match the tool's input schema."""


class UpstreamError(ToolCallError):
    """The upstream API answered with an error, timed out, or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
