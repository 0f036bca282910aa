"""Runs on Dask end to end: the same trials as the local executor, SIGKILL of the driver and resume, and
the store read (status, analyze, export) while a run writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from killing import run_again, sigkill_part_way
from test_run import _count, trials_of

from hpo_bench.cli import main
from hpo_bench.store import Store

pytest.importorskip("distributed")

TOTAL = 2 * 15  # seeds x budget of the experiment below
# A command in a subprocess imports the test model families from tests/, as pytest's pythonpath does here.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    from conftest import experiment_text

    path = tmp_path_factory.mktemp("dask") / "exp.toml"
    # iris, random search, 2 workers; logistic regression: fast, deterministic, and C <= 0 fails for real,
    # so FAILED trials must match too
    path.write_text(experiment_text(models='["families:FAILING_LOGREG"]', budget_evals=15, seeds=2))
    return path


@pytest.fixture(scope="module")
def reference(experiment, tmp_path_factory) -> pd.DataFrame:
    """The trials of the local executor."""
    results = tmp_path_factory.mktemp("local")
    assert main(["run", str(experiment), "--results-dir", str(results)]) == 0
    trials = trials_of(results / "tiny.sqlite")
    assert len(trials) == TOTAL
    assert 0 < (trials.state == "FAILED").sum() < TOTAL
    return trials


@pytest.mark.slow  # starts a Dask cluster
def test_a_dask_local_cluster_gives_the_same_trials_as_the_local_executor(experiment, reference, tmp_path, capsys):
    assert main(["run", str(experiment), "--results-dir", str(tmp_path), "--executor", "dask"]) == 0
    assert "2 Dask workers" in capsys.readouterr().err
    pd.testing.assert_frame_equal(trials_of(tmp_path / "tiny.sqlite"), reference)  # configs, losses, states


@pytest.mark.slow  # the one real SIGKILL of the dask executor (tests/killing.py)
def test_dask_driver_sigkill_then_resume_loses_and_duplicates_nothing(experiment, reference, tmp_path):
    db = tmp_path / "tiny.sqlite"
    command = [sys.executable, "-m", "hpo_bench.cli", "run", str(experiment), "--results-dir", str(tmp_path),
               "--executor", "dask"]
    # the driver, its Dask scheduler, workers and their evaluation processes
    sigkill_part_way(command, db, at_least=6, total=TOTAL, env=ENV, timeout=180)
    run_again(command, env=ENV)
    pd.testing.assert_frame_equal(trials_of(db), reference)


@pytest.mark.slow  # a run in a driver process
def test_status_analyze_and_export_read_the_store_while_a_run_writes(write_experiment, tmp_path, capsys):
    # 40 evaluations of at least 0.3 s each on 2 workers: the run is still going while we read
    exp = write_experiment(models='["executor_families:SLEEPY"]', budget_evals=20, seeds=2,
                           optimizers="grid = { n_points = 20, shuffle = false }")
    exp.write_text(exp.read_text().replace("include_default = true", "include_default = false"))
    results = tmp_path / "results"
    db = results / "tiny.sqlite"
    command = [sys.executable, "-m", "hpo_bench.cli", "run", str(exp), "--results-dir", str(results)]
    proc = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env=ENV)
    try:
        deadline = time.monotonic() + 120
        while _count(db) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert main(["status", str(db)]) == 0
        status = capsys.readouterr().out
        assert main(["analyze", str(db), "--reports-dir", str(tmp_path / "reports")]) == 0
        out = tmp_path / "trials.parquet"
        assert main(["export", str(db), "--output", str(out)]) == 0
        still_running = proc.poll() is None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert still_running, "the run ended before the reads: they did not read during a run"
    assert "2 runs (2 pending)" in status
    exported = pd.read_parquet(out)
    assert 3 <= len(exported) < 40
    # every exported trial is in the store as it is now, with the same values
    store = Store(db, create=False)
    now = store.trials().set_index(["run_id", "trial_number"])
    store.close()
    for _, row in exported.iterrows():
        stored = now.loc[(row.run_id, row.trial_number)]
        assert row.config == stored.config and row.loss == stored.loss and row.state == stored.state
    assert (exported.experiment == "tiny").all()
    for _, run in exported.groupby("run_id"):  # the unshuffled grid, in trial order
        sleeps = [json.loads(c)["sleep_s"] for c in run.sort_values("trial_number").config]
        assert sleeps == sorted(sleeps) and len(set(sleeps)) == len(sleeps)
