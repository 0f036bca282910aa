"""Regression: tasks from every source, k-fold splits, the metrics against plain scikit-learn, a run on
sklearn:diabetes that resumes and reports, and the errors a regression experiment can meet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import arff
import numpy as np
import pandas as pd
import pytest
from openml_server import FIXTURES, OpenMLReplay, guard_network
from sklearn.compose import TransformedTargetRegressor
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from hpo_bench.cli import main
from hpo_bench.errors import ExperimentError, TaskError
from hpo_bench.evaluation import REGRESSION_METRICS, make_preprocessor
from hpo_bench.models import DataShape, get_model
from hpo_bench.splits import make_splits
from hpo_bench.store import Store
from hpo_bench.tasks import TaskStore, expand_task_refs, load_task
from hpo_bench.tasks.files import task_from_file

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REGRESSION_MANIFEST = SHARED / "regression" / "manifest.csv"


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


# -- tasks ----------------------------------------------------------------------------------------------
def test_the_regression_manifest_imports_all_19_with_their_values(tmp_path, capsys):
    store = tmp_path / "store"
    assert main(["tasks", "import", str(REGRESSION_MANIFEST), "--task-store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "19 task(s)" in out and out.count(": imported: ") == 19 and out.count(", regression, ") == 19
    manifest = pd.read_csv(REGRESSION_MANIFEST)
    for row in manifest.itertuples():
        task = load_task(row.name, store)
        assert task.task_type == "regression" and task.n_classes == 0 and task.classes == []
        assert (task.n_rows, task.n_features) == (row.n_rows, row.n_features)
        assert task.ids["openml_data_id"] == row.openml_data_id
        expected = pd.read_csv(REGRESSION_MANIFEST.parent / row.file, sep="\t")[row.target].to_numpy(dtype=float)
        np.testing.assert_array_equal(task.y, expected)
    # A second import changes nothing; `tasks list` says what the tasks are.
    assert main(["tasks", "import", str(REGRESSION_MANIFEST), "--task-store", str(store)]) == 0
    assert capsys.readouterr().out.count(": unchanged: ") == 19
    assert main(["tasks", "list", "--task-store", str(store)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert sum(" regression " in line for line in listed[1:-1]) == 19


def test_a_regression_target_must_be_numeric_and_finite(tmp_path, capsys):
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [1.5, 2.5, 3.5, 4.5]})
    for bad, rule in [(["a", "b", "c", "d"], "row 0: 'a'"), ([1.0, np.nan, 2.0, 3.0], "row 1"),
                      ([1.0, np.inf, 2.0, 3.0], "row 1"), ([2.0] * 4, "constant")]:
        path = tmp_path / "bad.csv"
        frame.assign(y=bad).to_csv(path, index=False)
        code = main(["tasks", "import", str(path), "--target", "y", "--task-type", "regression",
                     "--task-store", str(tmp_path / "store")])
        assert code == 2
        line = one_error_line(capsys)
        assert "bad.csv" in line and rule in line and "'y'" in line, line
    assert TaskStore(tmp_path / "store").entries() == []
    path = tmp_path / "good.csv"
    frame.to_csv(path, index=False)
    task = task_from_file(path, target="y", task_type="regression")
    assert task.y.dtype == np.float64 and task.task_type == "regression"
    # Imported as classification (the default), the same file is a four-class task as before.
    assert task_from_file(path, target="y").n_classes == 4
    with pytest.raises(TaskError, match="task_type = 'ordinal'"):
        task_from_file(path, target="y", task_type="ordinal")


def test_regression_folds_are_plain_k_folds_and_a_held_out_part_is_a_random_share():
    task = load_task("sklearn:diabetes")
    splits = make_splits(task, "sklearn:diabetes", n_folds=5)
    expected = KFold(5, shuffle=True, random_state=splits.seed).split(np.zeros(task.n_rows))
    for (train, test), (e_train, e_test) in zip(splits.folds, expected, strict=True):
        np.testing.assert_array_equal(test, e_test)
        np.testing.assert_array_equal(train, e_train)
    held = make_splits(task, "sklearn:diabetes", n_folds=3, test_fraction=0.25)
    outer_train, test = held.holdout
    assert len(test) == 111 and not set(outer_train) & set(test)
    assert all(set(np.concatenate(fold)) <= set(outer_train) for fold in held.folds)
    tiny = task.__class__(name="tiny", X=task.X.iloc[:5], y=task.y[:5], classes=[], task_type="regression")
    with pytest.raises(ExperimentError, match="5 row.*fewer than 2 per test part for 3 parts"):
        make_splits(tiny, "tiny", n_folds=3)


def test_the_bundled_ctr23_suite_expands_to_its_35_tasks():
    refs = expand_task_refs(["suite:OpenML-CTR23"])
    assert len(refs) == 35 == len(set(refs)) and refs[0] == "openml:task/361234" and refs[-1] == "openml:task/361623"


@pytest.fixture
def loopback_only(monkeypatch):
    yield from guard_network(monkeypatch)


def test_openml_regression_dataset_and_task_pull_as_regression(tmp_path, loopback_only, capsys):
    # The recorded server files hold one regression dataset (561, cpu) but no regression task. The task
    # below is written in the form of the recorded task 3 (a 10-fold CV task) with OpenML's task type 2,
    # "Supervised Regression", and a partition of dataset 561's rows as its split file.
    root = tmp_path / "server"
    shutil.copytree(FIXTURES / "www", root, symlinks=True)
    task_xml = (root / "tasks" / "3" / "task.xml").read_text(encoding="utf-8")
    task_xml = (task_xml.replace("<oml:task_id>3</oml:task_id>", "<oml:task_id>9561</oml:task_id>")
                .replace("<oml:task_type_id>1</oml:task_type_id>", "<oml:task_type_id>2</oml:task_type_id>")
                .replace("Supervised Classification", "Supervised Regression")
                .replace("<oml:data_set_id>3</oml:data_set_id>", "<oml:data_set_id>561</oml:data_set_id>")
                .replace("predictive_accuracy", "mean_absolute_error"))
    (root / "tasks" / "9561").mkdir()
    (root / "tasks" / "9561" / "task.xml").write_text(task_xml, encoding="utf-8")
    n_rows = 209
    folds = np.arange(n_rows) % 10
    lines = ["@relation dataset_561_cpu_splits", "", "@attribute type {TRAIN,TEST}", "@attribute rowid numeric",
             "@attribute repeat numeric", "@attribute fold numeric", "", "@data"]
    for f in range(10):
        lines += [f"{'TEST' if folds[r] == f else 'TRAIN'},{r},0,{f}" for r in range(n_rows)]
    (root / "tasks" / "9561" / "datasplits.arff").write_text("\n".join(lines) + "\n", encoding="utf-8")

    store = tmp_path / "store"
    with OpenMLReplay("www") as server:
        server.root = root
        args = ["tasks", "pull", "--task-store", str(store), "--openml-server", server.url]
        assert main([*args, "--data", "561"]) == 0
        assert main([*args, "--task", "9561"]) == 0
    out = capsys.readouterr().out
    assert "openml:data/561: pulled" in out and "openml:task/9561: pulled" in out and out.count(", regression, ") == 2
    with open(FIXTURES / "www" / "datasets" / "561" / "dataset.arff", encoding="utf-8") as f:
        data = arff.load(f)
    expected = np.array([row[-1] for row in data["data"]], dtype=float)
    for ref in ("openml:data/561", "openml:task/9561"):
        task = load_task(ref, store)
        assert task.task_type == "regression" and task.n_rows == n_rows
        np.testing.assert_array_equal(task.y, expected)
    task = load_task("openml:task/9561", store)
    assert task.splits_official and [set(test) for _, test in task.splits] == [
        set(np.flatnonzero(folds == f)) for f in range(10)]


# -- runs -------------------------------------------------------------------------------------------------
def diabetes_experiment(tmp_path: Path, **extra: str) -> Path:
    keys = {"name": '"diabetes-quick"', "tasks": '["sklearn:diabetes"]',
            "models": '["xgboost", "random_forest", "elastic_net", "decision_tree", "knn", "svm", "mlp"]',
            "metric": '"rmse"', "budget_evals": "3", "seeds": "1", "cv_folds": "3", "n_workers": "2",
            "include_default": "true", **extra}
    path = tmp_path / "diabetes.toml"
    path.write_text("\n".join(f"{k} = {v}" for k, v in keys.items()) + "\n\n[optimizers]\nrandom = {}\n"
                    "tpe = { n_startup = 2 }\n")
    return path


def plain_regression_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    return {"rmse": root_mean_squared_error(y, predicted), "mae": mean_absolute_error(y, predicted),
            "1-r2": 1.0 - r2_score(y, predicted)}


# Irreducibly long (100 s on 2 busy cores): 7 families, each of their 42 trials refitted fold by fold by plain
# scikit-learn to compare every metric.
@pytest.mark.slow
def test_a_diabetes_run_records_every_regression_metric_as_plain_scikit_learn_computes_it(tmp_path, capsys):
    exp = diabetes_experiment(tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(exp), "--results-dir", str(out)]) == 0
    db = out / "diabetes-quick.sqlite"
    with Store(db, create=False) as store:
        trials, tasks = store.trials(), store.tasks()
        model_seed = dict(store.db.execute("SELECT run_id, model_seed FROM runs").fetchall())
    assert tasks["task_type"].tolist() == ["regression"] and tasks["n_classes"].tolist() == [0]
    assert len(trials) == 7 * 1 * 2 * 3 and set(trials["metric"]) == {"rmse"}
    assert (trials["state"] == "COMPLETE").mean() > 0.9, trials.loc[trials["state"] != "COMPLETE", "error"].tolist()
    task = load_task("sklearn:diabetes")
    seed = int(tasks["split_seed"].iloc[0])
    folds = list(KFold(n_splits=3, shuffle=True, random_state=seed).split(np.zeros(task.n_rows)))
    done = trials[trials["state"] == "COMPLETE"]
    # One BLAS thread, as every worker fits: the MLP's matrix products otherwise sum in another order.
    limits = threadpool_limits(limits=1)
    assert set(done["model"]) == set(trials["model"])  # every family has complete trials to check
    for row in done.itertuples():
        family = get_model(row.model).for_task("regression")
        stored = json.loads(row.fold_metrics)
        assert set(stored) == set(REGRESSION_METRICS)
        for k, (train, test) in enumerate(folds):
            shape = DataShape(n_samples=len(train), n_features=task.n_features, n_classes=0)
            model = family.make_estimator(json.loads(row.config), seed=model_seed[row.run_id], fidelity=1.0,
                                          shape=shape)
            if family.needs_scaling:  # the target standardised in the training fold, as the features are
                model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
            pipe = Pipeline([("preprocess", make_preprocessor(task, scale=family.needs_scaling)), ("model", model)])
            pipe.fit(task.X.iloc[train], task.y[train])
            predicted = np.asarray(pipe.predict(task.X.iloc[test]), dtype=np.float64)
            for name, value in plain_regression_metrics(task.y[test], predicted).items():
                assert stored[name][k] == value, (row.model, row.trial_number, name, k)
        assert row.loss == np.mean(stored["rmse"])
    limits.restore_original_limits()

    # Resumed: nothing is evaluated again. Reported: the tables and figures of a classification run.
    assert main(["run", str(exp), "--results-dir", str(out)]) == 0
    with Store(db, create=False) as store:
        assert len(store.trials()) == len(trials)
    capsys.readouterr()
    assert main(["report", str(db), "--reports-dir", str(tmp_path / "reports")]) == 0
    report = tmp_path / "reports" / "diabetes-quick"
    assert (report / "index.md").is_file() and (report / "best_found.csv").is_file()
    best = pd.read_csv(report / "best_found.csv")
    assert set(best["model"]) == set(trials["model"]) and (best["median"] > 0).all()


def test_a_metric_of_the_other_task_type_exits_2_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", str(diabetes_experiment(tmp_path, metric='"1-auc"')), "--results-dir", str(out)]) == 2
    line = one_error_line(capsys)
    assert "task 'sklearn:diabetes' is a regression task, metric '1-auc' scores classification tasks" in line
    assert "['rmse', 'mae', '1-r2']" in line and not out.exists()
    path = diabetes_experiment(tmp_path, metric='"rmse"', tasks='["sklearn:iris"]')
    assert main(["run", str(path), "--results-dir", str(out)]) == 2
    assert "'sklearn:iris' is a classification task, metric 'rmse' scores regression tasks" in one_error_line(capsys)
    assert main(["run", str(diabetes_experiment(tmp_path, metric='"r2"')), "--results-dir", str(out)]) == 2
    assert "metric" in one_error_line(capsys) and not out.exists()
