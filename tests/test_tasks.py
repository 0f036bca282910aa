"""The task store, file and manifest import, task references, and mixed data through the preprocessing."""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openml_server import guard_network

from hpo_bench.cli import main
from hpo_bench.errors import TaskError
from hpo_bench.evaluation import MAX_CATEGORIES, evaluate, make_preprocessor
from hpo_bench.models import MODELS
from hpo_bench.tasks import TaskStore, check_tasks_available, expand_task_refs, find_in_store, load_task, parse_ref
from hpo_bench.tasks.files import import_file
from hpo_bench.trial import TrialState

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
MANIFEST = pd.read_csv(DATASETS / "manifest.csv", dtype=str, keep_default_na=False)


def write_manifest(tmp_path: Path, names: list[str], **changes: str) -> Path:
    """A manifest of some rows of ../shared/datasets/manifest.csv, pointing at the shared files."""
    rows = MANIFEST[MANIFEST.name.isin(names)].copy()
    rows["file"] = [str(DATASETS / f) for f in rows.file]
    for column, value in changes.items():
        rows[column] = value
    path = tmp_path / "manifest.csv"
    rows.to_csv(path, index=False)
    return path


def tasks_cli(*args: str) -> int:
    return main(["tasks", *args])


def one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpo-bench: error: "), lines
    return lines[0]


def test_manifest_import_then_list_shows_rows_features_classes_and_ids(tmp_path, capsys):
    store = tmp_path / "store"
    manifest = write_manifest(tmp_path, ["credit_g", "car", "diabetes", "monk2"])
    start = time.perf_counter()
    assert tasks_cli("import", str(manifest), "--task-store", str(store)) == 0
    assert time.perf_counter() - start < 20
    out = capsys.readouterr().out
    assert "credit_g: imported: 1000 rows, 20 features (13 categorical), 2 classes, generated splits" in out
    assert "car: imported: 1728 rows, 6 features (6 categorical), 4 classes" in out
    # importing again changes nothing
    assert tasks_cli("import", str(manifest), "--task-store", str(store)) == 0
    assert "credit_g: unchanged" in capsys.readouterr().out

    assert tasks_cli("list", "--task-store", str(store)) == 0
    table = capsys.readouterr().out.splitlines()
    header = table[0].split()
    rows = {line.split()[0]: dict(zip(header, line.split(), strict=False)) for line in table[1:-1]}
    assert set(rows) == {"credit_g", "car", "diabetes", "monk2"}
    assert rows["credit_g"]["rows"] == "1000" and rows["credit_g"]["features"] == "20"
    assert rows["credit_g"]["classes"] == "2" and rows["credit_g"]["openml_task"] == "31"
    assert rows["car"]["openml_data"] == "40975" and rows["car"]["classes"] == "4"
    assert rows["monk2"]["openml_data"] == "334" and rows["monk2"]["openml_task"] == "-"
    assert rows["credit_g"]["splits"] == "generated"

    # names, OpenML task and dataset ids all resolve to the imported tasks, which say their splits are generated
    credit = load_task("credit_g", store)
    assert not credit.splits_official and credit.splits is None
    for ref in ("openml:task/31", "openml:data/31", "31"):
        assert load_task(ref, store).fingerprint() == credit.fingerprint()
    assert find_in_store("openml:task/146821", TaskStore(store)).key == "car"
    assert credit.fingerprint() == TaskStore(store).get("credit_g").meta["checksum"]["fingerprint"]


def test_arff_import_keeps_category_names_and_string_labels(tmp_path):
    store = TaskStore(tmp_path)
    entry = import_file(store, DATASETS / "arff" / "credit-g.arff", target="class", openml_data_id=31).entry
    task = load_task("credit-g", store)
    assert task.classes == ["good", "bad"]  # the ARFF's declared order
    assert task.n_rows == 1000 and task.n_features == 20 and len(task.categorical) == 13
    assert "critical/other existing credit" in task.X["credit_history"].cat.categories
    assert entry.meta["source"]["kind"] == "file" and entry.meta["ids"]["openml_data_id"] == 31


