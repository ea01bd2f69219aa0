"""``mcpbuild record``: a replay case from a live call, with secrets and marked data stripped.

What is never written: the ``Authorization``, ``Cookie`` and ``Set-Cookie`` headers, the
bearer token wherever it appears, and the connector's secrets (values of ``${VAR}`` from
the environment). A secret in a request header or query value is written as its
``${VAR}`` reference, which the replay expands again; anywhere else it becomes
``[redacted]``, as in tool results. ``--strip KEY`` replaces the value of every JSON key,
query key and form field named KEY (in the arguments, the requests, the responses and so
the expected result) with ``<stripped>``.

The expected result is the replay of the stripped exchanges, so a fresh case passes by
construction; when stripping changed what the tool sends, the case is written with the
live result and the caller is told that it does not replay yet.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from builder.connector.models import ENV_REF
from builder.connector.resolved import ResolvedConnector
from builder.provider.values import fill_grant_refs, grant_values_in
from builder.replay.cases import load_case_text
from builder.replay.client import RecordedExchange
from builder.replay.compare import sent_view
from builder.replay.runner import run_case, variables
from builder.tools.redact import Redactor
from builder.tools.request import Origin
from builder.tools.response import Shaped
from builder.tools.transport import UpstreamResponse

__all__ = ["STRIPPED", "RecordedCase", "case_path", "record_case"]

STRIPPED = "<stripped>"
_SECRET_REQUEST_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})
# Never kept from a response: cookies, and what says how the bytes travelled (the recorded
# body is already decoded and whole).
_DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "set-cookie",
        "set-cookie2",
        "date",
        "server",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
    }
)


@dataclass(frozen=True, slots=True)
class RecordedCase:
    """The case file's text, and whether it replays as written (``problems`` says why not)."""

    text: str
    problems: tuple[str, ...]


def case_path(connector_file: Path, tool: str) -> Path:
    """``<connector folder>/tests/<tool>.yaml``, or ``<tool>-2.yaml``... when taken."""
    folder = connector_file.parent / "tests"
    candidate = folder / f"{tool}.yaml"
    n = 2
    while candidate.exists():
        candidate = folder / f"{tool}-{n}.yaml"
        n += 1
    return candidate


async def record_case(
    resolved: ResolvedConnector,
    tool: str,
    arguments: Mapping[str, Any],
    exchanges: Sequence[RecordedExchange],
    result: Shaped,
    *,
    environ: Mapping[str, str],
    strip: Iterable[str] = (),
) -> RecordedCase:
    """The case of one live call of ``tool``, stripped, with its expected result."""
    tokens = [
        value.split(" ", 1)[-1]
        for exchange in exchanges
        for name, value in exchange.request.headers.items()
        if name.lower() == "authorization"
    ]
    clean = _Sanitizer(resolved, environ, tokens, frozenset(strip))
    base = resolved.base_url
    if resolved.per_grant and exchanges:
        # The user's own base URL (``${grant.NAME}``), as the first request shows it.
        values = grant_values_in(base, exchanges[0].request.url)
        base = fill_grant_refs(base, values) if values is not None else base
    base_path = Origin.of(base).path
    data: dict[str, Any] = {"tool": tool, "arguments": clean.data(dict(arguments))}
    env = _base_url_env(resolved, environ)
    if env:
        data["env"] = env
    data["exchanges"] = [
        {
            "request": clean.request(sent_view(e.request, base_path, None)),
            "response": clean.response(e.response),
        }
        for e in exchanges
    ]
    problems: list[str] = []
    replayed = await run_case(
        resolved.spec, load_case_text(dump_case({**data, "expect": {"text": ""}}), "<recorded>")
    )
    if replayed.sent_as_expected and replayed.result is not None:
        data["expect"] = _expectation(replayed.result, None)
    else:
        data["expect"] = _expectation(result, clean)
        problems.extend(replayed.failures)
    return RecordedCase(dump_case(data), tuple(problems))


