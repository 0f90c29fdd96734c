"""The Kubernetes manifests in deploy/ agree with the image and the app: the port the container declares is the
one the image and its config serve, probe paths are routes that answer, the mounted config loads and names
exactly the env vars the Deployment provides, and the command is the image's."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import yaml

from proxy import config as config_mod
from proxy.http.app import create_app
from proxy.settings import Config, PriceSettings
from tests.conftest import ROOT
from tests.test_dockerfile import instructions

DEPLOY = ROOT / "deploy"
POSTGRES_LINES = re.compile(r"^# ((?:dsn|password_env) = )", re.MULTILINE)


def manifests() -> dict[str, dict[str, Any]]:
    """kind -> manifest, from every YAML file kustomization.yaml lists."""
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    out: dict[str, dict[str, Any]] = {}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / name).read_text()):
            assert doc["kind"] not in out, f"two {doc['kind']}s"
            out[doc["kind"]] = doc
    return out


M = manifests()
POD = M["Deployment"]["spec"]["template"]
CONTAINER = POD["spec"]["containers"][0]
TOML = next(iter(M["ConfigMap"]["data"].values()))
SECRET_ENV = {
    e["name"]: e["valueFrom"]["secretKeyRef"] for e in CONTAINER["env"] if "secretKeyRef" in e.get("valueFrom", {})
}


def configmap_config(text: str = TOML) -> Config:
    """The ConfigMap's TOML as the pod loads it: every env var the Deployment sets has a (dummy) value."""
    return config_mod.parse(tomllib.loads(text), environ={name: f"dummy-{name}" for name in SECRET_ENV})


def env_names_in(text: str) -> set[str]:
    """Every environment variable a TOML config names (the values of its *_env keys)."""

    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("_env") and isinstance(value, str):
                    yield value
                else:
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return set(walk(tomllib.loads(text)))


