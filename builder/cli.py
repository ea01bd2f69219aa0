"""The ``mcpbuild`` command line: parses arguments and calls into the other packages."""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from builder import __version__
from builder.connector.export import drift, render_schema, schema_path
from builder.connector.load import SpecWarning, load_connector, load_with_warnings
from builder.connector.models import NAME_PATTERN
from builder.errors import SpecError, SpecIssue
from builder.tools.definition import tool_definition

if TYPE_CHECKING:
    from builder.connector.resolved import ResolvedConnector
    from builder.replay import CaseResult
    from builder.replay.record import RecordedCase
    from builder.tools.response import Shaped
    from builder.tools.transport import UpstreamClient

__all__ = ["app", "main"]

app = typer.Typer(
    name="mcpbuild",
    help="Ship a secure, user-delegated MCP connector by writing one YAML file.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

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


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Connector specs to check.")],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="How problems are printed.")
    ] = OutputFormat.text,
) -> None:
    """Check connector specs; exit 0 when all are valid, 1 when one is not, 2 on I/O errors.

    Warnings (about valid specs) are printed but leave the exit code at 0."""
    issues: list[SpecIssue] = []
    warnings: list[SpecWarning] = []
    summaries: list[dict[str, Any]] = []
    for file in files:
        try:
            loaded = load_with_warnings(str(file))
        except SpecError as exc:
            issues.extend(exc.issues)
            summaries.append({"file": str(file), "valid": False, "errors": len(exc.issues)})
        else:
            warnings.extend(loaded.warnings)
            summaries.append(
                {
                    "file": str(file),
                    "valid": True,
                    "tools": len(loaded.connector.tools),
                    "warnings": len(loaded.warnings),
                }
            )
    if output is OutputFormat.json:
        typer.echo(
            json.dumps(
                {
                    "valid": not issues,
                    "files": summaries,
                    "errors": [_issue_json(i) for i in issues],
                    "warnings": [_issue_json(w) for w in warnings],
                },
                indent=2,
            )
        )
    elif output is OutputFormat.github:
        for issue in issues:
            typer.echo(_github_annotation(issue))
        for warning in warnings:
            typer.echo(_github_annotation(warning, level="warning"))
    else:
        for issue in [*issues, *warnings]:
            typer.echo(issue.render(), err=True)
        for summary in summaries:
            if summary["valid"]:
                n = summary["warnings"]
                more = f", {n} warning{'s' if n != 1 else ''}" if n else ""
                typer.echo(f"{summary['file']}: ok ({_count(summary['tools'], 'tool')}{more})")
        if issues:
            bad = sum(1 for s in summaries if not s["valid"])
            typer.echo(f"{_count(len(issues), 'error')} in {_count(bad, 'file')}", err=True)
        if warnings:
            warned = sum(1 for s in summaries if s.get("warnings"))
            typer.echo(f"{_count(len(warnings), 'warning')} in {_count(warned, 'file')}", err=True)
    if any(i.code == "io_error" for i in issues):
        raise typer.Exit(EXIT_USAGE)
    if issues:
        raise typer.Exit(EXIT_INVALID)


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


