"""Nightly runs: an incremental `run --state` on an export with 1% of its rows changed, against
`validate` of the same file, in one run of this script (ratios, not absolute times).

    python bench/nightly.py --rows 10000000

Night 1 (the baseline) sends everything to the emulator (`--count-only`) and writes the state;
night 2 reads a copy with 1% of rows changed and sends those, from the same state each time,
alternated with `validate` of that copy (`--repeat` times). Printed: seconds and peak RSS of
validate and night 2, the ratios of their medians, the state's size, and night 2's counts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import KEY, PY, SITE, Emulator, data, generate, measure  # noqa: E402


def median(measures: list) -> object:
    """The measure of median time."""
    return sorted(measures, key=lambda m: m.seconds)[len(measures) // 2]


def changed_copy(csv_path: Path, target: Path, share: float) -> int:
    """The export with `share` of its rows given another plan; returns how many."""
    import polars as pl  # here: `run` keeps the environment as it was before polars
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
    ap.add_argument("--repeat", type=int, default=3)
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
            kept = work / "kept"
            kept.mkdir()
            for part in (state, Path(f"{state}.keys")):
                subprocess.run(["cp", "-r", str(part), str(kept)], check=True)
            validates, nights = [], []
            report = work / "night2.json"
            for _ in range(args.repeat):  # alternated, so that drifts of the machine hit both
                validates.append(measure("validate", args.rows, [
                    PY, "-m", "backfill", "validate", str(mapping), str(tonight), "--quiet",
                    "--rejects", str(work / "rejects.ndjson")]))
                shutil.rmtree(f"{state}.keys")
                for part in kept.iterdir():
                    subprocess.run(["cp", "-r", str(part), str(work)], check=True)
                nights.append(measure("night 2", args.rows, [
                    PY, "-m", "backfill", "run", str(mapping), str(tonight), *common,
                    "--report", str(report)], env))
        finally:
            emu.stop()
        counts = json.loads(report.read_text())
        validate = median(validates)
        night2 = median(nights)
        out = {
            "rows": args.rows, "changed_rows": changed, "repeats": args.repeat,
            "validate_s": [round(m.seconds, 2) for m in validates],
            "night2_s": [round(m.seconds, 2) for m in nights],
            "night1_s": round(night1.seconds, 2),
            "time_ratio": round(night2.seconds / validate.seconds, 3),
            "validate_rss_mb": [round(m.max_rss_mb) for m in validates],
            "night2_rss_mb": [round(m.max_rss_mb) for m in nights],
            "rss_ratio": round(max(m.max_rss_mb for m in nights)
                               / max(m.max_rss_mb for m in validates), 3),
            "state_mb": round(state.stat().st_size / 1e6, 1),
            "keys_mb": round(sum(f.stat().st_size for f in Path(f"{state}.keys").iterdir())
                             / 1e6, 1),
            "night2": {k: counts[k] for k in ("rows_new", "rows_changed", "rows_unchanged",
                                              "operations_delivered", "requests")},
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
