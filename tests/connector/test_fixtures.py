"""Every spec fixture: valid ones load, invalid ones fail exactly where they say."""

from __future__ import annotations

from pathlib import Path

import pytest

from builder.connector import load_connector
from builder.errors import SpecError

FIXTURES = Path(__file__).parent / "fixtures"
INVALID = sorted((FIXTURES / "invalid").glob("*.yaml"))
VALID = sorted((FIXTURES / "valid").glob("*.yaml"))


def expected_lines(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_valid_fixture_loads(path: Path) -> None:
    connector = load_connector(str(path))
    assert connector.tools


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
