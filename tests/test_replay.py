"""Offline replay cases: every shipped connector's cases pass, a changed request fails with
a diff, and ``mcpbuild record`` writes a case from a real local API that then replays."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from click.testing import Result
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from typer.testing import CliRunner

from builder.cli import app
from builder.connector import load_connector
from builder.replay import load_case, run_case
from tests.servers import running

ROOT = Path(__file__).resolve().parents[1]
CONNECTORS = ROOT / "connectors"
CASES = sorted(CONNECTORS.glob("*/tests/*.yaml"))
runner = CliRunner()


def _id(path: Path) -> str:
    return str(path.relative_to(CONNECTORS))


@pytest.mark.parametrize("case_file", CASES, ids=_id)
def test_shipped_case_replays(case_file: Path) -> None:
    connector = load_connector(str(case_file.parent.parent / "connector.yaml"))
    result = anyio.run(run_case, connector, load_case(str(case_file)))
    assert result.passed, "\n\n".join(result.failures)


SHIPPED = sorted(p.parent.name for p in CONNECTORS.glob("*/connector.yaml"))


def test_the_twelve_real_connectors_are_shipped() -> None:
    assert set(SHIPPED) >= {
        "github", "google_calendar", "gmail", "google_drive", "slack", "notion", "linear",
        "jira", "outlook", "gitlab", "hubspot", "salesforce",
    }  # fmt: skip


@pytest.mark.parametrize("name", SHIPPED)
def test_every_tool_of_the_shipped_connectors_has_a_case(name: str) -> None:
    connector = load_connector(str(CONNECTORS / name / "connector.yaml"))
    tested = {load_case(str(p)).tool for p in (CONNECTORS / name / "tests").glob("*.yaml")}
    assert [t.name for t in connector.tools if t.name not in tested] == []


def test_mcpbuild_test_passes_on_a_shipped_connector() -> None:
    result = runner.invoke(app, ["test", str(CONNECTORS / "github" / "connector.yaml")])
    assert result.exit_code == 0, result.output
    cases = len(list((CONNECTORS / "github" / "tests").glob("*.yaml")))
    assert f"connector.yaml: {cases} passed, 0 failed" in result.stdout
    assert "no case for" not in result.stdout


# A changed request fails its case -------------------------------------------------------


def _github_copy(tmp_path: Path, change: Any) -> Path:
    """A copy of the GitHub connector and its cases, with ``change(spec_dict)`` applied."""
    folder = tmp_path / "github"
    shutil.copytree(CONNECTORS / "github" / "tests", folder / "tests")
    spec = yaml.safe_load((CONNECTORS / "github" / "connector.yaml").read_text())
    change({t["name"]: t for t in spec["tools"]})
    (folder / "connector.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return folder / "connector.yaml"


def _run_changed(tmp_path: Path, change: Any, case: str) -> str:
    spec = _github_copy(tmp_path, change)
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 1, result.output
    cases = len(list((CONNECTORS / "github" / "tests").glob("*.yaml")))
    assert f"FAIL {spec.parent / 'tests' / case}\n" in result.stdout
    assert f"{cases - 1} passed, 1 failed" in result.stdout
    return result.stdout


def test_a_changed_path_fails_its_case(tmp_path: Path) -> None:
    def change(tools: dict[str, Any]) -> None:
        tools["list_issues"]["request"]["path"] = "/repos/{owner}/{repo}/issue"

    out = _run_changed(tmp_path, change, "list_issues.yaml")
    assert '-  "path": "/repos/octocat/Hello-World/issues",\n' in out
    assert '+  "path": "/repos/octocat/Hello-World/issue",\n' in out


def test_a_changed_method_fails_its_case(tmp_path: Path) -> None:
    def change(tools: dict[str, Any]) -> None:
        tools["update_issue"]["request"]["method"] = "PUT"

    out = _run_changed(tmp_path, change, "update_issue.yaml")
    assert '-  "method": "PATCH",\n' in out
    assert '+  "method": "PUT",\n' in out


def test_a_changed_query_fails_its_case(tmp_path: Path) -> None:
    def change(tools: dict[str, Any]) -> None:
        tools["search_issues"]["params"]["per_page"]["default"] = 50

    out = _run_changed(tmp_path, change, "search_issues.yaml")
    assert '-    "per_page": "30",\n' in out
    assert '+    "per_page": "50",\n' in out


def test_a_changed_body_fails_its_case(tmp_path: Path) -> None:
    def change(tools: dict[str, Any]) -> None:
        tools["comment_on_issue"]["params"]["body"]["api_name"] = "text"

    out = _run_changed(tmp_path, change, "comment_on_issue.yaml")
    assert '-    "body": "Me too"\n' in out
    assert '+    "text": "Me too"\n' in out


def test_a_wrong_select_fails_in_ci_not_in_front_of_a_user(tmp_path: Path) -> None:
    def change(tools: dict[str, Any]) -> None:
        tools["get_me"]["response"]["select"] = "{login: login, repos: public_repo}"

    out = _run_changed(tmp_path, change, "get_me.yaml")
    assert "the result differs from expect.json:" in out
    assert '+  "repos": null\n' in out


# The output of `mcpbuild test` -----------------------------------------------------------

SMALL = """\
mcpbuild: 1
name: small
api:
  base_url: ${SMALL_URL}/v2
  headers: {X-Api-Key: "${SMALL_KEY}"}
