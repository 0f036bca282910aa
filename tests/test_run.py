"""End to end: experiment file -> scheduler -> worker processes -> store, through the CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
from killing import count_trials, cut_short, run_again, sigkill_part_way

from hpo_bench.cli import main
from hpo_bench.experiment import load_experiment
from hpo_bench.optimizers.base import register
from hpo_bench.optimizers.random_search import RandomSearch
from hpo_bench.scheduler import Scheduler
from hpo_bench.store import Store
from hpo_bench.trial import TrialState

COLUMNS = ["task", "model", "optimizer", "seed", "trial_number", "source", "config", "fidelity", "state", "loss",
           "fold_losses"]


def trials_of(db: Path) -> pd.DataFrame:
    store = Store(db, create=False)
    try:
        return store.trials()[COLUMNS].sort_values(COLUMNS[:5]).reset_index(drop=True)
    finally:
        store.close()


def test_run_status_analyze_and_rerun_does_nothing(write_experiment, tmp_path, capsys):
    # two cheap families (this is about the commands, not the models), in this process
    exp = write_experiment(models='["decision_tree", "optimizer_families:TINY_FOREST"]', executor='"inline"',
                           optimizers="random = {}\ngrid = { n_points = 2 }")
    results, reports = tmp_path / "results", tmp_path / "reports"
    assert main(["run", str(exp), "--results-dir", str(results)]) == 0
    db = results / "tiny.sqlite"
    trials = trials_of(db)
    assert len(trials) == 1 * 2 * 2 * 2 * 5  # tasks x models x optimizers x seeds x budget
    assert (trials[trials.trial_number == 0].source == "default").all()
    assert (trials.state == "COMPLETE").all()
    captured = capsys.readouterr()
    assert "[40/40 evals 100.0%]" in captured.err

    # a second run finds everything done and adds nothing
    assert main(["run", str(exp), "--results-dir", str(results)]) == 0
    pd.testing.assert_frame_equal(trials, trials_of(db))

    assert main(["status", str(exp), "--results-dir", str(results)]) == 0
    assert "8 runs (8 done); 40 trials, 0 failed" in capsys.readouterr().out
    assert main(["analyze", str(db), "--reports-dir", str(reports)]) == 0
    table = pd.read_csv(reports / "tiny" / "best_found.csv")
    assert len(table) == 4 and (table.n_seeds == 2).all()
    best = trials[trials.state == "COMPLETE"].groupby(["model", "optimizer", "seed"]).loss.min()
    for _, row in table.iterrows():
        assert row["median"] == pytest_approx(best[row.model, row.optimizer].median())


def pytest_approx(x):
    import pytest

    return pytest.approx(x, rel=1e-5)


def test_same_file_same_trials(write_experiment, tmp_path):
    # TINY_FOREST: a random forest (its own seeded randomness) that fits in milliseconds
    exp = write_experiment(models='["optimizer_families:TINY_FOREST"]', budget_evals=4)
    for d in ("a", "b"):
        assert main(["run", str(exp), "--results-dir", str(tmp_path / d), "--n-workers", "2"]) == 0
    a, b = trials_of(tmp_path / "a" / "tiny.sqlite"), trials_of(tmp_path / "b" / "tiny.sqlite")
    assert len(a) == 8
    pd.testing.assert_frame_equal(a, b)
    # and not the same across seeds
    assert a[a.seed == 0].config.tolist() != a[a.seed == 1].config.tolist()


TOLD: list[tuple[str, float | None]] = []


@register
class RecordingRandom(RandomSearch):
    """Random search that keeps what it was told, to check failures reach the optimizer as failures."""

    name = "recording-random"

    def tell(self, suggestion, result):
        TOLD.append((str(result.state), result.loss))


def test_failed_trials_are_recorded_and_told_and_the_run_goes_on(write_experiment, tmp_path):
    TOLD.clear()
    exp = load_experiment(write_experiment(models='["families:FAILING_LOGREG"]', budget_evals=12, seeds=1,
                                           optimizers='rec = { type = "recording-random" }'))
    store = Store(tmp_path / "s.sqlite")
    counts = Scheduler(exp, store, n_workers=2).run()
    trials = store.trials()
    store.close()
    assert counts == {"done": 1}
    assert len(trials) == 12
    failed = trials[trials.state == "FAILED"]
    assert 2 <= len(failed) <= 10  # C < 0 in about half the draws
    assert failed.loss.isna().all()
    assert failed.error.str.contains("InvalidParameterError").all()
    assert failed.error.str.contains("'C' parameter").all()
    # the optimizer heard of every optimizer trial, failures with no loss
    optimizer_trials = trials[trials.source == "optimizer"]
    assert TOLD == [(s, None if s != TrialState.COMPLETE else pytest_approx(loss))
                    for s, loss in zip(optimizer_trials.state, optimizer_trials.loss, strict=True)]


def _count(db: Path) -> int:
    return count_trials(db)


# The one real SIGKILL of the local executor's driver and workers (tests/killing.py; the other executors have
# theirs in test_inline.py, test_dask.py and test_ray.py).
@pytest.mark.slow
def test_sigkill_then_resume_loses_and_duplicates_nothing(write_experiment, tmp_path):
    exp = write_experiment(budget_evals=10, seeds=2, optimizers="random = {}")
    total = 1 * 1 * 1 * 2 * 10
    reference = tmp_path / "reference"
    assert main(["run", str(exp), "--results-dir", str(reference)]) == 0

    killed = tmp_path / "killed"
    db = killed / "tiny.sqlite"
    command = [sys.executable, "-m", "hpo_bench.cli", "run", str(exp), "--results-dir", str(killed)]
    sigkill_part_way(command, db, at_least=6, total=total, timeout=120)  # the driver and its workers, mid-run
    run_again(command)
    pd.testing.assert_frame_equal(trials_of(db), trials_of(reference / "tiny.sqlite"))


# The peers that keep state of their own (SMAC's run history and intensifier, Ray Tune's searcher) are
# rebuilt by replay like ours: a store cut short as a killed driver leaves it (each run keeps a prefix of its
# trials and is pending) resumes in the process to the trials of the uninterrupted run. An extra that is not
# installed skips its case.
@pytest.mark.parametrize("optimizer", ["random", "smac-hpo", "ray-optuna"])
def test_a_run_cut_short_resumes_and_loses_and_duplicates_nothing(write_experiment, tmp_path, optimizer):
    pytest.importorskip({"smac-hpo": "smac", "ray-optuna": "ray.tune"}.get(optimizer, "hpo_bench"))
    exp = write_experiment(models='["decision_tree"]', budget_evals=10, seeds=2, optimizers=f"{optimizer} = {{}}",
                           executor='"inline"')
    total = 1 * 1 * 1 * 2 * 10
    reference = tmp_path / "reference"
    assert main(["run", str(exp), "--results-dir", str(reference)]) == 0
    db = tmp_path / "killed" / "tiny.sqlite"
    db.parent.mkdir()
    stored = cut_short(reference / "tiny.sqlite", db, keep=[3, 6])  # seed 0 keeps 3 trials, seed 1 keeps 6
    assert 6 <= stored < total
    assert main(["run", str(exp), "--results-dir", str(db.parent)]) == 0
    pd.testing.assert_frame_equal(trials_of(db), trials_of(reference / "tiny.sqlite"))


def test_sittings_by_model_give_the_trials_of_one_whole_run(write_experiment, tmp_path, capsys):
    exp = write_experiment(models='["decision_tree", "knn"]', budget_evals="{ decision_tree = 4, knn = 3 }",
                           tasks='["sklearn:breast_cancer"]', seeds=1, executor='"inline"')
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "whole")]) == 0
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "parts"), "--models", "knn"]) == 0
    knn_only = trials_of(tmp_path / "parts" / "tiny.sqlite")
    assert set(knn_only["model"]) == {"knn"} and len(knn_only) == 3
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "parts"), "--models", "decision_tree,knn"]) == 0
    pd.testing.assert_frame_equal(trials_of(tmp_path / "parts" / "tiny.sqlite"),
                                  trials_of(tmp_path / "whole" / "tiny.sqlite"))
    capsys.readouterr()
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "parts"), "--models", "svm"]) == 2
    err = capsys.readouterr().err
    assert "--models svm: name models of the experiment, comma-separated (decision_tree, knn)" in err
    store, reports = str(tmp_path / "parts" / "tiny.sqlite"), tmp_path / "reports"
    assert main(["report", store, "--reports-dir", str(reports), "--models", "knn"]) == 0
    assert set(pd.read_csv(reports / "tiny" / "best_found.csv")["model"]) == {"knn"}
    assert "**models reported**: knn; not reported here: decision_tree" in (reports / "tiny" / "index.md").read_text()
    assert main(["analyze", store, "--reports-dir", str(reports), "--models", "knn,svm"]) == 2
    assert "--models knn,svm: name models of the store, comma-separated (decision_tree, knn)" in capsys.readouterr().err


def test_workers_take_the_earliest_runs_first_so_a_stop_leaves_whole_repetitions(write_experiment, tmp_path):
    # One worker, 2 seeds x 2 optimizers: each run is done before the next one starts, in the file's order
    # (seed-major), so stopping after any trial leaves the earlier repetitions whole.
    exp = write_experiment(models='["decision_tree"]', budget_evals=3, seeds=2, n_workers=1,
                           optimizers="random = {}\nsobol = {}")
    assert main(["run", str(exp), "--results-dir", str(tmp_path)]) == 0
    with Store(tmp_path / "tiny.sqlite", create=False) as store:
        trials = store.trials().sort_values("finished_at")
    order = list(dict.fromkeys(zip(trials.seed, trials.optimizer, strict=True)))
    assert order == [(0, "random"), (0, "sobol"), (1, "random"), (1, "sobol")]
    runs = trials.groupby(["seed", "optimizer"]).finished_at.agg(["min", "max"]).sort_values("min")
    assert (runs["max"].to_numpy()[:-1] < runs["min"].to_numpy()[1:]).all()  # no overlap: one run at a time


def test_a_run_left_part_done_goes_on_before_runs_that_have_not_started(write_experiment, tmp_path):
    # The last run of the file was stopped after 1 of its 3 trials, the others never started: resumed on one
    # worker, it finishes first (a long run left over from a sitting is not starved by fresh runs ahead of it
    # in the file), then the others in the file's order, and every run ends with the same trials as a
    # run without a stop.
    exp = write_experiment(models='["decision_tree"]', budget_evals=3, seeds=2, n_workers=1,
                           optimizers="random = {}\nsobol = {}")
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    assert main(["run", str(exp), "--results-dir", str(reference)]) == 0
    resumed.mkdir()
    cut_short(reference / "tiny.sqlite", resumed / "tiny.sqlite", keep=[0, 0, 0, 1])
    assert main(["run", str(exp), "--results-dir", str(resumed)]) == 0
    with Store(resumed / "tiny.sqlite", create=False) as store:
        trials = store.trials().sort_values("finished_at")
    new = trials[trials.session_id == trials.session_id.max()]  # what the resumed sitting ran
    assert len(new) == len(trials) - 1
    order = list(dict.fromkeys(zip(new.seed, new.optimizer, strict=True)))
    assert order == [(1, "sobol"), (0, "random"), (0, "sobol"), (1, "random")]
    with Store(reference / "tiny.sqlite", create=False) as store:
        expected = store.trials()
    key = ["seed", "optimizer", "trial_number"]
    pd.testing.assert_series_equal(trials.sort_values(key)["config"].reset_index(drop=True),
                                   expected.sort_values(key)["config"].reset_index(drop=True))
