"""The deployment files agree with the code: no container engine runs here, so what can be
checked offline is: they parse, their probes hit the paths mcpbuild serves, and every
variable they set is one that `serve` or the mounted connector reads."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import typer.main
import yaml

from builder.cli import app
from builder.connector.load import load_connector
from builder.replay.runner import variables
from builder.routes import HEALTH_PATH, READY_PATH
from builder.server import serve
from builder.server.serve import ServeOptions

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def serve_variables() -> set[str]:
    """The ``MCPBUILD_*`` variables ``mcpbuild serve`` reads: its options' and the key's."""
    command = typer.main.get_command(app).commands["serve"]  # type: ignore[attr-defined]
    names = {p.envvar for p in command.params if isinstance(p.envvar, str)}
    assert "MCPBUILD_SECRET_KEY" in inspect.getsource(serve)  # read by open_connector
    return names | {"MCPBUILD_SECRET_KEY"}


def connector_variables(spec: str) -> set[str]:
    """The ``${VAR}`` the connector reads, its preset's included (``client_id`` ...)."""
    return set(variables(load_connector(str(DEPLOY / spec))))


def check_variables(names: set[str], spec: str) -> None:
    known = serve_variables() | connector_variables(spec)
    unknown = {n for n in names if n not in known and not n.startswith("OTEL_")}
    assert not unknown, f"set but read by nothing: {sorted(unknown)}"


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert all(isinstance(d.get("kind"), str) for d in docs)
    docs = [d for d in docs if d["kind"] != "Kustomization"]
    return docs


def test_the_dockerfile_runs_serve_as_a_non_root_user_with_a_healthcheck() -> None:
    assert "FROM python:3.11-slim" in DOCKERFILE
    healthcheck = DOCKERFILE[DOCKERFILE.index("HEALTHCHECK") :].split("\n\n")[0]
    assert f"/{HEALTH_PATH.strip('/')}'" in healthcheck
    assert re.search(r"^USER (?!root|0\b)\S+", DOCKERFILE, re.MULTILINE)
    assert f"EXPOSE {ServeOptions().port}" in DOCKERFILE
    assert 'ENTRYPOINT ["mcpbuild", "serve"]' in DOCKERFILE
    assert "--constraint constraints.txt" in DOCKERFILE
    variables = set(re.findall(r"\b(MCPBUILD_[A-Z_]+)=", DOCKERFILE))
    assert variables
    assert variables <= serve_variables()


def test_compose_runs_two_replicas_on_redis_behind_the_balancer() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    replicas = [name for name, s in services.items() if s.get("image") == "mcpbuild:local"]
    assert len(replicas) == 2
    assert "--appendonly" in services["redis"]["command"]
    for name in replicas:
        env = services[name]["environment"]
        assert env["MCPBUILD_STORE"].startswith("redis://redis:")
        assert {"MCPBUILD_SECRET_KEY", "MCPBUILD_PUBLIC_URL"} <= set(env)
        [mount] = services[name]["volumes"]
        check_variables(set(env), mount.split(":")[0])
    haproxy = (DEPLOY / "haproxy.cfg").read_text()
    assert f"option httpchk GET {READY_PATH}\n" in haproxy
    assert sorted(re.findall(r"^\s+server (\S+) ", haproxy, re.MULTILINE)) == sorted(replicas)
    assert "stick store-response res.hdr(mcp-session-id)" in haproxy


def test_kubernetes_probes_and_variables() -> None:
    docs = manifests()
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["Deployment", "Secret", "Service", "Service", "StatefulSet"]
    [deployment] = [d for d in docs if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == READY_PATH
    assert container["livenessProbe"]["httpGet"]["path"] == HEALTH_PATH
    env = {e["name"] for e in container["env"]}
    check_variables(env, "../connectors/github/connector.yaml")
    [secret] = [d for d in docs if d["kind"] == "Secret"]
    assert "MCPBUILD_SECRET_KEY" in secret["stringData"]
    for entry in container["env"]:
        if "valueFrom" in entry:
            assert entry["valueFrom"]["secretKeyRef"]["key"] in secret["stringData"]
    kustomization = yaml.safe_load((DEPLOY / "kubernetes" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (DEPLOY / "kubernetes" / resource).is_file()