@app.command()
def schema(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 with a diff when schemas/ has drifted.")
    ] = False,
    path: Annotated[
        Path | None, typer.Option("--path", help="The schema file to check or write.")
    ] = None,
    write: Annotated[bool, typer.Option("--write", help="Write the schema file.")] = False,
) -> None:
    """Print the JSON Schema of connector.yaml (generated from the models)."""
    target = path or schema_path()
    if check:
        diff = drift(target)
        if diff:
            typer.echo(diff, err=True, nl=False)
            typer.echo(f"{target} has drifted; run `mcpbuild schema --write`", err=True)
            raise typer.Exit(EXIT_INVALID)
        typer.echo(f"{target}: in step with the models")
        return
    if write:
        target.write_text(render_schema(), encoding="utf-8")
        typer.echo(f"wrote {target}")
        return
    typer.echo(render_schema(), nl=False)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write connector.yaml.")] = Path("."),
    name: Annotated[str, typer.Option("--name", help="The connector's name.")] = "my_connector",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter connector.yaml (and its JSON Schema) that validates."""
    if not re.match(NAME_PATTERN, name):
        typer.echo(f"--name: expected lowercase letters, digits, _ and -, got {name!r}", err=True)
        raise typer.Exit(EXIT_USAGE)
    target = directory / "connector.yaml"
    if target.exists() and not force:
        typer.echo(f"{target} exists; pass --force to overwrite it", err=True)
        raise typer.Exit(EXIT_USAGE)
    directory.mkdir(parents=True, exist_ok=True)
    template = (Path(__file__).parent / "data" / "starter.yaml").read_text(encoding="utf-8")
    text = (
        template.replace("__NAME__", name)
        .replace("__TITLE__", name.replace("_", " ").replace("-", " ").title())
        .replace("__ENV__", re.sub(r"[^A-Z0-9]", "_", name.upper()))
    )
    target.write_text(text, encoding="utf-8")
    (directory / "connector.schema.json").write_text(render_schema(), encoding="utf-8")
    typer.echo(f"wrote {target} and {directory / 'connector.schema.json'}")
    typer.echo(f"next: mcpbuild validate {target}")


@app.command()
def tools(
    file: Annotated[Path, typer.Argument(help="A connector spec.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Print each tool as MCP clients will see it: inputSchema and annotations."""
    connector = _load_or_exit(file)
    definitions = [tool_definition(t) for t in connector.tools]
    if as_json:
        typer.echo(json.dumps(definitions, indent=2))
        return
    for tool, definition in zip(connector.tools, definitions, strict=True):
        hints = ", ".join(f"{k}={json.dumps(v)}" for k, v in definition["annotations"].items())
        scopes = ", ".join(tool.scopes) or "none"
        typer.echo(f"{tool.name}  [{tool.request.method} {tool.request.path}]")
        typer.echo(f"  {tool.description}")
        typer.echo(f"  scopes: {scopes}")
        typer.echo(f"  annotations: {hints}")
        schema_text = json.dumps(definition["inputSchema"], indent=2)
        typer.echo("  inputSchema: " + schema_text.replace("\n", "\n  "))
        typer.echo("")


