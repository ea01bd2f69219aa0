"""Property tests: whatever the input, the loader answers with a spec or a SpecError."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.connector import load_connector_text
from builder.errors import SpecError

ROOT = Path(__file__).resolve().parents[2]
SPECS = [p.read_text() for p in sorted(ROOT.glob("connectors/*/connector.yaml"))]
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["GET", "path", "query", "/x/{id}", "${VAR}", "https://a.example.com"]),
)
keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        ["mcpbuild", "name", "api", "tools", "provider", "request", "params", "in", "type"]
    ),
)
documents: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=30,
)


def only_spec_errors(text: str) -> None:
    issues = []
    try:
        load_connector_text(text, "fuzz.yaml")
    except SpecError as exc:
        issues = exc.issues
        assert issues
    for issue in issues:
        assert issue.render().startswith("fuzz.yaml")


@SETTINGS
@given(documents)
def test_random_yaml_documents_give_spec_errors_only(doc: Any) -> None:
    only_spec_errors(yaml.safe_dump(doc))


@SETTINGS
@given(st.text(max_size=300))
def test_random_text_gives_spec_errors_only(text: str) -> None:
    only_spec_errors(text)


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SPECS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "duplicate", "char", "dedent", "value"]))
        if action == "delete":
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "char" and lines[i]:
            j = draw(st.integers(0, len(lines[i]) - 1))
            ch = draw(st.sampled_from([*list(":{}[]-#&*!|>'\"%@` \t"), "x", "0"]))
            lines[i] = lines[i][:j] + ch + lines[i][j + 1 :]
        elif action == "dedent":
            lines[i] = lines[i].lstrip()
        elif action == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            value = draw(st.sampled_from(["", "[]", "{}", "-1", "true", "~", "'x'", "*a", "&a 1"]))
            lines[i] = f"{key}: {value}"
        if not lines:
            break
    return "\n".join(lines) + "\n"


@SETTINGS
@given(mutated_specs())
def test_mutated_real_specs_give_spec_errors_only(text: str) -> None:
    only_spec_errors(text)
