"""Tiny real tasks and experiment files for the tests."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from hpo_bench.tasks import load_task


def pytest_xdist_auto_num_workers(config) -> int:
    """pyproject's `-n auto`: the default tier (`-m "not slow"`, addopts) on up to 4 of this machine's cores, in
    pytest-xdist's worker processes; any other selection, the slow tier included, in this process, one test at
    a time: its tests start Ray and Dask clusters, kill process groups, time their kills and count processes."""
    if config.option.markexpr != "not slow":
        return 0
    return max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


@pytest.fixture(scope="session")
def iris():
    return load_task("sklearn:iris")


@pytest.fixture(scope="session")
def breast_cancer():
    return load_task("sklearn:breast_cancer")


def experiment_text(**overrides: object) -> str:
    """A small experiment file; keyword arguments replace top-level keys (values as TOML text)."""
    keys = {
        "name": '"tiny"',
        "tasks": '["sklearn:iris"]',
        "models": '["xgboost"]',
        "budget_evals": "5",
        "seeds": "2",
        "cv_folds": "3",
        "n_workers": "2",
        "include_default": "true",
    }
    keys.update({k: str(v) for k, v in overrides.items() if k != "optimizers"})
    body = "\n".join(f"{k} = {v}" for k, v in keys.items() if v != "None")
    optimizers = overrides.get("optimizers", "random = {}")
    return body + "\n\n[optimizers]\n" + textwrap.dedent(str(optimizers)) + "\n"


@pytest.fixture
def write_experiment(tmp_path: Path):
    def write(name: str = "exp.toml", /, **overrides: object) -> Path:  # overrides may set the key `name`
        path = tmp_path / name
        path.write_text(experiment_text(**overrides))
        return path

    return write