tools:
  - name: get_thing
    description: One thing.
    request: {method: GET, path: "/things/{id}"}
    params:
      id: {type: string, in: path}
      fields: {type: array, in: query, items: {type: string}, required: false}
    response: {select: "{id: id, name: name}"}
  - name: add_thing
    description: Add a thing.
    request: {method: POST, path: /things, body_format: form}
    params:
      name: {type: string, in: body}
"""

GET_THING = """\
tool: get_thing
arguments: {id: a/b, fields: [name, size]}
exchanges:
  - request:
      method: GET
      path: /things/a%2Fb
      query: {fields: [name, size]}
      headers: {X-Api-Key: "${SMALL_KEY}"}
    response:
      status: 200
      body: {id: a/b, name: Anvil, size: 3}
expect:
  json: {id: a/b, name: Anvil}
"""


def _small(tmp_path: Path, cases: dict[str, str]) -> Path:
    spec = tmp_path / "small" / "connector.yaml"
    (spec.parent / "tests").mkdir(parents=True)
    spec.write_text(SMALL)
    for name, text in cases.items():
        (spec.parent / "tests" / name).write_text(text)
    return spec


def test_a_case_passes_with_placeholders_for_every_variable(tmp_path: Path) -> None:
    case = GET_THING
    spec = _small(tmp_path, {"get_thing.yaml": case})
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"PASS {spec.parent / 'tests' / 'get_thing.yaml'}\n"
        f"{spec}: 1 passed, 0 failed; no case for 1 tool: add_thing\n"
    )


def test_the_failure_output_is_a_unified_diff(tmp_path: Path) -> None:
    case = GET_THING.replace("path: /things/a%2Fb", "path: /things/a/b").replace(
        "{fields: [name, size]}", "{fields: [name]}"
    )
    spec = _small(tmp_path, {"get_thing.yaml": case})
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 1
    assert result.stdout == (
        f"FAIL {spec.parent / 'tests' / 'get_thing.yaml'}\n"
        "    request 1 of 1 differs from the case:\n"
        "    --- expected\n"
        "    +++ sent\n"
        "    @@ -1,10 +1,13 @@\n"
        "     {\n"
        '       "method": "GET",\n'
        '    -  "path": "/things/a/b",\n'
        '    +  "path": "/things/a%2Fb",\n'
        '       "query": {\n'
        '    -    "fields": "name"\n'
        '    +    "fields": [\n'
        '    +      "name",\n'
        '    +      "size"\n'
        "    +    ]\n"
        "       },\n"
        '       "headers": {\n'
        '         "X-Api-Key": "test-SMALL_KEY"\n'
        "       }\n"
        "     }\n"
        f"{spec}: 0 passed, 1 failed; no case for 1 tool: add_thing\n"
    )


def test_github_format_adds_an_annotation_per_failure(tmp_path: Path) -> None:
    case = GET_THING.replace("Anvil}", "Hammer}")
    spec = _small(tmp_path, {"get_thing.yaml": case})
    result = runner.invoke(app, ["test", "--format", "github", str(spec)])
    assert result.exit_code == 1
    assert "::error file=" in result.stdout
    assert (
        "title=mcpbuild test::the result differs from expect.json:%0A--- expected" in result.stdout
    )


ADD_THING = """\
tool: add_thing
arguments: {name: Anvil & co}
exchanges:
  - request:
      method: POST
      path: /things
      form: {name: Anvil & co}
      headers: {Content-Type: application/x-www-form-urlencoded}
    response: {status: 201, body: {id: t1}}
