"""deploy/k8s/: strict schema validation (kubernetes-validate, offline) and invariants."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import DEPLOY, load_yaml_documents, need_module

K8S = DEPLOY / "k8s"
# The schemas kubernetes-validate ships go back a few releases; validate against a
# recent one that clusters run today.
KUBERNETES_VERSION = "1.33.0"
MANIFESTS = sorted(K8S.glob("*.yaml"))
REQUEST_BUDGET = 25


def _validator() -> Any:
    return need_module(
        "kubernetes_validate.utils",
        "pip install kubernetes-validate (it ships the Kubernetes JSON schemas)",
    )


def _validate(resource: dict[str, Any]) -> None:
    utils = _validator()
    try:
        utils.validate(resource, KUBERNETES_VERSION, strict=True)
    except utils.ValidationError as err:
        path = ".".join(str(p) for p in err.path)
        pytest.fail(f"{resource['kind']}/{resource['metadata']['name']}: {path}: {err.message}")
    except utils.SchemaNotFoundError as err:
        pytest.fail(err.message)


def test_manifests_exist() -> None:
    names = {p.name for p in MANIFESTS}
    for needed in (
        "configmap.yaml",
        "secret.example.yaml",
        "deployment.yaml",
        "service.yaml",
        "migrate-job.yaml",
        "hpa.yaml",
        "pdb.yaml",
    ):
        assert needed in names


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_validates_strictly(path: Path) -> None:
    documents = load_yaml_documents(path)
    assert documents, f"{path.name} holds no resource"
    for resource in documents:
        _validate(resource)


def test_strict_mode_rejects_unknown_fields() -> None:
    """The validation above would catch a misspelt field (guards against a no-op check)."""
    utils = _validator()
    deployment = copy.deepcopy(_resources()["Deployment"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    with pytest.raises(utils.ValidationError):
        utils.validate(deployment, KUBERNETES_VERSION, strict=True)


# --------------------------------------------------------------- invariants


def _resources() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in MANIFESTS:
        for resource in load_yaml_documents(path):
            assert resource["kind"] not in found, f"two {resource['kind']} resources"
            found[resource["kind"]] = resource
    return found


@pytest.fixture(scope="module")
def resources() -> dict[str, dict[str, Any]]:
    return _resources()


def _pod(resource: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = resource["spec"]["template"]["spec"]
    return spec


def test_everything_in_one_namespace(resources: dict[str, dict[str, Any]]) -> None:
    for kind, resource in resources.items():
        if kind != "Namespace":
            assert resource["metadata"]["namespace"] == "gmbot", kind


def test_deployment_shape(resources: dict[str, dict[str, Any]]) -> None:
    deployment = resources["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    template = deployment["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    pod = template["spec"]
    (container,) = pod["containers"]
    port = container["ports"][0]
    assert port["containerPort"] == 8443
    assert annotations["prometheus.io/port"] == str(port["containerPort"])

    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"

    env = {e["name"]: e for e in container["env"]}
    assert env["INSTANCE_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["AUTO_MIGRATE"]["value"] == "false"
    sources = {next(iter(s)): next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources == {
        "configMapRef": resources["ConfigMap"]["metadata"]["name"],
        "secretRef": resources["Secret"]["metadata"]["name"],
    }
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]


def test_deployment_drains_before_it_is_killed(resources: dict[str, dict[str, Any]]) -> None:
    pod = _pod(resources["Deployment"])
    (container,) = pod["containers"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = int(command[1])
    assert pre_stop >= 5  # endpoints removal reaches the proxies first
    # preStop + the in-flight budget + the 5 s shutdown margin must fit the grace period.
    assert pod["terminationGracePeriodSeconds"] > pre_stop + REQUEST_BUDGET + 5


@pytest.mark.parametrize("kind", ["Deployment", "Job"])
def test_pods_are_non_root_and_read_only(resources: dict[str, dict[str, Any]], kind: str) -> None:
    pod = _pod(resources[kind])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    for container in pod["containers"]:
        ctx = container["securityContext"]
        assert ctx["readOnlyRootFilesystem"] is True
        assert ctx["allowPrivilegeEscalation"] is False
        assert ctx["capabilities"]["drop"] == ["ALL"]


def test_migration_job(resources: dict[str, dict[str, Any]]) -> None:
    job = resources["Job"]
    (container,) = _pod(job)["containers"]
    assert container["args"] == ["migrate"]
    assert _pod(job)["restartPolicy"] in {"Never", "OnFailure"}
    image = _pod(resources["Deployment"])["containers"][0]["image"]
    assert container["image"] == image


def test_selectors_match_the_bot_pods(resources: dict[str, dict[str, Any]]) -> None:
    deployment = resources["Deployment"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    selectors = [
        deployment["spec"]["selector"]["matchLabels"],
        resources["Service"]["spec"]["selector"],
        resources["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"],
    ]
    for selector in selectors:
        assert selector.items() <= labels.items(), selector
    job_labels = resources["Job"]["spec"]["template"]["metadata"]["labels"]
    assert not resources["Service"]["spec"]["selector"].items() <= job_labels.items()


def test_autoscaling_and_disruption_budget(resources: dict[str, dict[str, Any]]) -> None:
    hpa = resources["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == (
        "Deployment",
        resources["Deployment"]["metadata"]["name"],
    )
    assert hpa["spec"]["minReplicas"] >= 3
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    pdb = resources["PodDisruptionBudget"]["spec"]
    assert pdb.get("maxUnavailable") == 1 or pdb.get("minAvailable") == 2


def test_secret_example_holds_placeholders_only(resources: dict[str, dict[str, Any]]) -> None:
    data = resources["Secret"]["stringData"]
    assert {"BOT_TOKEN", "WEBHOOK_SECRET", "DATABASE_URL", "REDIS_URL"} <= set(data)
    assert "REPLACE_ME" in data["BOT_TOKEN"]
    assert "REPLACE_ME" in data["WEBHOOK_SECRET"]
    assert "REPLACE_ME" in data["DATABASE_URL"]


def test_configmap_is_valid_gmbot_configuration(resources: dict[str, dict[str, Any]]) -> None:
    """The ConfigMap plus example secrets form a configuration GMBot accepts."""
    from gmbot.config import Settings

    env = dict(resources["ConfigMap"]["data"])
    env.update(
        BOT_TOKEN="123:abc",
        WEBHOOK_SECRET="secret",
        DATABASE_URL="postgresql+asyncpg://gmbot:pw@postgres:5432/gmbot",
        REDIS_URL="redis://redis:6379/0",
        AUTO_MIGRATE="false",
        INSTANCE_ID="gmbot-abc",
    )
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in env.items() if v != ""})
    assert settings.webhook_mode
    assert settings.port == 8443
    assert settings.auto_migrate is False
