"""The checks that need no network: the spec, its variables, the redirect URIs, https,
and scopes against tools.

They read the decisions where they are made: the rules of a valid spec and of a URL from
:mod:`builder.connector.checks`, the variables a served connector needs from
:func:`resolve_connector`, the redirect URIs from :mod:`builder.routes`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from builder.connector import checks
from builder.connector.load import load_with_warnings
from builder.connector.models import ENV_REF, Connector
from builder.connector.resolved import resolve_connector
from builder.connector.source import read_spec_text
from builder.doctor.report import Check
from builder.errors import ConfigError, SpecError
from builder.routes import login_redirect_uri, redirect_uri_for

__all__ = [
    "Spec",
    "check_env",
    "check_https",
    "check_redirect_uri",
    "check_scopes",
    "check_secret_key",
    "load_spec",
    "substitute",
]


@dataclass(frozen=True)
class Spec:
    """The ``spec`` check and, unless the file is unreadable or structurally broken, the
    connector it describes (semantic errors leave it there, so the other checks run)."""

    check: Check
    connector: Connector | None


def load_spec(path: str) -> Spec:
    """Validate the spec as ``validate`` does: errors and warnings with file:line:col."""
    try:
        loaded = load_with_warnings(path)
    except SpecError as exc:
        lines = [issue.render() for issue in exc.issues]
        n = len(lines)
        check = Check(
            "spec",
            "fail",
            f"{n} error{'s' if n != 1 else ''}:\n" + "\n".join(lines),
            f"correct the spec and run `mcpbuild validate {path}`",
        )
        return Spec(check, _structural(path))
    connector = loaded.connector
    tools = len(connector.tools)
    found = f"{path} is valid ({tools} tool{'s' if tools != 1 else ''})"
    if not loaded.warnings:
        return Spec(Check("spec", "ok", found), connector)
    warnings = "\n".join(w.render() for w in loaded.warnings)
    fix = f"see the warnings of `mcpbuild validate {path}`"
    return Spec(Check("spec", "warn", f"{found}, with warnings:\n{warnings}", fix), connector)


def _structural(path: str) -> Connector | None:
    """The connector when only semantic checks failed (an undeclared scope, say)."""
    try:
        return Connector.model_validate(yaml.safe_load(read_spec_text(path)))
    except (SpecError, ValidationError, yaml.YAMLError):
        return None


class _Asked(Mapping[str, str]):
    """The environment, recording the names looked up in it."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.asked: dict[str, None] = {}

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked[name] = None
        return name in self.env

    def __getitem__(self, name: str) -> str:
        self.asked[name] = None
        return self.env[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.env)

    def __len__(self) -> int:
        return len(self.env)


def check_env(connector: Connector, env: Mapping[str, str]) -> Check:
    """Every ``${VAR}`` that serving resolves is set; the missing ones named with the fields
    that need them. Values are never shown."""
    asked = _Asked(env)
    # Missing variables are what this check reports; URLs after resolution, check_https's.
    with contextlib.suppress(ConfigError):
        resolve_connector(connector, asked)
    names = list(asked.asked)
    missing = [n for n in names if n not in env]
    if not names:
        return Check("env", "ok", "the spec references no environment variables")
    if not missing:
        return Check("env", "ok", f"set: {', '.join(names)} (values not shown)")
    fields = _fields_by_variable(connector)
    described = [f"{n} ({', '.join(fields.get(n, ['?']))})" for n in missing]
    present = [n for n in names if n in env]
    found = f"not set: {', '.join(described)}"
    if present:
        found += f"\nset: {', '.join(present)} (values not shown)"
    fix = " ".join(f"export {n}=..." for n in missing) + " before `mcpbuild serve`"
    return Check("env", "fail", found, fix)


def _fields_by_variable(connector: Connector) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}

    def walk(node: Any, where: str) -> None:
        if isinstance(node, str):
            for match in ENV_REF.finditer(node):
                out.setdefault(match.group(1), []).append(where)
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{where}.{key}" if where else str(key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{where}[{i}]")

    walk(connector.model_dump(by_alias=True, exclude_none=True), "")
    return out


