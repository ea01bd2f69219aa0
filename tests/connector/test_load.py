"""Loading: positions, every error at once, and files that cannot be specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.connector import load_connector, load_connector_text
from builder.connector.source import MAX_SPEC_BYTES
from builder.errors import SpecError

GOOD = """\
mcpbuild: 1
name: ok
api: {base_url: https://api.example.com}
tools:
  - name: ping
    description: Ping.
    request: {method: GET, path: /ping}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_connector_text(text, "c.yaml")
    return [issue.render() for issue in info.value.issues]


def test_good_spec_loads_with_defaults() -> None:
    connector = load_connector_text(GOOD)
    tool = connector.tools[0]
    assert tool.is_read_only
    assert tool.is_idempotent
    assert not tool.is_destructive
    assert connector.api.retry.attempts == 3
    assert connector.provider is None


def test_reports_every_error_not_just_the_first() -> None:
    text = GOOD.replace("name: ok", "name: NOT OK").replace("GET", "FETCH")
    text += "  - name: bad name!\n    description: x\n    request: {method: GET, path: x}\n"
    errors = errors_of(text)
    assert len(errors) == 4, errors
    assert errors[0].startswith("c.yaml:2:7: name: expected a name")
    assert "c.yaml:7:23: tools[0].request.method: expected one of GET, HEAD, POST" in errors[1]
    assert errors[1].endswith("got 'FETCH'")
    assert errors[2].startswith("c.yaml:8:11: tools[1].name: expected a tool name")
    assert errors[3] == (
        "c.yaml:10:34: tools[1].request.path: expected a path starting with /, got 'x'"
    )


def test_semantic_errors_survive_structural_errors_elsewhere() -> None:
    text = GOOD.replace("name: ok", "name: 7 7").replace("path: /ping", 'path: "/p/{id}"')
    errors = errors_of(text)
    assert any("placeholder '{id}' has no param" in e for e in errors), errors
    assert any("name: expected a name" in e for e in errors), errors


def test_duplicate_keys_are_errors_with_both_lines() -> None:
    errors = errors_of(GOOD + "name: again\n")
    assert errors == ["c.yaml:8:1: name: duplicate key 'name' (first defined at line 2)"]


def test_did_you_mean_for_a_near_miss() -> None:
    errors = errors_of(GOOD.replace("description:", "descripton:"))
    assert (
        "c.yaml:6:5: tools[0].descripton: unknown field 'descripton'; did you mean 'description'?"
        in errors
    )


def test_merge_keys_and_x_extensions_work() -> None:
    text = (
        GOOD.replace(
            "tools:\n",
            "x-common: &common {description: Shared., request: {method: GET, path: /ping}}\n"
            "tools:\n",
        )
        + "  - <<: *common\n    name: pong\n"
    )
    connector = load_connector_text(text)
    assert [t.name for t in connector.tools] == ["ping", "pong"]
    assert connector.tools[1].description == "Shared."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "file is empty; expected a connector spec mapping"),
        (b"# only a comment\n", "file is empty; expected a connector spec mapping"),
        (b"- a\n- b\n", "expected a mapping of connector fields at the top, got a list"),
        (
            b"just a string",
            "expected a mapping of connector fields at the top, got 'just a string'",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "file is binary (contains NUL bytes); expected YAML text"),
        (b"name: \xff\xfe\n", "file is not valid UTF-8 text"),
        (b"a: [1, 2\n", "invalid YAML"),
        (b"a: 1\n---\nb: 2\n", "expected one YAML document, got several"),
        (b"a: !!python/object:os.system {}\n", "invalid YAML"),
    ],
)
def test_files_that_are_not_specs_get_one_clear_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError) as info:
        load_connector(str(path))
    assert len(info.value.issues) == 1
    assert message in info.value.issues[0].message


def test_huge_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    with path.open("wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # sparse: 100 MB of zero bytes
    with pytest.raises(SpecError) as info:
        load_connector(str(path))
    assert info.value.issues[0].code == "too_large"
    assert f"larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB" in info.value.issues[0].message


def test_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    with pytest.raises(SpecError) as info:
        load_connector_text("\n".join(lines) + "\n")
    assert info.value.issues[0].code == "too_large"


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(SpecError):
        load_connector_text("a: " + "[" * 5000 + "]" * 5000 + "\n")


def test_missing_file_is_an_io_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_connector(str(tmp_path / "nope.yaml"))
    assert info.value.issues[0].code == "io_error"


def test_literal_secret_value_never_appears_in_errors() -> None:
    text = GOOD.replace(
        "api:",
        "provider:\n  authorization_url: https://a.example.com/a\n  token_url: https://a.example.com/t\n"
        "  client_id: id\n  client_secret: s3cr3t-value\napi:",
    ).replace(
        "api: {base_url: https://api.example.com}",
        "api: {base_url: https://api.example.com, headers: {Authorization: Bearer tok-123}}",
    )
    errors = "\n".join(errors_of(text))
    assert "client_secret: expected a ${VAR} reference" in errors
    assert "header 'Authorization', got a literal value" in errors
    assert "s3cr3t-value" not in errors
    assert "tok-123" not in errors


def test_env_references_stay_references() -> None:
    text = GOOD.replace(
        "api: {base_url: https://api.example.com}",
        "api: {base_url: https://api.example.com, headers: {X-Key: '${MY_KEY}'}}",
    )
    assert load_connector_text(text).api.headers["X-Key"] == "${MY_KEY}"
    errors = errors_of(text.replace("${MY_KEY}", "${MY KEY}"))
    assert "expected ${NAME} with NAME of letters" in errors[0]
