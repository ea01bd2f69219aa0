"""A tool's static query values are resolved from the environment before they go out, and
a secret among them is kept out of the result like a secret header."""

from __future__ import annotations

import pytest

from builder.connector import load_connector_text
from builder.connector.models import Connector
from tests.tools.conftest import API_KEY, Rig

pytestmark = pytest.mark.anyio

SPEC = """\
mcpbuild: 1
name: static-query
api:
  base_url: ${UPSTREAM_URL}/api
  timeout: 2
tools:
  - name: keyed
    description: An API that takes its key in the query.
    request: {method: GET, path: /echo/keyed, query: {api_key: "${TEST_API_KEY}", n: 2}}
"""


@pytest.fixture
def connector() -> Connector:
    return load_connector_text(SPEC, "static.yaml")


async def test_var_in_a_static_query_value_is_resolved_and_redacted(rig: Rig) -> None:
    result = await rig.runner.call("keyed", {})
    assert not result.is_error, result.text
    assert rig.upstream.seen[-1].query == f"api_key={API_KEY}&n=2"
    assert API_KEY not in result.text
    assert "${TEST_API_KEY}" not in result.text
