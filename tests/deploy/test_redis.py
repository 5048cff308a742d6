"""Redis in every deployment keeps what it acknowledged: the append-only file on a
persistent volume, fsync'd every second, and no eviction (deploy/docker-compose.yml,
deploy/k8s/redis/redis.yaml). The Kubernetes redis.conf is also run: a real redis-server
takes it, and a key written before a restart is there after it."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.helpers import DEPLOY, load_yaml, load_yaml_documents, need_module, need_tool
from tests.deploy.test_kubernetes import KUBERNETES_VERSION

REDIS_K8S = DEPLOY / "k8s" / "redis" / "redis.yaml"
DURABLE = {"appendonly": "yes", "appendfsync": "everysec", "maxmemory-policy": "noeviction"}


def _k8s() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in load_yaml_documents(REDIS_K8S)}


def _conf() -> dict[str, str]:
    conf = _k8s()["ConfigMap"]["data"]["redis.conf"]
    pairs = (line.split(None, 1) for line in conf.splitlines() if line and line[0] != "#")
    return {key: value.strip() for key, value in pairs}


def _memory(value: str) -> int:
    m = re.fullmatch(r"(\d+)(mb|gb|Mi|Gi)", value)
    assert m, value
    return int(m.group(1)) * {"mb": 10**6, "gb": 10**9, "Mi": 2**20, "Gi": 2**30}[m.group(2)]


def test_compose_redis_is_durable_and_never_evicts() -> None:
    redis = load_yaml(DEPLOY / "docker-compose.yml")["services"]["redis"]
    args = [str(a) for a in redis["command"]]
    assert args[0] == "redis-server"
    flags = dict(zip(args[1::2], args[2::2], strict=True))
    assert {f"--{k}": v for k, v in DURABLE.items()}.items() <= flags.items()
    assert any(v.endswith(":/data") for v in redis["volumes"])  # where the AOF is written


def test_k8s_redis_validates_strictly() -> None:
    utils = need_module("kubernetes_validate.utils", "pip install kubernetes-validate")
    for resource in load_yaml_documents(REDIS_K8S):
        assert resource["metadata"]["namespace"] == "gmbot"
        utils.validate(resource, KUBERNETES_VERSION, strict=True)


def test_k8s_redis_is_durable_never_evicts_and_fits_its_limit() -> None:
    conf = _conf()
    assert DURABLE.items() <= conf.items()
    resources = _k8s()
    pod = resources["StatefulSet"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    # The AOF directory is the claim's volume, not the pod's own disk.
    claims = {
        c["metadata"]["name"] for c in resources["StatefulSet"]["spec"]["volumeClaimTemplates"]
    }
    assert mounts[conf["dir"]] in claims
    # Redis refuses writes when full rather than being killed at its memory limit.
    assert _memory(conf["maxmemory"]) < _memory(container["resources"]["limits"]["memory"])
    ctx = container["securityContext"]
    assert ctx["readOnlyRootFilesystem"] is True
    assert ctx["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_bots_redis_url_names_this_service() -> None:
    secret = load_yaml(DEPLOY / "k8s" / "secret.example.yaml")
    service = _k8s()["Service"]
    host = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc"
    port = service["spec"]["ports"][0]["port"]
    assert secret["stringData"]["REDIS_URL"].startswith(f"redis://{host}:{port}/")


# --------------------------------------------------------------------- a real server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_conf(tmp_path: Path) -> tuple[Path, int]:
    """The ConfigMap's redis.conf, on loopback, a free port and a directory of the test's."""
    port = _free_port()
    text = _k8s()["ConfigMap"]["data"]["redis.conf"]
    text = re.sub(r"^bind .*$", "bind 127.0.0.1", text, flags=re.M)
    text = re.sub(r"^port .*$", f"port {port}", text, flags=re.M)
    text = re.sub(r"^dir .*$", f"dir {tmp_path}", text, flags=re.M)
    conf = tmp_path / "redis.conf"
    conf.write_text(text, encoding="utf-8")
    return conf, port


@pytest.fixture
def start_redis(redis_conf: tuple[Path, int]) -> Iterator[Any]:
    server = need_tool("redis-server", "apt-get install -y redis-server")
    sync_redis = need_module("redis", "pip install redis")
    conf, port = redis_conf
    running: list[subprocess.Popen[bytes]] = []

    def start() -> Any:
        process = subprocess.Popen([server, str(conf)], stdout=subprocess.DEVNULL)
        running.append(process)
        client = sync_redis.Redis(port=port, socket_timeout=5)
        for _ in range(200):  # up to 10 s
            try:
                client.ping()
                return client
            except sync_redis.exceptions.ConnectionError:
                assert process.poll() is None, "redis-server refused the configuration"
                time.sleep(0.05)
        pytest.fail("redis-server did not answer within 10 s")

    yield start
    for process in running:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def test_the_k8s_redis_conf_runs_and_keeps_data_across_a_restart(start_redis: Any) -> None:
    client = start_redis()
    for key, value in DURABLE.items():
        assert client.config_get(key) == {key: value}
    client.xadd("gmbot:outbox:0", {"action": "delete"})  # acknowledged, not yet carried out
    client.shutdown(nosave=True)  # no RDB snapshot: only the AOF can bring it back
    client = start_redis()
    assert client.xlen("gmbot:outbox:0") == 1
