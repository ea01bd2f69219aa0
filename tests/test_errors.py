"""The exception tree of ``builder.errors``: one root, drawn truthfully in its docstring."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys

import pytest

import builder
from builder import errors
from builder.errors import (
    ClientLimitReached,
    DemoError,
    GrantEnded,
    MCPBuildError,
    ProviderError,
    ToolCallError,
    TransportFailure,
)

# Exception classes in builder/ that are not (yet) under MCPBuildError, and why.
ALLOWED_OUTSIDE: dict[str, str] = {}


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined (not just imported) in a module of ``builder``."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(builder.__path__, prefix="builder."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return found


def _drawn_tree() -> dict[str, str | None]:
    """The tree in the docstring of ``builder.errors``: each class name and its parent's."""
    doc = errors.__doc__ or ""
    block = doc.split("::", 1)[1].split("\n\n", 2)[1]
    parents: dict[str, str | None] = {}
    stack: list[str] = []  # the last name drawn at each depth
    for line in block.splitlines():
        branch = re.search(r"[├└]── (\w+)", line)
        if branch is not None:
            depth = branch.start() // 4  # the root is at depth 0; its children at 1
            name = branch.group(1)
        elif re.fullmatch(r"\s*\w+", line):
            depth, name = 0, line.strip()
        else:
            continue  # a description's continuation line
        assert name not in parents, f"{name} is drawn twice"
        del stack[depth:]
        parents[name] = stack[-1] if stack else None
        stack.append(name)
    return parents


def test_every_exception_in_builder_is_an_mcpbuild_error() -> None:
    classes = _exception_classes()
    assert "builder.errors.MCPBuildError" in classes  # the walk did reach the modules
    outside = {path for path, cls in classes.items() if not issubclass(cls, MCPBuildError)} - set(
        ALLOWED_OUTSIDE
    )
    assert outside == set(), f"expected every exception under MCPBuildError, got {outside}"


def test_allow_list_names_only_classes_still_outside_the_tree() -> None:
    classes = _exception_classes()
    for path in ALLOWED_OUTSIDE:
        assert path in classes, f"{path} is allow-listed but no longer exists"
        assert not issubclass(classes[path], MCPBuildError), (
            f"{path} is now an MCPBuildError: drop it from ALLOWED_OUTSIDE"
        )


def test_docstring_tree_names_every_class_of_builder_errors() -> None:
    drawn = _drawn_tree()
    defined = {
        name
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    }
    assert defined <= drawn.keys(), f"not drawn: {defined - drawn.keys()}"


def test_docstring_tree_draws_every_error_under_its_real_parent() -> None:
    drawn = _drawn_tree()
    ours = {
        cls.__name__: cls for cls in _exception_classes().values() if issubclass(cls, MCPBuildError)
    }
    assert drawn.keys() == ours.keys()
    for name, cls in ours.items():
        parent = cls.__bases__[0].__name__ if cls is not MCPBuildError else None
        assert drawn[name] == parent, f"{name}: drawn under {drawn[name]}, subclasses {parent}"


def test_errors_imports_nothing_else_from_builder() -> None:
    """Any module can raise these, so ``builder.errors`` depends on none of them."""
    code = (
        "import sys, builder.errors; "
        "print(sorted(m for m in sys.modules if m.startswith('builder.')))"
    )
    out = subprocess.run(  # a fresh interpreter: this one has imported everything
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "['builder.errors']"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("builder.provider.client", "ProviderError"),
        ("builder.tools.transport", "TransportFailure"),
        ("builder.state.store", "ClientLimitReached"),
        ("builder.demo.run", "DemoError"),
        ("builder.provider.grants", "GrantEnded"),
    ],
)
def test_moved_errors_are_still_importable_where_they_were(module: str, name: str) -> None:
    imported = importlib.import_module(module)
    assert getattr(imported, name) is getattr(errors, name)
    assert name in imported.__all__


def test_provider_error_keeps_the_oauth_code_and_takes_context_by_keyword() -> None:
    exc = ProviderError("invalid_grant", description="the refresh token was revoked")
    assert exc.error == "invalid_grant"
    assert exc.description == "the refresh token was revoked"
    assert str(exc) == "invalid_grant: the refresh token was revoked"
    assert exc.grant_ended
    assert str(ProviderError("temporarily_unavailable")) == "temporarily_unavailable"
    assert not ProviderError("temporarily_unavailable").grant_ended
    with pytest.raises(TypeError):
        ProviderError("invalid_grant", "positional")  # type: ignore[call-arg]


def test_grant_ended_says_what_to_do_once_for_every_cause() -> None:
    exc = GrantEnded("this sign-in has ended")
    assert isinstance(exc, ToolCallError)  # shown to the model as a tool error
    assert exc.reason == "this sign-in has ended"
    assert str(exc) == "this sign-in has ended; reconnect to sign in again"


def test_transport_failure_is_not_a_tool_call_error() -> None:
    """Its message is a bare kind (``timeout``), not written for the model."""
    exc = TransportFailure("timeout")
    assert exc.kind == "timeout"
    assert not isinstance(exc, ToolCallError)


@pytest.mark.parametrize("cls", [ClientLimitReached, DemoError])
def test_plain_errors_carry_their_message(cls: type[MCPBuildError]) -> None:
    assert str(cls("expected X, got Y")) == "expected X, got Y"