def dump_case(data: Mapping[str, Any]) -> str:
    """A case as YAML: keys in the order given, multi-line text as ``|`` blocks."""
    return yaml.dump(
        dict(data),
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


class _Sanitizer:
    def __init__(
        self,
        resolved: ResolvedConnector,
        environ: Mapping[str, str],
        tokens: Sequence[str],
        strip: frozenset[str],
    ) -> None:
        secrets = set(resolved.secrets)
        refs = {
            environ[n]: f"${{{n}}}"
            for n in variables(resolved.spec)
            if environ.get(n) in secrets and len(environ[n]) >= 4
        }
        self._refs = sorted(refs.items(), key=lambda kv: len(kv[0]), reverse=True)
        self._redactor = Redactor([*resolved.secrets, *tokens])
        self._strip = strip

    def reference(self, text: str) -> str:
        """A header or query value: secrets as ``${VAR}``, anything else secret redacted."""
        for value, ref in self._refs:
            text = text.replace(value, ref)
        return self._redactor.scrub(text)

    def data(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: STRIPPED if k in self._strip else self.data(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if isinstance(value, str):
            return self._redactor.scrub(value)
        return value

    def pairs(self, values: Mapping[str, Any], *, reference: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key in self._strip:
                out[key] = STRIPPED if isinstance(value, str) else [STRIPPED] * len(value)
            elif isinstance(value, list):
                out[key] = [self._value(v, reference) for v in value]
            else:
                out[key] = self._value(value, reference)
        return out

    def _value(self, text: str, reference: bool) -> str:
        return self.reference(text) if reference else self._redactor.scrub(text)

    def request(self, view: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"method": view["method"], "path": self._redactor.scrub(view["path"])}
        if view["query"]:
            out["query"] = self.pairs(view["query"], reference=True)
        headers = {
            name: self.reference(value)
            for name, value in view["headers"].items()
            if name.lower() not in _SECRET_REQUEST_HEADERS
        }
        if headers:
            out["headers"] = headers
        if "body" in view:
            out["body"] = self.data(view["body"])
        elif "form" in view:
            out["form"] = self.pairs(view["form"], reference=False)
        elif "multipart" in view:
            out["multipart"] = self.data(view["multipart"])
        elif "body_text" in view:
            out["body_text"] = self._redactor.scrub(view["body_text"])
        elif "body_base64" in view:
            out["body_base64"] = view["body_base64"]
        return out

    def response(self, response: UpstreamResponse) -> dict[str, Any]:
        out: dict[str, Any] = {"status": response.status}
        headers: dict[str, str] = {}
        for key, value in response.headers.items():
            name = str(key)  # aiohttp's names are multidict.istr, which YAML cannot write
            if name.lower() in _DROPPED_RESPONSE_HEADERS:
                continue
            text = self._redactor.scrub(str(value))
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
        if headers:
            out["headers"] = headers
        body = response.body
        if not body:
            return out
        ctype = str(response.headers.get("content-type", "")).split(";")[0].strip().lower()
        if ctype == "application/json" or ctype.endswith("+json"):
            try:
                out["body"] = self.data(json.loads(body))
                return out
            except (ValueError, RecursionError):
                pass
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            out["body_base64"] = base64.b64encode(body).decode()
            return out
        if "\x00" in text:
            out["body_base64"] = base64.b64encode(body).decode()
        else:
            out["body_text"] = self._redactor.scrub(text)
        return out


def _expectation(result: Shaped, clean: _Sanitizer | None) -> dict[str, Any]:
    expect: dict[str, Any] = {"is_error": result.is_error}
    try:
        parsed = json.loads(result.text)
    except ValueError:
        expect["text"] = clean.data(result.text) if clean is not None else result.text
    else:
        expect["json"] = clean.data(parsed) if clean is not None else parsed
    notes = list(getattr(result, "notes", ()) or ())
    if notes:
        expect["notes"] = notes
    blob = getattr(result, "blob", None)
    if isinstance(blob, bytes):
        expect["blob_base64"] = base64.b64encode(blob).decode()
        expect["mime_type"] = getattr(result, "mime_type", None)
    return expect


def _base_url_env(resolved: ResolvedConnector, environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of ``api.base_url``: kept, so absolute URLs in the recorded responses
    (a ``Link`` header, a redirect) still point below the base URL in the replay."""
    names = [m.group(1) for m in ENV_REF.finditer(resolved.spec.api.base_url)]
    return {n: environ[n] for n in names if n in environ}


class _Dumper(yaml.SafeDumper):
    """Block style, and ``|`` for multi-line strings."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.startswith((" ", "\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
