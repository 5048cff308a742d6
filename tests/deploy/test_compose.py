"""deploy/docker-compose.yml: `docker-compose config` and the deployment's invariants."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import DEPLOY, load_yaml, need_module, need_tool

COMPOSE = DEPLOY / "docker-compose.yml"
BOTS = {"bot1": "8443", "bot2": "8444", "bot3": "8445"}
DUMMY_ENV = (
    "BOT_TOKEN=123456:test-token\n"
    "WEBHOOK_URL=https://bot.example.com\n"
    "WEBHOOK_SECRET=test_secret\n"
    "POSTGRES_PASSWORD=test-password\n"
)


def _compose_tool() -> str:
    return need_tool("docker-compose", "apt-get install -y docker-compose")


def _project(tmp_path: Path, env: str | None) -> Path:
    """A copy of deploy/ inside a stand-in repository root (the build context), with a
    dummy .env beside the compose file, so nothing in the work tree is read or written."""
    root = tmp_path / "repo"
    shutil.copytree(DEPLOY, root / "deploy", ignore=shutil.ignore_patterns(".env", "certs"))
    if env is not None:
        (root / "deploy" / ".env").write_text(env, encoding="utf-8")
    return root / "deploy"


def _run_compose(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A clean environment: the caller's POSTGRES_PASSWORD, COMPOSE_* or DOCKER_* must
    # not leak into the interpolation.
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(directory)}
    return subprocess.run(
        [_compose_tool(), "-f", "docker-compose.yml", *args],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_config_is_valid(tmp_path: Path) -> None:
    directory = _project(tmp_path, DUMMY_ENV)
    result = _run_compose(directory, "config", "-q")
    assert result.returncode == 0, result.stderr + result.stdout


def test_compose_config_needs_postgres_password(tmp_path: Path) -> None:
    directory = _project(tmp_path, DUMMY_ENV.replace("POSTGRES_PASSWORD=test-password\n", ""))
    result = _run_compose(directory, "config", "-q")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr + result.stdout


def test_rendered_bots_run_in_production_webhook_mode(tmp_path: Path) -> None:
    yaml = need_module("yaml", "pip install pyyaml")
    directory = _project(tmp_path, DUMMY_ENV)
    result = _run_compose(directory, "config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    for name, port in BOTS.items():
        env = services[name]["environment"]
        assert env["ENVIRONMENT"] == "production"
        assert env["DATABASE_URL"] == (
            "postgresql+asyncpg://gmbot:test-password@postgres:5432/gmbot"
        )
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        assert env["WEBHOOK_SECRET"] == "test_secret"  # from .env
        assert env["INSTANCE_ID"] == name
        assert str(env["PORT"]) == port
        assert str(env["AUTO_MIGRATE"]).lower() == "false"


# --------------------------------------------------------------- static invariants


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = load_yaml(COMPOSE)
    assert "version" not in compose, "the Compose specification needs no version key"
    return dict(compose["services"])


def _seconds(duration: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def test_only_nginx_publishes_a_port_and_only_443(services: dict[str, Any]) -> None:
    published = {name: svc["ports"] for name, svc in services.items() if svc.get("ports")}
    assert published == {"nginx": ["443:443"]}


def test_databases_with_healthchecks_and_volumes(services: dict[str, Any]) -> None:
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["volumes"], name


def test_migrate_runs_once_after_postgres(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_three_bots_after_the_migration(services: dict[str, Any]) -> None:
    ids = set()
    for name, port in BOTS.items():
        bot = services[name]
        env = bot["environment"]
        assert bot["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert str(env["AUTO_MIGRATE"]).lower() == "false"
        assert str(env["PORT"]) == port
        assert env["ENVIRONMENT"] == "production"
        assert bot["env_file"] in (".env", [".env"])
        assert bot["healthcheck"]["test"]
        assert "ports" not in bot
        # SIGTERM drain: REQUEST_BUDGET (25 s) + 5 s shutdown margin.
        assert _seconds(bot["stop_grace_period"]) > 30
        ids.add(env["INSTANCE_ID"])
    assert len(ids) == len(BOTS)


def test_nginx_waits_for_the_bots_and_mounts_its_config(services: dict[str, Any]) -> None:
    nginx = services["nginx"]
    assert set(BOTS) <= set(nginx["depends_on"])
    mounts = " ".join(nginx["volumes"])
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf" in mounts
    assert ":/etc/nginx/certs" in mounts
