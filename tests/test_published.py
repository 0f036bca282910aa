"""A committed report is re-derived from its committed pack: the published trials of the XGBoost
tunability study (results/tunability-xgboost/) give, through `hpo-bench report`, every committed table and
index.md of reports/tunability-xgboost/ byte for byte. (Figures are left out of the comparison: a PNG
depends on the fonts and the FreeType build of the machine that draws it.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from hpo_bench import packs
from hpo_bench.cli import main

ROOT = Path(__file__).resolve().parents[1]
STUDY = "tunability-xgboost"


def test_the_committed_report_regenerates_from_the_committed_pack(tmp_path, capsys):
    pack, committed = ROOT / "results" / STUDY, ROOT / "reports" / STUDY
    if not packs.is_pack(pack):
        pytest.fail(f"{pack} is missing: the study's pack must be committed")
    assert main(["report", str(pack), "--reports-dir", str(tmp_path)]) == 0
    made = tmp_path / STUDY
    compared = sorted(p.relative_to(committed) for p in committed.rglob("*")
                      if p.is_file() and p.suffix in (".csv", ".md", ".tex"))
    assert len(compared) >= 20
    differing = [str(p) for p in compared if (made / p).read_bytes() != (committed / p).read_bytes()]
    assert not differing, f"regenerated from {pack}, these differ from the committed report: {differing}"
