"""What every ``mcpbuild`` command shares: the app, exit codes, spec loading, output
formats, and calling a tool once from the command line."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from builder import __version__
from builder.connector.load import load_connector
from builder.errors import SpecError, SpecIssue

if TYPE_CHECKING:
    from builder.connector.resolved import ResolvedConnector
    from builder.tools.response import Shaped
    from builder.tools.transport import UpstreamClient


app = typer.Typer(
    name="mcpbuild",
    help="Ship a secure, user-delegated MCP connector by writing one YAML file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_ArgOption = Annotated[
    list[str] | None,
    typer.Option("--arg", help="NAME=VALUE; repeatable (an array: a,b or again NAME=VALUE)."),
]
_JsonArgsOption = Annotated[
    str | None, typer.Option("--json", help="All arguments as one JSON object.")
]

EXIT_INVALID = 1
EXIT_USAGE = 2


class OutputFormat(StrEnum):
    text = "text"
    json = "json"
    github = "github"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mcpbuild {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Ship a secure, user-delegated MCP connector by writing one YAML file."""


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' if n != 1 else ''}"


def _issue_json(issue: SpecIssue) -> dict[str, Any]:
    return {
        "file": issue.filename,
        "line": issue.position.line if issue.position else None,
        "column": issue.position.column if issue.position else None,
        "path": issue.location,
        "code": issue.code,
        "message": issue.message,
    }


def _github_annotation(issue: SpecIssue, level: str = "error") -> str:
    props = f"file={_gh_escape(issue.filename, prop=True)}"
    if issue.position:
        props += f",line={issue.position.line},col={issue.position.column}"
    props += f",title={_gh_escape('mcpbuild ' + issue.code, prop=True)}"
    text = f"{issue.location}: {issue.message}" if issue.location else issue.message
    return f"::{level} {props}::{_gh_escape(text)}"


def _gh_escape(text: str, *, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if prop:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _load_or_exit(file: Path) -> Any:
    try:
        return load_connector(str(file))
    except SpecError as exc:
        for issue in exc.issues:
            typer.echo(issue.render(), err=True)
        code = EXIT_USAGE if any(i.code == "io_error" for i in exc.issues) else EXIT_INVALID
        raise typer.Exit(code) from None


def _arguments_or_exit(
    file: Path, connector: Any, tool: str, arg: list[str] | None, json_args: str | None
) -> dict[str, Any]:
    """The arguments of ``call`` and ``record``: ``--json`` overlaid with ``--arg`` pairs."""
    from builder.errors import ArgumentError
    from builder.tools.arguments import parse_cli_arguments

    chosen = next((t for t in connector.tools if t.name == tool), None)
    if chosen is None:
        names = ", ".join(t.name for t in connector.tools)
        typer.echo(f"{file}: no tool '{tool}'; the tools are: {names}", err=True)
        raise typer.Exit(EXIT_USAGE)
    try:
        arguments: dict[str, Any] = json.loads(json_args) if json_args else {}
        if not isinstance(arguments, dict):
            raise ArgumentError("--json: expected a JSON object")
        arguments.update(parse_cli_arguments(chosen, arg or []))
    except (ValueError, ArgumentError) as exc:
        typer.echo(f"{exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    return arguments


async def _call_live(
    connector: Any,
    tool: str,
    arguments: dict[str, Any],
    store: str | None,
    wrap: Callable[[UpstreamClient], UpstreamClient] | None = None,
) -> tuple[ResolvedConnector, Shaped]:
    """One tool call against the live API, as the locally signed-in user (``login``);
    ``wrap`` may put something around the upstream client (``record`` does)."""
    from builder.connector.resolved import resolve_connector
    from builder.provider.login import LocalGrant, state_store_url
    from builder.tools.call import ToolRunner
    from builder.tools.transport import AiohttpUpstream

    resolved = resolve_connector(connector, os.environ)
    client: UpstreamClient = AiohttpUpstream()
    if wrap is not None:
        client = wrap(client)
    local = None
    try:
        runner = ToolRunner(resolved, client)
        credentials = None
        if resolved.provider is not None:
            local = LocalGrant(
                resolved, os.environ, state_store_url(connector, store), "http://127.0.0.1/"
            )
            credentials = await local.credentials()
        result = await runner.call(tool, arguments, credentials)
    finally:
        await client.aclose()
        if local is not None:
            await local.close()
    return resolved, result


async def _call_once(
    connector: Any, tool: str, arguments: dict[str, Any], store: str | None
) -> tuple[str, bool]:
    _, result = await _call_live(connector, tool, arguments, store)
    text = result.text
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    # A binary result's text says what it is; the notes say what was cut and what is next.
    return "\n".join([text, *result.notes]), result.is_error
