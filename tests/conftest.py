"""Tiny real tasks and experiment files for the tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hpo_bench.tasks import load_task


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
    def write(name: str = "exp.toml", **overrides: object) -> Path:
        path = tmp_path / name
        path.write_text(experiment_text(**overrides))
        return path

    return write
