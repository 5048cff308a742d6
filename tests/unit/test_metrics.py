"""Metrics' named methods: the series each one moves, and services using only them."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

import gmbot.services
from gmbot.metrics import Metrics

SERVICES_DIR = Path(gmbot.services.__file__).parent

# method call -> (series, its labels besides instance_id, value after one call)
CASES: list[tuple[Callable[[Metrics], None], str, dict[str, str], float]] = [
    (lambda m: m.membership_decided("member"), "bot_verifications_total", {"result": "member"}, 1),
    (
        lambda m: m.membership_decided("button_missing"),
        "bot_verifications_total",
        {"result": "button_missing"},
        1,
    ),
    (
        lambda m: m.cache_looked_up("verify", True),
        "bot_cache_lookups_total",
        {"cache": "verify", "result": "hit"},
        1,
    ),
    (
        lambda m: m.cache_looked_up("group", False),
        "bot_cache_lookups_total",
        {"cache": "group", "result": "miss"},
        1,
    ),
    (lambda m: m.message_deleted(), "bot_gate_actions_total", {"action": "delete"}, 1),
    (lambda m: m.user_muted(), "bot_gate_actions_total", {"action": "mute"}, 1),
    (lambda m: m.users_unmuted(), "bot_gate_actions_total", {"action": "unmute"}, 1),
    (lambda m: m.users_unmuted(3), "bot_gate_actions_total", {"action": "unmute"}, 3),
    (lambda m: m.failed_open(), "bot_fail_open_total", {}, 1),
]


@pytest.mark.parametrize(("call", "series", "labels", "value"), CASES)
def test_each_method_moves_its_series_only(
    call: Callable[[Metrics], None], series: str, labels: dict[str, str], value: float
) -> None:
    metrics = Metrics("m")
    call(metrics)
    call(metrics)  # the second call reuses the bound child
    assert metrics.registry.get_sample_value(series, {"instance_id": "m", **labels}) == 2 * value
    moved = [
        (s.name, s.labels)
        for family in metrics.registry.collect()
        for s in family.samples
        if s.name.endswith("_total") and s.value
    ]
    assert moved == [(series, {"instance_id": "m", **labels})]


def test_exposition_keeps_the_names_dashboards_query() -> None:
    metrics = Metrics("m")
    metrics.user_muted()
    metrics.failed_open()
    metrics.membership_decided("not_member")
    metrics.cache_looked_up("admins", False)
    text = metrics.render().decode()
    assert 'bot_gate_actions_total{action="mute",instance_id="m"} 1.0' in text
    assert 'bot_fail_open_total{instance_id="m"} 1.0' in text
    assert 'bot_verifications_total{instance_id="m",result="not_member"} 1.0' in text
    assert 'bot_cache_lookups_total{cache="admins",instance_id="m",result="miss"} 1.0' in text


def _metrics_uses(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(attribute, line, called) for every `<x>._metrics.<attribute>` in the tree."""
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    return [
        (node.attr, node.lineno, id(node) in called)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "_metrics"
    ]


@pytest.mark.parametrize("path", sorted(SERVICES_DIR.glob("*.py")), ids=lambda p: p.name)
def test_services_count_through_named_methods_only(path: Path) -> None:
    source = path.read_text()
    tree = ast.parse(source)
    assert "prometheus_client" not in source
    for attr, line, called in _metrics_uses(tree):
        # Prometheus objects are instance attributes; the named methods live on the class.
        method = getattr(Metrics, attr, None)
        where = f"{path.name}:{line} uses Metrics.{attr} instead of a named method"
        assert called, where
        assert callable(method), where
        assert not attr.startswith("_"), where
    labels_calls = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "labels"
    ]
    assert labels_calls == [], f"{path.name} binds metric labels itself"


def test_the_services_do_count() -> None:
    """The scan above sees real uses (it would pass vacuously on a renamed attribute)."""
    uses = [
        attr
        for path in SERVICES_DIR.glob("*.py")
        for attr, _line, _called in _metrics_uses(ast.parse(path.read_text()))
    ]
    assert {"membership_decided", "cache_looked_up", "user_muted", "failed_open"} <= set(uses)
