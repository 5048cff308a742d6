"""Shared helpers of the deployment-file tests.

External tools (docker-compose, promtool, nginx, openssl) and the optional Python
packages (PyYAML, kubernetes-validate) are looked up per test: a test whose tool is
missing is skipped with the reason, unless GMBOT_REQUIRE_DEPLOY_TOOLS=1 is set (as CI
does), where a missing tool fails the test instead.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
REQUIRE_TOOLS = os.environ.get("GMBOT_REQUIRE_DEPLOY_TOOLS") == "1"

# Where Debian puts tools that a non-login PATH may lack.
_EXTRA_DIRS = ("/usr/sbin", "/usr/local/sbin", "/sbin")


def _missing(what: str, hint: str) -> None:
    message = f"{what} is not available ({hint})"
    if REQUIRE_TOOLS:
        pytest.fail(f"{message}; GMBOT_REQUIRE_DEPLOY_TOOLS=1 requires it", pytrace=False)
    pytest.skip(message)


def need_tool(name: str, hint: str) -> str:
    """The path of executable `name`, or skip (fail under GMBOT_REQUIRE_DEPLOY_TOOLS=1)."""
    path = shutil.which(name)
    if path is None:
        path = shutil.which(name, path=os.pathsep.join(_EXTRA_DIRS))
    if path is None:
        _missing(f"`{name}`", hint)
    assert path is not None
    return path


def need_module(name: str, hint: str) -> ModuleType:
    """Import `name`, or skip (fail under GMBOT_REQUIRE_DEPLOY_TOOLS=1)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        _missing(f"Python module `{name}`", hint)
        raise  # unreachable: _missing raises


def load_yaml_documents(path: Path) -> list[Any]:
    yaml = need_module("yaml", "pip install pyyaml")
    with path.open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def load_yaml(path: Path) -> Any:
    docs = load_yaml_documents(path)
    assert len(docs) == 1, f"{path} should hold exactly one YAML document"
    return docs[0]


# --------------------------------------------------------------------------- metrics


def exposed_series() -> dict[str, set[str]]:
    """Series name -> label names, see `exposed_families`."""
    series: dict[str, set[str]] = {}
    for samples in exposed_families().values():
        for name, labels in samples.items():
            series.setdefault(name, set()).update(labels)
    return series


def exposed_families() -> dict[str, dict[str, set[str]]]:
    """Metric family -> series name -> label names, for all GMBot's /metrics exposes.

    Built from the application's own registry: one sample of every labelled metric is
    recorded so its series appear, and the registry is rendered as Prometheus would
    scrape it. Histograms give name_bucket/_sum/_count, counters name_total (and
    name_created), exactly the names PromQL must use.
    """
    from prometheus_client import Counter, Gauge, Histogram
    from prometheus_client.parser import text_string_to_metric_families

    from gmbot.metrics import Metrics

    metrics = Metrics("x")
    for value in vars(metrics).values():
        if not isinstance(value, Counter | Gauge | Histogram):
            continue
        names = getattr(value, "_labelnames", ())
        child = value.labels(*(["x"] * len(names))) if names else value
        if isinstance(child, Histogram):
            child.observe(0.1)
        elif isinstance(child, Counter):
            child.inc()
        else:
            child.set(1)
    rendered = metrics.render().decode()
    # Gauges fed at scrape time (Metrics.gauge_source); registered by the application's
    # composition root, so register stand-ins when this bare registry lacks them.
    sources = {
        "bot_db_pool": ("size", "checked_out", "overflow"),
        "bot_redis_connections": ("in_use", "idle", "max"),
    }
    for name, kinds in sources.items():
        if f"# TYPE {name} gauge" not in rendered:
            metrics.gauge_source(name, "stand-in", lambda kinds=kinds: dict.fromkeys(kinds, 1))
    rendered = metrics.render().decode()

    families: dict[str, dict[str, set[str]]] = {}
    for family in text_string_to_metric_families(rendered):
        samples = families.setdefault(family.name, {})
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return families


# Labels Prometheus attaches per scrape target (prometheus.yml relabelling included).
TARGET_LABELS = frozenset({"job", "instance", "deployment", "namespace", "pod", "app"})

_FUNCTIONS_AND_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
    | {"and", "or", "unless", "inf", "nan", "atan2"}
    # aggregation operators, which may be followed by `by (…)` before their "("
    | {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values"}
    | {"bottomk", "topk", "quantile", "limitk", "limit_ratio"}
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\[\]]*\]")
_IDENT = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_SELECTOR = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^{}]*)\}")
_MATCHER_LABEL = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(.*?)\s*,\s*\w+\s*\)\s*$", re.S)


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions and keywords excluded)."""
    if m := _LABEL_VALUES.match(expr):  # Grafana variable query
        expr = m.group(1)
    text = _STRING.sub('""', expr)
    text = _MATCHERS.sub("{}", text)
    text = _RANGE.sub("[]", text)
    text = _GROUPING.sub(r"\1()", text)
    names = set()
    for m in _IDENT.finditer(text):
        word, call = m.group(1), m.group(2)
        if call or word in _FUNCTIONS_AND_KEYWORDS:
            continue
        names.add(word)
    return names


def promql_labels(expr: str) -> set[str]:
    """Label names an expression matches on or groups by."""
    text = _STRING.sub('""', expr)
    labels: set[str] = set()
    for m in _SELECTOR.finditer(text):
        labels.update(_MATCHER_LABEL.findall(m.group(2)))
    for m in _GROUPING.finditer(text):
        labels.update(p.strip() for p in m.group(2).split(",") if p.strip())
    return labels


def promql_selector_labels(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names in its matchers) for every `name{…}` selector."""
    text = _STRING.sub('""', expr)
    return [
        (m.group(1), set(_MATCHER_LABEL.findall(m.group(2))))
        for m in _SELECTOR.finditer(text)
        if m.group(1) not in _FUNCTIONS_AND_KEYWORDS
    ]
