"""deploy/nginx/nginx.conf: `nginx -t` on a rendered copy, the rules it must keep, and
a live run on loopback (TLS, 404/405, POST retried on another instance)."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gmbot.runtime import KEEPALIVE_TIMEOUT
from tests.deploy.helpers import DEPLOY, need_tool

CONF = DEPLOY / "nginx" / "nginx.conf"
BOT_SERVERS = {"bot1": 8443, "bot2": 8444, "bot3": 8445}
REQUEST_BUDGET = 25


def _conf_text() -> str:
    """The configuration without comments."""
    return "\n".join(
        line.split("#", 1)[0].rstrip() for line in CONF.read_text(encoding="utf-8").splitlines()
    )


def _location(name: str) -> str:
    text = _conf_text()
    start = text.index(f"location {name} {{")
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    raise AssertionError(f"unbalanced braces after location {name}")


def _seconds(value: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s|m)?", value)
    assert m, value
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, None: 1}[m.group(2)]


# --------------------------------------------------------------------- static rules


def test_upstream_is_the_three_bots_least_conn_with_keepalive() -> None:
    text = _conf_text()
    upstream = re.search(r"upstream bot_backends \{(.*?)\}", text, re.S)
    assert upstream, "upstream bot_backends is missing"
    body = upstream.group(1)
    assert re.search(r"^\s*least_conn;", body, re.M)
    servers = re.findall(r"^\s*server (\S+?):(\d+) ([^;]*);", body, re.M)
    assert {(host, int(port)) for host, port, _ in servers} == set(BOT_SERVERS.items())
    for _, _, params in servers:
        assert "max_fails=" in params
        assert "fail_timeout=" in params
    assert re.search(r"^\s*keepalive \d+;", body, re.M)


def test_only_webhook_and_health_are_exposed() -> None:
    text = _conf_text()
    locations = re.findall(r"location\s+([^{]*?)\s*\{", text)
    assert sorted(locations) == ["/", "= /health", "= /webhook"]
    assert re.search(r"return 404;", _location("/"))
    assert "proxy_pass" not in _location("/")
    assert re.search(r"^\s*listen 443 ssl", text, re.M)
    assert not re.search(r"^\s*listen (80|8080)\b", text, re.M)
    assert re.search(r"ssl_certificate\s+/etc/nginx/certs/", text)
    assert re.search(r"ssl_certificate_key\s+/etc/nginx/certs/", text)
    assert re.search(r"^\s*client_max_body_size 1m;", text, re.M)


def test_webhook_location_post_only_keepalive_and_budget() -> None:
    webhook = _location("= /webhook")
    assert re.search(r"\$request_method != POST", webhook) or "limit_except POST" in webhook
    assert "proxy_pass http://bot_backends;" in webhook
    text = _conf_text()
    assert "proxy_http_version 1.1;" in text
    assert re.search(r'proxy_set_header Connection "";', text)
    read_timeout = re.search(r"proxy_read_timeout (\S+);", webhook)
    assert read_timeout
    assert _seconds(read_timeout.group(1)) > REQUEST_BUDGET


def test_post_retry_is_explicit_and_explained() -> None:
    webhook = _location("= /webhook")
    retry = re.search(r"proxy_next_upstream ([^;]*);", webhook)
    assert retry
    conditions = retry.group(1).split()
    # Without non_idempotent nginx never re-sends a POST, so a retry list is only
    # meaningful with it; and it is only safe because updates are de-duplicated.
    assert "non_idempotent" in conditions
    assert {"error", "timeout"} <= set(conditions)
    assert re.search(r"proxy_next_upstream_tries [23];", webhook)
    raw = CONF.read_text(encoding="utf-8")
    comment = raw[: raw.index("proxy_next_upstream error")]
    comment = comment[comment.rindex("location = /webhook") :]
    assert "update_id" in comment
    assert "non_idempotent" in comment


def test_slow_senders_are_cut_off_by_nginx() -> None:
    """aiohttp has no timeout on a request head (only its 75 s idle timeout from the
    connection's start): nginx in front must bound heads, bodies and answers itself."""
    text = _conf_text()
    for directive in ("client_header_timeout", "client_body_timeout", "send_timeout"):
        found = re.search(rf"^\s*{directive} (\S+);", text, re.M)
        assert found, f"{directive} must be set explicitly"
        assert _seconds(found.group(1)) <= 30, directive
    assert re.search(r"^\s*reset_timedout_connection on;", text, re.M)
    zone = re.search(r"^\s*limit_conn_zone \$binary_remote_addr zone=(\w+):\w+;", text, re.M)
    assert zone, "connections per client address must be limited"
    limit = re.search(rf"^\s*limit_conn {zone.group(1)} (\d+);", text, re.M)
    assert limit
    # Telegram itself opens up to 100 connections (setWebhook max_connections).
    assert int(limit.group(1)) >= 100
    # nginx drops idle upstream connections before the bots' 75 s idle timeout does.
    upstream = re.search(r"upstream bot_backends \{(.*?)\}", text, re.S)
    assert upstream
    idle = re.search(r"^\s*keepalive_timeout (\S+);", upstream.group(1), re.M)
    assert idle
    assert _seconds(idle.group(1)) < KEEPALIVE_TIMEOUT


def test_access_log_is_json() -> None:
    text = _conf_text()
    fmt = re.search(r"log_format (\w+) escape=json", text)
    assert fmt
    assert re.search(rf"access_log \S+ {fmt.group(1)};", text)


# --------------------------------------------------------------------- nginx -t


@dataclass
class Rendered:
    directory: Path
    conf: Path


def _render(tmp_path: Path, ports: dict[str, int], listen: str | None = None) -> Rendered:
    """A copy of nginx.conf runnable here as root without touching /etc or /var: the bots
    map to 127.0.0.1, certificates are self-signed, logs/pid/temp files in tmp_path."""
    openssl = need_tool("openssl", "apt-get install -y openssl")
    directory = tmp_path / "nginx"
    certs = directory / "certs"
    logs = directory / "logs"
    certs.mkdir(parents=True)
    logs.mkdir()
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-keyout",
            str(certs / "privkey.pem"),
            "-out",
            str(certs / "fullchain.pem"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    text = CONF.read_text(encoding="utf-8")
    text = re.sub(r"^user .*;$", "", text, flags=re.M)  # the image's user, absent here
    text = text.replace("/etc/nginx/certs/", f"{certs}/")
    text = text.replace("/var/log/nginx/", f"{logs}/")
    text = re.sub(r"^pid .*;$", f"pid {directory}/nginx.pid;", text, flags=re.M)
    for name, port in BOT_SERVERS.items():
        text, count = re.subn(rf"server {name}:{port}\b", f"server 127.0.0.1:{ports[name]}", text)
        assert count == 1, name
    if listen is not None:
        text, count = re.subn(r"listen 443 ssl", f"listen {listen} ssl", text)
        assert count == 1
    temp = "\n".join(
        f"    {kind}_temp_path {directory}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", f"http {{\n{temp}\n", 1)
    conf = directory / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    # Workers drop root privileges (to nobody): let them reach the temp directories.
    for path in (tmp_path, directory):
        path.chmod(0o755)
    return Rendered(directory, conf)


def _nginx() -> str:
    return need_tool("nginx", "apt-get install -y nginx-light")


def test_nginx_t_accepts_the_config(tmp_path: Path) -> None:
    nginx = _nginx()
    rendered = _render(tmp_path, BOT_SERVERS)
    result = subprocess.run(
        [nginx, "-t", "-c", str(rendered.conf), "-p", f"{rendered.directory}/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


# --------------------------------------------------------------------- live run


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # nginx resets its idle keep-alive connections when it stops


@dataclass
class Backend:
    """A stand-in bot answering every request with `status`, recording what it got."""

    status: int
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    server: _QuietServer | None = None

    def start(self) -> int:
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                backend.requests.append((self.command, self.path, body))
                payload = b'{"ok": true}' if backend.status == 200 else b'{"ok": false}'
                self.send_response(backend.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                if backend.status == 503:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_HEAD = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveProxy:
    port: int
    backends: dict[str, Backend]

    def request(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=context)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()


@pytest.fixture
def live_proxy(tmp_path: Path) -> Iterator[LiveProxy]:
    """nginx with the rendered config on a free loopback port; bot1 always answers 503
    (draining), bot2 and bot3 200."""
    nginx = _nginx()
    backends = {"bot1": Backend(503), "bot2": Backend(200), "bot3": Backend(200)}
    ports = {name: backend.start() for name, backend in backends.items()}
    port = _free_port()
    rendered = _render(tmp_path, ports, listen=f"127.0.0.1:{port}")
    process = subprocess.Popen(
        [
            nginx,
            "-c",
            str(rendered.conf),
            "-p",
            f"{rendered.directory}/",
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                stderr = process.stderr.read().decode() if process.stderr else ""
                pytest.fail(f"nginx exited with {process.returncode}: {stderr}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not start listening within 15 s")
                time.sleep(0.05)
        yield LiveProxy(port, backends)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        for backend in backends.values():
            backend.stop()


def test_live_webhook_post_is_retried_on_another_instance(live_proxy: LiveProxy) -> None:
    for update_id in range(6):
        body = b'{"update_id": %d}' % update_id
        status, _, _ = live_proxy.request("POST", "/webhook", body)
        assert status == 200, update_id
    draining = live_proxy.backends["bot1"].requests
    served = live_proxy.backends["bot2"].requests + live_proxy.backends["bot3"].requests
    # bot1 was tried (and answered 503), yet every update reached a healthy instance,
    # with its body intact: the POST was re-sent (non_idempotent).
    assert draining, "least_conn should have tried bot1 at least once"
    assert sorted(body for method, path, body in served if method == "POST") == [
        b'{"update_id": %d}' % i for i in range(6)
    ]
    assert all(path == "/webhook" for _, path, _ in draining + served)


def test_live_only_webhook_and_health_are_reachable(live_proxy: LiveProxy) -> None:
    status, headers, _ = live_proxy.request("GET", "/webhook")
    assert status == 405
    assert headers.get("Allow") == "POST"
    assert live_proxy.request("GET", "/health")[0] == 200
    for path in ("/ready", "/metrics", "/", "/webhook/x", "/healthz"):
        assert live_proxy.request("GET", path)[0] == 404, path
    assert live_proxy.request("POST", "/webhook", b"x" * (1024 * 1024 + 1))[0] == 413
    reached = [
        (method, path)
        for backend in live_proxy.backends.values()
        for method, path, _ in backend.requests
    ]
    assert set(reached) <= {("GET", "/health")}
