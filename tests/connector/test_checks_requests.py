"""Semantic checks of what a tool sends and how it pages: GraphQL operations and their
variables, body paths and fixed bodies, spread and file params, credential headers,
nested schemas, response.error and max_tokens, and pagination."""

from __future__ import annotations

import textwrap

import pytest

from builder.connector import load_connector_text
from builder.connector.params import input_schema
from builder.errors import SpecError

HEAD = """\
mcpbuild: 1
name: checks
api: {base_url: https://api.example.com}
tools:
"""


def spec(tools: str) -> str:
    return HEAD + textwrap.indent(textwrap.dedent(tools), "  ")


def errors_of(tools: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_connector_text(spec(tools), "c.yaml")
    return [issue.render() for issue in info.value.issues]


def at(tools: str, needle: str, after: str = "") -> str:
    """``c.yaml:LINE:COL`` of the first ``needle`` (after ``after``) in the spec of ``tools``."""
    text = spec(tools)
    index = text.index(needle, text.index(after))
    line = text.count("\n", 0, index) + 1
    return f"c.yaml:{line}:{index - text.rfind(chr(10), 0, index)}"


def loads(tools: str) -> None:
    load_connector_text(spec(tools), "c.yaml")


def graphql_tool(query: str, params: str = "{}", extra: str = "") -> str:
    return f"""\
    - name: gq
      description: GraphQL.
      request:
        method: POST
        path: /graphql
        graphql: {{query: "{query}"{extra}}}
      params: {params}
    """


# -- GraphQL -------------------------------------------------------------------------------


def test_graphql_tool_with_mapped_variables_loads() -> None:
    loads(
        """\
        - name: issues
          description: Issues.
          request:
            method: POST
            path: /graphql
            graphql:
              query: |
                query Issues($first: Int = 10, $after: String, $team: ID!, $labels: [String!]) {
                  issues(first: $first, after: $after, team: $team, labels: $labels) { id }
                }
          params:
            first: {type: integer, in: variable, required: false}
            team_id: {type: string, in: variable, api_name: team}
            labels: {type: array, in: variable, items: {type: string}, required: false}
        """
    )


def test_graphql_over_get_is_refused() -> None:
    tool = graphql_tool("query { me { id } }").replace("POST", "GET")
    assert any("expected POST for a GraphQL tool" in e for e in errors_of(tool))


def test_variable_param_needs_request_graphql() -> None:
    tool = """\
    - name: v
      description: V.
      request: {method: POST, path: /x}
      params:
        q: {type: string, in: variable}
    """
    assert errors_of(tool) == [
        f"{at(tool, 'variable}')}: tools[0].params.q.in: expected path, query, header or body "
        "(in: variable is for a tool with request.graphql), got 'variable'"
    ]


def test_graphql_tool_owns_its_body_and_method() -> None:
    tool = """\
    - name: gq
      description: GraphQL.
      request:
        method: PUT
        path: /graphql
        body: {a: 1}
        graphql: {query: "mutation { ping }"}
      params:
        b: {type: string, in: body}
    """
    assert errors_of(tool) == [
        f"{at(tool, 'PUT')}: tools[0].request.method: expected POST for a GraphQL tool (the "
        "document goes in the body), got 'PUT'",
        f"{at(tool, '{a: 1}')}: tools[0].request.body: expected no request.body in a GraphQL "
        "tool (the body is the GraphQL request), got one; pass values as in: variable params",
        f"{at(tool, 'body}')}: tools[0].params.b.in: expected variable, path, query or header "
        "in a GraphQL tool (the body is the GraphQL request), got 'body'",
    ]


def test_graphql_syntax_error_says_where_in_the_document() -> None:
    tool = """\
    - name: gq
      description: GraphQL.
      request:
        method: POST
        path: /graphql
        graphql:
          query: |
            query A($x: Int!) {
              a(x: $x
            }
    """
    assert errors_of(tool) == [
        f"{at(tool, '|')}: tools[0].request.graphql.query: expected a GraphQL document, got a "
        "syntax error at line 3, column 1 of the query: Expected Name, found '}'."
    ]


def test_several_operations_need_operation_name() -> None:
    query = "query A { a } query B { b }"
    tool = graphql_tool(query)
    place = at(tool, '"query A')
    assert errors_of(tool) == [
        f"{place}: tools[0].request.graphql.query: expected one operation, or "
        "operation_name to choose one, got 2 (A, B); set request.graphql.operation_name"
    ]
    loads(graphql_tool(query, extra=", operation_name: B"))
    tool = graphql_tool(query, extra=", operation_name: Bb")
    assert errors_of(tool) == [
        f"{at(tool, 'Bb')}: tools[0].request.graphql.operation_name: expected the name of an "
        "operation of the document (A, B), got 'Bb'; did you mean 'B'?"
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "subscription S { a }",
            "expected a query or mutation, got a subscription (a tool call is one request)",
        ),
        (
            "fragment F on T { a }",
            "expected a GraphQL document with a query or mutation, got none (only fragments)",
        ),
    ],
)
def test_document_without_a_query_or_mutation(query: str, message: str) -> None:
    tool = graphql_tool(query)
    place = at(tool, '"' + query)
    assert errors_of(tool) == [f"{place}: tools[0].request.graphql.query: {message}"]


