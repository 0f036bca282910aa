"""OpenML pulls with the real openml client against a loopback server replaying ../shared/openml-fixtures."""

from __future__ import annotations

import socket

import arff
import numpy as np
import pandas as pd
import pytest
from openml_server import FIXTURES, OpenMLReplay, guard_network

from hpo_bench.cli import main
from hpo_bench.evaluation import evaluate
from hpo_bench.models import MODELS
from hpo_bench.tasks import TaskStore, load_task
from hpo_bench.trial import TrialState


@pytest.fixture
def loopback_only(monkeypatch):
    yield from guard_network(monkeypatch)


def read_arff(path):
    with open(path, encoding="utf-8") as f:
        data = arff.load(f)
    return pd.DataFrame(data["data"], columns=[name for name, _ in data["attributes"]])


def official_test_rows(path) -> dict[tuple[int, int], set[int]]:
    """(repeat, fold) -> the rows of that test fold, read from OpenML's split file itself."""
    table = read_arff(path)
    table = table[table["type"] == "TEST"]
    return {(int(r), int(f)): set(group["rowid"].astype(int)) for (r, f), group in table.groupby(["repeat", "fold"])}


def assert_same_data(task, arff_path, target):
    expected = read_arff(arff_path)
    labels = expected.pop(target)
    assert list(task.X.columns) == list(expected.columns)
    assert [task.classes[c] for c in task.y] == labels.tolist()
    for column in expected.columns:
        ours, theirs = task.X[column], expected[column]
        if column in task.categorical:
            assert [None if pd.isna(v) else v for v in ours] == [None if pd.isna(v) else v for v in theirs], column
        else:
            np.testing.assert_array_equal(ours.to_numpy(), pd.to_numeric(theirs).to_numpy(dtype=float))


def pull(server, store, *args) -> int:
    return main(["tasks", "pull", *args, "--task-store", str(store), "--openml-server", server.url])


def test_pull_task_3_stores_the_arff_data_and_the_official_folds(tmp_path, loopback_only, capsys):
    store = tmp_path / "store"
    with OpenMLReplay("www") as server:
        assert pull(server, store, "--task", "3") == 0
        assert "openml:task/3: pulled" in capsys.readouterr().out
        n_requests = len(server.requests)
        assert n_requests >= 4
        assert pull(server, store, "--task", "3") == 0  # already there: no request at all
        assert len(server.requests) == n_requests
        assert "openml:task/3: in store" in capsys.readouterr().out

    task = load_task("openml:task/3", store)
    assert task.splits_official and task.n_rows == 3196 and task.n_features == 36 and task.n_classes == 2
    assert_same_data(task, FIXTURES / "www/datasets/3/dataset.arff", "class")
    folds = official_test_rows(FIXTURES / "www/tasks/3/datasplits.arff")
    assert len(task.splits) == 10 == len(folds)
    for k, (train, test) in enumerate(task.splits):
        assert set(test.tolist()) == folds[0, k]
        assert set(train.tolist()) == set(range(task.n_rows)) - folds[0, k]
    entry = TaskStore(store).get("openml-task-3")
    assert entry.meta["ids"] == {"name": "kr-vs-kp", "openml_data_id": 3, "openml_data_version": 1,
                                 "openml_task_id": 3}
    assert entry.meta["source"]["data_md5"] == "ad6eb32b7492524d4382a40e23cdbb8e"
    # the same task by its bare id, and runs use the official folds whatever cv_folds says
    assert load_task("3", store).fingerprint() == task.fingerprint()
    assert task.cv_splits(3, seed=0) is task.splits


def test_pull_task_1882_keeps_every_repeat_and_the_missing_values(tmp_path, loopback_only):
    store = TaskStore(tmp_path / "store")
    with OpenMLReplay("test-server") as server:
        assert pull(server, store.root, "--task", "1882") == 0
    entry = store.get("openml-task-1882")
    folds = store.official_folds(entry)
    assert folds.shape == (10, 898)
    for (r, k), rows in official_test_rows(FIXTURES / "test-server/tasks/1882/datasplits.arff").items():
        assert set(np.flatnonzero(folds[r] == k).tolist()) == rows
    task = load_task("openml:task/1882", store)
    assert_same_data(task, FIXTURES / "test-server/datasets/2/dataset.arff", "class")
    assert task.X.isna().to_numpy().sum() > 0  # anneal has many missing values: they stay missing
    # mixed data with missing values runs through the shared preprocessing for both families
    for name in ("xgboost", "random_forest"):
        config = {**MODELS[name].package_default(), "n_estimators": 10}
        result = evaluate(task, MODELS[name], config, fidelity=1.0, seed=0, splits=task.splits[:2])
        assert result.state == TrialState.COMPLETE, result.error


