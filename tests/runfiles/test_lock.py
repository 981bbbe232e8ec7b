"""`runfiles/lock.py`: one run at a time on a checkpoint or a state."""

from __future__ import annotations

import os
import subprocess
import sys

from backfill.runfiles.lock import RunLock


def test_a_second_lock_names_the_holder_and_a_released_one_is_free(tmp_path):
    path = tmp_path / "c.json"
    with RunLock(path, "checkpoint"):
        code = ("import sys; from backfill.runfiles.lock import RunLock\n"
                "from backfill.errors import UsageError\n"
                f"try:\n    RunLock({str(path)!r}, 'checkpoint').acquire()\n"
                "except UsageError as e:\n    print(e)\n")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert f"process {os.getpid()}" in other.stdout
    with RunLock(path, "checkpoint"):
        pass