def test_non_null_variable_without_default_needs_a_param() -> None:
    query = "query Q($id: ID!, $n: Int, $m: Int! = 3) { q(id: $id, n: $n, m: $m) }"
    tool = graphql_tool(query)
    place = at(tool, '"query')
    assert errors_of(tool) == [
        f"{place}: tools[0].request.graphql.query: GraphQL variable $id: ID! is "
        "non-null and has no default, but no param maps it; add params.id with in: variable"
    ]
    loads(graphql_tool(query, "{id: {type: string, in: variable}}"))


def test_variable_param_names_a_declared_variable() -> None:
    query = "query Q($after: String) { q(after: $after) }"
    tool = graphql_tool(query, "{aftr: {type: string, in: variable}}")
    assert errors_of(tool) == [
        f"{at(tool, 'aftr')}: tools[0].params.aftr: expected a variable the operation declares "
        "($after), got 'aftr'; did you mean 'after'?"
    ]
    tool = graphql_tool(query, "{cursor: {type: string, in: variable, api_name: aftr}}")
    assert errors_of(tool) == [
        f"{at(tool, 'aftr')}: tools[0].params.cursor.api_name: expected a variable the "
        "operation declares ($after), got 'aftr'; did you mean 'after'?"
    ]


def test_variable_param_type_and_requiredness_fit_the_variable() -> None:
    query = "query Q($n: Int, $ids: [ID!], $id: ID!) { q(n: $n, ids: $ids, id: $id) }"
    params = (
        "{n: {type: string, in: variable}, ids: {type: string, in: variable},"
        " id: {type: string, in: variable, required: false}}"
    )
    tool = graphql_tool(query, params)
    assert errors_of(tool) == [
        f"{at(tool, 'string, in: variable}, ids')}: tools[0].params.n.type: expected integer "
        "for GraphQL variable $n: Int, got 'string'",
        f"{at(tool, 'string, in: variable}, id:')}: tools[0].params.ids.type: expected array "
        "for GraphQL variable $ids: [ID!], got 'string'",
        f"{at(tool, 'id: {')}: tools[0].params.id: GraphQL variable $id: ID! is non-null and "
        "has no default in the document, but param 'id' is optional; make it required or give "
        "it a default",
    ]


# -- request bodies ------------------------------------------------------------------------

BODY_TOOL = """\
- name: b
  description: Body.
  request:
    method: POST
    path: /x
    BODY
  params:
    PARAMS
"""


def body_tool(params: str, body: str = "body: {}") -> str:
    return BODY_TOOL.replace("BODY", body).replace("PARAMS", params)


def test_dotted_api_name_nests_only_in_a_json_body() -> None:
    loads(body_tool("v: {type: string, in: body, api_name: filter.value}"))
    tool = body_tool("q: {type: string, in: query, api_name: tweet.fields}")
    assert errors_of(tool) == [
        f"{at(tool, 'tweet')}: tools[0].params.q.api_name: dotted api_name is only supported "
        "for in: body with a JSON body; to send a query key with a dot in it, name the param "
        "'tweet.fields'"
    ]
    tool = body_tool("v: {type: string, in: body, api_name: a.b}", "body_format: form")
    assert errors_of(tool) == [
        f"{at(tool, 'a.b')}: tools[0].params.v.api_name: dotted api_name is only supported for "
        "in: body with a JSON body (the tool sends a form body, which cannot nest)"
    ]
    tool = body_tool("a.b: {type: string, in: body}", "body_format: multipart")
    assert errors_of(tool) == [
        f"{at(tool, 'a.b')}: tools[0].params.a.b: a dotted name is a path into a JSON body, "
        "but the tool sends a multipart body; rename the param or set api_name to a key "
        "without dots"
    ]


