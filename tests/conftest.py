"""The fixtures every test folder shares. Helpers are a package beside it (`tests/helpers`,
on the path through pytest's `pythonpath`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ROOT, tmpfs
from helpers.emulated import start


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def read_only(tmp_path):
    """A folder nothing can be written in, even by root: a read-only tmpfs (needs root)."""
    yield from tmpfs(tmp_path, "read-only", "ro")


@pytest.fixture
def tiny(tmp_path):
    """A folder of 64 KiB on a real tmpfs (needs root): a disk that fills."""
    yield from tmpfs(tmp_path, "tiny", "size=64k")


@pytest.fixture
def emulator(tmp_path):
    """The emulator on a free loopback port, storing in `tmp_path`, with the tests'
    credentials (`helpers.emulated.SITE`, `KEY`); stopped after the test. `emulator.url`,
    `emulator.emulator.store`."""
    emu, _ = start(tmp_path)
    yield emu
    emu.stop()