expect:
  json: {id: t1}
"""


def _failures(tmp_path: Path, case: str) -> str:
    spec = _small(tmp_path, {"case.yaml": case})
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == (0 if case == ADD_THING else 1), result.output
    return result.stdout


def test_a_form_body_is_compared_as_fields(tmp_path: Path) -> None:
    _failures(tmp_path, ADD_THING)
    out = _failures(
        tmp_path / "2", ADD_THING.replace("form: {name: Anvil & co}", "form: {name: Anvil}")
    )
    assert '-    "name": "Anvil"\n' in out
    assert '+    "name": "Anvil & co"\n' in out


def test_a_header_the_case_names_must_be_sent(tmp_path: Path) -> None:
    case = ADD_THING.replace("urlencoded}", 'urlencoded, X-Trace: "1"}')
    out = _failures(tmp_path, case)
    assert '-    "X-Trace": "1"\n' in out


def test_a_request_the_case_expects_must_be_sent(tmp_path: Path) -> None:
    second = "  - request: {method: GET, path: /things/t1}\n    response: {status: 200}\nexpect:"
    out = _failures(tmp_path, ADD_THING.replace("expect:", second))
    assert (
        "the tool sent 1 of the 2 requests the case expects; the next one was GET /things/t1" in out
    )


def test_a_request_the_case_does_not_expect_fails(tmp_path: Path) -> None:
    case = ADD_THING.split("exchanges:")[0] + "exchanges: []\nexpect:\n  json: {id: t1}\n"
    out = _failures(tmp_path, case)
    assert (
        "request 1: the tool sent a request the case does not expect (it expects 0 requests)" in out
    )
    assert '      "form": {\n        "name": "Anvil & co"\n' in out


def test_a_redirect_is_one_more_exchange(tmp_path: Path) -> None:
    case = """\
tool: get_thing
arguments: {id: old}
exchanges:
  - request: {method: GET, path: /things/old}
    response: {status: 301, headers: {Location: /v2/things/new}}
  - request: {method: GET, path: /things/new}
    response: {status: 200, body: {id: new, name: Anvil}}
expect:
  json: {id: new, name: Anvil}
"""
    spec = _small(tmp_path, {"moved.yaml": case})
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 0, result.output


PAGED = """\
mcpbuild: 1
name: paged
api: {base_url: "https://api.example.com/v1"}
tools:
  - name: list_things
    description: Every thing, page by page.
    request: {method: GET, path: /things}
    params:
      per_page: {type: integer, in: query, default: 2}
    response: {select: "[].name"}
    pagination: {style: link, auto: true}
"""


def test_pagination_replays_every_page_in_order(tmp_path: Path) -> None:
    pytest.importorskip("builder.tools.pages")  # pagination at run time
    case = """\
tool: list_things
exchanges:
  - request: {method: GET, path: /things, query: {per_page: 2}}
    response:
      status: 200
      headers: {Link: '<https://api.example.com/v1/things?per_page=2&page=2>; rel="next"'}
      body: [{name: a}, {name: b}]
  - request: {method: GET, path: /things, query: {per_page: 2, page: 2}}
    response: {status: 200, body: [{name: c}]}
expect:
  json: [a, b, c]
"""
    spec = tmp_path / "paged" / "connector.yaml"
    (spec.parent / "tests").mkdir(parents=True)
    spec.write_text(PAGED)
    (spec.parent / "tests" / "all.yaml").write_text(case)
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 0, result.output
    (spec.parent / "tests" / "all.yaml").write_text(
        case.replace("{per_page: 2, page: 2}", "{per_page: 2, page: 3}")
    )
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 1
    assert "request 2 of 2 differs from the case:" in result.stdout
    assert '-    "page": "3",\n' in result.stdout


def test_a_page_handle_is_the_same_in_every_replay(tmp_path: Path) -> None:
    pytest.importorskip("builder.tools.pages")
    handle = "nRjo7AbRUXQ28BIiaHR0cHM6Ly9hcGkuZXhhbXBsZS5jb20vdjEvdGhpbmdzP3Blcl9wYWdlPTImcGFnZT0y"
    first = f"""\
