"""Surrogate benchmarks: fitted on a store whose losses are a known function, run like any experiment."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from killing import cut_short
from synthetic_store import learning_rate_loss, write_store

from hpo_bench.cli import main
from hpo_bench.store import Store
from hpo_bench.tasks import TaskStore, load_task

TASKS = {"alpha": 0.0, "beta": 0.05}
COLUMNS = ["task", "model", "optimizer", "seed", "trial_number", "source", "config", "fidelity", "state", "loss",
           "fold_losses", "fold_metrics", "fit_time_s"]


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> tuple[Path, Path]:
    """A store of 2 tasks x random search (3 seeds x 80 trials) whose loss is a parabola in log2(learning_rate),
    with folds spread by 0.02 around it, and its surrogates built into a fresh task store."""
    root = tmp_path_factory.mktemp("surrogates")
    store = write_store(root / "real.sqlite", "real", {"xgboost": learning_rate_loss}, TASKS,
                        {"random": "random", "tpe": "tpe"}, budget=80, seeds=3, include_default=False,
                        fold_spread=0.02)
    task_store = root / "tasks"
    assert main(["surrogate", "build", str(store), "--name", "syn", "--task-store", str(task_store)]) == 0
    return store, task_store


def experiment(path: Path, seeds: int = 4, optimizers: str = "random = {}\ntpe = {}", **extra: str) -> Path:
    settings = {"tasks": '["surrogate:syn/alpha", "surrogate:syn/beta"]', "models": '["xgboost"]',
                "budget_evals": "20", "seeds": str(seeds), "cv_folds": "3", "include_default": "false", **extra}
    path.write_text('name = "on-surrogates"\n' + "".join(f"{k} = {v}\n" for k, v in settings.items())
                    + "\n[optimizers]\n" + optimizers + "\n")
    return path


def trials_of(db: Path) -> pd.DataFrame:
    with Store(db, create=False) as store:
        return store.trials()[COLUMNS].sort_values(COLUMNS[:5]).reset_index(drop=True)


def test_build_measures_quality_and_records_where_the_surrogate_came_from(source, capsys):
    store, task_store = source
    task = load_task("surrogate:syn/alpha", TaskStore(task_store))
    info = task.meta["families"]["xgboost"]
    assert info["trials_by_optimizer"] == {"random": 240}  # --trials design: the random runs only, no TPE
    assert info["metrics"][0] == "1-auc" and set(info["metrics"]) == {"1-auc", "logloss"}
    # One hyperparameter of ten carries the loss; a forest on 192 trials still ranks held-out ones well.
    assert info["quality"]["r2_1-auc"] > 0.8 and info["quality"]["kendall_tau_1-auc"] > 0.7
    assert task.built["source"]["store"] == str(store) and task.built["trials"] == "design"
    assert main(["surrogate", "list", "--task-store", str(task_store)]) == 0
    assert "surrogate:syn/beta: xgboost" in capsys.readouterr().out


def test_a_surrogate_task_predicts_the_known_loss_with_noise_of_the_fold_spread(source):
    _, task_store = source
    task = load_task("surrogate:syn/beta", TaskStore(task_store))
    rng = np.random.default_rng(0)
    space = task.families["xgboost"].space
    configs = [space.sample(rng) for _ in range(300)]
    results = task.evaluate("xgboost", [(c, 1.0, 7) for c in configs], "1-auc")
    truth = np.array([learning_rate_loss(c, TASKS["beta"]) for c in configs])
    losses = np.array([r.loss for r in results])
    assert np.mean(np.abs(losses - truth)) < 0.02
    spreads = np.array([np.std(r.fold_losses, ddof=1) for r in results])
    assert 0.01 < np.median(spreads) < 0.04  # the recorded spread over folds is 0.02
    # A trial depends on its model seed, configuration and fidelity only, not on the batch it is in.
    again = task.evaluate("xgboost", [(configs[5], 1.0, 7)], "1-auc")[0]
    assert again == results[5]
    other_seed = task.evaluate("xgboost", [(configs[5], 1.0, 8)], "1-auc")[0]
    assert other_seed.fold_losses != results[5].fold_losses
    assert math.isclose(results[0].fit_time_s, 0.01, rel_tol=1e-6)  # every recorded fit took 0.01 s
    low = task.evaluate("xgboost", [(configs[0], 0.25, 7)], "1-auc")[0]
    assert low.state == "FAILED" and "below the lowest of the trials" in low.error


def test_an_experiment_on_surrogates_is_reproducible_and_reports_its_agreement(source, tmp_path, capsys):
    store, task_store = source
    exp = experiment(tmp_path / "exp.toml")
    args = ["--task-store", str(task_store)]
    for folder in ("one", "two"):
        assert main(["run", str(exp), "--results-dir", str(tmp_path / folder), *args]) == 0
    assert "surrogate tasks, evaluated in this process" in capsys.readouterr().err
    one, two = (trials_of(tmp_path / folder / "on-surrogates.sqlite") for folder in ("one", "two"))
    pd.testing.assert_frame_equal(one, two)
    assert len(one) == 2 * 2 * 4 * 20 and (one.state == "COMPLETE").all()
    assert set(one.task) == {"surrogate:syn/alpha", "surrogate:syn/beta"}
    reports = tmp_path / "reports"
    assert main(["report", str(tmp_path / "one" / "on-surrogates.sqlite"), "--reports-dir", str(reports),
                 "--against", str(store)]) == 0
    ranks = pd.read_csv(reports / "on-surrogates" / "agreement_ranks.csv")
    assert set(ranks.optimizer) == {"random", "tpe"} and (ranks.n_blocks_real == 6).all()
    assert (ranks.n_blocks_surrogate == 8).all()


@pytest.mark.parametrize(("extra", "message"), [
    ({"tasks": '["surrogate:syn/alpha", "sklearn:iris"]'}, "tasks mix surrogate tasks with real ones ('sklearn:iris')"),
    ({"tasks": '["surrogate:nope/alpha"]'}, "no surrogate 'nope' in the task store"),
    ({"tasks": '["surrogate:syn/gamma"]'}, "surrogate 'syn' has no task 'gamma'"),
    ({"models": '["knn"]'}, "has no surrogate of model 'knn' (it has ['xgboost'])"),
    ({"cv_folds": "5"}, "was fitted on 3-fold losses; set cv_folds = 3"),
    ({"metric": '"error"'}, "metric 'error': task 'surrogate:syn/alpha' recorded ['1-auc', 'logloss']"),
    ({"test": '"holdout"'}, "a surrogate task has no held-out test split"),
])
def test_what_a_surrogate_cannot_answer_exits_2_with_one_line_before_anything_is_written(source, tmp_path, capsys,
                                                                                         extra, message):
    _, task_store = source
    exp = experiment(tmp_path / "bad.toml", **extra)
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "results"), "--task-store", str(task_store)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "results" / "on-surrogates.sqlite").exists()


def test_a_bad_build_exits_2_with_one_line(source, tmp_path, capsys):
    store, task_store = source
    assert main(["surrogate", "build", str(store), "--name", "syn", "--task-store", str(task_store)]) == 2
    assert "surrogate 'syn' already exists" in capsys.readouterr().err
    assert main(["surrogate", "build", str(store), "--name", "../up", "--task-store", str(task_store)]) == 2
    assert "surrogate name '../up'" in capsys.readouterr().err
    assert main(["surrogate", "build", str(tmp_path / "none.sqlite"), "--task-store", str(task_store)]) == 2
    assert "no result store at" in capsys.readouterr().err


def test_a_run_on_surrogates_cut_short_resumes_and_loses_and_duplicates_nothing(source, tmp_path):
    # A store as a driver killed mid-run leaves it (tests/killing.py), resumed in the process; surrogate tasks
    # are evaluated in the driver's process, so the inline executor's real SIGKILL (test_inline.py) is theirs.
    _, task_store = source
    exp = experiment(tmp_path / "exp.toml", seeds=12, optimizers="tpe = {}", budget_evals="40")
    total = 2 * 12 * 40
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "reference"), "--task-store", str(task_store)]) == 0
    killed = tmp_path / "killed"
    killed.mkdir()
    db = killed / "on-surrogates.sqlite"
    stored = cut_short(tmp_path / "reference" / "on-surrogates.sqlite", db, keep=[3, 11, 17, 29, 39])
    assert 200 <= stored < total
    assert main(["run", str(exp), "--results-dir", str(killed), "--task-store", str(task_store)]) == 0
    resumed = trials_of(db)
    pd.testing.assert_frame_equal(resumed, trials_of(tmp_path / "reference" / "on-surrogates.sqlite"))
    assert not resumed.duplicated(["task", "optimizer", "seed", "trial_number"]).any()
    assert json.loads(resumed.fold_metrics[0])["1-auc"] == json.loads(resumed.fold_losses[0])
