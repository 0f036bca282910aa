"""The Python API without traps (issue 37): hpo_bench.report callable after `import hpo_bench.report`, a task
from a DataFrame and an optimizer class object through run, resume and report, exports read back by the
other tool's own reader, and bad input refused in one line naming the value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer

import hpo_bench
from hpo_bench.cli import main
from hpo_bench.errors import ExperimentError, HpoBenchError, StoreError, TaskError
from hpo_bench.optimizers.random_search import RandomSearch

ROOT = Path(__file__).resolve().parents[1]


class MyRandom(RandomSearch):
    """Random search under a user's own class name (the class object goes into the experiment)."""


class NotAnOptimizer:
    pass


def test_report_name_works_after_importing_the_package_and_after_a_call():
    # A fresh interpreter each: which import comes first is the whole point.
    code = ("import hpo_bench.report, hpo_bench; assert callable(hpo_bench.report); "
            "from hpo_bench.report import build_report, Report; "
            "import hpo_bench.api; assert hpo_bench.report.__call__")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    code = ("import hpo_bench; r = hpo_bench.report; import hpo_bench.report; assert hpo_bench.report is r; "
            "assert callable(hpo_bench.report)")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.fixture(scope="module")
def studied(tmp_path_factory):
    """A DataFrame task and a class-object optimizer, run in two sittings (the second resumes the first)."""
    root = tmp_path_factory.mktemp("api")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    tasks = root / "tasks"
    name = hpo_bench.add_task(X.iloc[:, :8], y=y, name="cancer_df", task_store=tasks)
    assert hpo_bench.add_task(X.iloc[:, :8], y=y, name="cancer_df", task_store=tasks) == name  # same data: no-op
    spec = {"name": "api-traps", "tasks": [name], "models": ["decision_tree", "knn"], "budget_evals": 4, "seeds": 2,
            "cv_folds": 3, "include_default": True, "optimizers": {"mine": MyRandom, "random": {}}}
    exp = hpo_bench.Experiment.from_dict(spec)
    first = hpo_bench.run(exp, results_dir=root / "results", task_store=tasks, models=["decision_tree"],
                          n_workers=1, executor="inline")
    again = hpo_bench.run(hpo_bench.Experiment.from_dict(spec), results_dir=root / "results", task_store=tasks,
                          n_workers=1, executor="inline")
    return root, first, again


def test_a_dataframe_task_and_a_class_object_run_resume_and_are_reported(studied, tmp_path):
    root, first, again = studied
    # the second sitting continued the store: the first's runs kept, the other model's added
    assert first.counts == {"done": 4} and again.ok and again.counts == {"done": 8}
    assert again.n_trials == 2 * first.n_trials
    trials = again.trials()
    assert set(trials["task"]) == {"cancer_df"} and set(trials["optimizer"]) == {"mine", "random"}
    with hpo_bench.open_store(again.store_path) as store:
        types = dict(store.run_settings()[["optimizer", "optimizer_type"]].drop_duplicates().values)
    assert types["mine"] == f"{MyRandom.__module__}:MyRandom"  # the class's name, recorded
    analysis = again.analysis()
    assert "best_found" in analysis.tables
    report = again.report(tmp_path)
    text = (report.out_dir / "index.md").read_text()
    summary = text.split("## Summary", 1)[1].split("Contents:", 1)[0]
    assert "mine" in summary and "cancer_df" in summary and "Wilcoxon" in summary and "P(" in summary
    assert "validation" in summary and "[Best-found loss](#best-found-loss)" in text
    html = (report.out_dir / "index.html").read_text()
    assert html.index("id='summary'") < html.index("id='best-found-loss'") < html.index("id='what-was-run'")


