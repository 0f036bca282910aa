"""Time budgets (`budget_seconds`): a run stops where its recorded times say, and a resumed one at the same
trial; the anytime traces over recorded time."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from killing import cut_short

from hpo_bench.analysis import NotApplicable, time_traces
from hpo_bench.cli import main
from hpo_bench.store import SCHEMA_VERSION, Store

BUDGET_S = 2.0
COLUMNS = ["run_id", "trial_number", "source", "config", "fidelity", "state", "loss", "fit_time_s",
           "predict_time_s", "optimizer_time_s"]


def trials_of(db: Path) -> pd.DataFrame:
    store = Store(db, create=False)
    try:
        return store.trials().sort_values(["run_id", "trial_number"]).reset_index(drop=True)
    finally:
        store.close()


def check_stops_where_the_times_say(trials: pd.DataFrame, runs: pd.DataFrame, budget_evals: int) -> None:
    """Every trial was asked with recorded time left, and each run went on until none was (or its evaluations
    ran out); trial numbers run 0..n-1 with none missing or twice."""
    for run_id, run in trials.groupby("run_id"):
        assert list(run["trial_number"]) == list(range(len(run))), f"run {run_id}: trials lost or duplicated"
        spent = (run["fit_time_s"] + run["predict_time_s"] + run["optimizer_time_s"]).cumsum().to_numpy()
        before = np.r_[0.0, spent[:-1]]
        assert (before < BUDGET_S).all(), f"run {run_id} asked a trial after its {BUDGET_S} s were spent"
        note = runs.loc[runs["run_id"] == run_id, "note"].iloc[0]
        if len(run) < budget_evals:
            assert spent[-1] >= BUDGET_S and note.startswith("time budget spent"), (run_id, spent[-1], note)
        optimizer = run[run["source"] == "optimizer"]
        assert (optimizer["optimizer_time_s"] > 0).all() and (run.loc[run["source"] == "default",
                                                                      "optimizer_time_s"] == 0).all()


@pytest.fixture
def timed(write_experiment):
    # in this process (the inline executor): recorded times are what is checked, not workers
    return write_experiment(budget_evals=60, budget_seconds=BUDGET_S, seeds=2, executor='"inline"',
                            optimizers="random = {}\ntpe = { n_startup = 3 }")


def test_a_time_budget_stops_each_run_where_its_recorded_times_say_and_replays(timed, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(timed), "--results-dir", str(out)]) == 0
    db = out / "tiny.sqlite"
    store = Store(db, create=False)
    runs = store.run_settings()
    store.close()
    first = trials_of(db)
    assert (runs["budget_seconds"] == BUDGET_S).all() and (runs["status"] == "done").all()
    check_stops_where_the_times_say(first, runs, 60)
    assert first.groupby("run_id").size().max() < 60, "the time budget, not the evaluations, must stop some run"

    # Killed after its last trial was stored, before it was marked done: the resumed run replays every
    # trial from the stored times and stops at the same one, asking nothing new.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET status = 'pending', note = NULL")
    conn.close()
    assert main(["run", str(timed), "--results-dir", str(out)]) == 0
    pd.testing.assert_frame_equal(trials_of(db)[COLUMNS], first[COLUMNS])


def test_a_time_budgeted_run_cut_short_resumes_and_loses_and_duplicates_nothing(timed, tmp_path):
    # A store as a driver killed mid-run leaves it (tests/killing.py), resumed in the process: the real
    # SIGKILL of a driver is tested once per executor (test_run.py, test_inline.py, test_dask.py, test_ray.py).
    reference = tmp_path / "reference"
    assert main(["run", str(timed), "--results-dir", str(reference), "--executor", "inline"]) == 0
    killed = tmp_path / "killed"
    killed.mkdir()
    db = killed / "tiny.sqlite"
    assert cut_short(reference / "tiny.sqlite", db, keep=[2, 5, 3, 4]) >= 8, "too few trials kept to test anything"
    assert main(["run", str(timed), "--results-dir", str(killed), "--executor", "inline"]) == 0
    store = Store(db, create=False)
    runs = store.run_settings()
    store.close()
    resumed = trials_of(db)
    check_stops_where_the_times_say(resumed, runs, 60)
    # Random search asks the same configurations whatever the losses: trial by trial, as in the reference.
    ref = trials_of(reference / "tiny.sqlite")
    ids = runs.loc[runs["optimizer"] == "random", "run_id"]
    for run_id in ids:
        a, b = resumed[resumed["run_id"] == run_id], ref[ref["run_id"] == run_id]
        n = min(len(a), len(b))
        assert list(a["config"][:n]) == list(b["config"][:n])


def _trials(times: list[float], losses: list[float], optimizer_time: float | None = 0.0) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({"task": "t", "model": "m", "optimizer": "o", "tuned": "all", "seed": 0, "metric": "1-auc",
                         "trial_number": range(n), "state": "COMPLETE", "fidelity": 1.0, "loss": losses,
                         "fit_time_s": times, "predict_time_s": 0.0, "optimizer_time_s": optimizer_time})


def test_time_traces_hold_the_incumbent_of_the_trials_done_by_each_time():
    a = _trials([1.0, 1.0, 2.0, 4.0], [0.5, 0.7, 0.3, 0.1]).assign(optimizer="a")
    b = _trials([0.5, 0.5], [0.4, 0.2]).assign(optimizer="b")  # ends at 1 s: keeps its incumbent after
    traces = time_traces(pd.concat([a, b]), n_points=9)
    assert np.isclose(traces["seconds"].min(), 0.5) and np.isclose(traces["seconds"].max(), 8.0)
    at = traces.set_index(["optimizer", "seconds"])["best_loss"]
    for seconds, expected in [(0.5, np.nan), (1.0, 0.5), (2.0, 0.5), (4.0, 0.3), (8.0, 0.1)]:
        value = at[("a", next(s for s in at.loc["a"].index if np.isclose(s, seconds)))]
        assert (np.isnan(value) and np.isnan(expected)) or value == expected, (seconds, value)
    assert at.loc["b"].iloc[0] == 0.4 and (at.loc["b"].iloc[2:] == 0.2).all()
    with pytest.raises(NotApplicable, match="no optimizer time"):
        time_traces(_trials([1.0], [0.5], optimizer_time=None))


def test_a_store_of_schema_2_is_upgraded_and_keeps_its_trials(timed, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(timed).replace("exp.toml", "exp.toml"), "--results-dir", str(out)]) == 0
    db = out / "tiny.sqlite"
    before = trials_of(db)
    with sqlite3.connect(db) as conn:  # the store as schema 2 made it
        conn.execute("ALTER TABLE trials DROP COLUMN optimizer_time_s")
        conn.execute("ALTER TABLE runs DROP COLUMN budget_seconds")
        conn.execute("ALTER TABLE tasks DROP COLUMN task_type")
        conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    after = trials_of(db)
    assert SCHEMA_VERSION == 4 and after["optimizer_time_s"].isna().all()
    cols = [c for c in COLUMNS if c != "optimizer_time_s"]
    pd.testing.assert_frame_equal(after[cols], before[cols])
