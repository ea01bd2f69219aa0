"""``mcpbuild test`` and ``record``: offline replay cases."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from builder.errors import SpecError

if TYPE_CHECKING:
    from builder.replay import CaseResult
    from builder.replay.record import RecordedCase
    from builder.tools.response import Shaped
    from builder.tools.transport import UpstreamClient

from builder.cli.common import (
    EXIT_INVALID,
    EXIT_USAGE,
    _ArgOption,
    _arguments_or_exit,
    _call_live,
    _count,
    _gh_escape,
    _JsonArgsOption,
    _load_or_exit,
    app,
)


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