def test_exports_read_back_by_optuna_and_pandas(studied, tmp_path):
    root, _, summary = studied
    out = tmp_path / "optuna.db"
    hpo_bench.export_optuna(summary.store_path, out)
    names = optuna.get_all_study_names(f"sqlite:///{out}")
    study = optuna.load_study(study_name=names[0], storage=f"sqlite:///{out}")
    assert study.metric_names == ["validation 1-auc"]  # the dashboard shows it, not "Objective 0"
    assert study.user_attrs["budget_evals"] == 4 and isinstance(study.user_attrs["budget_evals"], int)
    parquet = tmp_path / "trials.parquet"
    assert hpo_bench.export_trials(summary.store_path, parquet) == summary.n_trials
    frame = pd.read_parquet(parquet)
    assert len(frame) == summary.n_trials and set(frame["optimizer"]) == {"mine", "random"}
    # one overwrite rule: every exporter refuses an existing output
    for export, path in ((hpo_bench.export_trials, parquet), (hpo_bench.export_optuna, out)):
        with pytest.raises(HpoBenchError, match="already exists; an export never overwrites"):
            export(summary.store_path, path)
    csv = tmp_path / "trials.csv"
    csv.write_text("keep me\n")
    assert main(["export", str(summary.store_path), "--format", "csv", "--output", str(csv)]) == 2
    assert csv.read_text() == "keep me\n"


@pytest.mark.parametrize("make, match", [
    (lambda X, y: {"data": X.assign(t=y.astype(float).where(y.index != 5)), "target": "t"},
     r"target 't': 1 rows have no label \(the first: row 5\)"),
    (lambda X, y: {"data": X.assign(t=1), "target": "t"}, r"the label has 1 class\(es\) \('1'\)"),
    (lambda X, y: {"data": pd.concat([X, X.iloc[:, :1]], axis=1).assign(t=y), "target": "t"},
     "column name 'mean radius' appears 2 times in the DataFrame"),
    (lambda X, y: {"data": X, "target": "label"}, "target column 'label' is not in the DataFrame"),
    (lambda X, y: {"data": X, "y": y.iloc[:10]}, r"y has shape \(10,\), X has 569 rows"),
    (lambda X, y: {"data": X.to_numpy(), "target": "t"}, "data is ndarray; give a pandas DataFrame"),
])
def test_bad_dataframes_are_refused_in_one_line(tmp_path, make, match):
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X = X.iloc[:, :4]
    with pytest.raises(TaskError, match=match) as info:
        hpo_bench.add_task(name="bad", task_store=tmp_path, **make(X, y))
    assert "\n" not in str(info.value) and "add_task(name='bad')" in str(info.value)
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("value, match", [
    (NotAnOptimizer, "the class NotAnOptimizer is not an optimizer class: an optimizer type must be a subclass"),
    (len, "the function len is not an optimizer class"),
    (42, "an instance of int is not an optimizer class"),
])
def test_an_object_that_is_not_an_optimizer_class_is_refused(value, match):
    spec = {"name": "bad", "tasks": ["sklearn:iris"], "models": ["decision_tree"], "budget_evals": 2,
            "optimizers": {"mine": {"type": value}}}
    with pytest.raises(ExperimentError, match=match) as info:
        hpo_bench.Experiment.from_dict(spec)
    assert "optimizers.mine.type" in str(info.value) and "\n" not in str(info.value)


def test_a_class_defined_in_a_function_is_refused():
    class Local(RandomSearch):
        """made in a function"""

    spec = {"name": "bad", "tasks": ["sklearn:iris"], "models": ["decision_tree"], "budget_evals": 2,
            "optimizers": {"mine": Local}}
    with pytest.raises(ExperimentError, match="defined inside a function"):
        hpo_bench.Experiment.from_dict(spec)


def test_status_before_the_first_run_counts_zero_runs(tmp_path, capsys):
    path = tmp_path / "exp.toml"
    path.write_text('name = "fresh"\ntasks = ["sklearn:iris"]\nmodels = ["decision_tree"]\nbudget_evals = 2\n'
                    'seeds = 3\n[optimizers]\nrandom = {}\ngrid = {}\n')
    assert main(["status", str(path), "--results-dir", str(tmp_path / "results")]) == 0
    assert capsys.readouterr().out.startswith("fresh: 0 of 6 runs done, 0 trials; no store yet")
    with pytest.raises(StoreError):  # a store path that is not there stays an error
        hpo_bench.open_store(tmp_path / "results" / "fresh.sqlite")


def test_optimizers_marks_a_missing_optional_package(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "cmaes", None)  # as if `cmaes` were not installed
    assert main(["optimizers"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("optuna-cmaes:"))
    assert line.endswith("[not usable here: cmaes not installed]")
