"""The preset files: each loads, validates as a provider block, passes the provider checks,
cites the provider's own documentation, can be overridden from a connector, and is shown by
`mcpbuild presets`."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
import yaml
from typer.testing import CliRunner

from builder.cli import app
from builder.connector import load_connector_text
from builder.connector.checks_provider import check_provider
from builder.connector.models_provider import Provider
from builder.errors import SpecError
from builder.presets import apply_preset, load_preset, preset_names

ISSUE_NAMES = {
    "github",
    "github-app",
    "google",
    "microsoft",
    "slack",
    "notion",
    "atlassian",
    "salesforce",
    "dropbox",
    "hubspot",
    "linear",
    "gitlab",
    "zoom",
    "asana",
    "spotify",
}
NAMES = sorted(ISSUE_NAMES)
runner = CliRunner()

CONNECTOR = """\
mcpbuild: 1
name: preset_check
provider:
  preset: PRESET
EXTRA
api:
  base_url: "BASE_URL"
tools:
  - name: ping
    description: Ping the API.
    request: {method: GET, path: /ping}
"""
# A base URL using the values a preset provides, so `provides` is checked against a spec.
BASE_URLS = {
    "salesforce": "${grant.instance_url}/services/data/v62.0",
    "atlassian": "https://api.atlassian.com/ex/jira/${grant.cloud_id}/rest/api/3",
}


def connector(name: str, extra: str = "") -> str:
    base = BASE_URLS.get(name, "https://api.example.com")
    text = CONNECTOR.replace("PRESET", name).replace("BASE_URL", base)
    return text.replace("EXTRA\n", extra)


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_connector_text(text, "c.yaml")
    return [issue.render() for issue in info.value.issues]


def test_the_presets_are_exactly_the_fifteen_of_the_issue() -> None:
    assert set(preset_names()) == ISSUE_NAMES


@pytest.mark.parametrize("name", NAMES)
def test_preset_block_with_option_defaults_validates_and_passes_the_checks(name: str) -> None:
    block, from_preset = apply_preset({"preset": name})
    provider = Provider.model_validate(block)
    errors = [f for f in check_provider(provider) if f.severity == "error"]
    assert errors == []
    assert "token_url" in from_preset
    for field in ("authorization_url", "token_url", "revocation_url"):
        value = getattr(provider, field)
        assert value is None or value.startswith("https://"), (field, value)
        assert value is None or "{" not in value, f"{field} has an unfilled placeholder"


@pytest.mark.parametrize("name", NAMES)
def test_preset_client_credentials_are_references_named_after_the_provider(name: str) -> None:
    provider = load_preset(name).provider
    stem = re.fullmatch(r"\$\{([A-Z0-9_]+)_CLIENT_ID\}", provider["client_id"])
    assert stem is not None, provider["client_id"]
    assert provider["client_secret"] == f"${{{stem.group(1)}_CLIENT_SECRET}}"


@pytest.mark.parametrize("name", NAMES)
def test_every_quirk_cites_the_providers_own_docs_over_https(name: str) -> None:
    preset = load_preset(name)
    assert preset.quirks, "a preset explains at least one quirk"
    doc_hosts = set()
    for url in preset.docs:
        parts = urlsplit(url)
        assert parts.scheme == "https", url
        assert parts.hostname, url
        doc_hosts.add(parts.hostname)
    for quirk in preset.quirks:
        parts = urlsplit(quirk.source)
        assert parts.scheme == "https", quirk.source
        # The source is one of the provider's documentation sites the preset lists.
        assert parts.hostname in doc_hosts, (quirk.source, sorted(doc_hosts))
        assert quirk.quirk.strip()
        assert quirk.handled.strip()


@pytest.mark.parametrize("name", NAMES)
def test_placeholders_are_declared_options_and_options_are_used(name: str) -> None:
    preset = load_preset(name)
    text = json.dumps(preset.provider)
    used = set(re.findall(r"(?<!\$)\{([a-z_][a-z0-9_]*)\}", text))
    assert used == set(preset.options)


@pytest.mark.parametrize("name", NAMES)
def test_provides_names_exactly_the_grant_values(name: str) -> None:
    preset = load_preset(name)
    assert set(preset.provides) == set(preset.provider.get("grant_values", {}))


@pytest.mark.parametrize("name", NAMES)
def test_connector_on_the_preset_validates_and_its_override_wins(name: str) -> None:
    plain = load_connector_text(connector(name), "c.yaml")
    assert plain.provider is not None
    assert plain.provider.preset == name
    preset = load_preset(name)
    if preset.options:
        option = next(iter(preset.options))
        value = "override.example.com" if option != "tenant" else "contoso.onmicrosoft.com"
        spec = connector(name, f"  options: {{{option}: {value}}}\n")
        overridden = load_connector_text(spec, "c.yaml").provider
        assert overridden is not None
        assert value in overridden.token_url
        assert value in overridden.authorization_url
        assert overridden.token_url != plain.provider.token_url
    spec = connector(name, "  token_url: https://sso.example.com/oauth/token\n")
    overridden = load_connector_text(spec, "c.yaml").provider
    assert overridden is not None
    assert overridden.token_url == "https://sso.example.com/oauth/token"
    # Only the overridden field changed.
    assert overridden.authorization_url == plain.provider.authorization_url
    assert overridden.client_id == plain.provider.client_id


def test_connector_scopes_merge_with_the_presets_and_always_request_joins() -> None:
    extra = "  scopes: {Mail.Read: Read your mail}\n  always_request: [Mail.Read]\n"
    provider = load_connector_text(connector("microsoft", extra), "c.yaml").provider
    assert provider is not None
    assert set(provider.scopes) == {"offline_access", "Mail.Read"}
    assert provider.always_request == ["offline_access", "Mail.Read"]


def test_unknown_preset_is_a_spec_error_naming_the_closest() -> None:
    errors = errors_of(connector("gogle"))
    assert len(errors) == 1, errors
    assert errors[0].startswith("c.yaml:4:11: ")
    assert "unknown preset 'gogle'; did you mean 'google'?" in errors[0]


@pytest.mark.parametrize(
    ("name", "option", "known"),
    [("microsoft", "tennant", "tenant"), ("google", "tenant", "none")],
)
def test_unknown_option_is_a_spec_error(name: str, option: str, known: str) -> None:
    errors = errors_of(connector(name, f"  options: {{{option}: x}}\n"))
    assert len(errors) == 1, errors
    assert f"preset '{name}' has no option '{option}' (its options: {known})" in errors[0]


def test_list_shows_every_preset_with_title_and_summary() -> None:
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for name in NAMES:
        preset = load_preset(name)
        line = next(x for x in lines if x.split()[0] == name)
        assert preset.title in line
        assert f"{len(preset.quirks)} quirk" in line
        for option, spec in preset.options.items():
            assert f"{option} (default {spec.default})" in line
        for value in preset.provides:
            assert f"${{grant.{value}}}" in line


def test_list_as_json() -> None:
    result = runner.invoke(app, ["presets", "--format", "json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert [p["name"] for p in listed] == NAMES
    microsoft = next(p for p in listed if p["name"] == "microsoft")
    assert microsoft["options"] == {"tenant": "common"}
    assert microsoft["quirks"] == len(load_preset("microsoft").quirks)


@pytest.mark.parametrize("name", NAMES)
def test_show_prints_docs_options_values_every_quirk_and_a_block_to_paste(name: str) -> None:
    preset = load_preset(name)
    result = runner.invoke(app, ["presets", name])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith(f"{name}: {preset.title}\n")
    for url in preset.docs:
        assert url in out
    for option, spec in preset.options.items():
        assert f"{option} (default: {spec.default})" in out
        assert spec.description in out
    for value, what in preset.provides.items():
        assert f"${{grant.{value}}}" in out
        assert what in out
    for quirk in preset.quirks:
        assert quirk.quirk in out
        assert f"Handled: {quirk.handled}" in out
        assert f"Source: {quirk.source}" in out
    # The pasted block is YAML that validates as a provider without the preset.
    pasted = yaml.safe_load(out.split("Or paste the whole block (option defaults filled in):")[1])
    provider = Provider.model_validate(pasted["provider"])
    assert provider.preset is None
    assert [f for f in check_provider(provider) if f.severity == "error"] == []
    block, _ = apply_preset({"preset": name})
    block.pop("preset")
    assert pasted["provider"] == block


@pytest.mark.parametrize("name", NAMES)
def test_show_as_json(name: str) -> None:
    result = runner.invoke(app, ["presets", name, "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    preset = load_preset(name)
    assert shown["name"] == name
    assert shown["title"] == preset.title
    assert shown["docs"] == preset.docs
    assert shown["quirks"] == [q.model_dump() for q in preset.quirks]
    assert shown["provides"] == preset.provides
    assert shown["provider_template"] == preset.provider
    Provider.model_validate(shown["provider"])


@pytest.mark.parametrize("output", [[], ["--format", "json"]])
def test_show_unknown_preset_exits_1_with_one_line_naming_the_closest(output: list[str]) -> None:
    result = runner.invoke(app, ["presets", "microsof", *output])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("unknown preset 'microsof'; did you mean 'microsoft'?")
