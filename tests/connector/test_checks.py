"""Semantic checks: JMESPath functions, reserved authorization parameters, always_request
and the warning about scopes that are never requested."""

from __future__ import annotations

import pytest

from builder.connector import load_connector_text
from builder.connector.checks import check_url
from builder.connector.checks_provider import RESERVED_AUTHORIZE_PARAMS
from builder.connector.load import load_text_with_warnings
from builder.errors import SpecError

TOOL = """\
mcpbuild: 1
name: checks
api: {base_url: https://api.example.com}
tools:
  - name: items
    description: Items.
    request: {method: GET, path: /items}
    response: {select: SELECT}
"""

PROVIDER = """\
mcpbuild: 1
name: checks
provider:
  authorization_url: https://auth.example.com/authorize
  token_url: https://auth.example.com/token
  client_id: ${CLIENT_ID}
  client_secret: ${CLIENT_SECRET}
  scopes: {oauth: Sign in, read: Read things, write: Write things}
EXTRA
api: {base_url: https://api.example.com}
tools:
  - name: ping
    description: Ping.
    scopes: TOOL_SCOPES
    request: {method: GET, path: /ping}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_connector_text(text, "c.yaml")
    return [issue.render() for issue in info.value.issues]


def provider_spec(extra: str = "", tool_scopes: str = "[read]") -> str:
    return PROVIDER.replace("EXTRA\n", extra).replace("TOOL_SCOPES", tool_scopes)


@pytest.mark.parametrize(
    "select",
    [
        "items[].{id: id, tags: join(', ', tags)}",
        "sort_by(items, &updated_at)[-5:]",
        "not_null(a, b, c)",
        "merge(a, b)",
        "map(&id, items)",
        "items[?contains(tags, 'x')] | length(@)",
        "max_by(items, &to_number(size)).name",
        "items[::-1]",
    ],
)
def test_selects_with_builtin_functions_pass(select: str) -> None:
    load_connector_text(TOOL.replace("SELECT", f'"{select}"'))


@pytest.mark.parametrize(
    ("select", "reason"),
    [
        ("qqq(bar)", "unknown function qqq(); the functions are abs(), avg(), ceil()"),
        ("items[].lenght(tags)", "unknown function lenght(); did you mean length()?"),
        ("a | b.{x: to_strnig(@)}", "unknown function to_strnig(); did you mean to_string()?"),
        ("length(a, b)", "length() takes 1 argument, got 2"),
        ("join(', ')", "join() takes 2 arguments, got 1"),
        ("not_null()", "not_null() takes at least 1 argument, got 0"),
        ("items[1:5:0]", "a slice step cannot be 0"),
    ],
)
def test_select_errors_compiling_misses_are_caught_at_the_select(select: str, reason: str) -> None:
    errors = errors_of(TOOL.replace("SELECT", f'"{select}"'))
    assert len(errors) == 1, errors
    prefix = (
        f"c.yaml:8:24: tools[0].response.select: expected a JMESPath expression, got '{select}': "
    )
    assert errors[0].startswith(prefix + reason), errors[0]


@pytest.mark.parametrize("key", sorted(RESERVED_AUTHORIZE_PARAMS))
def test_authorize_params_mcpbuild_sets_are_refused_at_the_key(key: str) -> None:
    errors = errors_of(provider_spec(f"  authorize_params: {{prompt: consent, {key}: x}}\n"))
    column = len("  authorize_params: {prompt: consent, ") + 1
    assert errors == [
        f"c.yaml:9:{column}: provider.authorize_params.{key}: '{key}' is set by mcpbuild on "
        f"every authorization request; {RESERVED_AUTHORIZE_PARAMS[key]}"
    ]


def test_scope_in_authorize_params_points_to_the_scope_fields() -> None:
    errors = errors_of(provider_spec("  authorize_params: {scope: 'read write'}\n"))
    assert "provider.scopes" in errors[0]
    assert "provider.always_request" in errors[0]


def test_always_request_names_declared_scopes() -> None:
    loaded = load_text_with_warnings(
        provider_spec("  always_request: [oauth]\n", "[read, write]"), "c.yaml"
    )
    assert loaded.connector.provider is not None
    assert loaded.connector.provider.always_request == ["oauth"]
    assert loaded.warnings == ()
    errors = errors_of(provider_spec("  always_request: [oauth, offline]\n"))
    assert errors == [
        "c.yaml:9:27: provider.always_request[1]: scope 'offline' is not declared in "
        "provider.scopes (declared: oauth, read, write)"
    ]


def test_always_request_defaults_to_empty() -> None:
    connector = load_connector_text(provider_spec(tool_scopes="[oauth, read, write]"))
    assert connector.provider is not None
    assert connector.provider.always_request == []


def test_unrequested_scope_is_a_warning_at_the_scope_not_an_error() -> None:
    loaded = load_text_with_warnings(provider_spec(), "c.yaml")
    assert [w.render() for w in loaded.warnings] == [
        "c.yaml:8:12: provider.scopes.oauth: warning: scope 'oauth' is never requested "
        "(no tool lists it, nor provider.always_request)",
        "c.yaml:8:47: provider.scopes.write: warning: scope 'write' is never requested "
        "(no tool lists it, nor provider.always_request)",
    ]
    assert {w.code for w in loaded.warnings} == {"unrequested_scope"}


def test_always_request_silences_the_unrequested_scope_warning() -> None:
    loaded = load_text_with_warnings(provider_spec("  always_request: [oauth, write]\n"))
    assert loaded.warnings == ()


def test_no_warning_when_nothing_names_a_scope() -> None:
    # then every declared scope is requested
    assert load_text_with_warnings(provider_spec(tool_scopes="[]")).warnings == ()


def test_warnings_do_not_make_a_spec_invalid_and_errors_stay_errors() -> None:
    load_connector_text(provider_spec())
    errors = errors_of(provider_spec(tool_scopes="[nope]"))
    assert all("warning:" not in e for e in errors), errors


@pytest.mark.parametrize(
    ("url", "reason"),
    [("https://[accounts.example.com/auth", "Invalid IPv6 URL"), ("https://a.com:99999/x", "Port")],
)
def test_a_url_the_parser_refuses_is_a_spec_error_not_a_crash(url: str, reason: str) -> None:
    found = list(check_url(url, ("provider", "authorization_url")))
    assert len(found) == 1
    assert found[0].message.startswith(f"expected an absolute https URL, got '{url}' (")
    assert reason in found[0].message
