"""nginx in front of the webhook instances: finding it, its configuration, its access log."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tests.scale.certificates import Certificates
from tests.scale.processes import Proc


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def nginx_config(prefix: Path, port: int, upstreams: list[int], certs: Certificates) -> str:
    servers = "\n".join(
        # max_fails=0: a 503 "held by another instance" must not take an instance out;
        # a dead one refuses connections at once and the request moves on (next_upstream).
        f"        server 127.0.0.1:{p} max_fails=0;"
        for p in upstreams
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format scale '$msec $status $request_time "$upstream_addr" "$upstream_status"';
    access_log {prefix}/access.log scale;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    upstream gmbot {{
        least_conn;
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {certs.cert};
        ssl_certificate_key {certs.key};
        location / {{
            proxy_pass http://gmbot;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            # The bot deduplicates by update_id, so a retried POST is safe.
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_connect_timeout 1s;
            proxy_read_timeout 30s;
        }}
    }}
}}
"""


def nginx_access_log(prefix: Path) -> list[tuple[int, list[str], list[str]]]:
    """(status, upstream addresses tried, their statuses) per request nginx answered."""
    rows = []
    path = prefix / "access.log"
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        match = re.match(r'\S+ (\d+) \S+ "([^"]*)" "([^"]*)"', line)
        if match:
            addrs = [a.strip() for a in match.group(2).split(",")]
            statuses = [s.strip() for s in match.group(3).split(",")]
            rows.append((int(match.group(1)), addrs, statuses))
    return rows


def nginx_proc(
    nginx_path: str, workdir: Path, port: int, upstreams: list[int], certs: Certificates
) -> tuple[Proc, Path]:
    """An nginx (not started yet) on `port` in front of `upstreams`, with its prefix
    under `workdir`; returns it and the prefix (its logs)."""
    prefix = workdir / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, port, upstreams, certs))
    proc = Proc(
        "nginx",
        [nginx_path, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
        prefix,
        prefix / "nginx.out",
    )
    return proc, prefix