tool: list_things
exchanges:
  - request: {{method: GET, path: /things, query: {{per_page: 2}}}}
    response:
      status: 200
      headers: {{Link: '<https://api.example.com/v1/things?per_page=2&page=2>; rel="next"'}}
      body: [{{name: a}}, {{name: b}}]
expect:
  json: [a, b]
  notes:
    - 'More results remain: call list_things again with the same arguments and
      cursor="{handle}".'
"""
    second = f"""\
tool: list_things
arguments: {{cursor: {handle}}}
exchanges:
  - request: {{method: GET, path: /things, query: {{per_page: 2, page: 2}}}}
    response: {{status: 200, body: [{{name: c}}]}}
expect:
  json: [c]
  notes: [This is the last page.]
"""
    spec = tmp_path / "paged" / "connector.yaml"
    (spec.parent / "tests").mkdir(parents=True)
    spec.write_text(PAGED.replace("auto: true", "auto: false"))
    (spec.parent / "tests" / "first.yaml").write_text(first)
    (spec.parent / "tests" / "second.yaml").write_text(second)
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 0, result.output


UPLOAD = """\
mcpbuild: 1
name: files
api: {base_url: "https://api.example.com"}
tools:
  - name: upload
    description: Upload a file.
    request: {method: POST, path: /files, body_format: multipart}
    params:
      title: {type: string, in: body}
      tags: {type: array, in: body, items: {type: string}, required: false}
      name: {type: string, in: body}
      data: {type: string, in: body, file: {filename_param: name, media_type: image/png}}
"""


def test_a_multipart_body_is_compared_as_fields_and_files(tmp_path: Path) -> None:
    from builder.tools.request import RequestBuilder

    if not hasattr(RequestBuilder, "_multipart"):
        pytest.skip("multipart bodies are not built yet")
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n\x00\xff").decode()
    case = f"""\
tool: upload
arguments: {{title: Année, tags: [a, b], name: pic.png, data: "{png}"}}
exchanges:
  - request:
      method: POST
      path: /files
      multipart:
        title: Année
        tags: [a, b]
        data: {{filename: pic.png, content_type: image/png, content_base64: "{png}"}}
    response: {{status: 201, body: {{id: f1}}}}
expect:
  json: {{id: f1}}
"""
    spec = tmp_path / "files" / "connector.yaml"
    (spec.parent / "tests").mkdir(parents=True)
    spec.write_text(UPLOAD)
    (spec.parent / "tests" / "upload.yaml").write_text(case)
    assert runner.invoke(app, ["test", str(spec)]).exit_code == 0
    (spec.parent / "tests" / "upload.yaml").write_text(
        case.replace("{filename: pic.png", "{filename: a.png")
    )
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 1
    assert '-      "filename": "a.png"\n' in result.stdout
    assert '+      "filename": "pic.png"\n' in result.stdout


def test_a_401_is_retried_when_the_case_recorded_a_retry(tmp_path: Path) -> None:
    """With a provider, a 401 then another exchange is a refresh that worked; a 401 alone,
    one that did not (the tool error is the 401)."""
    expired = """\
tool: delete_event
arguments: {event_id: e1, send_updates: none}
exchanges:
  - request: {method: DELETE, path: /calendars/primary/events/e1, query: {sendUpdates: none}}
    response: {status: 401, headers: {Content-Type: text/plain}, body_text: token expired}
"""
    retried = (
        expired
        + """\
  - request:
      method: DELETE
      path: /calendars/primary/events/e1
      query: {sendUpdates: none}
      headers: {Authorization: Bearer test-token}
    response: {status: 204}
expect: {text: "OK (HTTP 204, no content)"}
"""
    )
    failed = (
        expired
        + """\
expect:
  is_error: true
  text: "www.googleapis.com answered HTTP 401 Unauthorized: token expired"
