"""`nightly/night.py`: one night's rules that need no process (the real-process nights are in
`test_nightly.py`)."""

from __future__ import annotations

import pytest

from backfill.errors import UsageError
from backfill.nightly.night import deletes_allowed


def test_max_deletes_takes_a_count_or_a_share():
    assert deletes_allowed("1%", 1000) == 10
    assert deletes_allowed("1%", 50) == 1
    assert deletes_allowed("250", 10) == 250
    for bad in ("x", "-1", "150%", ""):
        with pytest.raises(UsageError):
            deletes_allowed(bad, 10)

