"""Running a replay case: the connector's own tool runner, with the network replaced.

The case runs through :class:`~builder.tools.call.ToolRunner` exactly as ``serve`` and
``call`` do (argument checks, request building, redirects, retries, response shaping,
redaction); only the upstream client is a :class:`~builder.replay.client.ReplayClient`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from builder.connector.models import ENV_REF, Connector
from builder.connector.resolved import resolve_connector
from builder.errors import ConfigError
from builder.provider.values import fill_grant_refs
from builder.replay.cases import Case, Expectation
from builder.replay.client import ReplayClient
from builder.replay.compare import render_diff, same, text_diff
from builder.tools.call import ToolRunner
from builder.tools.response import Shaped

__all__ = [
    "TEST_TOKEN",
    "CaseResult",
    "ReplayCredentials",
    "compare_result",
    "env_for",
    "grant_placeholders",
    "placeholders",
    "run_case",
    "variables",
]

TEST_TOKEN = "test-token"  # noqa: S105 - the fixed bearer token of every replayed call
PLACEHOLDER_URL = "https://replay.invalid"
_HANDLE_KEY = b"mcpbuild replay: fixed page handle key"


class ReplayCredentials:
    """A fixed ``Authorization: Bearer test-token``, so requests look as they do live; cases
    need not name it (headers are compared as a subset).

    A 401 is followed by a retry (a refresh that worked) exactly when the case recorded
    another exchange after it, as a live call that refreshed would have.
    """

    def __init__(self, client: ReplayClient, values: Mapping[str, str] | None = None) -> None:
        self._client = client
        self._values = dict(values or {})

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {TEST_TOKEN}"}

    async def rejected(self) -> bool:
        return len(self._client.sent) < len(self._client.exchanges)

    async def values(self) -> Mapping[str, str]:
        return self._values


def grant_placeholders(connector: Connector) -> dict[str, str]:
    """A value for every ``${grant.NAME}`` the provider declares: the placeholder https
    origin for a URL value, ``test-NAME`` otherwise."""
    declared = connector.provider.grant_values if connector.provider else {}
    return {
        name: PLACEHOLDER_URL if value.url else f"test-{name}" for name, value in declared.items()
    }


@dataclass(frozen=True, slots=True)
class CaseResult:
    """How one case went: no failures means it passed. ``result`` is the tool result, when
    the call got that far."""

    case: Case
    failures: tuple[str, ...]
    result: Shaped | None = None
    sent_as_expected: bool = False
    """The tool sent exactly the case's requests (whatever its result)."""

    @property
    def passed(self) -> bool:
        return not self.failures


def placeholders(connector: Connector) -> dict[str, str]:
    """A value for every ``${VAR}`` of the connector, so a case runs without its secrets:
    ``test-VAR``, or a placeholder https origin for a variable that starts
    ``api.base_url`` (paths in cases are relative to the base URL's path anyway)."""
    names = {name: f"test-{name}" for name in variables(connector)}
    first = ENV_REF.match(connector.api.base_url)
    if first is not None:
        names[first.group(1)] = PLACEHOLDER_URL
    return names


def variables(connector: Connector) -> list[str]:
    """The name of every ``${VAR}`` the connector refers to, in order of appearance."""
    names = [
        match.group(1)
        for text in _strings(connector.model_dump(mode="json", by_alias=True))
        for match in ENV_REF.finditer(text)
    ]
    return list(dict.fromkeys(names))


def env_for(connector: Connector, case: Case) -> dict[str, str]:
    """The environment a case runs in: placeholders, overridden by the case's ``env``."""
    return {**placeholders(connector), **case.env}


async def run_case(connector: Connector, case: Case) -> CaseResult:
    """Run ``case`` against ``connector`` with no network."""
    env = env_for(connector, case)
    try:
        resolved = resolve_connector(connector, env)
    except ConfigError as exc:
        return CaseResult(case, (f"the connector cannot run with this case's env: {exc}",))
    if case.tool not in resolved.tools:
        known = ", ".join(resolved.tools)
        return CaseResult(
            case, (f"the connector has no tool '{case.tool}'; its tools are: {known}",)
        )
    values = grant_placeholders(connector)
    client = ReplayClient(case.exchanges, fill_grant_refs(resolved.base_url, values), env)
    # A fixed key for next-page handles, so a result that carries one is the same every run.
    runner = ToolRunner(
        resolved, client, sleep=_no_sleep, jitter=lambda: 0.5, handle_key=_HANDLE_KEY
    )
    credentials = ReplayCredentials(client, values) if resolved.provider is not None else None
    result = await runner.call(case.tool, dict(case.arguments), credentials)
    failures = list(client.failures)
    if not failures:
        failures += [f"{f}; the tool's result was:\n{result.text}" for f in client.unsent()]
    sent = not failures
    if sent:
        failures += compare_result(case.expect, result)
    return CaseResult(case, tuple(failures), result, sent)


def compare_result(expect: Expectation, result: Shaped) -> list[str]:
    """The differences between the expected and the actual tool result, as failures."""
    failures: list[str] = []
    if expect.is_error != result.is_error:
        failures.append(
            f"expected is_error: {str(expect.is_error).lower()}, "
            f"got {str(result.is_error).lower()}; the result was:\n{result.text}"
        )
    if expect.has_json:
        try:
            got = json.loads(result.text)
        except ValueError:
            failures.append(f"expected a JSON result, got text:\n{result.text}")
        else:
            if not same(expect.json, got):
                failures.append(
                    "the result differs from expect.json:\n"
                    + render_diff(expect.json, got, got_label="result")
                )
    elif expect.text is not None and expect.text != result.text:
        failures.append(
            "the result differs from expect.text:\n"
            + text_diff(expect.text, result.text, got_label="result")
        )
    blob = getattr(result, "blob", None)
    if expect.blob is not None and expect.blob != blob:
        got = "no bytes" if blob is None else f"{len(blob)} other bytes"
        failures.append(f"expected a binary result of {len(expect.blob)} bytes, got {got}")
    mime_type = getattr(result, "mime_type", None)
    if expect.mime_type is not None and expect.mime_type != mime_type:
        failures.append(f"expected a result of type {expect.mime_type}, got {mime_type}")
    if expect.notes is not None:
        notes = list(getattr(result, "notes", ()) or ())
        if list(expect.notes) != notes:
            failures.append(
                "the result's notes differ from expect.notes:\n"
                + render_diff(list(expect.notes), notes, got_label="result")
            )
    return failures


async def _no_sleep(seconds: float) -> None:
    """Retries wait for nothing in a replay."""


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