@pytest.mark.parametrize("where", ["query", "header", "body", "path", "variable"])
def test_empty_api_name_is_refused_everywhere(where: str) -> None:
    tool = body_tool(f"x: {{type: string, in: {where}, api_name: ''}}")
    if where == "path":
        tool = tool.replace("path: /x", "path: /x/{x}")
    empty = at(tool, "''")
    expected = (
        f"{empty}: tools[0].params.x.api_name: expected the name sent upstream, "
        "got ''; leave api_name out to send 'x'"
    )
    assert expected in errors_of(tool)


def test_body_paths_must_not_overlap() -> None:
    params = """\
    filter: {type: object, in: body}
        value: {type: string, in: body, api_name: filter.value}
        one: {type: string, in: body, api_name: m.0}
        key: {type: string, in: body, api_name: m.k}
        first: {type: string, in: body, api_name: 0.k}
        empty: {type: string, in: body, api_name: a..b}"""
    tool = body_tool(params)
    assert errors_of(tool) == [
        f"{at(tool, 'filter.value')}: tools[0].params.value.api_name: body path 'filter.value' "
        "is inside 'filter', which param 'filter' sets; one would overwrite the other",
        f"{at(tool, 'm.k')}: tools[0].params.key.api_name: body path 'm.k' makes 'm' an "
        "object, but param 'one' ('m.0') makes it a list",
        f"{at(tool, '0.k')}: tools[0].params.first.api_name: expected a body path starting "
        "with a key (the body is an object), got '0.k'",
        f"{at(tool, 'a..b')}: tools[0].params.empty.api_name: expected a dotted path of "
        "non-empty keys (filter.value), got 'a..b'",
    ]


def test_body_path_goes_through_objects_and_lists_of_the_fixed_body() -> None:
    body = "body: {sort: name, tags: [x], children: [{paragraph: {rich_text: [{type: text}]}}]}"
    loads(
        body_tool(
            "text: {type: string, in: body, api_name: children.0.paragraph.rich_text.0.text}",
            body,
        )
    )
    params = """\
    dir: {type: string, in: body, api_name: sort.dir}
        tag: {type: string, in: body, api_name: tags.name}
        kid: {type: string, in: body, api_name: children.x}"""
    tool = body_tool(params, body)
    assert errors_of(tool) == [
        f"{at(tool, 'sort.dir')}: tools[0].params.dir.api_name: expected request.body.sort to "
        "be an object or list for body path 'sort.dir' to go into, got a string",
        f"{at(tool, 'tags.name')}: tools[0].params.tag.api_name: expected request.body.tags to "
        "be an object for key 'name' of body path 'tags.name', got a list",
        f"{at(tool, 'children.x')}: tools[0].params.kid.api_name: expected "
        "request.body.children to be an object for key 'x' of body path 'children.x', got a "
        "list",
    ]


@pytest.mark.parametrize("body_format", ["form", "multipart"])
def test_form_and_multipart_bodies_are_flat(body_format: str) -> None:
    body = f"body_format: {body_format}\n    body: {{a: {{b: 1}}, c: [1, x], d: null}}"
    tool = body_tool("o: {type: object, in: body}", body)
    kind = "form-encoded" if body_format == "form" else "multipart"
    assert errors_of(tool) == [
        f"{at(tool, '{b: 1}')}: tools[0].request.body.a: expected a string, number, boolean or "
        f"a list of them in a {body_format} body (it cannot nest objects), got a mapping",
        f"{at(tool, 'null')}: tools[0].request.body.d: expected a string, number, boolean or a "
        f"list of them in a {body_format} body (it cannot nest objects), got null",
        f"{at(tool, 'object')}: tools[0].params.o.type: expected a scalar or array type for a "
        f"{kind} body, got 'object'",
    ]


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE"])
def test_fixed_body_on_a_method_without_body(method: str) -> None:
    tool = body_tool("{}", "body: {a: 1}").replace("POST", method)
    assert errors_of(tool) == [
        f"{at(tool, '{a: 1}')}: tools[0].request.body: expected no request.body for a {method} "
        "request (it carries no body), got one; use POST, PUT or PATCH, or static query "
        "parameters under request.query"
    ]


TOKEN = "the Authorization header is mcpbuild's: it carries the signed-in user's token"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Authorization", TOKEN),
        ("authorization", TOKEN),
        ("Proxy-Authorization", "the Proxy-Authorization header carries a proxy's credentials"),
        ("COOKIE", "the Cookie header carries the user's session"),
    ],
)
def test_credential_headers_are_not_params(header: str, reason: str) -> None:
    tool = body_tool(f"token: {{type: string, in: header, api_name: {header}}}")
    assert errors_of(tool) == [
        f"{at(tool, header)}: tools[0].params.token.api_name: expected a header a tool argument "
        f"may set, got '{header}': {reason}"
    ]
    tool = body_tool(f"{header}: {{type: string, in: header}}")
    assert errors_of(tool) == [
        f"{at(tool, header)}: tools[0].params.{header}: expected a header a tool argument may "
        f"set, got '{header}': {reason}"
    ]


