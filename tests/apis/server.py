"""A small real API in the shapes real providers use, for tests: a GraphQL endpoint
(graphql-core, Linear/GitHub style connections with ``pageInfo``), GitHub-style ``Link``
pagination, Notion-style cursor search with a JSON body, Slack-style ``ok: false`` errors
and cursors, page and offset pagination, a Salesforce-style record create, and a
multipart upload parsed by Starlette's own parser.

Every request is recorded, so tests assert what mcpbuild sent as well as what it made of
the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLField,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLString,
    graphql,
)
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.upstream import Seen

__all__ = ["ITEMS", "ApiState", "api_app"]

ITEMS = [{"id": f"it-{n}", "name": f"item {n}", "n": n} for n in range(1, 8)]
"""Seven items every paginating endpoint pages through."""


@dataclass
class ApiState:
    received: list[Seen] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [r.raw_path + (f"?{r.query}" if r.query else "") for r in self.received]


def _issue_type() -> GraphQLObjectType:
    return GraphQLObjectType(
        "Issue",
        {"id": GraphQLField(GraphQLNonNull(GraphQLString)), "title": GraphQLField(GraphQLString)},
    )


def _schema() -> GraphQLSchema:
    issue = _issue_type()
    page_info = GraphQLObjectType(
        "PageInfo",
        {
            "hasNextPage": GraphQLField(GraphQLNonNull(GraphQLBoolean)),
            "endCursor": GraphQLField(GraphQLString),
        },
    )
    connection = GraphQLObjectType(
        "IssueConnection",
        {
            "nodes": GraphQLField(GraphQLList(issue)),
            "pageInfo": GraphQLField(GraphQLNonNull(page_info)),
        },
    )

    def some_issues(_root: Any, _info: Any, first: int = 3, after: str | None = None) -> Any:
        start = int(after.removeprefix("c")) if after else 0
        chunk = ITEMS[start : start + first]
        end = start + len(chunk)
        return {
            "nodes": [{"id": i["id"], "title": i["name"]} for i in chunk],
            "pageInfo": {"hasNextPage": end < len(ITEMS), "endCursor": f"c{end}"},
        }

    def one_issue(_root: Any, _info: Any, id: str) -> Any:
        found = next((i for i in ITEMS if i["id"] == id), None)
        if found is None:
            raise ValueError(f"Entity not found: Issue {id}")
        return {"id": found["id"], "title": found["name"]}

    def create(_root: Any, _info: Any, title: str) -> Any:
        return {"id": "it-new", "title": title}

    query = GraphQLObjectType(
        "Query",
        {
            "issues": GraphQLField(
                GraphQLNonNull(connection),
                args={
                    "first": GraphQLArgument(GraphQLInt),
                    "after": GraphQLArgument(GraphQLString),
                },
                resolve=some_issues,
            ),
            "issue": GraphQLField(
                issue,
                args={"id": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                resolve=one_issue,
            ),
        },
    )
    mutation = GraphQLObjectType(
        "Mutation",
        {
            "issueCreate": GraphQLField(
                issue,
                args={"title": GraphQLArgument(GraphQLNonNull(GraphQLString))},
                resolve=create,
            )
        },
    )
    return GraphQLSchema(query=query, mutation=mutation)


def api_app(state: ApiState) -> Starlette:
    schema = _schema()

    async def record(request: Request) -> None:
        state.received.append(
            Seen(
                request.method,
                request.url.path,
                request.url.query,
                dict(request.headers),
                await request.body(),
            )
        )

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def graphql_endpoint(request: Request) -> Response:
        await record(request)
        payload = await request.json()
        result = await graphql(
            schema,
            payload["query"],
            variable_values=payload.get("variables"),
            operation_name=payload.get("operationName"),
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [e.formatted for e in result.errors]
        return JSONResponse(body)  # GraphQL answers 200 even with errors

    async def link_items(request: Request) -> Response:
        """GitHub style: a JSON array, the next page in the Link header."""
        await record(request)
        page = int(request.query_params.get("page", "1"))
        per_page = int(request.query_params.get("per_page", "3"))
        chunk = ITEMS[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(ITEMS):
            # Another path than the one asked, as GitHub's /repositories/{id}/... links are.
            query = urlencode({"page": page + 1, "per_page": per_page})
            nxt = f"{request.base_url}v2/items/by-id?{query}"
            last = f"{request.base_url}v2/items/by-id?page=99&per_page={per_page}"
            headers["Link"] = f'<{nxt}>; rel="next", <{last}>; rel="last"'
        return JSONResponse(chunk, headers=headers)

    async def search(request: Request) -> Response:
        """Notion style: POST with the cursor in the JSON body."""
        await record(request)
        body = await request.json()
        start = int(body.get("start_cursor") or 0)
        size = int(body.get("page_size") or 3)
        wanted = (body.get("filter") or {}).get("value")
        if wanted not in ("page", "database"):
            return JSONResponse(
                {"object": "error", "status": 400, "message": "filter.value is required"},
                status_code=400,
            )
        chunk = ITEMS[start : start + size]
        more = start + size < len(ITEMS)
        return JSONResponse(
            {
                "object": "list",
                "results": [{"object": wanted, "id": i["id"]} for i in chunk],
                "next_cursor": str(start + size) if more else None,
                "has_more": more,
            }
        )

    async def slack(request: Request) -> Response:
        """Slack style: HTTP 200 always, `ok: false` for errors, cursor in metadata."""
        await record(request)
        if request.query_params.get("channel") == "C-missing":
            return JSONResponse({"ok": False, "error": "channel_not_found"})
        start = int(request.query_params.get("cursor") or 0)
        limit = int(request.query_params.get("limit") or 3)
        chunk = ITEMS[start : start + limit]
        nxt = str(start + limit) if start + limit < len(ITEMS) else ""
        return JSONResponse(
            {
                "ok": True,
                "channels": [{"id": i["id"], "name": i["name"]} for i in chunk],
                "response_metadata": {"next_cursor": nxt},
            }
        )

    async def pages(request: Request) -> Response:
        await record(request)
        page = int(request.query_params.get("page", "1"))
        return JSONResponse({"items": ITEMS[(page - 1) * 3 : page * 3]})

    async def offsets(request: Request) -> Response:
        await record(request)
        offset = int(request.query_params.get("offset", "0"))
        limit = int(request.query_params.get("limit", "3"))
        chunk = ITEMS[offset : offset + limit]
        return JSONResponse({"items": chunk, "total": len(ITEMS)})

    async def create_record(request: Request) -> Response:
        """Salesforce style: the body is the record's fields."""
        await record(request)
        fields = await request.json()
        return JSONResponse({"id": "001-new", "success": True, "fields": fields}, status_code=201)

    async def upload(request: Request) -> Response:
        await record(request)
        out: dict[str, Any] = {}
        async with request.form() as form:
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    content = await value.read()
                    out[key] = {
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "size": len(content),
                        "head": content[:8].hex(),
                    }
                else:
                    out[key] = value
        return JSONResponse(out)

    async def escaping_items(request: Request) -> Response:
        """A Link header that points off the API's base URL."""
        await record(request)
        return JSONResponse(ITEMS[:1], headers={"Link": '<http://127.0.0.2:9/steal>; rel="next"'})

    async def graph_items(request: Request) -> Response:
        """Microsoft Graph style: {"value": [...], "@odata.nextLink": absolute URL}; a
        ``?steal=1`` first page links off the API instead."""
        await record(request)
        token = int(request.query_params.get("$skiptoken", "0"))
        body: dict[str, Any] = {"value": ITEMS[token : token + 3]}
        if request.query_params.get("steal"):
            body["@odata.nextLink"] = "http://127.0.0.2:9/steal"
        elif token + 3 < len(ITEMS):
            body["@odata.nextLink"] = f"{request.base_url}v1/graph/items?$skiptoken={token + 3}"
        return JSONResponse(body)

    async def soql(request: Request) -> Response:
        """Salesforce style: the next page's *path* in ``nextRecordsUrl``, ``done`` true at
        the end."""
        await record(request)
        start = int(request.path_params.get("locator", "0"))
        chunk = ITEMS[start : start + 3]
        done = start + 3 >= len(ITEMS)
        body: dict[str, Any] = {"totalSize": len(ITEMS), "done": done, "records": chunk}
        if not done:
            body["nextRecordsUrl"] = f"/v1/sf/query/{start + 3}"
        return JSONResponse(body)

    async def put_thing(request: Request) -> Response:
        await record(request)
        return Response(status_code=204)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/graphql", graphql_endpoint, methods=["POST"]),
            Route("/v1/items", link_items),
            Route("/v2/items/by-id", link_items),
            Route("/v1/escaping", escaping_items),
            Route("/v1/search", search, methods=["POST"]),
            Route("/api/conversations.list", slack),
            Route("/v1/paged", pages),
            Route("/v1/offset", offsets),
            Route("/sobjects/Account", create_record, methods=["POST"]),
            Route("/v1/files", upload, methods=["POST"]),
            Route("/v1/things/{id}", put_thing, methods=["PUT"]),
            Route("/v1/graph/items", graph_items),
            Route("/v1/sf/query", soql),
            Route("/v1/sf/query/{locator}", soql),
        ]
    )
