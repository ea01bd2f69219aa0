"""``mcpbuild import openapi``: a connector from an OpenAPI description."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from builder.connector.models import NAME_PATTERN
from builder.errors import SpecError

if TYPE_CHECKING:
    pass

from builder.cli.common import (
    EXIT_INVALID,
    EXIT_USAGE,
    _count,
    app,
)

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
