from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import experiment_text


def hpo(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hpo_bench.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


@pytest.mark.parametrize("text, message", [
    (experiment_text(models='["svm2"]'), "unknown model 'svm2' (allowed: xgboost, random_forest"),
    (experiment_text(budget_evals="-3"), "budget_evals = -3: must be an integer >= 1"),
    (experiment_text(speed='"fast"'), "unknown key 'speed' (allowed: name, description, tasks"),
    ("name = 'x'\ntasks = [", "not valid TOML"),
    # an optimizer that cannot search a space stops the file before any store is written, not the run later
    (experiment_text(models='["mlp"]', optimizers="hyperopt-tpe = {}"),
     "optimizers.hyperopt-tpe on mlp: optimizer 'hyperopt-tpe': parameter 'width_2' is conditioned on the numeric"),
    (experiment_text(models='["knn"]', tune='"n_neighbors"', optimizers="optuna-cmaes = {}"),
     "optimizers.optuna-cmaes on knn tuning n_neighbors: optimizer 'optuna-cmaes': CMA-ES needs at least two"),
])
def test_bad_experiment_file_exits_2_with_one_line(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = hpo("run", str(path), "--results-dir", str(tmp_path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("hpo-bench: error: ")
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.sqlite"))

    debug = hpo("--debug", "run", str(path), "--results-dir", str(tmp_path))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.slow  # two runs in driver processes (14-21 s on busy cores)
def test_a_changed_experiment_file_does_not_mix_into_an_old_store(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text(experiment_text(budget_evals=1, seeds=1))
    assert hpo("run", str(path), "--results-dir", str(tmp_path)).returncode == 0
    path.write_text(experiment_text(budget_evals=2, seeds=1))
    result = hpo("run", str(path), "--results-dir", str(tmp_path))
    assert result.returncode == 2
    assert "different version of the experiment file" in result.stderr


def test_status_of_a_missing_store(tmp_path):
    result = hpo("status", str(tmp_path / "none.sqlite"))
    assert result.returncode == 2 and "no result store at" in result.stderr


def test_bad_files_and_names_exit_2_with_one_line_and_write_nothing(tmp_path, capsys):
    from hpo_bench.cli import main

    garbage = tmp_path / "g.sqlite"
    garbage.write_bytes(bytes(range(256)) * 16)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00\x81" * 64)
    dots = tmp_path / "dd.toml"
    dots.write_text(experiment_text(name='".."'))
    results = tmp_path / "nested" / "results"
    cases = [(["status", str(garbage)], "not a readable hpo-bench store"),
             (["run", str(binary), "--results-dir", str(results)], "is not UTF-8 text"),
             (["run", str(dots), "--results-dir", str(results)], "name = '..'")]
    for args, message in cases:
        capsys.readouterr()
        assert main(args) == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], lines
    assert not results.parent.exists() and garbage.read_bytes() == bytes(range(256)) * 16