"""
    )
    spec = CONNECTORS / "google_calendar" / "connector.yaml"
    for name, case in (("retried.yaml", retried), ("failed.yaml", failed)):
        (tmp_path / name).write_text(case)
        result = runner.invoke(app, ["test", str(spec), "--cases", str(tmp_path / name)])
        assert result.exit_code == 0, result.output


def test_an_invalid_case_file_exits_2_with_positions(tmp_path: Path) -> None:
    bad = """\
tool: get_thing
arguments: {id: x}
exchanges:
  - request: {method: FETCH, path: /things/x, headrs: {}}
    response: {status: 200, body: {}, body_text: ""}
expect: {json: {}, text: ""}
"""
    spec = _small(tmp_path, {"bad.yaml": bad})
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 2
    file = spec.parent / "tests" / "bad.yaml"
    assert f"{file}:4:23: exchanges[0].request.method: expected one of GET, HEAD, POST" in (
        result.stderr
    )
    assert (
        f"{file}:4:47: exchanges[0].request.headrs: unknown key 'headrs'; did you mean 'headers'?"
        in result.stderr
    )
    assert f"{file}:5:39: exchanges[0].response.body_text: expected one body" in result.stderr
    assert f"{file}:6:9: expect: expected exactly one of 'json'" in result.stderr


def test_an_empty_case_file_and_a_query_in_the_path_are_invalid(tmp_path: Path) -> None:
    query = GET_THING.replace("path: /things/a%2Fb", "path: /things/a%2Fb?fields=name")
    spec = _small(tmp_path, {"empty.yaml": "", "query.yaml": query})
    result = runner.invoke(app, ["test", str(spec)])
    assert result.exit_code == 2
    tests = spec.parent / "tests"
    assert f"{tests / 'empty.yaml'}: file is empty; expected a replay case\n" in result.stderr
    assert (
        f"{tests / 'query.yaml'}:6:13: exchanges[0].request.path: expected a path without '?'"
        in result.stderr
    )


def test_no_cases_is_a_usage_error_that_does_not_stop_the_others(tmp_path: Path) -> None:
    spec = _small(tmp_path, {})
    github = CONNECTORS / "github" / "connector.yaml"
    result = runner.invoke(app, ["test", str(spec), str(github)])
    assert result.exit_code == 2
    assert f"{spec}: no replay cases in {spec.parent / 'tests'}" in result.stderr
    assert f"{github}: " in result.stdout


def test_cases_from_another_folder_or_file(tmp_path: Path) -> None:
    spec = _small(tmp_path, {})
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "one.yaml").write_text(GET_THING)
    for where in (tmp_path / "elsewhere", tmp_path / "elsewhere" / "one.yaml"):
        result = runner.invoke(app, ["test", str(spec), "--cases", str(where)])
        assert result.exit_code == 0, result.output
        assert f"PASS {tmp_path / 'elsewhere' / 'one.yaml'}" in result.stdout
    both = runner.invoke(app, ["test", str(spec), str(spec), "--cases", str(tmp_path)])
    assert both.exit_code == 2
    assert "--cases: give one connector spec with it" in both.stderr


# `mcpbuild record` against a real local API ------------------------------------------------

PEOPLE = """\
mcpbuild: 1
name: people
api:
  base_url: ${PEOPLE_URL}/v1
  headers: {X-Api-Key: "${PEOPLE_KEY}", Accept: application/json}
tools:
  - name: get_person
    description: One person.
    request: {method: GET, path: "/people/{id}"}
    params:
      id: {type: integer, in: path}
      expand: {type: string, in: query, default: team}
    response: {select: "{id: id, name: name, email: email, team: team.name}"}
