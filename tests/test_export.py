"""Exports to Optuna's storage and to MLflow, from a real small store, read back with each library's own
client; optuna-dashboard serves the Optuna export."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

import hpo_bench
from hpo_bench.cli import main
from hpo_bench.export import run_label, study_name
from hpo_bench.space import Categorical, Float, Int, SearchSpace
from hpo_bench.store import Store

ROOT = Path(__file__).resolve().parents[1]
# xgboost: log-scaled floats and integers, a categorical and parameters conditional on it, a default outside
# its range (reg_alpha = 0); FAILING_LOGREG (tests/families.py): trials that fail in scikit-learn. The
# held-out test scores the default and the incumbents.
TOML = """
name = "export-test"
tasks = ["sklearn:iris"]
models = ["xgboost", "families:FAILING_LOGREG"]
budget_evals = 5
seeds = 1
cv_folds = 3
include_default = true
test = "holdout"

[optimizers]
random = {}
"""


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("export")
    (root / "e.toml").write_text(TOML)
    summary = hpo_bench.run(root / "e.toml", results_dir=root / "results", executor="inline")  # the store is read
    assert summary.ok and summary.counts == {"done": 2}
    return summary.store_path


@pytest.fixture(scope="module")
def stored(store_path):
    """(runs with their settings, trials, the experiment row), as the store has them."""
    with Store(store_path, create=False) as store:
        return store.run_settings(), store.trials(), store.experiment_row()


def _trials_of(trials, run_id: int) -> list[dict]:
    return trials[trials.run_id == run_id].sort_values("trial_number").to_dict("records")


def _check_distribution(dist, p) -> None:
    if isinstance(p, Categorical):
        assert isinstance(dist, optuna.distributions.CategoricalDistribution) and dist.choices == p.choices
        return
    kind = optuna.distributions.FloatDistribution if isinstance(p, Float) else optuna.distributions.IntDistribution
    assert isinstance(p, (Float, Int)) and type(dist) is kind, (p, dist)
    assert (dist.low, dist.high, dist.log) == (p.low, p.high, p.log), (p, dist)


def test_optuna_export_has_one_study_per_run_with_the_stored_trials(store_path, stored, tmp_path, capsys):
    runs, trials, experiment = stored
    out = tmp_path / "study.db"
    assert main(["export", str(store_path), "--format", "optuna", "--output", str(out)]) == 0
    assert f"wrote 2 runs, {len(trials)} trials to {out}" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"]  # no .partial left
    storage = f"sqlite:///{out}"
    assert sorted(optuna.get_all_study_names(storage)) == sorted(
        study_name("export-test", run) for run in runs.to_dict("records"))
    seen = {"fail": 0, "inactive": 0, "outside": 0, "log_float": 0, "log_int": 0, "test": 0}
    for run in runs.to_dict("records"):
        study = optuna.load_study(study_name=f"export-test|{run_label(run)}", storage=storage)
        assert study.direction == optuna.study.StudyDirection.MINIMIZE
        attrs = study.user_attrs
        for key in ("task", "model", "optimizer", "optimizer_type", "tuned", "seed", "run_key", "status"):
            assert attrs[key] == run[key], key
        assert attrs["optimizer_options"] == json.loads(run["optimizer_options"])
        assert attrs["metric"] == "1-auc" and attrs["experiment"] == "export-test"
        assert attrs["experiment_sha256"] == experiment["file_hash"]
        space = SearchSpace.from_json(run["space"])
        expected = _trials_of(trials, run["run_id"])
        assert len(study.trials) == len(expected) == 5
        for ours, theirs in zip(expected, study.trials, strict=True):
            assert theirs.number == ours["trial_number"] == theirs.user_attrs["trial_number"]
            config = json.loads(ours["config"])
            outside = theirs.user_attrs.get("outside_space", {})
            # every value of the configuration is a param or set aside, never both, never lost
            assert {**theirs.params, **outside} == config and not set(theirs.params) & set(outside)
            for name, value in theirs.params.items():
                assert space[name].check(value) is None
                _check_distribution(theirs.distributions[name], space[name])
                seen["log_float"] += isinstance(space[name], Float) and space[name].log
                seen["log_int"] += isinstance(space[name], Int) and space[name].log
            seen["inactive"] += any(p.condition is not None and p.name not in config for p in space)
            seen["outside"] += bool(outside)
            if ours["state"] == "COMPLETE":
                assert theirs.state == optuna.trial.TrialState.COMPLETE and theirs.value == ours["loss"]
            else:
                assert theirs.state == optuna.trial.TrialState.FAIL and theirs.value is None
                assert theirs.user_attrs["error"] == ours["error"]
                seen["fail"] += 1
            user = theirs.user_attrs
            assert user["state"] == ours["state"] and user["source"] == ours["source"]
            assert user["fold_losses"] == json.loads(ours["fold_losses"])
            assert user["fold_metrics"] == json.loads(ours["fold_metrics"])
            assert user["fit_time_s"] == ours["fit_time_s"] and user["fidelity"] == ours["fidelity"]
            assert theirs.datetime_complete.timestamp() == pytest.approx(ours["finished_at"], abs=1e-3)
            if isinstance(ours["test_metrics"], str):
                assert user["test_metrics"] == json.loads(ours["test_metrics"])
                assert user["test_state"] == ours["test_state"]
                seen["test"] += 1
            else:
                assert "test_metrics" not in user
    # the store holds what this test is about: failures, inactive conditional parameters, a default outside
    # the range (xgboost's reg_alpha = 0), log scales on floats and integers, held-out test scores
    assert all(seen.values()), seen
    xgboost = optuna.load_study(study_name="export-test|sklearn:iris|xgboost|random|all|seed=0", storage=storage)
    assert xgboost.trials[0].user_attrs["source"] == "default"
    assert xgboost.trials[0].user_attrs["outside_space"] == {"reg_alpha": 0.0}


def test_an_export_never_overwrites_and_bad_outputs_are_one_line(store_path, tmp_path, capsys):
    out = tmp_path / "study.db"
    out.write_bytes(b"something else")
    folder = tmp_path / "full"
    (folder / "x").mkdir(parents=True)
    cases = [(["--format", "optuna", "--output", str(out)], f"{out}: already exists"),
             (["--format", "optuna", "--output", f"sqlite:///{out}"], f"{out}: already exists"),
             (["--format", "optuna", "--output", "postgresql://h/db"], "writes a local SQLite file"),
             (["--format", "optuna", "--output", str(out / "a.db")], "is a file, not a folder"),
             (["--format", "mlflow", "--output", str(folder)], f"{folder}: is not empty"),
             (["--format", "mlflow", "--output", str(out)], f"{out}: is a file")]
    for args, message in cases:
        capsys.readouterr()
        assert main(["export", str(store_path), *args]) == 2, args
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err and "Traceback" not in err, (args, err)
    assert out.read_bytes() == b"something else"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full", "study.db"]
    assert [p.name for p in folder.iterdir()] == ["x"]


def _full_disk(*args, **kwargs):
    raise OSError(28, "No space left on device")


def test_a_failed_export_leaves_nothing_behind(store_path, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(Path, "replace", _full_disk)  # the last step: the complete .partial file renamed
    assert main(["export", str(store_path), "--format", "optuna", "--output", str(tmp_path / "o.db")]) == 2
    assert "No space left on device" in capsys.readouterr().err
    monkeypatch.undo()
    if importlib.util.find_spec("mlflow") is not None:
        from mlflow.tracking import MlflowClient

        monkeypatch.setattr(MlflowClient, "set_terminated", _full_disk)  # after the first trial's writes
        assert main(["export", str(store_path), "--format", "mlflow", "--output", str(tmp_path / "m")]) == 2
        assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}


def test_without_mlflow_the_optuna_export_works_and_mlflow_says_what_to_install(store_path, tmp_path):
    # mlflow = None in sys.modules makes `import mlflow` fail as if it were not installed
    code = ("import sys; sys.modules['mlflow'] = None; from hpo_bench.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    optuna_out = subprocess.run([sys.executable, "-c", code, "export", str(store_path), "--format", "optuna",
                                 "--output", str(tmp_path / "o.db")], capture_output=True, text=True, env=_env(),
                                timeout=300)
    assert optuna_out.returncode == 0, optuna_out.stderr
    mlflow_out = subprocess.run([sys.executable, "-c", code, "export", str(store_path), "--format", "mlflow",
                                 "--output", str(tmp_path / "m")], capture_output=True, text=True, env=_env(),
                                timeout=300)
    assert mlflow_out.returncode == 2
    assert mlflow_out.stderr.count("\n") == 1 and 'pip install "hpo-bench[mlflow]"' in mlflow_out.stderr
    assert not (tmp_path / "m").exists()


def test_mlflow_export_has_a_parent_run_per_run_and_a_child_per_trial(store_path, stored, tmp_path, capsys):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    runs, trials, _ = stored
    out = tmp_path / "mlflow"
    assert main(["export", str(store_path), "--format", "mlflow", "--output", str(out)]) == 0
    assert f"wrote 2 runs, {len(trials)} trials to sqlite:///{out / 'mlflow.db'}" in capsys.readouterr().out
    # everything is in mlflow.db itself: read a copy of that file alone
    (tmp_path / "copy").mkdir()
    shutil.copy(out / "mlflow.db", tmp_path / "copy" / "mlflow.db")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'copy' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("export-test")
    assert experiment is not None
    every = client.search_runs([experiment.experiment_id], max_results=1000)
    parents = {r.info.run_name: r for r in every if "mlflow.parentRunId" not in r.data.tags}
    assert sorted(parents) == sorted(run_label(run) for run in runs.to_dict("records"))
    assert len(every) == len(parents) + len(trials)
    for run in runs.to_dict("records"):
        parent = parents[run_label(run)]
        assert parent.info.status == "FINISHED" and parent.data.tags["run_key"] == run["run_key"]
        params = parent.data.params
        assert {k: params[k] for k in ("task", "model", "optimizer", "seed", "tuned")} == {
            k: str(run[k]) for k in ("task", "model", "optimizer", "seed", "tuned")}
        expected = _trials_of(trials, run["run_id"])
        children = client.search_runs([experiment.experiment_id],
                                      filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
        children = {r.info.run_name: r for r in children}
        assert len(children) == len(expected) == parent.data.metrics["n_trials"] == 5
        losses = [t["loss"] for t in expected if t["state"] == "COMPLETE"]
        assert parent.data.metrics["best_loss"] == pytest.approx(min(losses))
        assert parent.data.metrics["n_failed"] == sum(t["state"] != "COMPLETE" for t in expected)
        for ours in expected:
            child = children[f"trial {ours['trial_number']}"]
            assert child.data.params == {k: str(v) for k, v in json.loads(ours["config"]).items()}
            assert child.data.tags["state"] == ours["state"] and child.data.tags["source"] == ours["source"]
            metrics = child.data.metrics
            folds = json.loads(ours["fold_losses"])
            assert [metrics[f"loss_fold_{k}"] for k in range(len(folds))] == pytest.approx(folds, nan_ok=True)
            if ours["state"] == "COMPLETE":
                assert child.info.status == "FINISHED" and metrics["loss"] == pytest.approx(ours["loss"])
                assert metrics["fit_time_s"] == pytest.approx(ours["fit_time_s"])
            else:
                assert child.info.status == "FAILED" and "loss" not in metrics
                assert child.data.tags["error"] == ours["error"][:5000]
    assert any(t["state"] != "COMPLETE" for t in trials.to_dict("records"))  # failures were exported


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # starts the optuna-dashboard server
def test_optuna_dashboard_serves_the_exported_studies(store_path, stored, tmp_path):
    pytest.importorskip("optuna_dashboard")
    command = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent)) or shutil.which(
        "optuna-dashboard")
    if command is None:
        pytest.skip("optuna_dashboard is installed without its optuna-dashboard command")
    runs, trials, _ = stored
    out = tmp_path / "quickstart-optuna.db"
    assert main(["export", str(store_path), "--format", "optuna", "--output", str(out)]) == 0
    port = _free_port()
    server = subprocess.Popen([command, f"sqlite:///{out}", "--host", "127.0.0.1", "--port", str(port), "--quiet"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, studies = time.monotonic() + 120, None
        while studies is None and time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                    assert response.status == 200
                    studies = json.load(response)["study_summaries"]
            except OSError:  # not listening yet
                time.sleep(0.5)
        assert studies is not None, server.stderr.read() if server.poll() is not None else "no answer in 120 s"
        names = {s["study_name"]: s["study_id"] for s in studies}
        assert sorted(names) == sorted(study_name("export-test", run) for run in runs.to_dict("records"))
        study_id = names["export-test|sklearn:iris|xgboost|random|all|seed=0"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies/{study_id}", timeout=30) as response:
            detail = json.load(response)
        assert response.status == 200 and len(detail["trials"]) == 5
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/dashboard/", timeout=30) as response:
            assert response.status == 200
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
