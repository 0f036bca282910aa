"""The model families: one contract test over every family, then each family's mapping and defaults."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler

from hpo_bench.errors import ExperimentError
from hpo_bench.evaluation import evaluate
from hpo_bench.models import MODELS, DataShape, get_model
from hpo_bench.space import Categorical
from hpo_bench.trial import TrialState

N_RANDOM = 20


def affordable(name: str, config: dict) -> tuple[dict, float]:
    """The configuration and fidelity the contract test evaluates, to keep the suite fast.

    Only cost is capped, never the kind of model: the fidelity parameter (trees, epochs) is scaled down
    to at most 10 through the fidelity, as a multi-fidelity optimizer would, and for the MLP alone the
    widths are capped at 64 units and batch_size raised to at least 32 (four layers of 1024 units in
    batches of 4 rows take minutes). Everything else is evaluated as sampled.
    """
    family = MODELS[name]
    fidelity = 1.0
    if family.fidelity_param:
        fidelity = min(1.0, 10 / family.space[family.fidelity_param].high)
    if name == "mlp":
        config = {k: (min(v, 64) if k.startswith("width_") else max(v, 32) if k == "batch_size" else v)
                  for k, v in config.items()}
    return config, fidelity


def check_conditions(space, config: dict) -> None:
    """Every parameter is present exactly when its condition holds (unconditional ones always)."""
    for p in space:
        active = p.condition is None or p.condition.holds(config)
        assert (p.name in config) == active, (p.name, config)


@pytest.mark.parametrize("name", list(MODELS))
def test_contract(name, breast_cancer):
    family = MODELS[name]
    assert family.name == name and family.library
    assert family.fidelity_param is None or family.fidelity_param in family.space
    # The package default fits on breast_cancer and beats chance by far.
    splits = breast_cancer.cv_splits(3, seed=0)
    default = evaluate(breast_cancer, family, family.package_default(), fidelity=1.0, seed=0, splits=splits)
    assert default.state == TrialState.COMPLETE, default.error
    assert 0.0 <= default.loss < 0.15
    # The space round-trips through JSON (the store keeps it) and its own default is valid.
    assert type(family.space).from_json(family.space.to_json()) == family.space
    family.space.validate(family.space.default())

    # 20 random configurations: valid, conditions respected, and each fits or is FAILED with its error.
    rng = np.random.default_rng(2019)
    splits2 = breast_cancer.cv_splits(2, seed=0)
    outcomes = []
    for _ in range(N_RANDOM):
        config = family.space.sample(rng)
        assert family.space.validate(config) == config
        check_conditions(family.space, config)
        json.dumps(config)  # storable as it is
        config, fidelity = affordable(name, config)
        result = evaluate(breast_cancer, family, config, fidelity=fidelity, seed=1, splits=splits2)
        if result.state == TrialState.COMPLETE:
            assert len(result.fold_losses) == 2 and 0.0 <= result.loss <= 1.0 and math.isfinite(result.loss)
            assert result.error is None or result.error.startswith("warnings: ")
        else:
            assert result.state == TrialState.FAILED and result.loss is None and result.error
        outcomes.append((config, fidelity, result))
    completed = [o for o in outcomes if o[2].state == TrialState.COMPLETE]
    assert len(completed) >= N_RANDOM // 2, [o[2].error for o in outcomes]

    # The same seed gives the same loss (a fresh estimator, the same folds).
    config, fidelity, first = completed[0]
    again = evaluate(breast_cancer, family, config, fidelity=fidelity, seed=1, splits=splits2)
    assert again.fold_losses == first.fold_losses


@pytest.mark.parametrize("name", list(MODELS))
def test_sampled_configurations_respect_conditions_at_scale(name):
    family = MODELS[name]
    rng = np.random.default_rng(0)
    for _ in range(500):
        check_conditions(family.space, family.space.sample(rng))


def test_mlp_widths_follow_the_number_of_layers():
    space = MODELS["mlp"].space
    rng = np.random.default_rng(1)
    seen = set()
    for _ in range(400):
        config = space.sample(rng)
        widths = sorted(k for k in config if k.startswith("width_"))
        assert widths == [f"width_{i}" for i in range(1, config["n_layers"] + 1)]
        assert ("momentum" in config) == (config["solver"] == "sgd")
        seen.add(config["n_layers"])
    assert seen == {1, 2, 3, 4}
    est = MODELS["mlp"].make_estimator({**space.default(), "n_layers": 3, "width_2": 32, "width_3": 16},
                                       seed=0, fidelity=1.0, shape=DataShape(100, 4, 2))
    assert est.get_params()["hidden_layer_sizes"] == (64, 32, 16)


def test_svm_conditions():
    space = MODELS["svm"].space
    rng = np.random.default_rng(2)
    for _ in range(300):
        config = space.sample(rng)
        assert ("gamma" in config) == (config["kernel"] in ("poly", "rbf"))
        assert ("degree" in config) == (config["kernel"] == "poly")


# -- each family's mapping --------------------------------------------------------------------------------

def _scaled_breast_cancer(breast_cancer):
    return StandardScaler().fit_transform(breast_cancer.X.to_numpy()), breast_cancer.y


def test_elastic_net_solves_glmnets_objective(breast_cancer):
    """C = 1 / (n * lambda) makes scikit-learn's solution satisfy glmnet's optimality conditions."""
    X, y = _scaled_breast_cancer(breast_cancer)
    n = len(y)
    alpha, lam = 0.5, 0.01
    family = MODELS["elastic_net"]
    est = family.make_estimator({"alpha": alpha, "lambda": lam}, seed=0, fidelity=1.0, shape=DataShape(n, 30, 2))
    est.set_params(tol=1e-8, max_iter=20000).fit(X, y)
    b, b0 = est.coef_[0], est.intercept_[0]
    p = 1.0 / (1.0 + np.exp(-(X @ b + b0)))
    # Gradient of glmnet's smooth part: -(1/n) X'(y - p) + lambda (1 - alpha) b; the L1 part adds
    # lambda * alpha * sign(b) where b != 0 and allows up to lambda * alpha in size where b == 0.
    grad = -X.T @ (y - p) / n + lam * (1 - alpha) * b
    nonzero = np.abs(b) > 1e-8
    assert 0 < nonzero.sum() < len(b)  # some coefficients are zeroed by the L1 part: a real elastic net
    assert np.allclose(grad[nonzero] + lam * alpha * np.sign(b[nonzero]), 0.0, atol=1e-5)
    assert np.all(np.abs(grad[~nonzero]) <= lam * alpha + 1e-5)
    assert abs(np.mean(y - p)) < 1e-5  # the intercept is not penalised
    # The wrong mapping (C = 1 / lambda) fails the same conditions (saga does not even converge there).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        wrong = est.set_params(C=1.0 / lam, max_iter=2000).fit(X, y)
    p = 1.0 / (1.0 + np.exp(-(X @ wrong.coef_[0] + wrong.intercept_[0])))
    grad = -X.T @ (y - p) / n + lam * (1 - alpha) * wrong.coef_[0]
    nonzero = np.abs(wrong.coef_[0]) > 1e-8
    assert not np.allclose(grad[nonzero] + lam * alpha * np.sign(wrong.coef_[0][nonzero]), 0.0, atol=1e-5)


def test_elastic_net_default_is_scikit_learns(breast_cancer):
    from sklearn.linear_model import LogisticRegression

    family = MODELS["elastic_net"]
    est = family.make_estimator(family.package_default(), seed=0, fidelity=1.0, shape=DataShape(455, 30, 2))
    reference = LogisticRegression().get_params()
    assert est.get_params()["C"] == reference["C"] == 1.0
    assert est.get_params()["l1_ratio"] == 0.0 == (reference["l1_ratio"] or 0.0)
    assert family.inverse_c({"lambda": 0.5}, 200) == pytest.approx(0.01)


def test_elastic_net_builds_without_deprecation_warnings():
    family = MODELS["elastic_net"]
    X, y = np.random.default_rng(0).normal(size=(80, 3)), np.arange(80) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        family.make_estimator({"alpha": 0.3, "lambda": 0.1}, seed=0, fidelity=1.0,
                              shape=DataShape(80, 3, 2)).fit(X, y)


def test_unconverged_fits_are_complete_and_say_so(breast_cancer):
    # Weak regularisation and 5 epochs: saga stops at max_iter in both folds; the trial is kept and the
    # ConvergenceWarning is recorded with it instead of being printed.
    from hpo_bench.models import elastic_net

    family = MODELS["elastic_net"]
    splits = breast_cancer.cv_splits(2, seed=0)
    old = elastic_net.MAX_ITER
    elastic_net.MAX_ITER = 5
    try:
        result = evaluate(breast_cancer, family, {"alpha": 0.5, "lambda": 2**-10}, fidelity=1.0, seed=0,
                          splits=splits)
    finally:
        elastic_net.MAX_ITER = old
    assert result.state == TrialState.COMPLETE
    assert result.error.startswith("warnings: ConvergenceWarning") and "(x2)" in result.error


def test_decision_tree_cp_is_relative_to_the_root(breast_cancer):
    X, y = _scaled_breast_cancer(breast_cancer)
    family = MODELS["decision_tree"]
    shape = DataShape(len(y), X.shape[1], 2)

    def fit(cp):
        return family.make_estimator({"cp": cp, "maxdepth": 30, "minbucket": 1, "minsplit": 2}, seed=0,
                                     fidelity=1.0, shape=shape).fit(X, y)

    root_gini = 1 - np.sum((np.bincount(y) / len(y)) ** 2)
    assert fit(0.3).ccp_alpha_ == pytest.approx(0.3 * root_gini)
    leaves = [fit(cp).tree_model_.get_n_leaves() for cp in (0.0, 0.001, 0.01, 0.1, 1.0)]
    assert leaves == sorted(leaves, reverse=True) and leaves[0] > 10 and leaves[-1] == 1
    from sklearn.tree import DecisionTreeClassifier

    assert leaves[0] == DecisionTreeClassifier(random_state=0).fit(X, y).get_n_leaves()
    # minsplit = 1 is rpart's and means the same as scikit-learn's smallest, 2
    est = family.make_estimator({"cp": 0.0, "maxdepth": 3, "minbucket": 5, "minsplit": 1}, seed=0, fidelity=1.0,
                                shape=shape)
    assert est.get_params()["min_samples_split"] == 2 and est.get_params()["min_samples_leaf"] == 5


def test_decision_tree_knn_svm_mlp_defaults_are_the_librarys():
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    shape = DataShape(100, 4, 2)

    def built(name):
        family = MODELS[name]
        return family.make_estimator(family.package_default(), seed=0, fidelity=1.0, shape=shape).get_params()

    tree, ref = built("decision_tree"), DecisionTreeClassifier().get_params()
    assert (tree["cp"], tree["max_depth"], tree["min_samples_split"], tree["min_samples_leaf"]) == (
        ref["ccp_alpha"], ref["max_depth"], ref["min_samples_split"], ref["min_samples_leaf"])
    knn, ref = built("knn"), KNeighborsClassifier().get_params()
    assert all(knn[k] == ref[k] for k in ("n_neighbors", "weights", "p"))
    svm, ref = built("svm"), SVC().get_params()
    assert all(svm[k] == ref[k] for k in ("kernel", "C", "gamma"))
    mlp, ref = built("mlp"), MLPClassifier().get_params()
    for key in ("hidden_layer_sizes", "activation", "solver", "alpha", "learning_rate_init", "batch_size",
                "max_iter", "n_iter_no_change", "early_stopping"):
        assert mlp[key] == ref[key], key


def test_svm_scores_keep_the_svms_ranking_and_decisions(breast_cancer, iris):
    from sklearn.svm import SVC

    X, y = _scaled_breast_cancer(breast_cancer)
    est = MODELS["svm"].make_estimator({"kernel": "rbf", "C": 2.0, "gamma": 0.05}, seed=0, fidelity=1.0,
                                       shape=DataShape(len(y), 30, 2)).fit(X, y)
    reference = SVC(C=2.0, gamma=0.05).fit(X, y)
    proba = est.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y, proba[:, 1]) == pytest.approx(roc_auc_score(y, reference.decision_function(X)))
    assert np.array_equal(est.classes_[proba.argmax(axis=1)], reference.predict(X))
    Xi = StandardScaler().fit_transform(iris.X.to_numpy())
    est = MODELS["svm"].make_estimator({"kernel": "poly", "C": 1.0, "gamma": 0.5, "degree": 3}, seed=0,
                                       fidelity=1.0, shape=DataShape(150, 4, 3)).fit(Xi, iris.y)
    proba = est.predict_proba(Xi)
    assert proba.shape == (150, 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(proba.argmax(axis=1), est.predict(Xi))


def test_mlp_trains_exactly_max_iter_epochs_scaled_by_the_fidelity(breast_cancer):
    X, y = _scaled_breast_cancer(breast_cancer)
    family = MODELS["mlp"]
    config = {**family.space.default(), "width_1": 16, "max_iter": 90}
    full = family.make_estimator(config, seed=0, fidelity=1.0, shape=DataShape(len(y), 30, 2))
    assert full.get_params()["max_iter"] == 90
    ninth = family.make_estimator(config, seed=0, fidelity=1 / 9, shape=DataShape(len(y), 30, 2)).fit(X, y)
    assert ninth.n_iter_ == 10  # no early stop on a loss plateau: the fidelity is the number of epochs


def test_fidelity_scales_the_fidelity_parameter():
    family = MODELS["xgboost"]
    est = family.make_estimator({**family.package_default(), "n_estimators": 90}, seed=0, fidelity=1 / 9,
                                shape=DataShape(100, 4, 2))
    assert est.get_params()["n_estimators"] == 10


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


def test_categorical_choices_are_plain_values():
    # Stored configurations are JSON: every categorical choice must survive a round trip unchanged.
    for family in MODELS.values():
        for p in family.space:
            if isinstance(p, Categorical):
                assert json.loads(json.dumps(list(p.choices))) == list(p.choices)


def test_unknown_model_names_the_allowed_ones():
    with pytest.raises(ExperimentError, match="unknown model 'svm2' \\(allowed: xgboost, random_forest"):
        get_model("svm2")


def test_cli_lists_families_and_shows_a_space(capsys):
    from hpo_bench.cli import main

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name, family in MODELS.items():
        assert any(line.split()[:1] == [name] and family.library in line for line in out.splitlines())
    assert main(["models", "show", "mlp"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["name", "type", "range", "scale", "default", "condition"]
    rows = {line.split()[0]: line for line in lines[3:] if line and not line.startswith("the default")}
    assert list(rows) == MODELS["mlp"].space.names
    assert rows["width_3"].split() == ["width_3", "int", "[16,", "1024]", "log", "(inactive)", "n_layers", "in",
                                       "{3,", "4}"]
    assert rows["momentum"].split()[-3:] == ["solver", "in", "{sgd}"]
    assert main(["models", "show", "svm"]) == 0
    svm = capsys.readouterr().out
    assert "[2^-10, 2^10]" in svm and "kernel in {poly, rbf}" in svm


def test_cli_unknown_family_is_one_line_and_exit_2(capsys):
    from hpo_bench.cli import main

    assert main(["models", "show", "svm2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown model 'svm2'" in err[0]
    assert main(["models", "show"]) == 2



def test_the_quickstart_runs_with_every_family(tmp_path, capsys):
    """The quickstart file with `models` naming every family (fewer tasks, seeds and evaluations) runs through
    the command line; every run finishes and every family's default trial completes."""
    import re
    import sqlite3

    from hpo_bench.cli import main

    text = (Path(__file__).parents[1] / "benchmarks" / "quickstart.toml").read_text()
    names = ", ".join(f'"{name}"' for name in MODELS)
    text = re.sub(r"(?m)^models = .*$", f"models = [{names}]", text)
    text = re.sub(r"(?m)^tasks = .*$", 'tasks = ["sklearn:breast_cancer"]', text)
    text = re.sub(r"(?m)^(seeds|time_limit_s) = .*\n", "", text)
    text = re.sub(r"(?m)^budget_evals = .*$", "budget_evals = 2\nseeds = 1\ntime_limit_s = 60", text)
    text = re.sub(r"(?m)^(tpe|gp) = \{\}$", "", text)  # one optimizer (random): a run per family
    text = re.sub(r"(?m)^include_default = .*$", "include_default = true", text)  # every family's default runs
    path = tmp_path / "quickstart.toml"
    path.write_text(text)
    assert main(["run", str(path), "--results-dir", str(tmp_path), "--n-workers", "2"]) == 0
    db = sqlite3.connect(tmp_path / "quickstart.sqlite")
    runs = db.execute("select model, status from runs").fetchall()
    assert sorted(m for m, _ in runs) == sorted(MODELS) and {s for _, s in runs} == {"done"}
    defaults = db.execute("select r.model, t.state from trials t join runs r using(run_id) "
                          "where t.source = 'default'").fetchall()
    assert sorted(defaults) == sorted((name, "COMPLETE") for name in MODELS)
