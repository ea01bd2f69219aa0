"""Reading an OpenAPI description: local files, JSON or YAML, with relative ``$ref``s.

References are resolved with ``referencing`` (the library ``jsonschema`` uses): the root
file and every file a ``$ref`` names are resources of one registry, retrieved on demand
from disk relative to the file that refers to them. Remote references are refused with
a message that says to download the file, and a missing file or pointer names the
``$ref`` and the document it was found in. Every resource is *opaque*: a JSON pointer
walks the document as plain JSON, so OpenAPI 3.1's ``$id``-relative references are not
followed (nor needed by the descriptions we have met).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import yaml
from referencing import Registry, Resource, Specification
from referencing.exceptions import PointerToNowhere, Unresolvable

from builder.errors import DescriptionError

__all__ = ["Document", "load_description"]

_OPAQUE: Specification[Any] = Specification.OPAQUE


@dataclass
class Document:
    """A loaded description: the root document, its URI, and how to follow its ``$ref``s."""

    root: dict[str, Any]
    uri: str
    source: str
    _registry: Registry[Any] = field(repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def deref(self, node: Any, base: str) -> tuple[Any, str, str | None]:
        """Follow ``node``'s ``$ref`` chain; return the target, its document's URI and the
        absolute URI of the last reference followed (None when ``node`` was no reference)."""
        target: str | None = None
        seen: set[str] = set()
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            absolute = urljoin(base, ref)
            if absolute in seen:
                raise DescriptionError(f"$ref '{ref}' in {_short(base)} refers to itself")
            seen.add(absolute)
            node, base = self.lookup(absolute, ref=ref, found_in=base), urldefrag(absolute).url
            target = absolute
        return node, base, target

    def lookup(self, absolute: str, *, ref: str, found_in: str) -> Any:
        """The value at absolute URI ``absolute`` (a document and a JSON pointer)."""
        if absolute in self._cache:
            return self._cache[absolute]
        scheme = urlsplit(absolute).scheme
        if scheme not in ("file", ""):
            raise DescriptionError(
                f"$ref '{ref}' in {_short(found_in)} points to a remote document ({absolute}); "
                "mcpbuild reads local files only: download it next to the description and "
                "refer to it by a relative path"
            )
        try:
            resolved = self._registry.resolver(found_in).lookup(absolute)
        except PointerToNowhere as exc:
            raise DescriptionError(
                f"$ref '{ref}' in {_short(found_in)}: no value at '{exc.ref}'"
            ) from None
        except Unresolvable as exc:
            reason = _reason(exc) or f"cannot read {urldefrag(absolute).url}"
            raise DescriptionError(f"$ref '{ref}' in {_short(found_in)}: {reason}") from None
        self._cache[absolute] = resolved.contents
        return resolved.contents


def load_description(source: str) -> Document:
    """Read the description at ``source`` (a local path) and prepare its references."""
    if urlsplit(source).scheme in ("http", "https"):
        raise DescriptionError(
            f"{source}: mcpbuild imports local files only; download the description "
            "(curl -o openapi.json URL) and import the file"
        )
    path = Path(source).resolve()
    root = _read(path)
    if not isinstance(root, dict):
        raise DescriptionError(f"{source}: expected an OpenAPI description (a mapping)")
    if not any(key in root for key in ("openapi", "swagger")):
        raise DescriptionError(
            f"{source}: expected an OpenAPI description with an 'openapi' or 'swagger' "
            f"version at the top, got keys {', '.join(sorted(map(str, root))[:8]) or 'none'}"
        )
    uri = path.as_uri()

    def retrieve(target: str) -> Resource[Any]:
        if urlsplit(target).scheme != "file":
            raise DescriptionError(f"{target} is not a local file")
        return _OPAQUE.create_resource(_read(Path(unquote(urlsplit(target).path))))

    registry: Registry[Any] = Registry(retrieve=retrieve).with_resource(  # type: ignore[call-arg]
        uri, _OPAQUE.create_resource(root)
    )
    return Document(root=root, uri=uri, source=source, _registry=registry)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DescriptionError(f"{path}: no such file") from None
    except OSError as exc:
        raise DescriptionError(f"{path}: cannot read it ({exc.strerror})") from None
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError as exc:
            if path.suffix.lower() == ".json":
                raise DescriptionError(f"{path}: not valid JSON ({exc})") from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise DescriptionError(f"{path}: not valid YAML or JSON ({exc})") from None


class _Loader(yaml.SafeLoader):
    """YAML 1.2-ish: dates and times stay strings (``version: 2024-01-01``)."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _reason(exc: BaseException) -> str | None:
    """The message of the DescriptionError that made ``referencing`` give up, if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, DescriptionError):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return None


def _short(uri: str) -> str:
    """A file URI as a path the author recognises."""
    if uri.startswith("file:"):
        return unquote(urlsplit(uri).path)
    return uri
