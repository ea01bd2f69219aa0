"""An error in a field the preset wrote is reported at the `preset:` line, the only place in
the connector's file that wrote it; a field the connector wrote keeps its own place."""

from __future__ import annotations

import pytest

from builder.connector import load_connector_text
from builder.errors import SpecError

SPEC = """\
mcpbuild: 1
name: sf
provider:
  client_secret: ${SF_SECRET}
  preset: salesforce
  options: {login_host: ""}
  revocation_url: ftp://example.com/revoke
api: {base_url: "${grant.instance_url}/services/data/v62.0"}
tools:
  - {name: me, description: Me., request: {method: GET, path: /me}}
"""


def test_preset_fields_are_reported_at_the_preset_line_and_overrides_at_their_own() -> None:
    with pytest.raises(SpecError) as info:
        load_connector_text(SPEC, "c.yaml")
    rendered = [issue.render() for issue in info.value.issues]
    assert (
        "c.yaml:5:11: provider.authorization_url: expected an absolute https URL, got "
        "'https:///services/oauth2/authorize'"
    ) in rendered
    assert any(r.startswith("c.yaml:5:11: provider.token_url: ") for r in rendered)
    # The override of the preset's revocation_url is the connector's own line.
    assert any(r.startswith("c.yaml:7:19: provider.revocation_url: ") for r in rendered)
