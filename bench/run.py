"""Run every benchmark module (bench/bench_*.py), print a table, write bench/results.json.

    make bench                      # full scale
    BENCH_SCALE=0.1 make bench      # a quick smoke run
    .venv/bin/python bench/run.py api    # only bench_api.py

A benchmark is a measurement, not a gate: a missed target prints FAIL, but the
exit code is 0 unless a benchmark could not run at all.
"""

import importlib
import json
import os
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))  # `python bench/run.py` puts bench/ first, not the root

KEYS = ("name", "value", "unit", "baseline", "ratio", "target", "pass")


def _number(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def _verdict(entry) -> str:
    if entry["pass"] is None:
        return "info"
    return "ok" if entry["pass"] else "FAIL"


def main(argv: list[str]) -> int:
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    modules = sorted(BENCH_DIR.glob("bench_*.py"))
    if argv:
        modules = [m for m in modules if m.stem.removeprefix("bench_") in argv]
    results = []
    for path in modules:
        module = importlib.import_module(f"bench.{path.stem}")
        print(f"running {path.stem} (BENCH_SCALE={scale}) ...", flush=True)
        for entry in module.run(scale):
            missing = [key for key in KEYS if key not in entry]
            if missing:
                raise ValueError(f"{path.stem} returned an entry without {missing}: {entry}")
            results.append({"benchmark": path.stem, **entry})

    rows = [("name", "value", "unit", "baseline", "ratio", "target", "result")]
    for e in results:
        target = "-" if e["target"] is None else f"<= {e['target']:g}"
        row = (e["name"], _number(e["value"]), e["unit"], _number(e["baseline"]))
        rows.append((*row, _number(e["ratio"]), target, _verdict(e)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    for e in results:
        if e.get("notes"):
            print(f"  {e['name']}: {e['notes']}")
    failed = [e["name"] for e in results if e["pass"] is False]
    if failed:
        print(f"\nFAIL: {', '.join(failed)} missed the target.")

    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {BENCH_DIR / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
