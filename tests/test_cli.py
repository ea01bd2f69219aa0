"""The command line, through typer's CliRunner and as a real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from builder import __version__
from builder.cli import app
from builder.connector import load_connector
from builder.routes import DEFAULT_LOGIN_PORT
from tests.servers import bound_socket

ROOT = Path(__file__).resolve().parents[1]
INVALID = ROOT / "tests" / "connector" / "fixtures" / "invalid"
WARNING = ROOT / "tests" / "connector" / "fixtures" / "warning"
runner = CliRunner()


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mcpbuild {__version__}"


def test_validate_shipped_connectors_exits_0() -> None:
    files = sorted(
        str(p) for p in [*ROOT.glob("connectors/*.yaml"), *ROOT.glob("connectors/*/connector.yaml")]
    )
    result = runner.invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert result.stdout.count(": ok (") == len(files)


def test_validate_invalid_exits_1_with_positions() -> None:
    path = INVALID / "bad_param_in.yaml"
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"{path}:12:33: tools[0].params.owner.in: expected one of path" in result.stderr
    assert "1 error in 1 file" in result.stderr


def test_validate_missing_file_exits_2() -> None:
    result = runner.invoke(app, ["validate", "does-not-exist.yaml"])
    assert result.exit_code == 2
    assert "does-not-exist.yaml: cannot read file" in result.stderr


def test_validate_without_files_is_a_usage_error() -> None:
    assert runner.invoke(app, ["validate"]).exit_code == 2


def test_validate_json_format() -> None:
    path = INVALID / "path_mismatch.yaml"
    result = runner.invoke(app, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["valid"] is False
    first = report["errors"][0]
    assert (first["line"], first["column"], first["code"]) == (8, 34, "path_param")
    assert first["path"] == "tools[0].request.path"


def test_validate_github_format_emits_annotations() -> None:
    path = INVALID / "duplicate_key.yaml"
    result = runner.invoke(app, ["validate", "--format", "github", str(path)])
    assert result.exit_code == 1
    head = f"::error file={path},line=9,col=5,title=mcpbuild duplicate_key::"
    assert result.stdout.startswith(head)
    assert "tools[0].description: duplicate key 'description'" in result.stdout


def test_validate_prints_warnings_on_stderr_and_exits_0() -> None:
    path = WARNING / "unrequested_scope.yaml"
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok (1 tool, 2 warnings)\n"
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"{path}:12:5: provider.scopes.offline_access: warning: scope 'offline_access' is "
        "never requested (no tool lists it, nor provider.always_request)"
    )
    assert lines[1].startswith(f"{path}:14:5: provider.scopes.contacts.write: warning: ")
    assert lines[2:] == ["2 warnings in 1 file"]


def test_validate_errors_and_warnings_together() -> None:
    bad, warned = INVALID / "bad_param_in.yaml", WARNING / "unrequested_scope.yaml"
    result = runner.invoke(app, ["validate", str(bad), str(warned)])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-2:] == ["1 error in 1 file", "2 warnings in 1 file"]


def test_validate_json_format_lists_warnings_apart() -> None:
    path = WARNING / "unrequested_scope.yaml"
    result = runner.invoke(app, ["validate", "--format", "json", str(path)])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["valid"] is True
    assert report["errors"] == []
    assert report["files"] == [{"file": str(path), "valid": True, "tools": 1, "warnings": 2}]
    first = report["warnings"][0]
    assert (first["line"], first["column"], first["code"]) == (12, 5, "unrequested_scope")
    assert first["path"] == "provider.scopes.offline_access"
    assert first["message"].startswith("scope 'offline_access' is never requested")


def test_validate_github_format_emits_warning_annotations() -> None:
    path = WARNING / "unrequested_scope.yaml"
    result = runner.invoke(app, ["validate", "--format", "github", str(path)])
    assert result.exit_code == 0
    head = f"::warning file={path},line=12,col=5,title=mcpbuild unrequested_scope::"
    assert result.stdout.startswith(head + "provider.scopes.offline_access: scope ")
    assert result.stdout.count("::warning ") == 2


def _login_env() -> dict[str, str]:
    return {
        "MCPBUILD_DEMO_URL": "http://127.0.0.1:9",
        "DEMO_CLIENT_ID": "client",
        "DEMO_CLIENT_SECRET": "secret",
        "MCPBUILD_SECRET_KEY": runner.invoke(app, ["keygen"]).stdout.strip(),
    }


def test_login_timeout_is_one_line_and_exit_1(tmp_path: Path) -> None:
    spec = ROOT / "connectors" / "demo" / "connector.yaml"
    store = f"sqlite:///{tmp_path / 'login.db'}"
    args = ["login", str(spec), "--no-browser", "--timeout", "0.2", "--store", store]
    result = runner.invoke(app, [*args, "--port", "0"], env=_login_env())
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert result.stderr.splitlines()[-1] == (
        f"{spec}: no sign-in within 0.2 s; run login again, with a longer --timeout if you "
        "need more time"
    )


def test_login_listens_on_the_fixed_port_and_prints_its_redirect_uri(tmp_path: Path) -> None:
    try:  # the default port, 8765, must be free on this machine for this test
        bound_socket(DEFAULT_LOGIN_PORT).close()
    except OSError:
        pytest.skip(f"port {DEFAULT_LOGIN_PORT} is in use on this machine")
    spec = ROOT / "connectors" / "demo" / "connector.yaml"
    store = f"sqlite:///{tmp_path / 'login.db'}"
    args = ["login", str(spec), "--no-browser", "--timeout", "0.1", "--store", store]
    result = runner.invoke(app, args, env=_login_env())
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    uri_line = "redirect URI (register it with the provider): http://127.0.0.1:8765/oauth/callback"
    assert uri_line in lines
    # Printed before the URL to open, which the browser would be sent to.
    assert lines.index(uri_line) < lines.index("open this URL to sign in:")


def test_login_on_a_busy_port_names_the_port_and_the_flag(tmp_path: Path) -> None:
    spec = ROOT / "connectors" / "demo" / "connector.yaml"
    store = f"sqlite:///{tmp_path / 'login.db'}"
    with bound_socket() as busy:
        port = busy.getsockname()[1]
        args = ["login", str(spec), "--no-browser", "--store", store, "--port", str(port)]
        result = runner.invoke(app, args, env=_login_env())
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "open this URL" not in result.stderr
    assert result.stderr.strip() == (
        f"{spec}: port {port} on 127.0.0.1 is in use (Address already in use), and the "
        f"redirect URI http://127.0.0.1:{port}/oauth/callback needs it: stop what listens "
        "there, or pass --port N and register http://127.0.0.1:N/oauth/callback with the "
        "provider"
    )


def test_schema_prints_and_checks(tmp_path: Path) -> None:
    printed = runner.invoke(app, ["schema"])
    assert printed.exit_code == 0
    assert json.loads(printed.stdout)["title"] == "Connector"
    assert runner.invoke(app, ["schema", "--check"]).exit_code == 0
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n")
    drifted = runner.invoke(app, ["schema", "--check", "--path", str(stale)])
    assert drifted.exit_code == 1
    assert "has drifted" in drifted.stderr
    assert '+  "$schema"' in drifted.stderr


def test_init_writes_a_starter_that_validates(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "proj"), "--name", "acme-crm"])
    assert result.exit_code == 0, result.output
    spec = tmp_path / "proj" / "connector.yaml"
    connector = load_connector(str(spec))
    assert connector.name == "acme-crm"
    assert connector.provider is not None
    assert connector.provider.client_secret == "${ACME_CRM_CLIENT_SECRET}"
    again = runner.invoke(app, ["init", str(tmp_path / "proj"), "--name", "acme-crm"])
    assert again.exit_code == 2
    assert "exists" in again.stderr


def test_init_copies_no_schema_next_to_the_spec_and_keeps_the_editor_one_current(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "proj"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == [".mcpbuild", "connector.yaml"]
    spec = folder / "connector.yaml"
    ref = ".mcpbuild/connector.schema.json"
    assert spec.read_text().splitlines()[0] == f"# yaml-language-server: $schema={ref}"
    editor = folder / ref
    assert editor.read_text() == runner.invoke(app, ["schema"]).stdout
    assert (folder / ".mcpbuild" / ".gitignore").read_text().splitlines()[-1] == "*"
    editor.write_text("{}\n")  # an older mcpbuild's schema
    assert runner.invoke(app, ["validate", str(spec)]).exit_code == 0
    assert editor.read_text() == runner.invoke(app, ["schema"]).stdout


def test_init_from_every_shipped_connector_validates(tmp_path: Path) -> None:
    names = sorted(p.parent.name for p in ROOT.glob("connectors/*/connector.yaml"))
    assert {"demo", "github", "slack"} <= set(names)
    for name in names:
        folder = tmp_path / name
        result = runner.invoke(app, ["init", str(folder), "--from", name])
        assert result.exit_code == 0, result.output
        spec = folder / "connector.yaml"
        assert (
            load_connector(str(spec)).name
            == load_connector(str(ROOT / "connectors" / name / "connector.yaml")).name
        )
        assert spec.read_text().startswith(
            "# yaml-language-server: $schema=.mcpbuild/connector.schema.json\n"
        )
        assert (folder / ".mcpbuild" / "connector.schema.json").is_file()
        cases = sorted(p.name for p in (ROOT / "connectors" / name / "tests").iterdir())
        assert sorted(p.name for p in (folder / "tests").iterdir()) == cases
        assert runner.invoke(app, ["validate", str(spec)]).exit_code == 0


def test_init_from_an_unknown_connector_lists_them_with_did_you_mean(tmp_path: Path) -> None:
    shipped = ", ".join(sorted(p.parent.name for p in ROOT.glob("connectors/*/connector.yaml")))
    near = runner.invoke(app, ["init", str(tmp_path), "--from", "githb"])
    assert near.exit_code == 2
    assert near.stderr.splitlines() == [
        "--from: no shipped connector 'githb'; did you mean 'github'?",
        f"the shipped connectors: {shipped}",
    ]
    far = runner.invoke(app, ["init", str(tmp_path), "--from", "zzz"])
    assert far.exit_code == 2
    assert far.stderr.strip() == f"--from: no shipped connector 'zzz'; expected one of {shipped}"
    assert not (tmp_path / "connector.yaml").exists()


def test_init_refuses_a_bad_name(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path), "--name", "Bad Name"])
    assert result.exit_code == 2
    assert not (tmp_path / "connector.yaml").exists()


def test_tools_prints_input_schema_and_annotations() -> None:
    spec = ROOT / "connectors" / "demo" / "connector.yaml"
    result = runner.invoke(app, ["tools", "--json", str(spec)])
    assert result.exit_code == 0, result.output
    tools = {t["name"]: t for t in json.loads(result.stdout)}
    listing = tools["list_notes"]
    assert listing["annotations"]["readOnlyHint"] is True
    assert listing["inputSchema"]["properties"]["limit"] == {
        "type": "integer",
        "description": "How many notes to return.",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
    }
    assert "required" not in listing["inputSchema"]
    delete = tools["delete_note"]["annotations"]
    assert delete["readOnlyHint"] is False
    assert delete["destructiveHint"] is True
    assert tools["create_note"]["inputSchema"]["required"] == ["title"]


def test_tools_text_output_on_invalid_spec_exits_1() -> None:
    result = runner.invoke(app, ["tools", str(INVALID / "bad_param_in.yaml")])
    assert result.exit_code == 1
    assert "expected one of path, query, header, body" in result.stderr


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.yaml"
    garbage.write_bytes(bytes(range(256)) * 100)
    proc = subprocess.run(
        [sys.executable, "-m", "builder.cli", "validate", str(garbage)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "binary" in proc.stderr


def test_pre_commit_hook_is_declared() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hooks[0]["id"] == "mcpbuild-validate"
    assert hooks[0]["entry"] == "mcpbuild validate"


def test_serve_refuses_nonsense_session_limits() -> None:
    spec = str(ROOT / "connectors" / "demo" / "connector.yaml")
    result = runner.invoke(app, ["serve", spec, "--sessions-per-user", "0"])
    assert result.exit_code == 2
    assert "sessions per user: expected at least 1, got 0" in result.stderr
    result = runner.invoke(app, ["serve", spec, "--session-idle-timeout", "-1"])
    assert result.exit_code == 2
    assert "session idle timeout: expected a positive number" in result.stderr