"""
KEY = "people-api-key-5d0c2e"


def _people_api() -> Any:
    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def person(request: Request) -> Response:
        if request.headers.get("x-api-key") != KEY:
            return JSONResponse({"message": "bad key"}, status_code=401)
        answer = JSONResponse(
            {
                "id": int(request.path_params["id"]),
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "team": {"name": "Engines", "lead_email": "charles@example.com"},
                "note": f"called with {KEY}",
            },
            headers={"X-Request-Id": "r-1", "X-Echo": KEY},
        )
        answer.set_cookie("session", "s3cr3t-session")
        return answer

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/v1/people/{id}", person)],
    )


async def _in_thread(args: list[str], env: dict[str, str] | None = None) -> Result:
    """The command in a worker thread: it runs its own event loop, as from a shell."""
    return await anyio.to_thread.run_sync(lambda: runner.invoke(app, args, env=env))


@pytest.mark.anyio
async def test_record_writes_a_stripped_case_that_replays(tmp_path: Path) -> None:
    spec = tmp_path / "people" / "connector.yaml"
    spec.parent.mkdir()
    spec.write_text(PEOPLE)
    async with running(_people_api()) as url:
        env = {"PEOPLE_URL": url, "PEOPLE_KEY": KEY}
        args = ["record", str(spec), "get_person", "--arg", "id=7", "--strip", "email"]
        args += ["--strip", "lead_email"]
        result = await _in_thread(args, env)
    assert result.exit_code == 0, result.output
    case_file = spec.parent / "tests" / "get_person.yaml"
    assert result.stdout == f"wrote {case_file} (1 request)\n"
    text = case_file.read_text()
    for leaked in (KEY, "ada@example.com", "charles@example.com", "s3cr3t-session"):
        assert leaked not in text
    case = yaml.safe_load(text)
    exchange = case["exchanges"][0]
    assert exchange["request"] == {
        "method": "GET",
        "path": "/people/7",
        "query": {"expand": "team"},
        "headers": {"X-Api-Key": "${PEOPLE_KEY}", "Accept": "application/json"},
    }
    headers = {k.lower(): v for k, v in exchange["response"]["headers"].items()}
    assert headers["x-echo"] == "[redacted]"
    assert headers["x-request-id"] == "r-1"
    assert "set-cookie" not in headers
    assert exchange["response"]["body"]["note"] == "called with [redacted]"
    assert exchange["response"]["body"]["team"]["lead_email"] == "<stripped>"
    assert case["env"] == {"PEOPLE_URL": url}
    assert case["expect"] == {
        "is_error": False,
        "json": {"id": 7, "name": "Ada Lovelace", "email": "<stripped>", "team": "Engines"},
    }

    # The server is gone: the case replays offline, without the key.
    result = await _in_thread(["test", str(spec)])
    assert result.exit_code == 0, result.output
    assert f"PASS {case_file}" in result.stdout

    spec.write_text(PEOPLE.replace('"/people/{id}"', '"/persons/{id}"'))
    result = await _in_thread(["test", str(spec)])
    assert result.exit_code == 1
    assert '-  "path": "/people/7",\n' in result.stdout
    assert '+  "path": "/persons/7",\n' in result.stdout


@pytest.mark.anyio
async def test_record_says_when_stripping_changed_what_is_sent(tmp_path: Path) -> None:
    spec = tmp_path / "people" / "connector.yaml"
    spec.parent.mkdir()
    spec.write_text(PEOPLE)
    async with running(_people_api()) as url:
        env = {"PEOPLE_URL": url, "PEOPLE_KEY": KEY}
        args = ["record", str(spec), "get_person", "--arg", "id=7", "--strip", "expand"]
        result = await _in_thread(args, env)
    assert result.exit_code == 1
    case_file = spec.parent / "tests" / "get_person.yaml"
    assert f"{case_file}: the case does not replay as written" in result.stderr
    assert '-    "expand": "<stripped>"\n' in result.stderr
    assert yaml.safe_load(case_file.read_text())["expect"]["json"]["name"] == "Ada Lovelace"


def test_record_does_not_overwrite_an_out_file(tmp_path: Path) -> None:
    spec = tmp_path / "people" / "connector.yaml"
    spec.parent.mkdir()
    spec.write_text(PEOPLE)
    out = tmp_path / "case.yaml"
    out.write_text("keep")
    args = ["record", str(spec), "get_person", "--arg", "id=7", "--out", str(out)]
    result = runner.invoke(app, args, env={"PEOPLE_URL": "http://127.0.0.1:9", "PEOPLE_KEY": KEY})
    assert result.exit_code == 2
    assert out.read_text() == "keep"


def test_case_bodies_compare_as_json_data() -> None:
    """``1`` is not ``true`` and not ``1.0``: the comparison is of JSON, not Python, values."""
    from builder.replay.compare import same

    assert not same({"a": 1}, {"a": True})
    assert not same({"a": 1}, {"a": 1.0})
    assert same({"a": [1, {"b": None}]}, json.loads('{"a": [1, {"b": null}]}'))
