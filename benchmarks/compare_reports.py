"""Compare a regenerated report's CSVs with a committed report's, file by file.

    python benchmarks/compare_reports.py reports/NAME NEW_REPORTS_DIR/NAME [--markdown]

For each CSV of the committed report: `identical` (byte for byte); `same values` (every column the
committed file has is in the new one with the same text in every row: the new code added columns or
tables only); or `differs` with the columns whose values changed and how many cells. Values are compared
as the text the CSV holds, so a last-digit difference counts. Used to check that re-running a study
from its committed experiment file reproduces the committed numbers (docs/reproducibility.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd


def compare(old: Path, new: Path) -> tuple[str, str]:
    if not new.exists():
        return "missing", "the new report has no such table"
    if old.read_bytes() == new.read_bytes():
        return "identical", ""
    a = pd.read_csv(old, dtype=str, keep_default_na=False)
    b = pd.read_csv(new, dtype=str, keep_default_na=False)
    gone = [c for c in a.columns if c not in b.columns]
    added = [c for c in b.columns if c not in a.columns]
    if len(a) != len(b):
        return "differs", f"{len(a)} rows, now {len(b)}" + (f"; columns gone {gone}" if gone else "")
    changed = {c: int((a[c].values != b[c].values).sum()) for c in a.columns if c in b.columns}
    changed = {c: n for c, n in changed.items() if n}
    notes = []
    if added:
        notes.append(f"columns added {added}")
    if gone:
        notes.append(f"columns gone {gone}")
    if changed:
        cells = ", ".join(f"{c} ({n} of {len(a)})" for c, n in changed.items())
        return "differs", "; ".join([f"values changed in {cells}", *notes])
    return "same values", "; ".join(notes) or "same cells, other text (order or format)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("committed", type=Path)
    parser.add_argument("regenerated", type=Path)
    parser.add_argument("--markdown", action="store_true", help="a Markdown table instead of lines")
    args = parser.parse_args()
    rows = [(f.name, *compare(f, args.regenerated / f.name)) for f in sorted(args.committed.glob("*.csv"))]
    if args.markdown:
        print("| file | result | detail |\n| --- | --- | --- |")
        for name, result, detail in rows:
            print(f"| {name} | {result} | {detail} |")
    else:
        for name, result, detail in rows:
            print(f"{name}: {result}" + (f" ({detail})" if detail else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
