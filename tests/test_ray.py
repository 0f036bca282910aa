"""Runs on Ray end to end (`--executor ray`): the same trials as the local executor, SIGKILL of the driver
and resume, nothing left behind. The executor's rules (a crash retried once then FAILED, time limits, an
actor's death) are tested with the others' in tests/test_executors.py."""

from __future__ import annotations

import os
import sys
import time
from importlib.util import find_spec as _find
from pathlib import Path

import pandas as pd
import pytest
from killing import run_again, sigkill_part_way
from test_run import trials_of

from hpo_bench.cli import main
from hpo_bench.errors import ExperimentError, HpoBenchError

pytest.importorskip("ray")

TOTAL = 2 * 15  # seeds x budget of the experiment below
# A command in a subprocess imports the test model families from tests/, as pytest's pythonpath does here.
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def experiment(tmp_path_factory) -> Path:
    from conftest import experiment_text

    path = tmp_path_factory.mktemp("ray") / "exp.toml"
    # iris, random search, 2 workers; C <= 0 fails for real, so FAILED trials must match too (as test_dask.py)
    path.write_text(experiment_text(models='["families:FAILING_LOGREG"]', budget_evals=15, seeds=2))
    return path


@pytest.fixture(scope="module")
def reference(experiment, tmp_path_factory) -> pd.DataFrame:
    """The trials of the local executor."""
    results = tmp_path_factory.mktemp("local")
    assert main(["run", str(experiment), "--results-dir", str(results)]) == 0
    trials = trials_of(results / "tiny.sqlite")
    assert len(trials) == TOTAL
    assert 0 < (trials.state == "FAILED").sum() < TOTAL
    return trials


def _ray_temp_dirs() -> set[str]:
    return {p.name for p in Path("/tmp").glob("hpo-bench-ray-*")}


@pytest.mark.slow  # starts a local Ray
def test_a_local_ray_gives_the_same_trials_as_the_local_executor(experiment, reference, tmp_path, capsys,
                                                                monkeypatch):
    import ray

    assert not ray.is_initialized()
    monkeypatch.chdir(tmp_path)
    before = _ray_temp_dirs()
    home_ray, token = (Path.home() / ".ray").exists(), os.environ.get("RAY_AUTH_TOKEN")
    results = tmp_path / "results"
    assert main(["run", str(experiment), "--results-dir", str(results), "--executor", "ray"]) == 0
    assert "2 Ray workers" in capsys.readouterr().err
    pd.testing.assert_frame_equal(trials_of(results / "tiny.sqlite"), reference)  # configs, losses, states
    # The Ray it started is shut down, and its session files went to a temporary directory, now removed:
    # nothing in the working directory but the results.
    assert not ray.is_initialized()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
    assert _ray_temp_dirs() <= before
    assert (Path.home() / ".ray").exists() == home_ray  # no auth token saved there
    assert os.environ.get("RAY_AUTH_TOKEN") == token  # the environment is as it was


@pytest.mark.slow  # starts a local Ray
def test_the_quickstart_on_ray_gives_the_trials_of_the_local_executor(tmp_path):
    """The README's quickstart file (3 datasets x decision tree and SVM x random, TPE and GP-BO x 20 evaluations,
    its time limit) with 2 of its 10 seeds, once per executor: every configuration, loss, fold loss and state the
    same. (More seeds are more runs of the same kinds, not another path through either executor.)"""
    text = (Path(__file__).parent.parent / "benchmarks" / "quickstart.toml").read_text()
    assert "\nseeds = 10\n" in text
    quickstart = tmp_path / "quickstart.toml"
    quickstart.write_text(text.replace("\nseeds = 10\n", "\nseeds = 2\n"))
    for executor in ("local", "ray"):
        assert main(["run", str(quickstart), "--results-dir", str(tmp_path / executor), "--executor", executor]) == 0
    local, ray_trials = (trials_of(tmp_path / e / "quickstart.sqlite") for e in ("local", "ray"))
    assert len(local) == 3 * 2 * 3 * 2 * 20
    pd.testing.assert_frame_equal(ray_trials, local)


