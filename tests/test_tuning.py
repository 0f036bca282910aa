"""One-at-a-time tuning runs (Probst et al.'s d_ij) end to end, and the analysis of their store."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from hpo_bench.analysis import analyze, load_study
from hpo_bench.errors import ExperimentError
from hpo_bench.experiment import load_experiment
from hpo_bench.models import MODELS
from hpo_bench.scheduler import Scheduler
from hpo_bench.store import Store
from hpo_bench.tuning import expand_tune, full_config, tuned_space

RF = MODELS["random_forest"]
XGB = MODELS["xgboost"]


def test_tune_labels_and_subspaces():
    assert expand_tune("each", RF, "f") == RF.space.names
    assert expand_tune(["all", ["max_features", "n_estimators"]], RF, "f") == ["all", "n_estimators+max_features"]
    assert len(expand_tune("pairs", RF, "f")) == 10
    # max_depth is active under the default booster (gbtree), so it can be tuned alone
    assert tuned_space(XGB, "max_depth").names == ["max_depth"]
    assert tuned_space(XGB, "max_depth")["max_depth"].condition is None
    config = full_config(XGB, "booster", {"booster": "gblinear"})
    assert "max_depth" not in config and config["reg_alpha"] == 0.0  # inactive dropped, others at default
    with pytest.raises(ExperimentError, match="'depth' is not a hyperparameter of random_forest"):
        expand_tune(["depth"], RF, "f")


def test_a_parameter_inactive_at_the_default_cannot_be_tuned_alone():
    from hpo_bench.models.base import ModelFamily
    from hpo_bench.space import Categorical, Condition, Float, SearchSpace

    class Toy(ModelFamily):
        name = "toy"
        space = SearchSpace([Categorical("b", (False, True)), Float("s", 0.1, 1, condition=Condition("b", (True,)))])

        def package_default(self):
            return {"b": False}

        def make_estimator(self, config, *, seed, fidelity, shape):
            raise NotImplementedError

    with pytest.raises(ExperimentError, match="cannot tune 's' with 'b' held at False"):
        expand_tune("each", Toy(), "f")


def test_one_at_a_time_runs_and_their_analysis(write_experiment, tmp_path):
    exp = load_experiment(write_experiment(models='["random_forest"]', tasks='["sklearn:iris", "sklearn:wine"]',
                                           budget_evals=2, seeds=1, tune='["all", "each"]'))
    store = Store(tmp_path / "t.sqlite")
    assert Scheduler(exp, store, executor="inline").run() == {"done": 12}  # in this process: runs, not workers
    trials = store.trials()
    store.close()
    assert set(trials.tuned) == {"all", *RF.space.names}
    default = RF.package_default()
    for tuned, group in trials[trials.tuned != "all"].groupby("tuned"):
        configs = pd.DataFrame([json.loads(c) for c in group.config])
        for name in default:
            if name != tuned and name in configs:  # max_samples is absent where bootstrap is tuned to False
                values = configs[name].dropna()
                assert (values == default[name]).all() and (len(values) == len(configs) or tuned == "bootstrap")
    tables, skipped = analyze(load_study(tmp_path / "t.sqlite"))
    tunability = tables["tunability"].set_index("tuned")
    assert set(tunability.index) == {"all", *RF.space.names}
    assert (tunability["mean"] >= 0).all()  # the default is each run's first trial
    assert (tunability["n_datasets"] == 2).all()
    again, _ = analyze(load_study(tmp_path / "t.sqlite"))
    for name, table in tables.items():
        pd.testing.assert_frame_equal(table, again[name])