class Transport(StrEnum):
    http = "http"
    stdio = "stdio"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def serve(
    file: Annotated[Path, typer.Argument(help="The connector spec to serve.")],
    host: Annotated[
        str, typer.Option(envvar="MCPBUILD_HOST", help="Address to listen on (http).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="MCPBUILD_PORT", help="Port (http).")] = 8000,
    transport: Annotated[
        Transport, typer.Option(envvar="MCPBUILD_TRANSPORT", help="http (streamable) or stdio.")
    ] = Transport.http,
    read_only: Annotated[
        bool,
        typer.Option(
            "--read-only", envvar="MCPBUILD_READ_ONLY", help="Hide and refuse non-read-only tools."
        ),
    ] = False,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-host", help="Another Host header to accept (behind a proxy); repeatable."
        ),
    ] = None,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="MCPBUILD_PUBLIC_URL",
            help="The origin clients and the provider see (default: http://HOST:PORT).",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            envvar="MCPBUILD_STORE",
            help="Where grants live: sqlite:///PATH (default .mcpbuild/NAME.db), or "
            "redis://HOST:PORT/DB (rediss:// for TLS, ?prefix=NAME) shared by replicas.",
        ),
    ] = None,
    dev: Annotated[
        bool,
        typer.Option(
            "--dev", envvar="MCPBUILD_DEV", help="Generate an encryption key file if none is set."
        ),
    ] = False,
    token_ttl: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_TOKEN_TTL", min=5, help="Seconds a client access token lives."
        ),
    ] = 900,
    refresh_idle: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_REFRESH_IDLE",
            min=60,
            help="Seconds a client refresh token lives unused (each refresh gives a new one).",
        ),
    ] = 30 * 24 * 3600,
    refresh_lifetime: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_REFRESH_LIFETIME",
            min=60,
            help="Seconds after sign-in past which no refresh token lives, however used.",
        ),
    ] = 365 * 24 * 3600,
    refresh_reuse_interval: Annotated[
        float,
        typer.Option(
            envvar="MCPBUILD_REFRESH_REUSE_INTERVAL",
            min=0,
            help="Seconds in which a rotated refresh token sent again by its client gets the "
            "same answer; later reuse is taken as theft and ends the grant.",
        ),
    ] = 30.0,
    dev_ca: Annotated[
        str | None,
        typer.Option(
            envvar="MCPBUILD_DEV_CA",
            help="With --dev on loopback: a CA file for client metadata documents served "
            "from this machine (https).",
        ),
    ] = None,
    sessions_per_user: Annotated[
        int,
        typer.Option(
            envvar="MCPBUILD_SESSIONS_PER_USER",
            help="Open protocol sessions per user (per address without sign-in); one more "
            "closes that user's least recently used idle one.",
        ),
    ] = 8,
    max_sessions: Annotated[
        int,
        typer.Option(envvar="MCPBUILD_MAX_SESSIONS", help="Open protocol sessions in all."),
    ] = 1000,
    session_idle_timeout: Annotated[
        float,
        typer.Option(
            envvar="MCPBUILD_SESSION_IDLE_TIMEOUT",
            help="Seconds an idle protocol session stays open.",
        ),
    ] = 300.0,
    metrics: Annotated[
        bool,
        typer.Option(
            "--metrics",
            envvar="MCPBUILD_METRICS",
            help="Serve Prometheus metrics at /metrics (tool calls, latency, upstream "
            "statuses, refreshes, registrations).",
        ),
    ] = False,
    log_format: Annotated[
        LogFormat, typer.Option(envvar="MCPBUILD_LOG_FORMAT", help="Log lines as text or JSON.")
    ] = LogFormat.text,
    log_level: Annotated[
        str, typer.Option(envvar="MCPBUILD_LOG_LEVEL", help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """Serve a connector as an MCP server (streamable HTTP at /mcp, or stdio)."""
    from builder.auth.server import Lifetimes
    from builder.errors import ConfigError
    from builder.server.logs import configure_logging
    from builder.server.serve import ServeOptions, open_connector, run_http, run_stdio
    from builder.server.sessions import SessionLimits

    if log_level.lower() not in ("debug", "info", "warning", "error"):
        typer.echo(
            f"--log-level: expected debug, info, warning or error, got {log_level!r}", err=True
        )
        raise typer.Exit(EXIT_USAGE)
    try:
        options = ServeOptions(
            host=host,
            port=port,
            transport=transport.value,
            read_only=read_only,
            allow_hosts=tuple(allow_host or ()),
            public_url=public_url,
            store=store,
            dev=dev,
            lifetimes=Lifetimes(
                access_token=token_ttl,
                refresh_idle=refresh_idle,
                refresh_absolute=refresh_lifetime,
                refresh_reuse=refresh_reuse_interval,
            ),
            dev_ca=dev_ca,
            sessions=SessionLimits(sessions_per_user, max_sessions, session_idle_timeout),
            metrics=metrics,
        )
    except ConfigError as exc:
        typer.echo(f"{exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    # After the options are known good: a usage error leaves the process's logging alone.
    configure_logging(log_level, log_format.value)
    connector = _load_or_exit(file)
    try:
        served = open_connector(connector, options)
    except ConfigError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    if transport is Transport.stdio:
        import anyio

        try:
            anyio.run(run_stdio, served)
        except ConfigError as exc:
            typer.echo(f"{file}: {exc}", err=True)
            raise typer.Exit(EXIT_INVALID) from None
    else:
        run_http(served, options)


@app.command()
def login(
    file: Annotated[Path, typer.Argument(help="The connector spec to sign in to.")],
    port: Annotated[
        int, typer.Option(help="Loopback port of the redirect URI (0: any free port).")
    ] = 0,
    store: Annotated[
        str | None, typer.Option(envvar="MCPBUILD_STORE", help="sqlite:///PATH for the grant.")
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the URL to open.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the sign-in.")] = 300.0,
) -> None:
    """Sign in to the connector's provider in a browser and store the grant locally, for
    `serve --transport stdio` and `call`."""
    import anyio

    from builder.errors import ConfigError
    from builder.provider.login import default_opener, state_store_url
    from builder.provider.login import login as run_login

    connector = _load_or_exit(file)
    try:
        scopes = anyio.run(
            lambda: run_login(
                connector,
                os.environ,
                store_url=state_store_url(connector, store),
                port=port,
                open_browser=None if no_browser else default_opener,
                timeout=timeout,
            )
        )
    except ConfigError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(f"signed in to {connector.title or connector.name} (scopes: {' '.join(scopes)})")


_ArgOption = Annotated[
    list[str] | None,
    typer.Option("--arg", help="NAME=VALUE; repeatable (an array: a,b or again NAME=VALUE)."),
]
_JsonArgsOption = Annotated[
    str | None, typer.Option("--json", help="All arguments as one JSON object.")
]


@app.command()
def call(
    file: Annotated[Path, typer.Argument(help="The connector spec.")],
    tool: Annotated[str, typer.Argument(help="The tool to call.")],
    arg: _ArgOption = None,
    json_args: _JsonArgsOption = None,
    store: Annotated[
        str | None, typer.Option(envvar="MCPBUILD_STORE", help="sqlite:///PATH of the grant.")
    ] = None,
) -> None:
    """Call one tool from the shell (as the signed-in user, for a connector with a provider)
    and print its result; exit 1 when the tool reports an error."""
    import anyio

    from builder.errors import ConfigError

    connector = _load_or_exit(file)
    arguments = _arguments_or_exit(file, connector, tool, arg, json_args)
    try:
        text, is_error = anyio.run(_call_once, connector, tool, arguments, store)
    except ConfigError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    typer.echo(text)
    if is_error:
        raise typer.Exit(EXIT_INVALID)


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


class CaseFormat(StrEnum):
    text = "text"
    github = "github"


@app.command(name="test")
def replay_tests(
    files: Annotated[list[Path], typer.Argument(help="Connector specs whose cases to run.")],
    cases: Annotated[
        Path | None,
        typer.Option(
            "--cases", help="A folder of cases (or one case file); default: tests/ beside the spec."
        ),
    ] = None,
    output: Annotated[
        CaseFormat, typer.Option("--format", help="text, or github for GitHub annotations.")
    ] = CaseFormat.text,
) -> None:
    """Run a connector's replay cases offline: each case's tool call must send the recorded
    requests and return the expected result. Exit 0 when all pass, 1 when one fails, 2 on
    a usage error or an invalid case file."""
    import anyio

    from builder.replay import find_cases, load_cases, run_case

    if cases is not None and len(files) > 1:
        typer.echo("--cases: give one connector spec with it", err=True)
        raise typer.Exit(EXIT_USAGE)
    failed = 0
    unusable = False
    for file in files:
        connector = _load_or_exit(file)
        where = cases if cases is not None else file.parent / "tests"
        paths = find_cases(where) if where.exists() else []
        if not paths:
            typer.echo(
                f"{file}: no replay cases in {where}; write one, or make one with "
                f"`mcpbuild record {file} TOOL --arg NAME=VALUE`",
                err=True,
            )
            unusable = True
            continue
        try:
            loaded = load_cases(paths)
        except SpecError as exc:
            for issue in exc.issues:
                typer.echo(issue.render(), err=True)
            unusable = True
            continue
        results = [anyio.run(run_case, connector, case) for case in loaded]
        for result in results:
            _report_case(result, output)
        bad = sum(1 for r in results if not r.passed)
        failed += bad
        summary = f"{file}: {len(results) - bad} passed, {bad} failed"
        untested = [t.name for t in connector.tools if t.name not in {c.tool for c in loaded}]
        if untested:
            summary += f"; no case for {_count(len(untested), 'tool')}: {', '.join(untested)}"
        typer.echo(summary)
    if unusable:
        raise typer.Exit(EXIT_USAGE)
    if failed:
        raise typer.Exit(EXIT_INVALID)


def _report_case(result: CaseResult, output: CaseFormat) -> None:
    file = result.case.file
    if result.passed:
        typer.echo(f"PASS {file}")
        return
    typer.echo(f"FAIL {file}")
    for failure in result.failures:
        typer.echo("    " + failure.replace("\n", "\n    "))
        if output is CaseFormat.github:
            props = (
                f"file={_gh_escape(file, prop=True)},title={_gh_escape('mcpbuild test', prop=True)}"
            )
            typer.echo(f"::error {props}::{_gh_escape(failure)}")


@app.command()
def record(
    file: Annotated[Path, typer.Argument(help="The connector spec.")],
    tool: Annotated[str, typer.Argument(help="The tool to call.")],
    arg: _ArgOption = None,
    json_args: _JsonArgsOption = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="The case file to write; default: tests/TOOL.yaml beside the spec."
        ),
    ] = None,
    strip: Annotated[
        list[str] | None,
        typer.Option(
            "--strip",
            help="A JSON key, query key or form field whose values to replace with "
            "<stripped> everywhere (e.g. email); repeatable.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --out file.")] = False,
    store: Annotated[
        str | None, typer.Option(envvar="MCPBUILD_STORE", help="sqlite:///PATH of the grant.")
    ] = None,
) -> None:
    """Call one tool against the live API (like `call`) and write what happened as a replay
    case for `mcpbuild test`: the requests, the responses and the result. Credentials, the
    connector's secrets and the --strip keys are left out."""
    import anyio

    from builder.errors import ConfigError
    from builder.replay.client import RecordingClient
    from builder.replay.record import case_path, record_case

    connector = _load_or_exit(file)
    arguments = _arguments_or_exit(file, connector, tool, arg, json_args)
    target = out or case_path(file, tool)
    if out is not None and out.exists() and not force:
        typer.echo(f"{out} exists; pass --force to overwrite it", err=True)
        raise typer.Exit(EXIT_USAGE)
    recorders: list[RecordingClient] = []

    def wrap(client: UpstreamClient) -> UpstreamClient:
        recorders.append(RecordingClient(client))
        return recorders[-1]

    async def run() -> tuple[RecordedCase, Shaped]:
        resolved, result = await _call_live(connector, tool, arguments, store, wrap)
        recorded = await record_case(
            resolved,
            tool,
            arguments,
            recorders[0].exchanges,
            result,
            environ=os.environ,
            strip=strip or (),
        )
        return recorded, result

    try:
        recorded, result = anyio.run(run)
    except ConfigError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f"# Recorded by `mcpbuild record` from a live call of {tool}.\n"
        "# A case is a spec: read it, trim what does not matter, keep it.\n"
    )
    target.write_text(header + recorded.text, encoding="utf-8")
    requests = len(recorders[0].exchanges)
    typer.echo(f"wrote {target} ({_count(requests, 'request')})")
    if result.is_error:
        typer.echo(f"note: the tool answered with an error, recorded as expected: {result.text}")
    if recorded.problems:
        typer.echo(
            f"{target}: the case does not replay as written (did --strip change what the "
            "tool sends?); edit it until `mcpbuild test` passes:",
            err=True,
        )
        for problem in recorded.problems:
            typer.echo("    " + problem.replace("\n", "\n    "), err=True)
        raise typer.Exit(EXIT_INVALID)


@app.command()
def keygen() -> None:
    """Print a new MCPBUILD_SECRET_KEY (32 random bytes, URL-safe base64)."""
    from builder.state.crypto import generate_key

    typer.echo(generate_key())


@app.command()
def demo(
    host: Annotated[
        str, typer.Option(help="Address mcpbuild listens on (loopback only).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="mcpbuild's port.")] = 8000,
    notes_port: Annotated[
        int, typer.Option(min=0, max=65535, help="The demo notes service's port.")
    ] = 9470,
    state_dir: Annotated[
        Path, typer.Option(help="Where mcpbuild's store and its generated key live.")
    ] = Path(".mcpbuild") / "demo",
) -> None:
    """Run the embedded default: a local notes service with its own OAuth server, and
    connectors/demo/connector.yaml served against it. No accounts, no internet; Ctrl-C stops it."""
    from builder.demo.run import DemoError, DemoOptions, run_demo
    from builder.server.logs import configure_logging

    configure_logging("info", "text")
    options = DemoOptions(host=host, port=port, notes_port=notes_port, state_dir=state_dir)
    try:
        run_demo(options)
    except DemoError as exc:
        typer.echo(f"mcpbuild demo: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from None
    except KeyboardInterrupt:  # Ctrl-C before the servers took over the signal
        raise typer.Exit(0) from None


import_app = typer.Typer(
    name="import",
    help="Write a connector from an API description.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")


@import_app.command("openapi")
def import_openapi(
    source: Annotated[str, typer.Argument(help="The OpenAPI 3.x or Swagger 2.0 file.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="Write a new connector.yaml here.")
    ] = None,
    update: Annotated[
        Path | None,
        typer.Option("--update", help="Re-import into this connector, keeping your edits."),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Import the operations of this tag.")
    ] = None,
    operation: Annotated[
        list[str] | None,
        typer.Option("--operation", help="Import this operation (operationId or 'GET /path')."),
    ] = None,
    path: Annotated[
        list[str] | None, typer.Option("--path", help="Import the operations of matching paths.")
    ] = None,
    method: Annotated[
        list[str] | None, typer.Option("--method", help="Only operations with this method.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="api.base_url, instead of the servers'.")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="The connector's name.")] = None,
    max_tools: Annotated[
        int,
        typer.Option(
            "--max-tools",
            min=1,
            help="Warn above this many tools; refuse to import "
            "more operations than this without a selection.",
        ),
    ] = 40,
) -> None:
    """Import operations of an OpenAPI description as a connector; exit 0 when written, 1
    when nothing was selected from a large description (the tags are listed), 2 on a usage
    error or a description that cannot be imported."""
    from builder.errors import DescriptionError, SelectionNeeded
    from builder.openapi import Selection, generate, write_connector

    if (out is None) == (update is None):
        typer.echo("expected one of --out FILE or --update FILE", err=True)
        raise typer.Exit(EXIT_USAGE)
    if name is not None and not re.match(NAME_PATTERN, name):
        typer.echo(f"--name: expected lowercase letters, digits, _ and -, got {name!r}", err=True)
        raise typer.Exit(EXIT_USAGE)
    if out is not None and out.exists():
        typer.echo(f"{out} exists; use --update {out} to re-import into it", err=True)
        raise typer.Exit(EXIT_USAGE)
    selection = Selection(tag or (), operation or (), path or (), method or ())
    if update is not None and not update.is_file():
        typer.echo(f"{update}: no such file; import with --out {update} first", err=True)
        raise typer.Exit(EXIT_USAGE)
    if update is not None and not (tag or operation or path or method):
        from ruamel.yaml.error import YAMLError

        from builder.openapi.update import stored_selection

        try:
            # Re-import what the file was imported with, not the whole description.
            selection = stored_selection(update)
        except YAMLError as exc:
            typer.echo(f"{update}: not YAML ({exc.__class__.__name__})", err=True)
            raise typer.Exit(EXIT_INVALID) from None
    try:
        generated = generate(source, selection, base_url=base_url, name=name, max_tools=max_tools)
    except SelectionNeeded as exc:
        typer.echo(f"{source}: {exc}; nothing written", err=True)
        width = max(len(t) for t in exc.tags)
        typer.echo(f"{'tag':<{width}}  operations")
        for tag_name, count in exc.tags.items():
            typer.echo(f"{tag_name:<{width}}  {count:>10}")
        raise typer.Exit(EXIT_INVALID) from None
    except DescriptionError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_USAGE) from None
    if update is not None:
        from builder.openapi.update import update_file

        try:
            result = update_file(update, generated)
        except SpecError as exc:
            for issue in exc.issues:
                typer.echo(issue.render(), err=True)
            code = EXIT_USAGE if any(i.code == "io_error" for i in exc.issues) else EXIT_INVALID
            raise typer.Exit(code) from None
        typer.echo(str(result))
        target = update
    else:
        assert out is not None
        write_connector(generated.connector, out, notes=generated.notes_by_tool())
        target = out
        typer.echo(f"wrote {out} ({_count(generated.report.tools, 'tool')})")
    for line in generated.report.lines():
        typer.echo(line, err=True)
    typer.echo(f"next: mcpbuild validate {target}", err=True)


def _load_or_exit(file: Path) -> Any:
    try:
        return load_connector(str(file))
    except SpecError as exc:
        for issue in exc.issues:
            typer.echo(issue.render(), err=True)
        code = EXIT_USAGE if any(i.code == "io_error" for i in exc.issues) else EXIT_INVALID
        raise typer.Exit(code) from None


def main() -> None:
    """Entry point of the ``mcpbuild`` console script."""
    app(prog_name="mcpbuild")


if __name__ == "__main__":  # pragma: no cover
    main()
