"""Print the reliability figures for RELIABILITY.md: `python bench/reliability.py`.

Runs the scenarios of tests/helpers/reliability.py (the same ones
tests/delivery/test_reliability.py asserts on) against the emulator on loopback, and prints a
markdown table.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import reliability  # noqa: E402

HEADER = ("| scenario | command | injected | rows | operations expected | operations stored | "
          "lost | duplicated | exit codes | notes |\n|---|---|---|---|---|---|---|---|---|---|")


def main() -> None:
    started = time.monotonic()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("faults", "outage", "exhausted", "kills", "interrupts"):
            fig = getattr(reliability, name)(Path(tmp) / name)
            rows.append(fig.row())
            print(f"{name}: done", file=sys.stderr)
    print(HEADER)
    print("\n".join(rows))
    print(f"\n(all scenarios: {time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
