"""``${grant.NAME}``: per-user values read at sign-in, checked before they are kept and
again before they are put into a request."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from builder.connector.checks import is_loopback_host
from builder.connector.models_provider import GRANT_REF, GRANT_VALUE_PATTERN, GrantValue

__all__ = ["check_grant_value", "fill_grant_refs", "grant_values_in"]

_DEFAULT = re.compile(GRANT_VALUE_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_grant_value(spec: GrantValue, value: str) -> str | None:
    """What is wrong with ``value`` for ``spec``, or None. A URL value must be an https
    origin (http only on loopback) on one of ``hosts``; any other value must match
    ``pattern`` (by default one URL path segment), so it cannot move a request elsewhere."""
    if _CONTROL.search(value):
        # Whatever the pattern allows: a line break in a header value is a new header.
        return "expected a value without control characters"
    if not spec.url:
        pattern = re.compile(spec.pattern) if spec.pattern else _DEFAULT
        if pattern.fullmatch(value) is None:
            return f"expected a value matching {pattern.pattern}, got {len(value)} characters"
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (parses the port)
    except ValueError:
        return "expected an https URL"
    host = (parts.hostname or "").lower()
    if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback_host(host)):
        return "expected an https URL"
    if parts.username or parts.password or parts.query or parts.fragment or not host:
        return "expected an https origin without credentials, query or fragment"
    if parts.path not in ("", "/"):
        return "expected an origin without a path"
    if spec.hosts and not any(_host_matches(host, pattern) for pattern in spec.hosts):
        return f"host {host} is not one of {', '.join(spec.hosts)}"
    return None


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and fnmatch.fnmatchcase(host, pattern)
    return host == pattern


def fill_grant_refs(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``${grant.NAME}`` replaced (a URL value loses a trailing /)."""
    return GRANT_REF.sub(lambda m: values[m.group(1)].rstrip("/"), text)


def grant_values_in(template: str, url: str) -> dict[str, str] | None:
    """The ``${grant.NAME}`` values that make ``template`` (a base URL) a prefix of ``url``,
    or None when it is not one: how ``mcpbuild record`` learns a live call's base path."""
    pattern = ""
    last = 0
    for match in GRANT_REF.finditer(template):
        pattern += re.escape(template[last : match.start()])
        group = "https?://[^/?#]+" if match.start() == 0 else "[^/?#]+"
        pattern += f"(?P<{match.group(1)}>{group})"
        last = match.end()
    found = re.match(pattern + re.escape(template[last:]), url)
    return dict(found.groupdict()) if found else None
