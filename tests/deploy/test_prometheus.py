"""deploy/prometheus/: promtool checks, and every metric the alerts use exists."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.deploy.helpers import (
    DEPLOY,
    TARGET_LABELS,
    exposed_series,
    load_yaml,
    need_module,
    need_tool,
    promql_labels,
    promql_metric_names,
    promql_selector_labels,
)

PROMETHEUS = DEPLOY / "prometheus"
CONFIG = PROMETHEUS / "prometheus.yml"
ALERTS = PROMETHEUS / "alerts.yml"
K8S_SD_ROLES = {"node", "service", "pod", "endpoints", "endpointslice", "ingress"}
K8S_SD_KEYS = {
    "role",
    "namespaces",
    "selectors",
    "api_server",
    "kubeconfig_file",
    "attach_metadata",
    "basic_auth",
    "authorization",
    "oauth2",
    "tls_config",
    "proxy_url",
    "follow_redirects",
    "enable_http2",
}


def _promtool() -> str:
    return need_tool("promtool", "apt-get install -y prometheus (Debian ships promtool in it)")


def _promtool_run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def _supports_kubernetes_sd(tmp_path: Path) -> bool:
    """Debian's promtool is built without Kubernetes service discovery."""
    probe = tmp_path / "probe.yml"
    probe.write_text(
        "scrape_configs:\n  - job_name: p\n    kubernetes_sd_configs:\n      - role: pod\n"
    )
    result = _promtool_run("check", "config", str(probe))
    return "kubernetes_sd_configs not found" not in result.stdout + result.stderr


def _check_kubernetes_sd(sd: dict[str, Any]) -> None:
    assert set(sd) <= K8S_SD_KEYS, set(sd) - K8S_SD_KEYS
    assert sd["role"] in K8S_SD_ROLES
    if "namespaces" in sd:
        assert set(sd["namespaces"]) <= {"names", "own_namespace"}
        assert all(isinstance(n, str) for n in sd["namespaces"].get("names", []))


def test_promtool_check_config(tmp_path: Path) -> None:
    """`promtool check config` (which also checks the rule files it names).

    Where promtool lacks Kubernetes service discovery (Debian's build), the
    kubernetes_sd_configs blocks are checked here against their documented keys and
    replaced by an equivalent file_sd_configs stand-in, so promtool still checks the
    rest of those jobs (relabelling regexes included)."""
    yaml = need_module("yaml", "pip install pyyaml")
    target = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS, target)
    config_path = target / "prometheus.yml"
    if not _supports_kubernetes_sd(tmp_path):
        config = load_yaml(CONFIG)
        replaced = 0
        for job in config["scrape_configs"]:
            for sd in job.pop("kubernetes_sd_configs", []):
                _check_kubernetes_sd(sd)
                stand_in = f"{job['job_name']}-{replaced}.json"
                (target / stand_in).write_text("[]")
                job.setdefault("file_sd_configs", []).append({"files": [stand_in]})
                replaced += 1
        assert replaced, "prometheus.yml should discover the Kubernetes pods"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    result = _promtool_run("check", "config", str(config_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_promtool_check_rules() -> None:
    result = _promtool_run("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_scrapes_the_compose_bots_and_loads_the_alerts() -> None:
    config = load_yaml(CONFIG)
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    static = [
        t for job in jobs.values() for sc in job.get("static_configs", []) for t in sc["targets"]
    ]
    assert static == ["bot1:8443", "bot2:8444", "bot3:8445"]
    assert all(job.get("metrics_path", "/metrics") == "/metrics" for job in jobs.values())
    k8s = [job for job in jobs.values() if job.get("kubernetes_sd_configs")]
    assert k8s, "a kubernetes_sd_configs job is expected"
    relabel = json.dumps(k8s[0]["relabel_configs"])
    assert "__meta_kubernetes_pod_annotation_prometheus_io_scrape" in relabel
    assert "__meta_kubernetes_pod_annotation_prometheus_io_port" in relabel


def _alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def test_alerts_cover_the_failure_modes() -> None:
    used = set().union(*(promql_metric_names(r["expr"]) for r in _alert_rules()))
    for needed in (
        "up",
        "bot_duplicate_updates_total",
        "bot_fail_open_total",
        "bot_poison_updates_total",
        "bot_updates_total",
        "bot_db_pool",
    ):
        assert needed in used, needed
    for rule in _alert_rules():
        assert rule["alert"]
        assert rule["labels"]["severity"]
        assert rule["annotations"]["summary"]


def test_alert_metrics_exist_in_gmbot_metrics() -> None:
    series = exposed_series()
    known_labels = set().union(*series.values()) | TARGET_LABELS
    for rule in _alert_rules():
        expr = rule["expr"]
        names = promql_metric_names(expr)
        assert names, f"{rule['alert']}: no metric found in {expr!r}"
        unknown = names - set(series) - {"up"}
        assert not unknown, f"{rule['alert']} uses metrics GMBot does not expose: {unknown}"
        for name, labels in promql_selector_labels(expr):
            allowed = series.get(name, set()) | TARGET_LABELS
            assert labels <= allowed, f"{rule['alert']}: {name} has no label {labels - allowed}"
        assert promql_labels(expr) <= known_labels, rule["alert"]


# A promtool unit test of a few rules: they fire on the series GMBot produces.
RULES_TEST = """
rule_files: [{alerts}]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{{job="gmbot-compose", instance="bot2:8444"}}'
        values: '1 1 0 0 0 0 0'
      - series: 'bot_duplicate_updates_total{{job="gmbot-compose", instance_id="bot1"}}'
        values: '0+2x40'
      - series: 'bot_fail_open_total{{job="gmbot-compose", instance_id="bot1"}}'
        values: '0+1x40'
      - series: 'bot_db_pool{{job="gmbot-compose", instance_id="bot1", kind="size"}}'
        values: '20x20'
      - series: 'bot_db_pool{{job="gmbot-compose", instance_id="bot1", kind="checked_out"}}'
        values: '20x20'
    alert_rule_test:
      - eval_time: 5m
        alertname: GMBotInstanceDown
        exp_alerts:
          - exp_labels: {{severity: critical, job: gmbot-compose, instance: "bot2:8444"}}
      - eval_time: 30m
        alertname: GMBotDuplicateUpdates
        exp_alerts:
          - exp_labels: {{severity: warning, instance_id: bot1}}
      - eval_time: 30m
        alertname: GMBotFailOpen
        exp_alerts:
          - exp_labels: {{severity: warning}}
      - eval_time: 10m
        alertname: GMBotDBPoolSaturated
        exp_alerts:
          - exp_labels: {{severity: warning, instance_id: bot1}}
      - eval_time: 30m
        alertname: GMBotPoisonUpdates
        exp_alerts: []
"""


def test_promtool_rule_unit_tests(tmp_path: Path) -> None:
    tool = _promtool()
    yaml = need_module("yaml", "pip install pyyaml")
    rules = load_yaml(ALERTS)
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)  # promtool would compare their text too
    (tmp_path / "alerts.yml").write_text(yaml.safe_dump(rules))
    test_file = tmp_path / "alerts_test.yml"
    test_file.write_text(RULES_TEST.format(alerts="alerts.yml"))
    result = subprocess.run(
        [tool, "test", "rules", "alerts_test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
