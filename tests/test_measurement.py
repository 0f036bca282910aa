"""What a number means: every metric per fold against plain scikit-learn, held-out test scores that are
never told, folds that cannot hold every class, crossed seed factors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    balanced_accuracy_score,
    brier_score_loss,
    log_loss,
    roc_auc_score,
    zero_one_loss,
)
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline

from hpo_bench.analysis import analyze, load_study
from hpo_bench.cli import main
from hpo_bench.errors import ExperimentError
from hpo_bench.evaluation import METRICS, evaluate, make_preprocessor
from hpo_bench.experiment import load_experiment, parse_experiment
from hpo_bench.models import DataShape, get_model
from hpo_bench.scheduler import PreparedTasks, Scheduler, prepare_tasks
from hpo_bench.splits import RunSplits
from hpo_bench.store import Store
from hpo_bench.tasks import TaskStore, load_task
from hpo_bench.trial import TrialState

QUICKSTART = Path(__file__).parent.parent / "benchmarks" / "quickstart.toml"


def plain_sklearn_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """What scikit-learn's own functions give for one fold, written out without hpo-bench's code."""
    labels = np.arange(proba.shape[1])
    if proba.shape[1] == 2:
        auc = roc_auc_score(y, proba[:, 1])
    else:
        auc = roc_auc_score(y, proba, multi_class="ovr", average="macro")
    predicted = proba.argmax(axis=1)
    return {"1-auc": 1.0 - auc, "logloss": log_loss(y, proba, labels=labels),
            "error": zero_one_loss(y, predicted), "brier": brier_score_loss(y, proba, labels=labels),
            "balanced_error": 1.0 - balanced_accuracy_score(y, predicted)}


@pytest.mark.filterwarnings("ignore:The y_prob values do not sum to one")  # float32 rows, see below
def test_every_metric_of_every_fold_equals_plain_scikit_learn_on_the_quickstart_tasks(tmp_path):
    quick = load_experiment(QUICKSTART)
    text = re.sub(r"(?m)^budget_evals = .*$", "budget_evals = 3", QUICKSTART.read_text())
    text = re.sub(r"(?m)^seeds = .*$", "seeds = 1", text)
    text = re.sub(r"(?m)^(tpe|gp) = \{\}\n", "", text)  # one optimizer (random): a run per task x model
    text = text.replace('name = "quickstart"', 'name = "quick-metrics"')
    exp = parse_experiment(text, where="quick-metrics")
    assert exp.tasks == quick.tasks and exp.models == quick.models
    with Store(tmp_path / "s.sqlite") as store:
        Scheduler(exp, store, n_workers=2).run()
        trials, tasks, runs = store.trials(), store.tasks(), store.runs()
    assert set(trials["task"]) == set(quick.tasks) and (trials["state"] == "COMPLETE").all()
    n_classes = dict(zip(tasks["task"], tasks["n_classes"], strict=True))
    assert {n_classes[t] for t in quick.tasks} >= {2, 3}  # binary and multiclass tasks both checked
    seeds = dict(zip(tasks["task"], tasks["split_seed"], strict=True))
    model_seeds = Store(tmp_path / "s.sqlite", create=False).db.execute(
        "SELECT run_id, model_seed FROM runs").fetchall()
    model_seed = {row[0]: row[1] for row in model_seeds}
    assert len(runs) == len(quick.tasks) * len(quick.models)
    for row in trials.itertuples():
        task = load_task(row.task)
        family = get_model(row.model)
        config = json.loads(row.config)
        folds = StratifiedKFold(n_splits=exp.cv_folds, shuffle=True, random_state=int(seeds[row.task]))
        stored = json.loads(row.fold_metrics)
        assert set(stored) == set(METRICS)
        for k, (train, test) in enumerate(folds.split(np.zeros(task.n_rows), task.y)):
            shape = DataShape(n_samples=len(train), n_features=task.n_features, n_classes=task.n_classes)
            pipe = Pipeline([("preprocess", make_preprocessor(task, scale=family.needs_scaling)),
                             ("model", family.make_estimator(config, seed=model_seed[row.run_id], fidelity=1.0,
                                                             shape=shape))])
            pipe.fit(task.X.iloc[train], task.y[train])
            # XGBoost predicts float32; scikit-learn's log_loss and brier would then compute in float32 (its
            # clipping eps follows the dtype). hpo-bench scores every model's probabilities as float64.
            proba = np.asarray(pipe.predict_proba(task.X.iloc[test]), dtype=np.float64)
            expected = plain_sklearn_metrics(task.y[test], proba)
            for name, value in expected.items():
                assert stored[name][k] == value, (row.task, row.model, row.trial_number, name, k)
        assert row.loss == np.mean(stored["1-auc"])


def holdout_text(**extra: str) -> str:
    # The inline executor: these are about what a run evaluates, stores and tells, not about workers.
    keys = {"name": '"held"', "tasks": '["sklearn:breast_cancer"]', "models": '["decision_tree"]',
            "budget_evals": "8", "seeds": "2", "cv_folds": "3", "n_workers": "2", "include_default": "true",
            "executor": '"inline"', "test": '"holdout"', "test_fraction": "0.25", **extra}
    body = "\n".join(f"{k} = {v}" for k, v in keys.items() if v != "None")
    return body + '\n\n[optimizers]\nrandom = {}\ntpe = { n_startup = 3 }\n'


def test_held_out_test_scores_the_default_and_every_incumbent_and_is_never_told(tmp_path):
    exp = parse_experiment(holdout_text(), where="held")
    prepared = prepare_tasks(exp, TaskStore())
    with Store(tmp_path / "held.sqlite") as store:
        Scheduler(exp, store, prepared=prepared).run()
        held = store.trials()
    # The same inner folds without the option: the search must ask and score exactly the same trials.
    plain = parse_experiment(holdout_text(test="None", test_fraction="None", name='"plain"'), where="plain")
    same_folds = PreparedTasks(prepared.tasks, {k: RunSplits(s.key, s.seed, s.folds) for k, s in
                                                prepared.splits.items()})
    with Store(tmp_path / "plain.sqlite") as store:
        Scheduler(plain, store, prepared=same_folds).run()
        untested = store.trials()
    columns = ["task", "optimizer", "seed", "trial_number", "config", "fidelity", "loss", "fold_metrics"]
    pd.testing.assert_frame_equal(held[columns], untested[columns])
    assert untested["test_state"].isna().all()

    # Inner folds never touch a test row; the test part is what the option asked for.
    (outer_train, test), = [s.holdout for s in prepared.splits.values()]
    assert len(test) == math.ceil(0.25 * 569) and not set(outer_train) & set(test)
    for s in prepared.splits.values():
        assert all(set(np.concatenate(fold)) <= set(outer_train) for fold in s.folds)

    # A test score for the default (trial 0) and for each trial that improved on every earlier one.
    for _, run in held.groupby(["optimizer", "seed"]):
        best, incumbents = math.inf, set()
        for r in run.itertuples():
            if r.state == "COMPLETE" and r.loss < best:
                best, incumbents = r.loss, incumbents | {r.trial_number}
        scored = set(run.loc[run["test_state"].notna(), "trial_number"])
        if (run["optimizer"] == "random").all():  # non-adaptive: incumbents under every metric
            assert incumbents <= scored
        else:
            assert scored == incumbents
        assert 0 in scored

    tables, _ = analyze(load_study(tmp_path / "held.sqlite"))
    best_found = tables["best_found"]
    assert {"median", "test_median", "n_seeds_test"} <= set(best_found) and (best_found["n_seeds_test"] == 2).all()
    assert {"test_mean", "test_n_datasets"} <= set(tables["tunability"])
    assert "measured on test (random)" in set(tables["tunability_summary"]["estimate"])
    optimism = tables["optimism"]
    assert set(optimism["optimizer"]) == {"random", "tpe"} and optimism["optimism_mean"].notna().all()
    final = tables["traces"].sort_values("budget_evals").groupby(["optimizer", "seed"]).last()
    per_run = held[held["test_state"] == "COMPLETE"]
    assert final["test_loss"].isin(per_run["test_metrics"].map(lambda m: json.loads(m)["1-auc"])).all()


def test_a_fold_with_one_class_fails_the_trial_with_the_reason(breast_cancer):
    y = breast_cancer.y
    ones, zeros = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    splits = [(np.concatenate([ones[:100], zeros]), ones[100:150])]  # a test fold of class 1 only
    result = evaluate(breast_cancer, get_model("decision_tree"), get_model("decision_tree").package_default(),
                      fidelity=1.0, seed=0, splits=splits)
    assert result.state == TrialState.FAILED and result.loss is None
    assert "1-auc" in result.error and "1 class(es)" in result.error


def test_too_many_folds_for_the_smallest_class_exits_2_before_any_store(tmp_path, capsys):
    data = pd.DataFrame({"x": np.arange(12.0), "label": ["a"] * 10 + ["b"] * 2})
    path = tmp_path / "rare.csv"
    data.to_csv(path, index=False)
    store_dir = tmp_path / "tasks"
    assert main(["tasks", "import", str(path), "--target", "label", "--task-store", str(store_dir)]) == 0
    exp = tmp_path / "rare.toml"
    exp.write_text('name = "rare"\ntasks = ["rare"]\nmodels = ["decision_tree"]\nbudget_evals = 2\ncv_folds = 3\n'
                   "[optimizers]\nrandom = {}\n")
    capsys.readouterr()
    code = main(["run", str(exp), "--results-dir", str(tmp_path / "results"), "--task-store", str(store_dir)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "class 'b' has 2 row(s)" in err[0] and "cv_folds = 3" in err[0] and "rare" in err[0]
    assert not (tmp_path / "results").exists()


def test_a_crossed_seed_design_varies_one_factor_at_a_time_and_is_decomposed(tmp_path):
    text = holdout_text(test="None", test_fraction="None", seed_design='"crossed"', budget_evals="2",
                        include_default="false", name='"crossed"').replace("tpe = { n_startup = 3 }\n", "")
    exp = parse_experiment(text, where="crossed")
    runs = exp.runs()
    assert len(runs) == 8 and {(r.split_rep, r.model_rep, r.optimizer_rep) for r in runs} == {
        (a, b, c) for a in (0, 1) for b in (0, 1) for c in (0, 1)}
    with Store(tmp_path / "c.sqlite") as store:
        Scheduler(exp, store).run()
        stored = store.runs()
    splits = Store(tmp_path / "c.sqlite", create=False).db.execute(
        "SELECT split_rep, COUNT(DISTINCT split_seed), COUNT(DISTINCT model_seed), COUNT(DISTINCT optimizer_seed) "
        "FROM runs GROUP BY split_rep").fetchall()
    assert [tuple(r) for r in splits] == [(0, 1, 2, 2), (1, 1, 2, 2)] and len(stored) == 8
    tables, skipped = analyze(load_study(tmp_path / "c.sqlite"))
    table = tables["variance_decomposition"]
    assert list(table["component"]) == ["split", "model seed", "optimizer seed", "residual"]
    assert (table["n_runs"] == 8).all() and table["variance"].notna().all()
    assert "variance_summary" in tables


def test_too_few_levels_for_a_crossed_design_is_refused():
    text = holdout_text(seed_design='"crossed"', seeds="1")
    with pytest.raises(Exception, match="seed_design = \"crossed\""):
        parse_experiment(text, where="x.toml")


def test_a_run_stopped_before_its_test_refits_scores_them_on_resume_with_the_same_numbers(tmp_path):
    exp = parse_experiment(holdout_text(budget_evals="5"), where="held")
    path = tmp_path / "held.sqlite"
    with Store(path) as store:
        Scheduler(exp, store).run()
        before = store.trials()
        # As if the driver died after the last trials but before the test refits were stored.
        store.db.execute("DELETE FROM test_scores WHERE run_id IN (1, 4)")
        store.db.execute("UPDATE runs SET status = 'pending', finished_at = NULL WHERE run_id IN (1, 4)")
    with Store(path) as store:
        Scheduler(exp, store).run()
        after = store.trials()
        statuses = set(store.runs()["status"])
    columns = ["run_id", "trial_number", "config", "loss", "test_state", "test_metrics"]
    assert statuses == {"done"} and before["test_state"].notna().sum() > 8
    pd.testing.assert_frame_equal(before[columns], after[columns])


def test_the_r_defaults_are_the_default_trial_and_hold_what_a_run_does_not_tune(tmp_path):
    """defaults = "probst2019": rpart's cp 0.01, maxdepth 30, minbucket 7, minsplit 20, not scikit-learn's."""
    exp = parse_experiment(holdout_text(budget_evals="{ decision_tree = 3 }", seeds="1", test="None",
                                        test_fraction="None", defaults='"probst2019"', tune='["all", "cp"]'),
                           where="r")
    with Store(tmp_path / "r.sqlite") as store:
        Scheduler(exp, store).run()
        trials = store.trials()
    r_default = {"cp": 0.01, "maxdepth": 30, "minbucket": 7, "minsplit": 20}
    defaults = trials[trials["source"] == "default"]
    assert len(defaults) == 4 and all(json.loads(c) == r_default for c in defaults["config"])
    cp_only = trials[(trials["tuned"] == "cp") & (trials["source"] == "optimizer")]
    assert len(cp_only) == 4  # 3 evaluations per run, the default one of them, for each of two optimizers
    for config in map(json.loads, cp_only["config"]):
        assert {k: v for k, v in config.items() if k != "cp"} == {"maxdepth": 30, "minbucket": 7, "minsplit": 20}
    assert (trials["state"] == "COMPLETE").all()


@pytest.mark.parametrize("family", ["elastic_net", "decision_tree", "knn", "svm", "random_forest", "xgboost"])
def test_every_r_default_of_the_paper_fits_and_is_placed_in_the_space(family, breast_cancer):
    model = get_model(family)
    config = model.default("probst2019")
    splits = breast_cancer.cv_splits(3, 0)
    result = evaluate(breast_cancer, model, config, fidelity=1.0, seed=0, splits=splits)
    assert result.state == TrialState.COMPLETE and result.loss < 0.1, result.error
    shape = DataShape(len(breast_cancer.y), breast_cancer.n_features, 2)
    point = model.space.encode(model.concrete(config, shape))
    assert np.all((np.nan_to_num(point, nan=0.5) >= 0) & (np.nan_to_num(point, nan=0.5) <= 1))
    if family == "elastic_net":  # lambda = 0: no penalty at all
        assert model.inverse_c(config, 100) == math.inf


LISTED = ("[{ cp = 0.02, maxdepth = 5, minbucket = 3, minsplit = 10 }, "
          "{ cp = 0.0, maxdepth = 2, minbucket = 1, minsplit = 2 }]")


def test_listed_configurations_come_first_are_never_told_and_are_each_scored_on_test(tmp_path):
    listed = parse_experiment(holdout_text(budget_evals="6", seeds="1") + f"\n[configs]\ndecision_tree = {LISTED}\n",
                              where="listed")
    assert "[configs]" not in holdout_text()
    plain = parse_experiment(holdout_text(budget_evals="4", seeds="1", name='"plain"'), where="plain")
    with Store(tmp_path / "listed.sqlite") as store:
        Scheduler(listed, store).run()
        with_listed = store.trials()
    with Store(tmp_path / "plain.sqlite") as store:
        Scheduler(plain, store).run()
        without = store.trials()
    for optimizer in ("random", "tpe"):
        a = with_listed[with_listed["optimizer"] == optimizer]
        b = without[without["optimizer"] == optimizer]
        assert list(a["source"]) == ["default", "listed", "listed", "optimizer", "optimizer", "optimizer"]
        assert [json.loads(c)["maxdepth"] for c in a[a["source"] == "listed"]["config"]] == [5, 2]
        # never told: the optimizer asks exactly what it asks without them (TPE adapts to what it is told)
        assert list(a[a["source"] == "optimizer"]["config"]) == list(b[b["source"] == "optimizer"]["config"])
        assert (a[a["source"] != "optimizer"]["test_state"] == "COMPLETE").all()


@pytest.mark.parametrize("extra, message", [
    ("[configs]\nsvm = [{ C = 1.0 }]\n", "configs.svm = [{'C': 1.0}]: names a model the experiment does not run"),
    ("[configs]\ndecision_tree = [{ cp = 2.0, maxdepth = 5, minbucket = 3, minsplit = 10 }]\n",
     "configs.decision_tree[0]: 'cp'"),
    ("[configs]\ndecision_tree = { cp = 0.1 }\n", "must be a list of tables"),
    (f"[configs]\ndecision_tree = {LISTED}\n", "decision_tree needs at least 3 evaluations per run"),
])
def test_bad_listed_configurations_name_the_model_and_the_rule(extra, message):
    with pytest.raises(ExperimentError) as info:
        parse_experiment(holdout_text(budget_evals="2") + "\n" + extra, where="x.toml")
    assert message in str(info.value)


@pytest.mark.parametrize("lost", [(1, 5), (2, 3, 4, 5), (0,), (0, 1, 2)])
def test_listed_configurations_lost_in_flight_are_evaluated_again_on_resume(tmp_path, lost):
    import shutil
    import sqlite3

    exp = parse_experiment(holdout_text(budget_evals="6", seeds="1", test="None", test_fraction="None")
                           + f"\n[configs]\ndecision_tree = {LISTED}\n", where="listed")
    with Store(tmp_path / "a.sqlite") as store:
        Scheduler(exp, store).run()
        complete = store.trials()
    shutil.copy(tmp_path / "a.sqlite", tmp_path / "b.sqlite")
    with sqlite3.connect(tmp_path / "b.sqlite") as db:  # as if the driver died with these in flight
        db.executemany("DELETE FROM trials WHERE trial_number = ?", [(n,) for n in lost])
        db.execute("UPDATE runs SET status = 'pending', note = NULL")
    with Store(tmp_path / "b.sqlite") as store:
        Scheduler(exp, store).run()
        resumed = store.trials()
    columns = ["optimizer", "trial_number", "source", "config", "loss", "fold_metrics"]
    pd.testing.assert_frame_equal(resumed[columns], complete[columns])
