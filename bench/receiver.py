"""A receiver that costs almost no CPU, so `run` and its peers are measured on the sending
path alone: nginx (Debian's package) answering every request with `200 {}`, over http and
https (a local certificate from trustme), started and stopped here. Without nginx on the
machine the suite measures against the emulator only, and says so."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CONF = """\
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_max_body_size 64m;
    client_body_buffer_size 1m;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{http};
        listen 127.0.0.1:{https} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        default_type application/json;
        location / {{ return 200 '{{}}'; }}
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int, seconds: float = 20) -> bool:
    """Whether something accepts connections on the loopback port within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Nginx:
    """nginx on two loopback ports: `url` (http) and `tls_url` (https; trust `ca_file`)."""

    def __init__(self, binary: str):
        import trustme

        self.dir = Path(tempfile.mkdtemp(prefix="backfill-nginx-"))
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        cert_file, key_file = self.dir / "cert.pem", self.dir / "key.pem"
        self.ca_file = self.dir / "ca.pem"
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.port, self.tls_port = _free_port(), _free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(CONF.format(dir=self.dir, http=self.port, https=self.tls_port,
                                    cert=cert_file, key=key_file))
        self.proc = subprocess.Popen([binary, "-c", str(conf), "-p", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not listening(self.tls_port):
            self.stop()
            raise RuntimeError(f"nginx did not start: {(self.dir / 'error.log').read_text()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_url(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