def test_a_task_that_was_tampered_with_is_refused(tmp_path):
    store = TaskStore(tmp_path)
    entry = import_file(store, DATASETS / "diabetes.tsv.gz", target="target").entry
    data = entry.path / "data.parquet"
    data.write_bytes(data.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(TaskError, match="does not match its sha256"):
        load_task("diabetes", store)


def test_mixed_data_with_missing_values_rare_categories_and_string_labels(tmp_path):
    """credit-g with holes punched in, an id-like column of 1000 categories and text labels."""
    rng = np.random.default_rng(0)
    frame = pd.read_csv(DATASETS / "credit_g.tsv.gz", sep="\t")
    for column in ("duration", "checking_status", "purpose", "age"):
        frame.loc[rng.random(len(frame)) < 0.1, column] = np.nan
    frame["customer"] = [f"c{i:04d}" for i in range(len(frame))]  # high cardinality: one category per row
    frame["target"] = frame["target"].map({0: "bad", 1: "good"})
    path = tmp_path / "credit.csv.gz"
    with gzip.open(path, "wt") as f:
        frame.to_csv(f, index=False)
    categorical = MANIFEST.set_index("name").loc["credit_g", "categorical_columns"].split(";")
    import_file(TaskStore(tmp_path / "store"), path, target="target", categorical=categorical, name="holes")
    task = load_task("holes", tmp_path / "store")
    assert task.classes == ["bad", "good"] and "customer" in task.categorical  # text columns become categorical
    assert task.X["duration"].isna().sum() == frame["duration"].isna().sum() > 50
    assert task.X["checking_status"].isna().sum() == frame["checking_status"].isna().sum() > 50

    splits = task.cv_splits(3, seed=0)
    width = make_preprocessor(task, scale=False).fit(task.X.iloc[splits[0][0]]).transform(task.X.iloc[:5]).shape[1]
    n_numeric = task.n_features - len(task.categorical)
    assert width <= 2 * n_numeric + MAX_CATEGORIES * len(task.categorical)
    assert width < 300  # the id column adds at most MAX_CATEGORIES columns, not ~670
    for name in ("xgboost", "random_forest"):
        config = {**MODELS[name].package_default(), "n_estimators": 20}
        result = evaluate(task, MODELS[name], config, fidelity=1.0, seed=0, splits=splits)
        assert result.state == TrialState.COMPLETE, result.error
        assert result.loss < 0.4  # credit-g's AUC is about 0.75-0.8: the features still carry signal


@pytest.mark.parametrize("args, message", [
    (["--target", "nope"], "target column 'nope' is not in diabetes.tsv.gz (columns: "),
    (["--target", "target", "--categorical", "colour"], "categorical column(s) ['colour'] are not among the columns"),
    ([], "give --target COLUMN for a data file"),
])
def test_import_errors_exit_2_with_one_line(tmp_path, capsys, args, message):
    code = tasks_cli("import", str(DATASETS / "diabetes.tsv.gz"), "--task-store", str(tmp_path), *args)
    assert code == 2 and message in one_error_line(capsys)


def test_a_manifest_row_that_does_not_match_its_file(tmp_path, capsys):
    manifest = write_manifest(tmp_path, ["diabetes"], n_rows="767")
    assert tasks_cli("import", str(manifest), "--task-store", str(tmp_path / "store")) == 2
    line = one_error_line(capsys)
    assert "manifest.csv:2 (diabetes): n_rows = 767 in the manifest, but" in line and "has 768" in line
    assert TaskStore(tmp_path / "store").entries() == []  # nothing the manifest contradicts is kept
    manifest = write_manifest(tmp_path, ["diabetes"], target="outcome")
    assert tasks_cli("import", str(manifest), "--task-store", str(tmp_path / "store")) == 2
    assert "target column 'outcome' is not in diabetes.tsv.gz" in one_error_line(capsys)


def test_references_and_suites():
    cc18 = expand_task_refs(["suite:OpenML-CC18"])
    assert len(cc18) == 72 and cc18[0] == "openml:task/3" and "openml:task/167141" in cc18
    both = expand_task_refs(["openml:data/31", "suite:probst-38", "sklearn:iris"])
    assert len(both) == 39 and both[0] == "openml:data/31" and both[-1] == "sklearn:iris"  # no repeats
    assert parse_ref("credit_g").kind == "name" and parse_ref("31").kind == "id"
    with pytest.raises(TaskError, match=r"73 tasks .* `hpo-bench tasks pull --suite OpenML-CC18 --data 5`"):
        check_tasks_available([*cc18, "openml:data/5"], TaskStore(Path("/nonexistent-store")))
    for bad, message in [("suite:nope", "unknown suite 'suite:nope'"), ("openml:run/3", "write openml:task/ID"),
                         ("openml:task/x", "write openml:task/ID"), ("a b", "not a name")]:
        with pytest.raises(TaskError, match=message):
            parse_ref(bad)


@pytest.fixture
def no_network(monkeypatch):
    yield from guard_network(monkeypatch)


def test_an_experiment_naming_a_task_not_in_the_store_fails_before_any_run(tmp_path, capsys, write_experiment,
                                                                           monkeypatch, no_network):
    monkeypatch.setenv("HPO_BENCH_TASK_STORE", str(tmp_path / "empty-store"))
    exp = write_experiment(tasks='["sklearn:iris", "openml:task/31", "credit_g"]')
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "results")]) == 2
    line = one_error_line(capsys)
    assert "2 tasks openml:task/31, credit_g are not in the task store" in line and "empty-store" in line
    assert "`hpo-bench tasks pull --task 31`" in line and "`hpo-bench tasks import FILE --target COLUMN" in line
    assert not (tmp_path / "results").exists()  # no result store, no run


