"""The exception root of mcpbuild.

::

    MCPBuildError
    ├── SpecError            a connector spec is unreadable or invalid (carries every issue)
    ├── ConfigError          serve-time configuration: a missing ${VAR}, a bad option
    ├── ToolCallError        one tool call failed; its message is safe to show the model
    │   ├── ArgumentError    an argument does not match the tool's input schema
    │   ├── UpstreamError    the API answered with an error, timed out or was unreachable
    │   └── GrantEnded       the provider ended the user's grant: reconnect to sign in again
    ├── TransportFailure     no HTTP response (kind: timeout, connect, protocol); the tool
    │                        call turns it into an UpstreamError that names the host
    ├── ProviderError        the provider's token endpoint refused or failed; ``error`` holds
    │                        the OAuth error code (RFC 6749)
    ├── ClientLimitReached   every registered client slot is in use: registration answers 503
    ├── DemoError            ``mcpbuild demo`` cannot start; the message is for the user
    ├── DescriptionError     ``import openapi``: the OpenAPI description cannot be read,
    │   │                    resolved or imported as asked; the message says where
    │   └── SelectionNeeded  too many operations and no selection: ``tags`` holds each
    │                        tag's operation count for the author to choose from
    ├── PresetError          (builder.presets) an unknown preset or preset option; the
    │                        message names the closest one
    ├── FormTooLarge         (builder.demo.adapter) a demo OAuth request body over its limit
    └── Refused              (builder.auth.gate) a /mcp request the gate cannot judge: 400

Every class drawn here is defined in this module unless the tree names its module, and is
also importable from where it was defined before (``builder.provider.client.ProviderError``,
``builder.state.store.ClientLimitReached``, ...). This module imports nothing else from
``builder`` at run time, so any module can raise these. ``tests/test_errors.py`` checks
that the tree draws every subclass of ``MCPBuildError`` under its real parent, and that
no other exception class in ``builder`` stands outside the tree (bar a short allow-list).

Messages never carry secrets: they name variables, fields and hosts, not values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from builder.connector.source import Path, Position

__all__ = [
    "ArgumentError",
    "ClientLimitReached",
    "ConfigError",
    "DemoError",
    "DescriptionError",
    "GrantEnded",
    "MCPBuildError",
    "ProviderError",
    "SelectionNeeded",
    "SpecError",
    "SpecIssue",
    "ToolCallError",
    "TransportFailure",
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


class GrantEnded(ToolCallError):
    """The provider ended the user's grant (revoked, expired, unreadable): only a new
    sign-in helps.

    ``reason`` says what happened; the message adds what to do, the same for every cause:
    ``"this sign-in has ended; reconnect to sign in again"``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}; reconnect to sign in again")
        self.reason = reason


class TransportFailure(MCPBuildError):
    """No HTTP response: the upstream timed out, refused, or broke the connection.

    ``kind`` says which, and is the whole message: the tool call, which knows the host and
    the timeout, turns it into an :class:`UpstreamError` for the model.
    """

    def __init__(self, kind: Literal["timeout", "connect", "protocol"]) -> None:
        super().__init__(kind)
        self.kind = kind


class ProviderError(MCPBuildError):
    """The provider's token endpoint refused or failed.

    ``error`` is the OAuth error code (RFC 6749 section 5.2) the provider answered, or the
    one chosen for a failure without an answer: ``temporarily_unavailable`` when the
    provider timed out or was unreachable, ``server_error`` when its answer was not a
    token. ``description`` explains it, in the provider's words or ours.
    """

    def __init__(self, error: str, *, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description

    @property
    def grant_ended(self) -> bool:
        """The user's grant is gone (revoked, expired): only a new sign-in helps."""
        return self.error in ("invalid_grant", "unauthorized_client")


class ClientLimitReached(MCPBuildError):
    """The store holds as many registered clients as it may, and every one has been used:
    a new registration is refused (503) rather than one that someone relies on dropped."""


class DemoError(MCPBuildError):
    """``mcpbuild demo`` cannot start: a problem to tell the user about (the command exits 1)."""


class DescriptionError(MCPBuildError):
    """An OpenAPI description cannot be read, resolved or imported as asked."""


class SelectionNeeded(DescriptionError):
    """The description has too many operations to import them all without a selection.

    ``tags`` maps each tag to its number of operations (``(untagged)`` for the rest)."""

    def __init__(self, message: str, *, tags: dict[str, int], operations: int) -> None:
        super().__init__(message)
        self.tags = tags
        self.operations = operations
