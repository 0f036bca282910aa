"""`status`: best so far per task, model and optimizer, `--watch`, and the note on package versions."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time

import pandas as pd
import pytest
from conftest import experiment_text

from hpo_bench.cli import main
from hpo_bench.store import RunLock, Store, package_versions


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A finished store of 4 runs (2 tasks x 2 optimizers x 2 seeds) and its experiment file."""
    place = tmp_path_factory.mktemp("status")
    exp = place / "tiny.toml"
    exp.write_text(experiment_text(models='["decision_tree"]', tasks='["sklearn:iris", "sklearn:wine"]',
                                   budget_evals=4, optimizers="random = {}\ngrid = { n_points = 2 }"))
    assert main(["run", str(exp), "--results-dir", str(place / "results"), "--executor", "inline"]) == 0
    return exp, place / "results" / "tiny.sqlite"


@pytest.fixture
def tiny_store(made):
    return made[1]


def best_table(out: str) -> pd.DataFrame:
    lines = out.split("best so far (validation 1-auc, over the runs with trials):\n")[1].strip().splitlines()
    header = lines[0].split()
    return pd.DataFrame([dict(zip(header, line.split(), strict=True)) for line in lines[1:]])


def test_status_shows_the_best_validation_loss_so_far_per_task_model_and_optimizer(tiny_store, capsys):
    capsys.readouterr()
    assert main(["status", str(tiny_store)]) == 0
    table = best_table(capsys.readouterr().out)
    with Store(tiny_store, create=False) as store:
        trials = store.trials()
    per_run = trials[trials.state == "COMPLETE"].groupby(["task", "model", "optimizer", "seed"]).loss.min()
    expected = per_run.groupby(["task", "model", "optimizer"]).agg(["min", "median"])
    assert len(table) == len(expected) == 4
    for _, row in table.iterrows():
        key = (row.task, row.model, row.optimizer)
        assert float(row.best) == pytest.approx(expected.loc[key, "min"], abs=5e-5)
        assert float(row.median_best) == pytest.approx(expected.loc[key, "median"], abs=5e-5)
        assert (row.runs_done, row.runs, row.trials) == ("2", "2", "8")


def test_watch_ends_by_itself_when_every_run_is_done_and_needs_watch_for_interval(tiny_store, capsys):
    capsys.readouterr()
    start = time.perf_counter()
    assert main(["status", str(tiny_store), "--watch", "--interval", "30"]) == 0
    assert time.perf_counter() - start < 20  # one view, no 30 s sleep: nothing is left to run
    out = capsys.readouterr().out
    assert "no run is writing" in out and out.count("best so far") == 1
    assert main(["status", str(tiny_store), "--interval", "5"]) == 2
    assert "--interval 5.0: only with --watch" in capsys.readouterr().err


@pytest.mark.slow  # a run in a driver process
def test_watch_follows_a_run_and_stops_when_it_stops(write_experiment, tmp_path):
    exp = write_experiment(models='["decision_tree"]', budget_evals=15, seeds=2, n_workers=1)
    results = tmp_path / "results"
    run = subprocess.Popen([sys.executable, "-m", "hpo_bench.cli", "run", str(exp), "--results-dir", str(results)],
                           stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    try:
        store = results / "tiny.sqlite"
        deadline = time.time() + 60
        while RunLock(store).holder() is None and time.time() < deadline:
            time.sleep(0.1)
        watch = subprocess.run([sys.executable, "-m", "hpo_bench.cli", "status", str(store), "--watch",
                                "--interval", "0.5"], capture_output=True, text=True, timeout=120)
    finally:
        run.wait(timeout=120)
    assert watch.returncode == 0, watch.stderr
    views = watch.stdout.split("tiny.sqlite: ")[1:]
    assert views[0].startswith(f"a run is writing (pid {run.pid} on {socket.gethostname()}")
    assert "2 runs (2 done); 30 trials" in views[-1]  # the last view is of the finished store


def test_lock_holder_is_read_without_taking_the_lock(tmp_path):
    lock = RunLock(tmp_path / "s.sqlite")
    assert lock.holder() is None  # no lock file
    with lock:
        assert lock.holder().startswith(f"pid {os.getpid()} on {socket.gethostname()}")
        assert RunLock(tmp_path / "s.sqlite").holder() is not None
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock.path.write_text(f"pid {dead.stdout.strip()} on {socket.gethostname()} since 2026-01-01 00:00:00")
    assert lock.holder() is None  # its process has ended


def test_a_store_made_with_other_versions_says_which_on_every_read(made, tmp_path, capsys):
    exp, original = made
    results = tmp_path / "results"
    results.mkdir()
    tiny_store = results / original.name
    shutil.copyfile(original, tiny_store)
    with Store(tiny_store, create=False) as store:
        assert store.version_differences() == {}
    db = sqlite3.connect(tiny_store)
    versions = json.loads(db.execute("SELECT versions FROM sessions").fetchone()[0])
    versions["scikit-learn"] = "0.24.2"
    versions["hyperopt-not-installed"] = "1.0"
    db.execute("UPDATE sessions SET versions = ?", (json.dumps(versions),))
    db.commit()
    db.close()
    here = package_versions()["scikit-learn"]
    with Store(tiny_store, create=False) as store:
        assert store.version_differences() == {"scikit-learn": (["0.24.2"], here),
                                               "hyperopt-not-installed": (["1.0"], None)}
    capsys.readouterr()
    assert main(["status", str(tiny_store)]) == 0
    notes = [line for line in capsys.readouterr().err.splitlines() if "other package versions" in line]
    assert len(notes) == 1
    assert f"scikit-learn 0.24.2 in the store, {here} here" in notes[0]
    assert "hyperopt-not-installed 1.0 in the store, not installed here" in notes[0]
    assert "reports/constraints.txt" in notes[0]
    # and a run that resumes the store says it before adding trials (here: none left to add)
    assert main(["run", str(exp), "--results-dir", str(results)]) == 0
    assert sum("other package versions" in line for line in capsys.readouterr().err.splitlines()) == 1


def test_the_python_api_gives_what_status_prints(tiny_store, capsys):
    import hpo_bench

    st = hpo_bench.status(tiny_store)
    assert st.name == "tiny" and st.by_status == {"done": 8} and st.finished and st.crashed == []
    assert st.n_trials == 32 and st.n_failed == 0 and st.metric == "1-auc"
    assert list(st.best.columns) == ["task", "model", "optimizer", "runs_done", "runs", "trials", "best",
                                     "median_best"]
    capsys.readouterr()
    assert main(["status", str(tiny_store)]) == 0
    printed = best_table(capsys.readouterr().out)
    assert printed["best"].astype(float).round(4).tolist() == st.best["best"].round(4).tolist()