def _processes_in_group(pgid: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # pgrp, not a zombie
            pids.append(int(stat.parent.name))
    return pids


@pytest.mark.slow  # the one real SIGKILL of the ray executor (tests/killing.py)
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ray_driver_sigkill_then_resume_loses_and_duplicates_nothing(experiment, reference, tmp_path):
    db = tmp_path / "tiny.sqlite"
    command = [sys.executable, "-m", "hpo_bench.cli", "run", str(experiment), "--results-dir", str(tmp_path),
               "--executor", "ray"]
    temp_dirs = _ray_temp_dirs()
    # the driver, the Ray it started, its actors and their sandboxes
    _, pgid = sigkill_part_way(command, db, at_least=6, total=TOTAL, env=ENV, timeout=180)
    deadline = time.monotonic() + 30
    while _processes_in_group(pgid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _processes_in_group(pgid), "processes of the killed run are still running"
    import shutil

    for name in _ray_temp_dirs() - temp_dirs:  # the killed driver's Ray session files: it could not remove them
        shutil.rmtree(Path("/tmp") / name, ignore_errors=True)

    run_again(command, env=ENV)
    pd.testing.assert_frame_equal(trials_of(db), reference)


def test_without_ray_installed_the_run_and_the_ray_optimizers_say_how_to_get_it(experiment, tmp_path, monkeypatch):
    from hpo_bench.executors import RayExecutor, WorkerContext
    from hpo_bench.models import MODELS
    from hpo_bench.optimizers import get_optimizer

    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when it is not installed
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else _find(name, *a))
    with pytest.raises(ExperimentError, match=r"--executor ray: needs Ray, which is not installed: pip install "):
        main(["--debug", "run", str(experiment), "--results-dir", str(tmp_path), "--executor", "ray"])
    assert not (tmp_path / "tiny.sqlite").exists()
    with pytest.raises(HpoBenchError, match=r"executor 'ray' needs Ray: pip install 'hpo-bench\[ray\]'"):
        RayExecutor(1, WorkerContext(tasks={}, splits={}, metric="1-auc")).start()
    with pytest.raises(ExperimentError, match=r"needs the package 'ray': pip install \"hpo-bench\[ray\]\""):
        get_optimizer("ray-random")(MODELS["xgboost"].space, seed=0, budget_evals=5)



def test_ray_addresses_are_checked_before_anything_runs(experiment, tmp_path, capsys):
    assert main(["run", str(experiment), "--results-dir", str(tmp_path), "--executor", "ray",
                 "--scheduler", "tcp://h:6379"]) == 2
    assert "must be a Ray cluster address" in capsys.readouterr().err
    assert main(["run", str(experiment), "--results-dir", str(tmp_path), "--scheduler", "h:6379"]) == 2
    assert "needs the dask or ray executor" in capsys.readouterr().err
    assert not (tmp_path / "tiny.sqlite").exists()


def test_an_experiment_file_takes_executor_ray_and_a_ray_head_address(tmp_path):
    from conftest import experiment_text

    from hpo_bench.experiment import load_experiment

    path = tmp_path / "e.toml"
    path.write_text(experiment_text(executor='"ray"', scheduler_address='"10.0.0.5:6379"'))
    exp = load_experiment(path)
    assert (exp.executor, exp.scheduler_address) == ("ray", "10.0.0.5:6379")
    path.write_text(experiment_text(executor='"dask"', scheduler_address='"10.0.0.5:6379"'))
    with pytest.raises(ExperimentError, match="must be a Dask scheduler address"):
        load_experiment(path)
    path.write_text(experiment_text(executor='"ray"', scheduler_address='"tcp://10.0.0.5:6379"'))
    with pytest.raises(ExperimentError, match="must be a Ray cluster address"):
        load_experiment(path)