def test_an_experiment_on_imported_credit_g_runs_both_families_without_failures(tmp_path, write_experiment):
    store = tmp_path / "store"
    assert tasks_cli("import", str(write_manifest(tmp_path, ["credit_g"])), "--task-store", str(store)) == 0
    # the package default and one random configuration per family (a larger budget: benchmarks/mixed-data-check)
    exp = write_experiment(tasks='["credit_g"]', models='["xgboost", "random_forest"]', budget_evals=2, seeds=1)
    results = tmp_path / "results"
    assert main(["run", str(exp), "--results-dir", str(results), "--task-store", str(store)]) == 0
    from hpo_bench.store import Store

    db = Store(results / "tiny.sqlite", create=False)
    trials, tasks = db.trials(), db.tasks()
    db.close()
    assert len(trials) == 4 and (trials.state == "COMPLETE").all(), trials.error.dropna().tolist()
    assert tasks.loc[0, "splits_official"] == 0 and tasks.loc[0, "n_folds"] == 3
    assert tasks.loc[0, "fingerprint"] == TaskStore(store).get("credit_g").meta["checksum"]["fingerprint"]


def test_cc18_offline_names_exactly_the_cc18_tasks_the_shared_datasets_hold():
    from hpo_bench.experiment import load_experiment
    from hpo_bench.tasks import SUITES

    exp = load_experiment(Path(__file__).parents[1] / "benchmarks" / "cc18-offline.toml")
    held = {int(i) for i in MANIFEST.openml_cc18_task_id if i}
    assert {parse_ref(t).value for t in exp.tasks} == held and len(exp.tasks) == len(held) == 28
    assert held <= set(SUITES["OpenML-CC18"].ids)


def test_every_form_of_reference_is_one_sources():
    from hpo_bench.errors import TaskError
    from hpo_bench.tasks import FORMS, SOURCES, is_surrogate, real_task

    assert FORMS == tuple(f for source in SOURCES for f in source.forms)
    assert [s.prefix for s in SOURCES] == ["sklearn", "openml", "suite", "surrogate", None]
    examples = {"sklearn:iris": "sklearn", "openml:task/3": "openml-task", "openml:data/31": "openml-data",
                "suite:probst-38": "suite", "surrogate:x/openml:data/15": "surrogate", "credit_g": "name", "31": "id"}
    for ref, kind in examples.items():
        parsed = parse_ref(ref)
        assert parsed.kind == kind and parsed.text == ref and parsed.source in SOURCES
        assert is_surrogate(ref) == (kind == "surrogate")
    # a surrogate task stands for its real task, whose reference is checked too
    surrogate = "surrogate:x/openml:data/15"
    assert parse_ref(surrogate).stands_for == "openml:data/15" == real_task(surrogate)
    assert real_task("openml:data/15") is None and real_task("surrogate:") is None and real_task(3) is None
    with pytest.raises(TaskError, match="'surrogate:x/a b' stands for a task that is not one: task 'a b': not a name"):
        parse_ref("surrogate:x/a b")
    with pytest.raises(TaskError, match="is a suite of 38 tasks; expand it first"):
        load_task("suite:probst-38", TaskStore(Path("/nonexistent-store")))
    assert load_task("sklearn:iris", TaskStore(Path("/nonexistent-store"))).n_rows == 150
