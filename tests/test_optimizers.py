from __future__ import annotations

import numpy as np
import pytest

from hpo_bench.errors import ExperimentError, OptimizerExhausted
from hpo_bench.evaluation import TrialResult, TrialState
from hpo_bench.models import MODELS
from hpo_bench.optimizers import OPTIMIZERS, get_optimizer

SPACE = MODELS["xgboost"].space


def drive(name: str, seed: int, n: int, fail_every: int = 0) -> list[dict]:
    opt = get_optimizer(name)(SPACE, seed=seed, budget_evals=n)
    configs = []
    for i in range(n):
        try:
            s = opt.ask()
        except OptimizerExhausted:
            break
        SPACE.validate(s.config)
        assert 0 < s.fidelity <= 1
        configs.append(s.config)
        failed = fail_every and i % fail_every == 0
        result = (TrialResult.failed("1-auc", "boom") if failed else
                  TrialResult(TrialState.COMPLETE, "1-auc", loss=float(np.sin(i))))
        opt.tell(s, result)
    return configs


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_contract(name):
    a = drive(name, seed=1, n=30, fail_every=3)
    assert len(a) == 30
    assert a == drive(name, seed=1, n=30, fail_every=3)  # reproducible
    assert a != drive(name, seed=2, n=30, fail_every=3)  # seeds matter


def test_grid_covers_the_budget_and_runs_out():
    opt = get_optimizer("grid")(SPACE, seed=0, budget_evals=50)
    assert SPACE.grid_size(opt.n_points_used) >= 50 > SPACE.grid_size(opt.n_points_used - 1)
    small = get_optimizer("grid")(MODELS["random_forest"].space, seed=0, budget_evals=10, n_points=1)
    seen = [small.ask().config for _ in range(len(small.configs))]
    assert len(seen) == 2  # one point per numeric dimension, both bootstrap choices
    with pytest.raises(OptimizerExhausted):
        small.ask()


def test_unknown_or_badly_typed_options_are_refused():
    with pytest.raises(ExperimentError, match=r"unknown option\(s\) \['points'\]"):
        get_optimizer("grid")(SPACE, seed=0, budget_evals=5, points=3)
    with pytest.raises(ExperimentError, match="n_points = 'x' must be int"):
        get_optimizer("grid")(SPACE, seed=0, budget_evals=5, n_points="x")
    with pytest.raises(ExperimentError, match="unknown optimizer type 'bayes' \\(allowed: grid, random"):
        get_optimizer("bayes")
