"""``api.unauthorized_when``: an API that says "token expired" with HTTP 200 (Slack) is
handled like a 401: one refresh and one retry, never a loop."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from builder.connector import load_connector_text
from builder.connector.resolved import resolve_connector
from builder.tools.call import ToolRunner
from builder.tools.request import OutgoingRequest
from builder.tools.transport import UpstreamResponse

pytestmark = pytest.mark.anyio

SPEC = """\
mcpbuild: 1
name: slackish
provider:
  authorization_url: https://slack.example.com/authorize
  token_url: https://slack.example.com/token
  client_id: id
  client_secret: ${SECRET}
api:
  base_url: https://slack.example.com/api
  UNAUTHORIZED
tools:
  - name: me
    description: Me.
    request: {method: GET, path: /users.me}
    response: {error: {when: "ok == `false`", message: error}}
"""
WHEN = "unauthorized_when: \"ok == `false` && error == 'token_expired'\""


class Answers:
    def __init__(self, *bodies: dict[str, object]) -> None:
        self.bodies = list(bodies)
        self.sent: list[OutgoingRequest] = []

    async def send(
        self, request: OutgoingRequest, *, timeout: float, read_limit: int
    ) -> UpstreamResponse:
        self.sent.append(request)
        body = json.dumps(self.bodies.pop(0)).encode()
        return UpstreamResponse(200, "OK", {"content-type": "application/json"}, body, False)

    async def aclose(self) -> None:
        pass


class Tokens:
    def __init__(self) -> None:
        self.refreshes = 0

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer token-{self.refreshes}"}

    async def rejected(self) -> bool:
        self.refreshes += 1
        return True

    async def values(self) -> Mapping[str, str]:
        return {}


def runner(answers: Answers, unauthorized: str = WHEN) -> ToolRunner:
    connector = load_connector_text(SPEC.replace("UNAUTHORIZED", unauthorized))
    return ToolRunner(resolve_connector(connector, {"SECRET": "s"}), answers)


async def test_a_token_expired_answer_is_refreshed_and_sent_again_once() -> None:
    answers = Answers({"ok": False, "error": "token_expired"}, {"ok": True, "user": "U1"})
    tokens = Tokens()
    result = await runner(answers).call("me", {}, tokens)
    assert not result.is_error, result.text
    assert tokens.refreshes == 1
    assert [r.headers["Authorization"] for r in answers.sent] == [
        "Bearer token-0",
        "Bearer token-1",
    ]


async def test_it_does_not_loop_when_the_new_token_is_refused_too() -> None:
    expired = {"ok": False, "error": "token_expired"}
    answers = Answers(expired, expired, expired)
    tokens = Tokens()
    result = await runner(answers).call("me", {}, tokens)
    assert result.is_error
    assert "token_expired" in result.text
    assert tokens.refreshes == 1
    assert len(answers.sent) == 2


@pytest.mark.parametrize(
    ("unauthorized", "body"),
    [
        ("timeout: 30", {"ok": False, "error": "token_expired"}),  # not declared
        (WHEN, {"ok": False, "error": "channel_not_found"}),  # another error
    ],
)
async def test_other_answers_are_not_a_reason_to_refresh(
    unauthorized: str, body: dict[str, object]
) -> None:
    answers = Answers(body)
    tokens = Tokens()
    result = await runner(answers, unauthorized).call("me", {}, tokens)
    assert result.is_error
    assert tokens.refreshes == 0


def test_a_bad_expression_is_an_error_at_its_place() -> None:
    from builder.errors import SpecError

    with pytest.raises(SpecError) as info:
        load_connector_text(SPEC.replace("UNAUTHORIZED", "unauthorized_when: 'ok =='"), "c.yaml")
    assert info.value.issues[0].render().startswith("c.yaml:10:22: api.unauthorized_when:")
