"""Every spec fixture: valid ones load cleanly, invalid ones fail exactly where they say,
and the ones under warning/ load with exactly the warnings they state."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.connector import load_connector
from builder.connector.load import load_with_warnings
from builder.errors import SpecError

FIXTURES = Path(__file__).parent / "fixtures"
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))
WARNING = sorted((FIXTURES / "warning").glob("*.yaml"))


def expected_lines(path: Path, prefix: str = "# expect: ") -> list[str]:
    return [
        line.removeprefix(prefix)
        for line in path.read_text().splitlines()
        if line.startswith(prefix)
    ]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_loads(path: Path) -> None:
    loaded = load_with_warnings(str(path))
    assert loaded.connector.tools
    assert [w.render() for w in loaded.warnings] == []


@pytest.mark.parametrize("path", WARNING, ids=lambda p: p.name)
def test_warning_fixture_loads_with_the_warnings_it_states(path: Path) -> None:
    expected = expected_lines(path, "# warn: ")
    assert expected, f"{path.name} states no '# warn:' line"
    loaded = load_with_warnings(str(path))
    assert [w.render() for w in loaded.warnings] == [f"{path}:{line}" for line in expected]


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_fixture_fails_where_it_says(path: Path) -> None:
    expected = expected_lines(path)
    assert expected, f"{path.name} states no '# expect:' line"
    with pytest.raises(SpecError) as info:
        load_connector(str(path))
    rendered = [issue.render() for issue in info.value.issues]
    assert rendered == [f"{path}:{line}" for line in expected]


def test_fixture_sets_are_not_empty() -> None:
    assert len(INVALID) >= 10
    assert VALID
    assert WARNING
