"""``mcpbuild doctor``: check a connector's set-up before a user meets the problem."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from builder.cli.common import EXIT_INVALID, app
from builder.routes import DEFAULT_LOGIN_PORT


class DoctorFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def doctor(
    file: Annotated[Path, typer.Argument(help="The connector spec to check.")],
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="MCPBUILD_PUBLIC_URL",
            help="The origin clients and the provider will see, as given to serve "
            "(default: serve's, http://127.0.0.1:8000).",
        ),
    ] = None,
    login_port: Annotated[
        int,
        typer.Option(min=1, max=65535, help="The port `mcpbuild login --port` will use."),
    ] = DEFAULT_LOGIN_PORT,
    output: Annotated[
        DoctorFormat, typer.Option("--format", help="text, or one JSON document for scripts.")
    ] = DoctorFormat.text,
    timeout: Annotated[
        float, typer.Option(min=0.1, max=60, help="Seconds each network check may take.")
    ] = 5.0,
) -> None:
    """Diagnose a connector: the spec, its environment variables, the redirect URIs to
    register, the provider's endpoints and discovery document, https, scopes, clock skew
    and the public URL. Needs no secret; exit 1 when a check fails."""
    import anyio

    from builder.doctor import DoctorOptions, run_doctor
    from builder.server.serve import ServeOptions

    origin = ServeOptions(public_url=public_url).origin
    options = DoctorOptions(public_url=origin, login_port=login_port, timeout=timeout)
    report = anyio.run(run_doctor, str(file), dict(os.environ), options)
    typer.echo(report.to_json() if output is DoctorFormat.json else report.to_text())
    if not report.ok:
        raise typer.Exit(EXIT_INVALID)
