from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import log_loss, roc_auc_score

from hpo_bench.evaluation import evaluate
from hpo_bench.models import MODELS
from hpo_bench.trial import TrialState

RF_CONFIG = {"n_estimators": 20, "bootstrap": True, "max_samples": 0.8, "max_features": 0.5,
             "min_samples_leaf_exp": 0.2}


@pytest.mark.parametrize("metric", ["1-auc", "logloss", "error"])
def test_losses_match_a_plain_scikit_learn_loop(iris, metric):
    splits = iris.cv_splits(3, seed=7)
    result = evaluate(iris, MODELS["random_forest"], RF_CONFIG, fidelity=1.0, seed=3, splits=splits,
                      metric=metric)
    assert result.state == TrialState.COMPLETE and result.metric == metric
    expected = []
    for train, test in splits:
        leaf = round(len(train) ** 0.2)
        model = RandomForestClassifier(n_estimators=20, max_samples=0.8, max_features=0.5, min_samples_leaf=leaf,
                                       random_state=3, n_jobs=1).fit(iris.X.iloc[train], iris.y[train])
        proba = model.predict_proba(iris.X.iloc[test])
        y = iris.y[test]
        expected.append({"1-auc": 1 - roc_auc_score(y, proba, multi_class="ovr", average="macro"),
                         "logloss": log_loss(y, proba, labels=[0, 1, 2]),
                         "error": np.mean(proba.argmax(1) != y)}[metric])
    assert result.fold_losses == pytest.approx(expected)
    assert result.loss == pytest.approx(np.mean(expected))
    assert result.fit_time_s > 0 and result.predict_time_s > 0


def test_splits_are_stratified_and_reproducible(breast_cancer):
    a, b = breast_cancer.cv_splits(5, seed=1), breast_cancer.cv_splits(5, seed=1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0][1], breast_cancer.cv_splits(5, seed=2)[0][1])
    tests = np.concatenate([t for _, t in a])
    assert sorted(tests) == list(range(breast_cancer.n_rows))
    share = breast_cancer.y.mean()
    assert all(abs(breast_cancer.y[t].mean() - share) < 0.02 for _, t in a)


def test_a_configuration_that_raises_in_fit_is_failed_with_its_error(iris):
    # xgboost itself rejects a negative learning rate when training starts
    config = {**MODELS["xgboost"].package_default(), "learning_rate": -1.0, "n_estimators": 5}
    result = evaluate(iris, MODELS["xgboost"], config, fidelity=1.0, seed=0, splits=iris.cv_splits(3, 0))
    assert result.state == TrialState.FAILED
    assert result.loss is None
    assert "eta" in result.error or "learning_rate" in result.error


def test_same_seed_same_loss_and_fingerprint_is_stable(breast_cancer):
    from hpo_bench.tasks import load_task

    config = {**MODELS["xgboost"].package_default(), "n_estimators": 30, "subsample": 0.7}
    splits = breast_cancer.cv_splits(3, 0)
    a = evaluate(breast_cancer, MODELS["xgboost"], config, fidelity=1.0, seed=5, splits=splits)
    b = evaluate(breast_cancer, MODELS["xgboost"], config, fidelity=1.0, seed=5, splits=splits)
    c = evaluate(breast_cancer, MODELS["xgboost"], config, fidelity=1.0, seed=6, splits=splits)
    assert a.fold_losses == b.fold_losses
    assert a.fold_losses != c.fold_losses  # subsample < 1 draws rows from the seed
    assert load_task("sklearn:breast_cancer").fingerprint() == breast_cancer.fingerprint()
    assert breast_cancer.fingerprint() != load_task("sklearn:iris").fingerprint()
