"""The progress bar on stderr (tqdm): off with `quiet` or when stderr is not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def progress(total: int, quiet: bool, unit: str = "B") -> Iterator[tqdm]:
    """A bar over `total` units (bytes: scaled by 1024; rows: by 1000); 0 means unknown."""
    disable = quiet or not sys.stderr.isatty()
    bar = tqdm(total=total or None, unit=unit, unit_scale=True,
               unit_divisor=1024 if unit == "B" else 1000, disable=disable,
               dynamic_ncols=True, desc="reading")
    try:
        yield bar
    finally:
        bar.close()