def test_every_file_in_deploy_is_applied_and_well_formed() -> None:
    listed = set(yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(M) == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    for kind, doc in M.items():
        assert doc["apiVersion"] and doc["metadata"]["name"], kind


def test_the_pod_serves_the_port_the_image_and_its_config_serve() -> None:
    (port,) = [p["containerPort"] for p in CONTAINER["ports"] if p["name"] == "http"]
    assert port == configmap_config().server.port  # the command passes no --port
    assert [str(port)] == instructions("EXPOSE")
    assert f"127.0.0.1:{port}/health" in instructions("HEALTHCHECK")[0]
    service = M["Service"]["spec"]
    assert [p["targetPort"] for p in service["ports"]] == ["http"]
    labels = POD["metadata"]["labels"]
    for selector in (service["selector"], M["Deployment"]["spec"]["selector"]["matchLabels"]):
        assert selector.items() <= labels.items()
    assert M["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    target = M["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", M["Deployment"]["metadata"]["name"])
    assert "replicas" not in M["Deployment"]["spec"], "the HPA owns the replica count"
    assert M["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2


def test_the_command_is_the_images_with_the_mounted_config() -> None:
    image_cmd = json.loads(instructions("CMD")[0])
    command = CONTAINER["command"]
    config_path = Path(command[command.index("--config") + 1])
    assert [a for a in command if a != str(config_path)] == [a for a in image_cmd if not a.endswith(".toml")]
    mounts = {m["name"]: m for m in CONTAINER["volumeMounts"]}
    volumes = {v["name"]: v for v in POD["spec"]["volumes"]}
    (config_volume,) = [n for n, v in volumes.items() if v.get("configMap", {}).get("name") == "switchyard-config"]
    assert M["ConfigMap"]["metadata"]["name"] == "switchyard-config"
    assert config_path.parent == Path(mounts[config_volume]["mountPath"])
    assert config_path.name in M["ConfigMap"]["data"]
    # The image runs as this uid; runAsNonRoot can only verify a numeric USER.
    assert POD["spec"]["securityContext"]["runAsUser"] == int(instructions("USER")[0])
    # The config's paths: models where the image bakes them, the log on a writable volume (root is read-only).
    config = configmap_config()
    models_copy = next(shlex.split(a) for a in instructions("COPY") if shlex.split(a)[0] == "models")
    assert config.models_dir == Path(models_copy[-1])
    assert CONTAINER["securityContext"]["readOnlyRootFilesystem"] is True
    writable = [Path(mounts[n]["mountPath"]) for n, v in volumes.items() if "emptyDir" in v]
    assert any(config.log.path.is_relative_to(w) for w in writable), config.log.path
    (home,) = [e["value"] for e in CONTAINER["env"] if e["name"] == "HOME"]  # onnxruntime caches under $HOME
    assert any(Path(home).is_relative_to(w) for w in writable), home


async def test_probe_paths_are_routes_that_answer(tmp_path: Path) -> None:
    config = configmap_config()
    # As in the image, minus what needs the cluster: the models dir is the repository's, the log a temp
    # file, and no price refresh over the internet.
    config = replace(
        config,
        models_dir=ROOT / "models",
        log=replace(config.log, path=tmp_path / "calls.db"),
        prices=PriceSettings(),
    )
    app = create_app(config, environ={})
    routes = {getattr(r, "path", None) for r in app.routes}
    probes = {kind: CONTAINER[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert probes["readinessProbe"]["path"] == "/ready" and probes["livenessProbe"]["path"] == "/health"
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pod") as client:
            for kind, probe in probes.items():
                assert probe["path"] in routes and probe["port"] == "http", kind
                assert (await client.get(probe["path"])).status_code == 200, kind
            admin = {"authorization": "Bearer dummy-SWITCHYARD_ADMIN_KEY"}
            assert (await client.get("/metrics")).status_code == 401  # the admin key is configured
            assert (await client.get("/metrics", headers=admin)).status_code == 200


def test_env_vars_are_exactly_the_ones_the_config_reads() -> None:
    # Every variable the config names is provided (required ones fail the config load if missing) ...
    configmap_config()
    with_postgres = POSTGRES_LINES.sub(r"\1", TOML)
    assert env_names_in(with_postgres) == set(SECRET_ENV), "Deployment env and ConfigMap *_env keys differ"
    # ... from one Secret, with the keys the README's `kubectl create secret` gives it.
    assert {ref["name"] for ref in SECRET_ENV.values()} == {"switchyard"}
    readme = (ROOT / "README.md").read_text()
    command = readme[readme.index("kubectl create secret generic switchyard") :].split("\n\n")[0]
    given = set(re.findall(r"--from-literal=([\w-]+)=", command))
    required = {ref["key"] for ref in SECRET_ENV.values() if not ref.get("optional")}
    assert required <= given <= {ref["key"] for ref in SECRET_ENV.values()}
    assert "LITELLM_LOCAL_MODEL_COST_MAP=True" in " ".join(instructions("ENV")), "the image keeps the cost map local"


def test_the_shared_postgres_log_settings_load_once_the_store_is_in() -> None:
    """The ConfigMap's commented Postgres lines load once uncommented (the password from the Secret's env)."""
    with_postgres = POSTGRES_LINES.sub(r"\1", TOML)
    assert with_postgres != TOML and "SWITCHYARD_PG_PASSWORD" in SECRET_ENV
    config = configmap_config(with_postgres)
    assert config.log.dsn == "postgresql://switchyard@postgres:5432/switchyard"


def test_shutdown_fits_in_the_grace_period() -> None:
    pre_stop = " ".join(CONTAINER["lifecycle"]["preStop"]["exec"]["command"])
    (sleep_s,) = [float(x) for x in re.findall(r"sleep\((\d+(?:\.\d+)?)\)", pre_stop)]
    grace = POD["spec"]["terminationGracePeriodSeconds"]
    assert sleep_s + configmap_config().server.shutdown_grace_s < grace