def test_spread_is_one_object_of_a_json_body() -> None:
    loads(body_tool("record: {type: object, in: body, spread: true}", "body: {a: 1}"))
    params = """\
    a: {type: object, in: body, spread: true}
        b: {type: object, in: body, spread: true}
        c: {type: string, in: body, spread: true}
        d: {type: string, in: query, spread: true}"""
    tool = body_tool(params)
    spread_only = (
        "expected spread only on an in: body param of type object in a JSON body (its keys "
        "become the body's)"
    )
    assert errors_of(tool) == [
        f"{at(tool, 'true', '    b: {')}: tools[0].params.b.spread: expected at most one spread "
        "param per tool, got a second ('a' spreads already); put both objects' keys in one "
        "param",
        f"{at(tool, 'true', '    c: {')}: tools[0].params.c.spread: {spread_only}, "
        "got type 'string'",
        f"{at(tool, 'true', '    d: {')}: tools[0].params.d.spread: {spread_only}, got in: query",
    ]
    tool = body_tool("r: {type: object, in: body, spread: true}", "body_format: form")
    assert errors_of(tool)[-1] == (
        f"{at(tool, 'true')}: tools[0].params.r.spread: {spread_only}, got a form body"
    )


def test_file_params_of_a_multipart_body() -> None:
    loads(
        body_tool(
            "content: {type: string, in: body, file: {filename_param: name}}\n"
            "    name: {type: string, in: body}",
            "body_format: multipart\n    body: {purpose: attachment}",
        )
    )
    params = """\
    content: {type: array, in: body, file: {filename_param: nme}}
        name: {type: string, in: body}
        q: {type: string, in: query}
        other: {type: string, in: body, file: {filename_param: q}}
        me: {type: string, in: body, file: {filename_param: me}}"""
    tool = body_tool(params, "body_format: multipart")
    wanted = "expected the name of another in: body param of type string (the file name), got"
    assert errors_of(tool) == [
        f"{at(tool, 'array')}: tools[0].params.content.type: expected string for a file param "
        "(the file's content in base64), got 'array'",
        f"{at(tool, 'nme')}: tools[0].params.content.file.filename_param: {wanted} 'nme', "
        "which is not a param of the tool; did you mean 'name'?",
        f"{at(tool, 'q}}')}: tools[0].params.other.file.filename_param: {wanted} 'q', which is "
        "in: query of type 'string'",
        f"{at(tool, 'me}}', '    me:')}: tools[0].params.me.file.filename_param: {wanted} "
        "the file param itself",
    ]
    tool = body_tool("f: {type: string, in: body, file: {}}")
    assert errors_of(tool) == [
        f"{at(tool, '{}}')}: tools[0].params.f.file: expected file only on an in: body param "
        "of a tool with body_format: multipart, got body_format: json"
    ]


# -- nested schemas and the response -------------------------------------------------------


def test_required_belongs_to_entries_of_properties() -> None:
    params = """\
    a:
          type: object
          in: body
          properties:
            b: {type: string, required: true}
            c:
              type: array
              items: {type: object, required: false, properties: {d: {type: string}}}
        e: {type: string, in: body, one_of: [{type: string, required: true}]}
        f: {type: object, in: body, one_of: []}
        g: {type: string, in: body, additional_properties: false}"""
    tool = body_tool(params)
    nested = "expected required only on an entry of properties (the object must have it)"
    assert errors_of(tool) == [
        f"{at(tool, 'false')}: tools[0].params.a.properties.c.items.required: {nested}, got it "
        "on an items schema",
        f"{at(tool, 'true}]')}: tools[0].params.e.one_of[0].required: {nested}, got it on a "
        "one_of entry",
        f"{at(tool, '[]')}: tools[0].params.f.one_of: expected at least one schema in one_of, "
        "got an empty list",
        f"{at(tool, 'false}')}: tools[0].params.g.additional_properties: additional_properties "
        "applies to type object, not to type 'string'",
    ]
    good = body_tool(params.split("\n        e:")[0].replace("required: false, ", ""))
    schema = input_schema(load_connector_text(spec(good)).tools[0])
    assert schema["properties"]["a"]["required"] == ["b"]


