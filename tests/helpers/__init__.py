"""What the tests share: the repository's root, files and folders made for a test, free ports,
servers started for a test. The modules beside it: the emulator started for a test
(`emulated`), fake and hostile APIs (`fakeapi`, `hostile`), the OpenAPI document (`openapi`),
operations written by hand from the API's shapes (`oracle`), the reliability scenarios
(`reliability`)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tmpfs(tmp_path: Path, name: str, options: str) -> Iterator[Path]:
    """A real tmpfs mounted at `tmp_path / name` with these mount options (needs root), for as
    long as the generator is open."""
    folder = tmp_path / name
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"mounting a tmpfs ({options}) needs root")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def listens(port: int, seconds: float = 30) -> bool:
    """Whether something accepts connections on the loopback port within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def started(cmd: list[str], port: int, seconds: float = 30) -> subprocess.Popen:
    """A server process (moto, Azurite) once it accepts connections on `port`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if listens(port, seconds):
        return proc
    proc.terminate()
    raise RuntimeError(f"{cmd[0]} did not listen on port {port} within {seconds:.0f} s")