def check_secret_key(connector: Connector, env: Mapping[str, str]) -> Check | None:
    """``MCPBUILD_SECRET_KEY`` for ``serve`` (``dev`` and ``login`` generate one)."""
    if connector.provider is None:
        return None
    key = env.get("MCPBUILD_SECRET_KEY")
    if not key:
        return Check(
            "secret_key",
            "warn",
            "MCPBUILD_SECRET_KEY is not set: `serve` refuses to start without it (`dev`, "
            "`serve --dev` and `login` generate a key file under .mcpbuild/)",
            "export MCPBUILD_SECRET_KEY=$(mcpbuild keygen) for `serve`",
        )
    from builder.state.crypto import Cipher

    try:
        Cipher(key)
    except ConfigError as exc:
        return Check(
            "secret_key", "fail", str(exc), "export MCPBUILD_SECRET_KEY=$(mcpbuild keygen)"
        )
    return Check("secret_key", "ok", "MCPBUILD_SECRET_KEY is set: 32 bytes (value not shown)")


def check_redirect_uri(connector: Connector, public_url: str, login_port: int) -> Check:
    """The redirect URIs to register with the provider, exactly as the servers use them."""
    if connector.provider is None:
        return Check("redirect_uri", "ok", "no provider: no redirect URI to register")
    return Check(
        "redirect_uri",
        "ok",
        f"register with the provider: {redirect_uri_for(public_url)} (serve, dev at "
        f"{public_url}); {login_redirect_uri(login_port)} (login)",
        "add both to the OAuth app's allowed redirect (callback) URLs",
    )


def substitute(text: str, env: Mapping[str, str]) -> str | None:
    """``text`` with each ``${VAR}`` from ``env``; None when one is not set."""
    missing = False

    def value(match: Any) -> str:
        nonlocal missing
        if match.group(1) not in env:
            missing = True
            return ""
        return str(env[match.group(1)])

    out = ENV_REF.sub(value, text)
    return None if missing else out


def check_https(urls: Mapping[str, str | None]) -> Check:
    """https for every URL but loopback ones, with :func:`checks.check_url`'s rule."""
    problems: list[str] = []
    skipped: list[str] = []
    for name, url in urls.items():
        if url is None:
            skipped.append(name)
            continue
        for found in checks.check_url(url, (name,)):
            problems.append(f"{name}: {found.message}")
    unresolved = f" ({', '.join(skipped)} not checked: a variable is not set)" if skipped else ""
    if problems:
        return Check(
            "https",
            "fail",
            "\n".join(problems) + unresolved,
            "use https:// URLs (http only for localhost, 127.0.0.1 and ::1)",
        )
    checked = [n for n, u in urls.items() if u is not None]
    return Check("https", "ok", f"https or loopback: {', '.join(checked)}{unresolved}")


def check_scopes(connector: Connector) -> Check:
    """Each tool's scopes are declared; each declared scope is requested by something."""
    if connector.provider is None:
        return Check("scopes", "ok", "no provider: tools need no scopes")
    found = [
        f
        for f in checks.check_connector(connector)
        if f.code in ("undeclared_scope", "unrequested_scope")
    ]
    errors = [f for f in found if f.severity == "error"]
    warnings = [f for f in found if f.severity == "warning"]
    lines = [f"{_location(f.path)}: {f.message}" for f in [*errors, *warnings]]
    if errors:
        return Check(
            "scopes",
            "fail",
            "\n".join(lines),
            "declare each tool scope under provider.scopes (or correct its spelling)",
        )
    if warnings:
        return Check(
            "scopes",
            "warn",
            "\n".join(lines),
            "name the scope in a tool's scopes or provider.always_request, or remove it",
        )
    declared = len(connector.provider.scopes)
    return Check("scopes", "ok", f"{declared} declared, each requested, every tool's declared")


def _location(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out