def test_response_error_is_jmespath() -> None:
    tool = """\
    - name: r
      description: R.
      request: {method: GET, path: /x}
      response: {error: {when: "ok == `false", message: "foo(x)"}}
    """
    when, message = at(tool, '"ok =='), at(tool, '"foo')
    assert errors_of(tool) == [
        f"{when}: tools[0].response.error.when: expected a JMESPath expression, got "
        "'ok == `false': Invalid jmespath expression at character 7",
        f"{message}: tools[0].response.error.message: expected a JMESPath expression, "
        "got 'foo(x)': unknown function foo(); did you mean floor()?",
    ]
    loads(tool.replace("`false", "`false`").replace("foo(x)", "error"))


def test_max_tokens_or_max_bytes_not_both() -> None:
    tool = """\
    - name: r
      description: R.
      request: {method: GET, path: /x}
      response: {max_tokens: 1000, max_bytes: 5000}
    """
    assert errors_of(tool) == [
        f"{at(tool, '1000')}: tools[0].response.max_tokens: expected max_tokens or max_bytes, "
        "got both (max_tokens 1000, max_bytes 5000); max_tokens replaces max_bytes as the "
        "result's budget, so keep one"
    ]
    loads(tool.replace(", max_bytes: 5000", ""))


# -- pagination ----------------------------------------------------------------------------

PAGED = """\
- name: p
  description: Paged.
  request: {method: GET, path: /x}
  params:
    cursor: {type: string, in: query, required: false}
    page: {type: integer, in: query, required: false}
    after: {type: array, in: query, required: false}
  pagination: PAGINATION
"""


def paged(pagination: str) -> str:
    return PAGED.replace("PAGINATION", pagination)


@pytest.mark.parametrize(
    "pagination",
    [
        "{style: cursor, next: next_cursor, cursor_param: cursor, has_more: has_more}",
        "{style: link, cursor_param: handle, auto: true, max_pages: 10, max_items: 100}",
        "{style: page, page_param: page, start: 0, auto: true}",
        "{style: offset, offset_param: page}",
    ],
)
def test_good_pagination_loads(pagination: str) -> None:
    loads(paged(pagination))


@pytest.mark.parametrize(
    ("pagination", "expected"),
    [
        (
            "{style: cursor}",
            [
                (
                    "cursor}",
                    "style",
                    "style cursor needs next: the JMESPath of the next page's cursor in the body",
                ),
                (
                    "cursor}",
                    "style",
                    "style cursor needs cursor_param: the param the cursor is sent in",
                ),
            ],
        ),
        (
            "{style: cursor, next: 'lenght(x)', cursor_param: cursr}",
            [
                (
                    "'lenght",
                    "next",
                    "expected a JMESPath expression, got 'lenght(x)': unknown "
                    "function lenght(); did you mean length()?",
                ),
                (
                    "cursr",
                    "cursor_param",
                    "expected the name of a string or integer param of "
                    "the tool, got 'cursr'; did you mean 'cursor'?",
                ),
            ],
        ),
        (
            "{style: cursor, next: c, cursor_param: after}",
            [
                (
                    "after}",
                    "cursor_param",
                    "expected a string or integer param, got 'after' of type 'array'",
                ),
            ],
        ),
        (
            "{style: link}",
            [
                (
                    "link",
                    "style",
                    "style link adds the argument 'cursor' for the next page's "
                    "handle, but the tool has a param 'cursor' already; set "
                    "pagination.cursor_param to a free name",
                ),
            ],
        ),
        (
            "{style: page, page_param: cursor, next: n}",
            [
                (
                    "cursor, next",
                    "page_param",
                    "expected an integer param, got 'cursor' of type 'string'",
                ),
                ("n}", "next", "next is for style cursor or link; style page does not read it"),
            ],
        ),
        (
            "{style: offset, max_items: 5, max_pages: 2}",
            [
                (
                    "offset",
                    "style",
                    "style offset needs offset_param: the integer param that counts items",
                ),
                (
                    "5,",
                    "max_items",
                    "max_items applies with auto: true (it caps the items one "
                    "call joins); set auto: true or remove max_items",
                ),
                (
                    "2}",
                    "max_pages",
                    "max_pages applies with auto: true (it caps the pages one "
                    "call joins); set auto: true or remove max_pages",
                ),
            ],
        ),
    ],
)
def test_pagination_errors(pagination: str, expected: list[tuple[str, str, str]]) -> None:
    tool = paged(pagination)
    assert errors_of(tool) == [
        f"{at(tool, needle, 'pagination:')}: tools[0].pagination.{field}: {message}"
        for needle, field, message in expected
    ]
