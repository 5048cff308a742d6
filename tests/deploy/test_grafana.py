"""deploy/grafana/gmbot-dashboard.json: a loadable dashboard whose queries use only the
metrics and labels GMBot exposes, and valid PromQL."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import (
    DEPLOY,
    TARGET_LABELS,
    exposed_families,
    exposed_series,
    need_module,
    need_tool,
    promql_labels,
    promql_metric_names,
    promql_selector_labels,
)

DASHBOARD = DEPLOY / "grafana" / "gmbot-dashboard.json"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def _panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep theirs inside


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable."""
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            yield f"panel {panel['title']!r} {target['refId']}", target["expr"]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            yield f"variable {var['name']}", query["query"] if isinstance(query, dict) else query


def test_dashboard_model(dashboard: dict[str, Any]) -> None:
    assert dashboard["schemaVersion"] >= 36
    assert dashboard["title"]
    assert dashboard["uid"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    datasource = [v for v in variables.values() if v["type"] == "datasource"]
    assert len(datasource) == 1
    assert datasource[0]["query"] == "prometheus"
    ref = "${" + datasource[0]["name"] + "}"
    ids = []
    for panel in _panels(dashboard):
        ids.append(panel["id"])
        pos = panel["gridPos"]
        assert pos["x"] >= 0, panel["title"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": ref}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", panel["datasource"])["uid"] == ref
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_panels_cover_every_gmbot_metric(dashboard: dict[str, Any]) -> None:
    used = set().union(*(promql_metric_names(q) for _, q in _queries(dashboard)))
    for family, samples in exposed_families().items():
        if family.endswith("_created"):
            continue
        assert used & set(samples), f"no panel shows {family} ({sorted(samples)})"


def test_latency_quantiles(dashboard: dict[str, Any]) -> None:
    exprs = " ".join(q for _, q in _queries(dashboard))
    for q in ("0.5", "0.95", "0.99"):
        assert f"histogram_quantile({q}, " in exprs, q


def test_queries_use_only_exposed_metrics_and_labels(dashboard: dict[str, Any]) -> None:
    series = exposed_series()
    known_labels = set().union(*series.values()) | TARGET_LABELS
    for where, expr in _queries(dashboard):
        names = promql_metric_names(expr)
        assert names, f"{where}: no metric found in {expr!r}"
        unknown = names - set(series) - {"up"}
        assert not unknown, f"{where} uses metrics GMBot does not expose: {unknown}"
        for name, labels in promql_selector_labels(expr):
            allowed = series.get(name, set()) | TARGET_LABELS
            assert labels <= allowed, f"{where}: {name} has no label {labels - allowed}"
        assert promql_labels(expr) <= known_labels, f"{where}: {expr}"


def test_metric_name_extraction() -> None:
    """The extractor the checks above rely on."""
    expr = (
        "histogram_quantile(0.95, sum by (le, type) (rate(bot_update_duration_seconds_bucket"
        '{job=~"$job", type!="x"}[$__rate_interval]))) / ignoring(instance_id) group_left '
        "count by (job) (up == 1) and on() vector(1) > bool 1e-9 offset 5m"
    )
    assert promql_metric_names(expr) == {"bot_update_duration_seconds_bucket", "up"}
    assert promql_labels(expr) == {"job", "type", "le", "instance_id"}
    assert promql_metric_names('label_values(bot_updates_total{a="b"}, job)') == {
        "bot_updates_total"
    }
    assert promql_metric_names("sum(rate(bot_updates[5m]))") == {"bot_updates"}


def test_queries_are_valid_promql(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses every panel query (as a recording rule, template variables
    replaced by what Grafana would interpolate)."""
    tool = need_tool("promtool", "apt-get install -y prometheus (Debian ships promtool in it)")
    yaml = need_module("yaml", "pip install pyyaml")
    rules = []
    for i, (_, expr) in enumerate(_queries(dashboard)):
        if expr.startswith("label_values("):
            continue
        expr = expr.replace("$__rate_interval", "1m")
        expr = re.sub(r"\$\{?\w+\}?", ".*", expr)
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run(
        [tool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(rules)} rules found" in result.stdout + result.stderr
