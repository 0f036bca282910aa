from __future__ import annotations

import json

import numpy as np
import pytest

from hpo_bench.errors import ExperimentError
from hpo_bench.evaluation import TrialState, evaluate
from hpo_bench.models import MODELS, DataShape, get_model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_default_fits_and_random_configs_fit_or_fail_cleanly(name, breast_cancer):
    family = MODELS[name]
    splits = breast_cancer.cv_splits(3, seed=0)
    result = evaluate(breast_cancer, family, family.package_default(), fidelity=1.0, seed=0, splits=splits)
    assert result.state == TrialState.COMPLETE, result.error
    assert 0.0 <= result.loss < 0.05  # breast cancer is easy for both families
    rng = np.random.default_rng(0)
    for _ in range(3):
        config = family.space.sample(rng)
        config["n_estimators"] = min(config["n_estimators"], 50)  # keep the test fast
        result = evaluate(breast_cancer, family, config, fidelity=1.0, seed=0, splits=splits)
        assert result.state == TrialState.COMPLETE or result.error


def test_xgboost_package_default_is_what_xgboost_uses():
    """Our default configuration must match what xgboost runs when nothing is passed."""
    from xgboost import XGBClassifier

    X = np.random.default_rng(0).normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    config = json.loads(XGBClassifier(n_jobs=1).fit(X, y).get_booster().save_config())
    train = config["learner"]["gradient_booster"]["tree_train_param"]
    default = MODELS["xgboost"].package_default()
    assert float(train["eta"]) == pytest.approx(default["learning_rate"], rel=1e-6)
    assert int(train["max_depth"]) == default["max_depth"]
    assert float(train["min_child_weight"]) == pytest.approx(default["min_child_weight"], rel=1e-6)
    assert float(train["subsample"]) == pytest.approx(default["subsample"], rel=1e-6)
    assert float(train["colsample_bytree"]) == pytest.approx(default["colsample_bytree"], rel=1e-6)
    assert float(train["colsample_bylevel"]) == pytest.approx(default["colsample_bylevel"], rel=1e-6)
    assert float(train["lambda"]) == pytest.approx(default["reg_lambda"], rel=1e-6)
    assert float(train["alpha"]) == pytest.approx(default["reg_alpha"], rel=1e-6)
    assert XGBClassifier().get_params()["n_estimators"] in (None, default["n_estimators"])


def test_random_forest_default_matches_scikit_learn():
    from sklearn.ensemble import RandomForestClassifier

    family = MODELS["random_forest"]
    built = family.make_estimator(family.package_default(), seed=0, fidelity=1.0,
                                  shape=DataShape(n_samples=100, n_features=4, n_classes=2)).get_params()
    reference = RandomForestClassifier(random_state=0, n_jobs=1).get_params()
    for key in ("n_estimators", "bootstrap", "max_features", "min_samples_leaf"):
        assert built[key] == reference[key]
    assert built["max_samples"] in (None, 1.0)


def test_fidelity_scales_the_fidelity_parameter():
    family = MODELS["xgboost"]
    est = family.make_estimator({**family.package_default(), "n_estimators": 90}, seed=0, fidelity=1 / 9,
                                shape=DataShape(100, 4, 2))
    assert est.get_params()["n_estimators"] == 10


def test_unknown_model_names_the_allowed_ones():
    with pytest.raises(ExperimentError, match="unknown model 'svm2' \\(allowed: xgboost, random_forest"):
        get_model("svm2")
