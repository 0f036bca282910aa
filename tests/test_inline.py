"""`executor = "inline"` on real tasks: evaluations in the driver's process give the same trials as the
local executor's workers, a time limit (which nothing could enforce there) is refused, and a driver
killed mid-run resumes with nothing lost or duplicated."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import experiment_text
from killing import run_again, sigkill_part_way
from test_run import trials_of

from hpo_bench.cli import main

ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}


@pytest.mark.slow  # two executors end to end, like test_dask's and test_ray's comparisons; 96 s on 2 busy cores
def test_inline_gives_the_same_trials_as_local_workers(tmp_path, capsys):
    # FAILING_LOGREG fails for real on C <= 0, so FAILED trials must match too; the MLP is where threaded
    # BLAS once changed a loss in its last digit (the inline executor holds BLAS to one thread, as workers do)
    exp = tmp_path / "exp.toml"
    exp.write_text(experiment_text(models='["families:FAILING_LOGREG", "mlp"]', budget_evals=6, seeds=2,
                                   optimizers="random = {}\ntpe = {}"))
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "local")]) == 0
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "inline"), "--executor", "inline"]) == 0
    assert "evaluated in this process, one at a time (inline executor)" in capsys.readouterr().err
    local, inline = trials_of(tmp_path / "local" / "tiny.sqlite"), trials_of(tmp_path / "inline" / "tiny.sqlite")
    assert len(local) == 2 * 2 * 2 * 6 and 0 < (local.state == "FAILED").sum() < len(local)
    pd.testing.assert_frame_equal(inline, local)


def test_a_time_limit_is_refused_with_where_it_came_from(tmp_path, capsys):
    exp = tmp_path / "exp.toml"
    exp.write_text(experiment_text(time_limit_s=30, executor='"inline"'))
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "exp.toml" in err and "time_limit_s" in err and "30" in err and "no fit can be stopped" in err
    # The same limit with the executor chosen on the command line: the option is named.
    exp.write_text(experiment_text(time_limit_s=30))
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "r"), "--executor", "inline"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--executor inline" in err and "time_limit_s = 30" in err and "no fit can be stopped" in err
    assert not (tmp_path / "r").exists()  # refused before anything was written


@pytest.mark.slow  # the one real SIGKILL of the inline executor's driver (tests/killing.py)
def test_inline_driver_sigkill_then_resume_loses_and_duplicates_nothing(tmp_path):
    # SLEEPY sleeps up to 1 s per fold: slow enough to kill the driver part-way
    exp = tmp_path / "exp.toml"
    exp.write_text(experiment_text(models='["executor_families:SLEEPY"]', budget_evals=6, seeds=2,
                                   executor='"inline"', include_default="false"))
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "ref")]) == 0
    reference = trials_of(tmp_path / "ref" / "tiny.sqlite")
    total = len(reference)
    db = tmp_path / "tiny.sqlite"
    command = [sys.executable, "-m", "hpo_bench.cli", "run", str(exp), "--results-dir", str(tmp_path)]
    sigkill_part_way(command, db, at_least=3, total=total, env=ENV, timeout=120)
    run_again(command, env=ENV)
    pd.testing.assert_frame_equal(trials_of(db), reference)
