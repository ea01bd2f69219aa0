"""Semantic checks of a GraphQL tool: ``in: variable`` params only with ``request.graphql``,
the tool's method and body, its document (parsed with graphql-core), the operation chosen,
and every variable mapped from a param of a type that can carry it."""

from __future__ import annotations

from collections.abc import Iterator

import graphql
from graphql.language import (
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    TypeNode,
)

# A module import, not names: checks imports this module while it is itself being imported.
from builder.connector import checks
from builder.connector.models import Tool
from builder.connector.source import Path

__all__ = ["check_graphql"]

# GraphQL's built-in scalars and the param types that can carry them. Other named types
# (enums, input objects, custom scalars) are the API's own: any param type may fit.
_GRAPHQL_SCALARS: dict[str, tuple[str, ...]] = {
    "Int": ("integer",),
    "Float": ("number", "integer"),
    "String": ("string",),
    "Boolean": ("boolean",),
    "ID": ("string", "integer"),
}


def check_graphql(tool: Tool, at: Path) -> Iterator[checks.Found]:
    """``in: variable`` params only with ``request.graphql``; a GraphQL tool's method and
    body; its document, the operation chosen and every variable mapped from a param."""
    request = tool.request
    spec = request.graphql
    if spec is None:
        for name, param in tool.params.items():
            if param.in_ == "variable":
                yield checks.Found(
                    (*at, "params", name, "in"),
                    "expected path, query, header or body (in: variable is for a tool with "
                    "request.graphql), got 'variable'",
                    "variable_param",
                )
        return
    yield from _check_graphql_request(tool, at)
    where = (*at, "request", "graphql")
    try:
        document = graphql.parse(spec.query)
    except graphql.GraphQLSyntaxError as exc:
        place = ""
        if exc.locations:
            line, column = exc.locations[0]
            place = f" at line {line}, column {column} of the query"
        reason = exc.message.removeprefix("Syntax Error: ")
        yield checks.Found(
            (*where, "query"),
            f"expected a GraphQL document, got a syntax error{place}: {reason}",
            "graphql",
        )
        return
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    operation, problem = _choose_operation(operations, spec.operation_name, where)
    if operation is None:
        if problem is not None:
            yield problem
        return
    if operation.operation == OperationType.SUBSCRIPTION:
        yield checks.Found(
            (*where, "query"),
            "expected a query or mutation, got a subscription (a tool call is one request)",
            "graphql",
        )
    yield from _check_variables(tool, operation, at)


def _check_graphql_request(tool: Tool, at: Path) -> Iterator[checks.Found]:
    request = tool.request
    if request.method != "POST":
        yield checks.Found(
            (*at, "request", "method"),
            f"expected POST for a GraphQL tool (the document goes in the body), got "
            f"'{request.method}'",
            "graphql_method",
        )
    if request.body is not None:
        yield checks.Found(
            (*at, "request", "body"),
            "expected no request.body in a GraphQL tool (the body is the GraphQL request), "
            "got one; pass values as in: variable params",
            "graphql_body",
        )
    if "body_format" in request.model_fields_set and request.body_format != "json":
        yield checks.Found(
            (*at, "request", "body_format"),
            f"expected json for a GraphQL tool (the request is JSON), got '{request.body_format}'",
            "graphql_body",
        )
    for name, param in tool.params.items():
        if param.in_ == "body":
            yield checks.Found(
                (*at, "params", name, "in"),
                "expected variable, path, query or header in a GraphQL tool (the body is the "
                "GraphQL request), got 'body'",
                "graphql_body",
            )


def _choose_operation(
    operations: list[OperationDefinitionNode], wanted: str | None, where: Path
) -> tuple[OperationDefinitionNode | None, checks.Found | None]:
    """The operation to run, or the problem that leaves none."""
    names = [op.name.value for op in operations if op.name is not None]
    if not operations:
        return None, checks.Found(
            (*where, "query"),
            "expected a GraphQL document with a query or mutation, got none (only fragments)",
            "graphql",
        )
    if wanted is not None:
        chosen = [op for op in operations if op.name is not None and op.name.value == wanted]
        if chosen:
            return chosen[0], None
        known = ", ".join(names) or "none is named"
        return None, checks.Found(
            (*where, "operation_name"),
            f"expected the name of an operation of the document ({known}), got '{wanted}'"
            + checks.did_you_mean(wanted, names),
            "graphql_operation",
        )
    if len(operations) > 1:
        listed = ", ".join(names) if len(names) == len(operations) else "some unnamed"
        return None, checks.Found(
            (*where, "query"),
            f"expected one operation, or operation_name to choose one, got {len(operations)} "
            f"({listed}); set request.graphql.operation_name",
            "graphql_operation",
        )
    return operations[0], None


def _check_variables(
    tool: Tool, operation: OperationDefinitionNode, at: Path
) -> Iterator[checks.Found]:
    """Each declared variable that needs a value has a param; each variable param names a
    declared variable, with a type that can carry it."""
    declared = {v.variable.name.value: v for v in operation.variable_definitions}
    mapped: dict[str, str] = {}
    for name, param in tool.params.items():
        if param.in_ != "variable":
            continue
        where = (*at, "params", name)
        sent = param.api_name or name
        at_name = (*where, "api_name") if param.api_name else where
        definition = declared.get(sent)
        if definition is None:
            if param.api_name == "":
                continue  # reported with the api_name
            listed = ", ".join(f"${v}" for v in declared) or "none"
            yield checks.Found(
                at_name,
                f"expected a variable the operation declares ({listed}), got '{sent}'"
                + checks.did_you_mean(sent, list(declared)),
                "graphql_variable",
                param.api_name is None,
            )
            continue
        mapped[sent] = name
        shown = f"${sent}: {graphql.print_ast(definition.type)}"
        fits = _param_types(definition.type)
        if fits is not None and param.type not in fits:
            yield checks.Found(
                (*where, "type"),
                f"expected {' or '.join(fits)} for GraphQL variable {shown}, got '{param.type}'",
                "graphql_variable",
            )
        if _needs_value(definition.type, definition.default_value) and (
            not param.is_required and param.default is None
        ):
            yield checks.Found(
                where,
                f"GraphQL variable {shown} is non-null and has no default in the document, "
                f"but param '{name}' is optional; make it required or give it a default",
                "graphql_variable",
                True,
            )
    for variable, definition in declared.items():
        if variable in mapped or not _needs_value(definition.type, definition.default_value):
            continue
        shown = f"${variable}: {graphql.print_ast(definition.type)}"
        yield checks.Found(
            (*at, "request", "graphql", "query"),
            f"GraphQL variable {shown} is non-null and has no default, but no param maps it; "
            f"add params.{variable} with in: variable",
            "graphql_variable",
        )


def _needs_value(node: TypeNode, default: object) -> bool:
    return isinstance(node, NonNullTypeNode) and default is None


def _param_types(node: TypeNode) -> tuple[str, ...] | None:
    """The param types that can carry a value of GraphQL type ``node``; None: any."""
    if isinstance(node, NonNullTypeNode):
        node = node.type
    if isinstance(node, ListTypeNode):
        return ("array",)
    if isinstance(node, NamedTypeNode):
        return _GRAPHQL_SCALARS.get(node.name.value)
    return None
