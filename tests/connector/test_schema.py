"""The checked-in JSON Schema agrees with the models, and every shipped connector with both."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from builder.connector import load_connector
from builder.connector.export import connector_schema, drift, schema_path

ROOT = Path(__file__).resolve().parents[2]
# One folder per connector: connectors/NAME/connector.yaml
CONNECTORS = sorted(ROOT.glob("connectors/*/connector.yaml"))
VALID_FIXTURES = sorted((Path(__file__).parent / "fixtures" / "valid").glob("*.yaml"))


def test_checked_in_schema_has_not_drifted() -> None:
    assert drift(schema_path()) == ""


def test_drift_is_reported_as_a_diff(tmp_path: Path) -> None:
    stale = tmp_path / "schema.json"
    stale.write_text(schema_path().read_text().replace('"Absolute https URL', '"Old text'))
    diff = drift(stale)
    assert '-          "description": "Old text every request stays below."' in diff
    assert '+          "description": "Absolute https URL every request stays below."' in diff


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(connector_schema())


def _fields() -> list[tuple[str, dict[str, object]]]:
    schema = connector_schema()
    out = [(f"Connector.{f}", p) for f, p in schema["properties"].items()]
    for name, definition in schema["$defs"].items():
        out += [(f"{name}.{f}", p) for f, p in definition.get("properties", {}).items()]
    return out


def test_every_field_has_a_description_and_an_example() -> None:
    assert [name for name, prop in _fields() if "description" not in prop] == []
    assert [name for name, prop in _fields() if not prop.get("examples")] == []


@pytest.mark.parametrize(("name", "prop"), _fields(), ids=[n for n, _ in _fields()])
def test_every_example_is_valid_for_its_field(name: str, prop: dict[str, object]) -> None:
    schema = connector_schema()
    field_schema = {k: v for k, v in prop.items() if k != "examples"}
    validator = jsonschema.Draft202012Validator({**field_schema, "$defs": schema["$defs"]})
    for example in prop["examples"]:  # type: ignore[attr-defined]
        assert list(validator.iter_errors(example)) == [], f"{name}: {example!r}"


def _name(path: Path) -> str:
    """``github`` for connectors/github/connector.yaml, the file's stem for a fixture."""
    return path.parent.name if path.name == "connector.yaml" else path.stem


def test_connectors_dir_ships_the_required_connectors() -> None:
    names = {p.parent.name for p in CONNECTORS}
    assert {"demo", "github", "google_calendar", "slack"} <= names


@pytest.mark.parametrize("path", CONNECTORS + VALID_FIXTURES, ids=_name)
def test_spec_is_valid_for_models_and_json_schema(path: Path) -> None:
    load_connector(str(path))
    jsonschema.validate(yaml.safe_load(path.read_text()), connector_schema())
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")


@pytest.mark.parametrize("path", CONNECTORS, ids=_name)
def test_connector_schema_comment_points_at_the_schema(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == schema_path()
    assert json.loads(target.read_text())["title"] == "Connector"
