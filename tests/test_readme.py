"""The Python examples of the README and docs/python.md run as written, in order, against the
emulator."""

from __future__ import annotations

import re
import shutil

from helpers import ROOT
from helpers.emulated import KEY, SITE, start, stored

EXAMPLES = [example for page in ("README.md", "docs/python.md")
            for example in re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), re.S)]


def test_the_python_examples_run_against_the_emulator(tmp_path, monkeypatch, capsys):
    assert len(EXAMPLES) >= 3
    emu, store = start(tmp_path)
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CUSTOMERIO_SITE_ID", SITE)
    monkeypatch.setenv("CUSTOMERIO_API_KEY", KEY)
    monkeypatch.setenv("BACKFILL_ENDPOINT", emu.url)
    for old in (ROOT / "out" / "readme").glob("customers.state*"):  # a run before this one
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    namespace: dict = {}
    try:
        for example in EXAMPLES:
            exec(compile(example, "README.md", "exec"), namespace)  # noqa: S102
    finally:
        emu.stop()
    out = capsys.readouterr().out
    assert "100,000 rows, 100,000 operations delivered" in out
    assert "stopped (4): the Track API refused the credentials" in out
    readme_sent = int(out.splitlines()[0].split()[2])  # the README's run of the sample people
    # the sample people, the two customers, the signups, the nightly first night's two again
    assert readme_sent > 0 and sum(stored(store).values()) == readme_sent + 2 + 100_000 + 2
    assert "2 0 0 2" in out  # the nightly example's second night: nothing sent
