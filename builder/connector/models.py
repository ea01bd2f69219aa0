"""Pydantic models of ``connector.yaml``: the single source of truth for the format.

The JSON Schema in ``schemas/connector.schema.json`` is generated from these models;
every field carries a description and, where it helps, examples. Structural rules
live here (types, enums, unknown keys); rules that span several fields live in
:mod:`builder.connector.checks`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from builder.connector.base import SpecModel
from builder.connector.models_provider import GRANT_REF, GrantValue, Provider
from builder.connector.pagination import Pagination
from builder.connector.views import View

__all__ = [
    "API",
    "GRANT_REF",
    "HTTP_METHODS",
    "PARAM_LOCATIONS",
    "Connector",
    "ErrorWhen",
    "FilePart",
    "GrantValue",
    "GraphQL",
    "Pagination",
    "Param",
    "Provider",
    "Request",
    "Response",
    "Retry",
    "Tool",
]

PARAM_LOCATIONS = ("path", "query", "header", "body", "variable")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
TOOL_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,128}$"
PARAM_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

JsonType = Literal["string", "integer", "number", "boolean", "array", "object"]


class _Constraints(SpecModel):
    """What a param and a nested schema both say about a value (JSON Schema keywords)."""

    enum: list[Any] | None = Field(
        default=None, description="The allowed values.", examples=[["open", "closed", "all"]]
    )
    minimum: float | None = Field(
        default=None, description="Smallest allowed number.", examples=[1]
    )
    maximum: float | None = Field(
        default=None, description="Largest allowed number.", examples=[100]
    )
    pattern: str | None = Field(
        default=None,
        description="Regular expression a string matches.",
        examples=["^[0-9a-f]{40}$"],
    )
    format: str | None = Field(
        default=None,
        description="JSON Schema format, e.g. date-time, email, uri.",
        examples=["date-time"],
    )
    items: Schema | None = Field(
        default=None, description="Schema of each item of an array.", examples=[{"type": "string"}]
    )
    properties: dict[str, Schema] | None = Field(
        default=None,
        description="Schemas of an object's properties.",
        examples=[{"dateTime": {"type": "string", "format": "date-time"}}],
    )
    one_of: list[Schema] | None = Field(
        default=None,
        description="The value matches exactly one of these schemas (JSON Schema `oneOf`).",
        examples=[[{"type": "string"}, {"type": "integer"}]],
    )
    additional_properties: bool | None = Field(
        default=None,
        description="For an object: whether keys beyond `properties` are allowed (default: yes).",
        examples=[True],
    )


class Schema(_Constraints):
    """A JSON Schema fragment for array items and object properties."""

    type: JsonType = Field(description="JSON Schema type of the value.", examples=["string"])
    description: str | None = Field(
        default=None, description="What the value means.", examples=["The event start time."]
    )
    required: bool | None = Field(
        default=None,
        description="For an entry of `properties`: the object must have it. Default: optional.",
        examples=[True],
    )


class FilePart(SpecModel):
    """How a base64 argument is sent as a file in a multipart body."""

    filename: str | None = Field(
        default=None,
        description="The file name sent; default: the param's name.",
        examples=["report.pdf"],
    )
    filename_param: str | None = Field(
        default=None,
        description="Another param whose value is the file name (it is then not sent itself).",
        examples=["name"],
    )
    media_type: str = Field(
        default="application/octet-stream",
        description="The file's media type.",
        examples=["image/png"],
    )


class Param(_Constraints):
    """One tool argument and where it goes in the HTTP request."""

    type: JsonType = Field(
        description="JSON Schema type of the argument.", examples=["string", "integer"]
    )
    in_: Literal["path", "query", "header", "body", "variable"] = Field(
        alias="in",
        description=(
            "Where the argument goes: a `{name}` placeholder of the path (percent-encoded as "
            "one segment), the query string, a request header, a key of the request body "
            "(`api_name` may be a dotted path, `filter.value`), or a variable of the tool's "
            "GraphQL document (`request.graphql`)."
        ),
        examples=["query", "body", "variable"],
    )
    description: str | None = Field(
        default=None,
        description="Shown to the model; say what the argument means.",
        examples=["The repository owner, a user or organisation login."],
    )
    required: bool | None = Field(
        default=None,
        description="Whether the caller must pass it. Default: required unless it has a default.",
        examples=[False],
    )
    default: Any = Field(
        default=None, description="Value used when the caller omits it.", examples=[20]
    )
    api_name: str | None = Field(
        default=None,
        description=(
            "Name of the query key, header, body key or GraphQL variable upstream, when it "
            "differs. For `in: body` (JSON) a dotted path puts the value in a nested object."
        ),
        examples=["per_page", "X-Api-Version", "filter.value"],
    )
    min_length: int | None = Field(
        default=None, ge=0, description="Shortest allowed string.", examples=[1]
    )
    max_length: int | None = Field(
        default=None, ge=0, description="Longest allowed string.", examples=[256]
    )
    explode: bool = Field(
        default=True,
        description=(
            "For array query params: repeat the key for each item (`a=1&a=2`, the default) "
            "or join the items with commas (`a=1,2`)."
        ),
        examples=[False],
    )
    spread: bool = Field(
        default=False,
        description=(
            "For an `in: body` object: its keys become keys of the body itself, next to the "
            "other body params and `request.body` (a record's fields, as Salesforce takes them)."
        ),
        examples=[True],
    )
    file: FilePart | None = Field(
        default=None,
        description=(
            "With `body_format: multipart`: the argument is a file's content in base64, sent as "
            "a file part."
        ),
        examples=[{"filename_param": "name", "media_type": "application/pdf"}],
    )

    @property
    def is_required(self) -> bool:
        if self.required is not None:
            return self.required
        return "default" not in self.model_fields_set


class GraphQL(SpecModel):
    """A GraphQL operation: the document is fixed, the variables come from params."""

    query: str = Field(
        min_length=1,
        description="The GraphQL document; `validate` parses it and checks its variables.",
        examples=["query Issues($first: Int) { issues(first: $first) { nodes { id } } }"],
    )
    operation_name: str | None = Field(
        default=None,
        description="Which operation of the document to run, when it has several.",
        examples=["Issues"],
    )


class Request(SpecModel):
    """The HTTP request a tool call makes."""

    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = Field(
        description="HTTP method.", examples=["GET"]
    )
    path: Annotated[str, StringConstraints(pattern=r"^/")] = Field(
        description="Path below `api.base_url`, with `{param}` placeholders for `in: path` params.",
        examples=["/repos/{owner}/{repo}/issues"],
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Static headers sent with this request.",
        examples=[{"X-GitHub-Api-Version": "2022-11-28"}],
    )
    query: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Static query parameters sent with this request.",
        examples=[{"sort": "updated"}],
    )
    body_format: Literal["json", "form", "multipart"] = Field(
        default="json",
        description="How the body is encoded: JSON, a URL-encoded form, or multipart/form-data.",
        examples=["form", "multipart"],
    )
    body: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Fixed body content sent with every call; `in: body` params are put into it at "
            "their `api_name` (a dotted path reaches into nested objects)."
        ),
        examples=[{"filter": {"property": "object", "value": "page"}}],
    )
    graphql: GraphQL | None = Field(
        default=None,
        description=(
            "Make this a GraphQL call: the document is sent with `in: variable` params as "
            "its variables, and a response with `errors` is a tool error."
        ),
        examples=[
            {
                "query": "query Issue($id: String!) { issue(id: $id) { title } }",
            }
        ],
    )


class ErrorWhen(SpecModel):
    """A successful HTTP answer that is really an error (Slack's `ok: false`)."""

    when: str = Field(
        description="JMESPath over the JSON body; a true result makes the answer a tool error.",
        examples=["ok == `false`"],
    )
    message: str | None = Field(
        default=None,
        description="JMESPath of the API's own error message in the body.",
        examples=["error"],
    )


class Response(SpecModel):
    """How the upstream response becomes the tool result."""

    select: str | None = Field(
        default=None,
        description="JMESPath expression applied to a JSON body.",
        examples=["items[].{id: id, title: title}"],
    )
    max_bytes: int = Field(
        default=100_000,
        ge=256,
        le=10_000_000,
        description="Longest result passed to the model; longer results are truncated.",
        examples=[20000],
    )
    output_schema: dict[str, Any] | None = Field(
        default=None,
        description=(
            "JSON Schema (type object) of the selected result; when given, the tool declares it "
            "as `outputSchema` and returns `structuredContent`."
        ),
        examples=[{"type": "object", "properties": {"ids": {"type": "array"}}}],
    )
    error: ErrorWhen | None = Field(
        default=None,
        description="When a 2xx JSON answer is an error after all, and where its message is.",
        examples=[{"when": "ok == `false`", "message": "error"}],
    )
    max_tokens: int | None = Field(
        default=None,
        ge=64,
        le=2_500_000,
        description=(
            "Budget of the result in estimated tokens (4 bytes each), instead of `max_bytes`: "
            "lists and long strings are trimmed to fit, and the result says what was cut."
        ),
        examples=[10000],
    )


def _without_extensions(data: Any) -> Any:
    """``data`` without its ``x-`` keys: places for anchors and tools' own notes."""
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    return data


class _Extensible(SpecModel):
    """A part whose ``x-`` keys are ignored (the schema allows them)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"patternProperties": {"^x-": {}}}
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_extensions(cls, data: Any) -> Any:
        return _without_extensions(data)


class Tool(_Extensible):
    """One MCP tool: one HTTP request to the API.

    Keys starting with ``x-`` are ignored (``x-openapi``: where an imported tool came from).
    """

    name: Annotated[str, StringConstraints(pattern=TOOL_NAME_PATTERN)] = Field(
        description="MCP tool name: 1-128 of A-Z a-z 0-9 _ - .", examples=["list_issues"]
    )
    title: str | None = Field(
        default=None, description="Human-readable name.", examples=["List issues"]
    )
    description: str = Field(
        min_length=1,
        description="What the tool does, for the model. Be specific.",
        examples=["List the issues of a repository, newest first."],
    )
    scopes: list[str] = Field(
        default_factory=list,
        description="Provider scopes the user must have granted to call this tool.",
        examples=[["repo"]],
    )
    any_scopes: list[str] = Field(
        default_factory=list,
        description=(
            "Provider scopes of which the user must have granted at least one (besides every "
            "scope in `scopes`), e.g. a public or a private playlist scope. A sign-in that "
            "names no scopes asks for the first."
        ),
        examples=[["playlist-modify-public", "playlist-modify-private"]],
    )
    request: Request = Field(
        description="The HTTP request the tool makes.",
        examples=[{"method": "GET", "path": "/repos/{owner}/{repo}/issues"}],
    )
    params: dict[str, Param] = Field(
        default_factory=dict,
        description="The tool's arguments, by name.",
        examples=[{"owner": {"type": "string", "in": "path"}}],
    )
    response: Response = Field(
        default_factory=lambda: Response(),
        description="How the response is shaped.",
        examples=[{"select": "[].{number: number, title: title}"}],
    )
    pagination: Pagination | None = Field(
        default=None,
        description="How results come in pages; the result always says whether more remain.",
        examples=[{"style": "cursor", "next": "next_cursor", "cursor_param": "start_cursor"}],
    )
    read_only: bool | None = Field(
        default=None,
        description="Override: the tool changes nothing. Default: true for GET and HEAD.",
        examples=[True],
    )
    destructive: bool | None = Field(
        default=None,
        description="Override: the tool may delete or overwrite. Default: true for DELETE/PUT.",
        examples=[False],
    )
    idempotent: bool | None = Field(
        default=None,
        description="Override: repeating the call has no further effect. Default: by method.",
        examples=[True],
    )
    open_world: bool = Field(
        default=True,
        description="The tool reaches an outside system (MCP openWorldHint).",
        examples=[True],
    )
    view: View | None = Field(
        default=None,
        description=(
            "How MCP Apps hosts show the result to a person (a table, list, detail, image or "
            "template); the model and other hosts get the same result either way."
        ),
        examples=[{"table": {"columns": [{"label": "Title", "value": "title"}]}}],
    )

    @property
    def is_read_only(self) -> bool:
        if self.read_only is not None:
            return self.read_only
        return self.request.method in ("GET", "HEAD")

    @property
    def is_destructive(self) -> bool:
        if self.is_read_only:
            return False
        if self.destructive is not None:
            return self.destructive
        return self.request.method in ("DELETE", "PUT")

    @property
    def is_idempotent(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.request.method in ("GET", "HEAD", "PUT", "DELETE")


class Retry(SpecModel):
    """Retries of 429 and 5xx answers to idempotent requests."""

    attempts: int = Field(
        default=3, ge=1, le=10, description="Attempts in all, the first too.", examples=[3]
    )
    max_wait: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description="Longest wait in seconds before one retry.",
        examples=[10],
    )


class API(SpecModel):
    """The upstream HTTP API the tools call."""

    base_url: str = Field(
        description="Absolute https URL every request stays below.",
        examples=["https://api.github.com"],
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="Headers sent with every request; values may use `${VAR}`.",
        examples=[{"Accept": "application/json"}],
    )
    timeout: float = Field(
        default=30.0, gt=0, le=600, description="Seconds to wait for the upstream.", examples=[10]
    )
    request_id_header: str | None = Field(
        default=None,
        description="A header that carries each tool call's request id to the upstream (the "
        "id in mcpbuild's log lines, from a client's `X-Request-Id` or generated), so the two "
        "sides' logs can be joined. Not sent unless named; never set by a tool argument.",
        examples=["X-Request-Id"],
    )
    unauthorized_when: str | None = Field(
        default=None,
        description=(
            "JMESPath over a successful JSON answer that is true when the API is really "
            "saying the token is no longer good (Slack answers HTTP 200 with "
            "`error: token_expired`): handled like a 401, so the token is refreshed once and "
            "the request sent again, or the user is asked to sign in again."
        ),
        examples=["ok == `false` && (error == 'token_expired' || error == 'invalid_auth')"],
    )
    retry: Retry = Field(
        default_factory=lambda: Retry(),
        description="Retry policy.",
        examples=[{"attempts": 3, "max_wait": 30}],
    )


class Connector(_Extensible):
    """A connector: an MCP server whose tools call one HTTP API as the signed-in user.

    Top-level keys starting with ``x-`` are ignored: a place for YAML anchors.
    """

    mcpbuild: Literal[1] = Field(description="Version of the connector format.", examples=[1])
    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN)] = Field(
        description="Identifier used in URLs and logs: lowercase letters, digits, _ and -.",
        examples=["github"],
    )
    title: str | None = Field(default=None, description="Human-readable name.", examples=["GitHub"])
    description: str | None = Field(
        default=None,
        description="What the connector is for.",
        examples=["Issues and pull requests of the signed-in user."],
    )
    version: str | None = Field(
        default=None, description="The connector's own version.", examples=["1.0.0"]
    )
    provider: Provider | None = Field(
        default=None,
        description="The upstream OAuth provider; omit to serve without OAuth (public APIs).",
        examples=[
            {
                "authorization_url": "https://github.com/login/oauth/authorize",
                "token_url": "https://github.com/login/oauth/access_token",
                "client_id": "${GITHUB_CLIENT_ID}",
                "client_secret": "${GITHUB_CLIENT_SECRET}",
                "scopes": {"repo": "Read and write your repositories"},
            }
        ],
    )
    api: API = Field(
        description="The upstream HTTP API.", examples=[{"base_url": "https://api.github.com"}]
    )
    read_only: bool = Field(
        default=False,
        description="Serve only the read-only tools; refuse every other.",
        examples=[True],
    )
    tools: list[Tool] = Field(
        min_length=1,
        description="The connector's tools.",
        examples=[
            [
                {
                    "name": "get_me",
                    "description": "The signed-in user.",
                    "request": {"method": "GET", "path": "/user"},
                }
            ]
        ],
    )
