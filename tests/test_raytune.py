"""Ray Tune's search algorithms (hpo_bench/optimizers/raytune.py): without options, each adapter asks what
the plain Ray Tune search algorithm, seeded the same and told the same, asks. The contract itself is
tests/test_optimizers.py::test_contract, run on every registered optimizer."""

from __future__ import annotations

import numpy as np
import pytest

from hpo_bench.models import MODELS
from hpo_bench.optimizers import get_optimizer
from hpo_bench.testing import toy_result
from hpo_bench.trial import TrialState

pytest.importorskip("ray.tune")
from ray import tune  # noqa: E402

from hpo_bench.optimizers.raytune import METRIC, active_config, tune_space  # noqa: E402

SPACE = MODELS["xgboost"].space  # int, log, categorical and conditional parameters


def library_seed(seed: int) -> int:
    return int(np.random.default_rng(seed).integers(2**31 - 1))  # what the adapter draws from its seed


def test_ray_random_asks_what_basic_variant_generator_asks(tmp_path, monkeypatch):
    """The real BasicVariantGenerator, driven as a Tuner drives it (add_configurations, next_trial)."""
    from ray.tune.search.basic_variant import BasicVariantGenerator

    monkeypatch.chdir(tmp_path)
    generator = BasicVariantGenerator(random_state=library_seed(3))
    generator.add_configurations({"plain": {"run": lambda config: 0, "config": tune_space(SPACE, tune),
                                            "num_samples": 20, "storage_path": str(tmp_path)}})
    opt = get_optimizer("ray-random")(SPACE, seed=3, budget_evals=20)
    for i in range(20):
        trial = generator.next_trial()
        suggestion = opt.ask()
        assert suggestion.config == active_config(SPACE, trial.config, "plain"), i
        opt.tell(suggestion, toy_result(SPACE, i, suggestion))
        generator.on_trial_complete(trial.trial_id)
    assert generator.next_trial() is None  # num_samples reached: the generator is exhausted


@pytest.mark.parametrize("name", ["ray-optuna", "ray-hyperopt"])
def test_ray_searchers_without_options_ask_what_the_plain_searcher_asks(name):
    """No options: exactly OptunaSearch(seed=s) / HyperOptSearch(random_state_seed=s) given the param_space
    as a Tuner gives it, told results and errored trials (every 5th fails) as Ray Tune tells them."""
    if name == "ray-optuna":
        from ray.tune.search.optuna import OptunaSearch

        searcher = OptunaSearch(metric=METRIC, mode="min", seed=library_seed(7))
        n = 15  # past Optuna's 10 start-up trials
    else:
        pytest.importorskip("hyperopt")
        from ray.tune.search.hyperopt import HyperOptSearch

        searcher = HyperOptSearch(metric=METRIC, mode="min", random_state_seed=library_seed(7))
        n = 25  # past HyperOptSearch's 20 initial points
    assert searcher.set_search_properties(METRIC, "min", tune_space(SPACE, tune))
    opt = get_optimizer(name)(SPACE, seed=7, budget_evals=n)
    for i in range(n):
        trial_id = f"{i:05d}"
        config = active_config(SPACE, searcher.suggest(trial_id), "plain")
        suggestion = opt.ask()
        assert suggestion.config == config, i
        result = toy_result(SPACE, i, suggestion, fail_every=5)
        opt.tell(suggestion, result)
        if result.state == TrialState.COMPLETE:
            searcher.on_trial_complete(trial_id, result={METRIC: result.loss})
        else:
            searcher.on_trial_complete(trial_id, error=True)
    if name == "ray-optuna":
        states = [t.state.name for t in opt.searcher._ot_study.trials]
        assert states.count("FAIL") == n // 5 and opt.searcher._ot_study.sampler._n_startup_trials == 10
    else:
        assert sum(t["state"] == 3 for t in opt.searcher._hpopt_trials._dynamic_trials) == n // 5  # JOB_STATE_ERROR


def test_inactive_children_are_sampled_and_dropped():
    """Ray Tune's flat space samples every parameter; a gblinear trial carries no tree parameter."""
    opt = get_optimizer("ray-random")(SPACE, seed=0, budget_evals=30)
    configs = [opt.ask().config for _ in range(30)]
    linear = [c for c in configs if c["booster"] == "gblinear"]
    assert linear and all("max_depth" not in c for c in linear)
    assert all("max_depth" in c for c in configs if c["booster"] == "gbtree")
    assert set(tune_space(SPACE, tune)) == set(SPACE.names)


def test_integer_bounds_are_inclusive():
    from hpo_bench.space import Int, SearchSpace

    space = SearchSpace([Int("a", 1, 2), Int("b", 1, 3, log=True)])
    for name in ("ray-random", "ray-optuna", "ray-hyperopt"):
        try:
            opt = get_optimizer(name)(space, seed=0, budget_evals=40)
        except Exception as exc:  # hyperopt missing
            pytest.skip(str(exc))
        seen = [opt.ask().config for _ in range(40)]
        assert {c["a"] for c in seen} == {1, 2} and {c["b"] for c in seen} == {1, 2, 3}, name
