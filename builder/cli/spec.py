"""``mcpbuild validate``, ``schema``, ``init`` and ``tools``: the spec itself."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from builder.connector.checks import near_or_all
from builder.connector.export import (
    EDITOR_SCHEMA_REF,
    drift,
    refresh_editor_schema,
    render_schema,
    schema_path,
    write_editor_schema,
)
from builder.connector.load import SpecWarning, load_with_warnings
from builder.connector.models import NAME_PATTERN
from builder.errors import SpecError, SpecIssue
from builder.tools.definition import tool_definition

if TYPE_CHECKING:
    pass

from builder.cli.common import (
    EXIT_INVALID,
    EXIT_USAGE,
    OutputFormat,
    _count,
    _github_annotation,
    _issue_json,
    _load_or_exit,
    app,
)


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
        refresh_editor_schema(file)
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
    name: Annotated[
        str | None, typer.Option("--name", help="The starter's name (default my_connector).")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Copy a shipped connector (github, slack, ...) with its replay cases "
            "instead of the starter.",
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter connector.yaml that validates, or copy a shipped one
    (--from); editors find its JSON Schema in .mcpbuild/, which validate keeps current."""
    from builder.connector.shipped import copy_shipped, shipped_names

    if source is not None and name is not None:
        typer.echo("--name: only for the starter; --from copies a connector as it is", err=True)
        raise typer.Exit(EXIT_USAGE)
    name = name or "my_connector"
    if not re.match(NAME_PATTERN, name):
        typer.echo(f"--name: expected lowercase letters, digits, _ and -, got {name!r}", err=True)
        raise typer.Exit(EXIT_USAGE)
    names = shipped_names()
    if source is not None and source not in names:
        hint = near_or_all(source, names)
        typer.echo(f"--from: no shipped connector {source!r}{hint}", err=True)
        if "did you mean" in hint:
            typer.echo(f"the shipped connectors: {', '.join(names)}", err=True)
        raise typer.Exit(EXIT_USAGE)
    target = directory / "connector.yaml"
    if target.exists() and not force:
        typer.echo(f"{target} exists; pass --force to overwrite it", err=True)
        raise typer.Exit(EXIT_USAGE)
    if source is not None:
        copy_shipped(source, directory, schema_ref=EDITOR_SCHEMA_REF)
        cases = directory / "tests"
        more = f" and its replay cases in {cases}" if cases.is_dir() else ""
        typer.echo(f"wrote {target} (from the shipped '{source}' connector){more}")
    else:
        directory.mkdir(parents=True, exist_ok=True)
        package = Path(__file__).parents[1]
        template = (package / "data" / "starter.yaml").read_text(encoding="utf-8")
        text = (
            template.replace("__NAME__", name)
            .replace("__TITLE__", name.replace("_", " ").replace("-", " ").title())
            .replace("__ENV__", re.sub(r"[^A-Z0-9]", "_", name.upper()))
        )
        target.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {target}")
    write_editor_schema(directory)
    typer.echo(f"next: mcpbuild validate {target}, then mcpbuild doctor {target}")


@app.command()
def tools(
    file: Annotated[Path, typer.Argument(help="A connector spec.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Print each tool as MCP clients will see it: inputSchema, annotations and view."""
    from builder.views import describe_view, view_meta, view_uri

    connector = _load_or_exit(file)
    definitions = [tool_definition(t) for t in connector.tools]
    for tool, definition in zip(connector.tools, definitions, strict=True):
        if tool.view is not None:
            definition["_meta"] = view_meta(view_uri(connector.name, tool.name))
    if as_json:
        typer.echo(json.dumps(definitions, indent=2))
        return
    for tool, definition in zip(connector.tools, definitions, strict=True):
        hints = ", ".join(f"{k}={json.dumps(v)}" for k, v in definition["annotations"].items())
        scopes = ", ".join(tool.scopes)
        if tool.any_scopes:
            scopes += (" and " if scopes else "") + "one of " + " | ".join(tool.any_scopes)
        typer.echo(f"{tool.name}  [{tool.request.method} {tool.request.path}]")
        typer.echo(f"  {tool.description}")
        typer.echo(f"  scopes: {scopes or 'none'}")
        typer.echo(f"  annotations: {hints}")
        if tool.view is not None:
            uri = view_uri(connector.name, tool.name)
            typer.echo(f"  view: {describe_view(tool.view)}  [{uri}]")
        schema_text = json.dumps(definition["inputSchema"], indent=2)
        typer.echo("  inputSchema: " + schema_text.replace("\n", "\n  "))
        typer.echo("")
