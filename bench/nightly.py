"""Nightly runs: an incremental `run --state` on an export with 1% of its rows changed, against
`validate` of the same file, in one run of this script (ratios, not absolute times).

    python bench/nightly.py --rows 10000000

Night 1 (the baseline) sends everything to the emulator (`--count-only`) and writes the state;
night 2 reads a copy with 1% of rows changed and sends those. Printed: seconds and peak RSS of
validate and night 2, their ratios, the state's size, and night 2's counts.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import data  # noqa: E402
from run import KEY, PY, SITE, Emulator, generate, measure  # noqa: E402


def changed_copy(csv_path: Path, target: Path, share: float) -> int:
    """The export with `share` of its rows given another plan; returns how many."""
    frame = pl.read_csv(csv_path, infer_schema=False)
    step = round(1 / share)
    index = pl.int_range(pl.len())
    frame = frame.with_columns(pl.when(index % step == 0).then(pl.lit("changed-plan"))
                               .otherwise(pl.col("plan")).alias("plan"))
    frame.write_csv(target)
    return (frame.height + step - 1) // step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--changed", type=float, default=0.01)
    args = ap.parse_args()
    csv_path = generate("people", args.rows)
    env = {"CUSTOMERIO_SITE_ID": SITE, "CUSTOMERIO_API_KEY": KEY}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mapping = work / "people.yaml"
        mapping.write_text(data.PEOPLE_MAPPING)
        tonight = work / "people.csv"
        changed = changed_copy(csv_path, tonight, args.changed)
        state = work / "people.state"
        emu = Emulator()
        try:
            common = ["--endpoint", emu.url, "--quiet", "--rate", "100000", "--state",
                      str(state), "--rejects", str(work / "rejects.ndjson"),
                      "--checkpoint", str(work / "checkpoint.json")]
            night1 = measure("night 1", args.rows, [PY, "-m", "backfill", "run", str(mapping),
                                                    str(csv_path), *common], env)
            validate = measure("validate", args.rows, [
                PY, "-m", "backfill", "validate", str(mapping), str(tonight), "--quiet",
                "--rejects", str(work / "rejects.ndjson")])
            report = work / "night2.json"
            night2 = measure("night 2", args.rows, [
                PY, "-m", "backfill", "run", str(mapping), str(tonight), *common,
                "--report", str(report)], env)
        finally:
            emu.stop()
        counts = json.loads(report.read_text())
        out = {
            "rows": args.rows, "changed_rows": changed,
            "validate_s": round(validate.seconds, 2), "night2_s": round(night2.seconds, 2),
            "night1_s": round(night1.seconds, 2),
            "time_ratio": round(night2.seconds / validate.seconds, 3),
            "validate_rss_mb": round(validate.max_rss_mb), "night2_rss_mb":
                round(night2.max_rss_mb), "rss_ratio": round(night2.max_rss_mb /
                                                             validate.max_rss_mb, 3),
            "state_mb": round(state.stat().st_size / 1e6, 1),
            "night2": {k: counts[k] for k in ("rows_new", "rows_changed", "rows_unchanged",
                                              "operations_delivered", "requests")},
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