def test_unknown_task_exits_2_with_one_line(tmp_path, loopback_only, capsys):
    with OpenMLReplay("www") as server:
        assert pull(server, tmp_path / "store", "--task", "999999") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "task 999999: Unknown task (OpenML error code 151)" in lines[0]
    assert not [p for p in (tmp_path / "store").iterdir() if not p.name.startswith(".")]


def test_unreachable_server_says_how_to_import(tmp_path, loopback_only, capsys):
    with socket.socket() as s:  # a loopback port that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["tasks", "pull", "--task", "31", "--task-store", str(tmp_path / "store"),
                 "--openml-server", f"http://127.0.0.1:{port}/api/v1/xml"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1
    assert "cannot reach the OpenML server" in lines[0] and "task 31" in lines[0]
    assert "hpo-bench tasks import FILE --target COLUMN --openml-task-id 31" in lines[0]


def test_the_network_guard_refuses_other_addresses(loopback_only):
    with pytest.raises(OSError, match="test guard"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(OSError, match="test guard"):
        socket.getaddrinfo("www.openml.org", 443)
    assert loopback_only == ["192.0.2.1", "www.openml.org"]
    loopback_only.clear()  # seen: the guard works; the fixture's final check is for the other tests


def test_a_run_on_a_pulled_task_uses_its_official_folds(tmp_path, loopback_only, write_experiment):
    store = tmp_path / "store"
    with OpenMLReplay("www") as server:
        assert pull(server, store, "--task", "3") == 0
    # the package default only (C = 1), one worker: a cheap model, since this checks the folds, not a model
    exp = write_experiment(tasks='["openml:task/3"]', models='["families:FAILING_LOGREG"]', budget_evals=1,
                           seeds=1, n_workers=1)
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "results"), "--task-store", str(store)]) == 0
    from hpo_bench.store import Store

    results = Store(tmp_path / "results" / "tiny.sqlite", create=False)
    tasks, trials = results.tasks(), results.trials()
    results.close()
    assert tasks.loc[0, "task"] == "openml:task/3" and tasks.loc[0, "splits_official"] == 1
    assert tasks.loc[0, "n_folds"] == 10
    assert tasks.loc[0, "fingerprint"] == load_task("openml:task/3", store).fingerprint()
    assert (trials.state == "COMPLETE").all() and len(trials.fold_losses[0].split(",")) == 10


def test_a_bundled_suite_pulls_what_the_server_has_and_names_the_rest(tmp_path, loopback_only, capsys):
    # probst-38 is bundled (no suite request); the www fixtures hold only one of its datasets, kr-vs-kp (3)
    with OpenMLReplay("www") as server:
        assert pull(server, tmp_path / "store", "--suite", "probst-38") == 2
        assert not [p for p in server.requests if "study" in p]
    captured = capsys.readouterr()
    assert "openml:data/3: pulled: openml-data-3 (kr-vs-kp): 3196 rows, 36 features (36 categorical), 2 classes, " \
           "generated splits" in captured.out
    assert "openml:data/31: failed: OpenML server" in captured.err and "Unknown dataset" in captured.err
    assert captured.err.strip().splitlines()[-1].startswith("hpo-bench: error: 37 of 38 could not be pulled: ")
    task = load_task("openml:data/3", tmp_path / "store")
    assert not task.splits_official and task.splits is None and task.ids["openml_data_id"] == 3
    assert_same_data(task, FIXTURES / "www/datasets/3/dataset.arff", "class")


def test_a_held_out_test_on_an_openml_task_is_an_official_fold(tmp_path, loopback_only):
    from hpo_bench.splits import make_splits

    store = tmp_path / "store"
    with OpenMLReplay("www") as server:
        assert pull(server, store, "--task", "3") == 0
    task = load_task("openml:task/3", store)
    for rep in (0, 1):
        splits = make_splits(task, "openml:task/3", n_folds=3, split_rep=rep, test_fraction=0.2)
        official_train, official_test = task.splits[rep]
        outer_train, test = splits.holdout
        assert np.array_equal(test, official_test) and np.array_equal(outer_train, official_train)
        inner = np.sort(np.concatenate([fold_test for _, fold_test in splits.folds]))
        assert np.array_equal(inner, np.sort(official_train)) and len(splits.folds) == 3
