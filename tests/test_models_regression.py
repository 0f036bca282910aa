"""The families' regressors: every family serves regression through `for_task`, each regressor fits real data
at its defaults and at sampled configurations, and each mapping (cp, glmnet's lambda, the fidelity) holds."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.base import is_regressor
from sklearn.datasets import load_diabetes
from sklearn.preprocessing import StandardScaler

from hpo_bench.errors import SpaceError
from hpo_bench.models import MODELS, DataShape, ModelFamily

N_TRAIN = 300  # of diabetes's 442 rows; the rest is held out


@pytest.fixture(scope="module")
def diabetes():
    """Diabetes (442 rows, 10 numeric features, y in [25, 346]) split 300 / 142, X standardised on the
    training part as the evaluation pipeline does for families that need scaling."""
    X, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order].astype(float)
    scaler = StandardScaler().fit(X[:N_TRAIN])
    return scaler.transform(X[:N_TRAIN]), y[:N_TRAIN], scaler.transform(X[N_TRAIN:]), y[N_TRAIN:]


def shape_of(X) -> DataShape:
    return DataShape(X.shape[0], X.shape[1], 0)


def affordable(family: ModelFamily, config: dict) -> tuple[dict, float]:
    """As in test_models: the fidelity parameter scaled to at most 10 through the fidelity, MLP widths capped at
    64 and batches of at least 32; everything else as sampled."""
    fidelity = 1.0
    if family.fidelity_param:
        fidelity = min(1.0, 10 / family.space[family.fidelity_param].high)
    if family.name == "mlp":
        config = {k: (min(v, 64) if k.startswith("width_") else
                      max(v, 32) if k == "batch_size" and not isinstance(v, str) else v)
                  for k, v in config.items()}
    return config, fidelity


def fit_predict(family: ModelFamily, config: dict, data, fidelity: float = 1.0, seed: int = 0) -> np.ndarray:
    X, y, X_test, _ = data
    est = family.make_estimator(config, seed=seed, fidelity=fidelity, shape=shape_of(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings are recorded by the evaluation, not tested here
        est.fit(X, y)
    assert is_regressor(est) and not hasattr(est, "predict_proba")
    pred = est.predict(X_test)
    assert pred.shape == (len(X_test),)
    return pred


# -- every family --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_every_family_serves_both_task_types(name):
    classifier = MODELS[name]
    regressor = classifier.for_task("regression")
    assert classifier.task_types() == ("classification", "regression") == regressor.task_types()
    assert classifier.task_type == "classification" and classifier.for_task("classification") is classifier
    assert regressor.task_type == "regression" and regressor.for_task("regression") is regressor
    assert regressor.for_task("classification") is classifier
    assert regressor.name == classifier.name and regressor.library != classifier.library
    assert "Regressor" in regressor.library or regressor.library.endswith(("SVR", "ElasticNet"))
    # Same space, fidelity and scaling: the hyperparameters carry over.
    assert regressor.space == classifier.space
    assert (regressor.fidelity_param, regressor.needs_scaling) == (classifier.fidelity_param, classifier.needs_scaling)
    # The registry still holds the classifiers.
    assert MODELS[name] is classifier
    # A family with another space keeps both task types, each with that space.
    narrowed = classifier.with_space(classifier.space)
    assert narrowed.task_types() == ("classification", "regression")
    assert narrowed.for_task("regression").task_type == "regression"
    assert narrowed.for_task("regression").library == regressor.library
    with pytest.raises(SpaceError, match="survival"):
        classifier.for_task("survival")


def test_a_subclass_of_a_builtin_family_does_not_inherit_its_regressor():
    from hpo_bench.models.knn import KNNFamily

    class Mine(KNNFamily):
        name = "my_knn"

    assert Mine().task_types() == ("classification",)
    with pytest.raises(SpaceError, match="my_knn.*regression"):
        Mine().for_task("regression")


@pytest.mark.parametrize("name", list(MODELS))
def test_every_regressor_fits_and_predicts_finite_values(name, diabetes):
    family = MODELS[name].for_task("regression")
    X, y, X_test, _ = diabetes
    configs = {"package": family.package_default(), "space default": family.space.default()}
    configs.update(family.named_defaults())
    rng = np.random.default_rng(2019)
    for i in range(3):
        config = family.space.sample(rng)
        assert family.space.validate(config) == config
        configs[f"random {i}"] = config
    diverged = []
    for label, config in configs.items():
        config, fidelity = affordable(family, config)
        try:
            pred = fit_predict(family, config, diabetes, fidelity=fidelity)
        except ValueError as exc:
            # Only a random MLP may diverge (squared error on y in the hundreds, a large learning rate):
            # scikit-learn raises rather than predicting NaN, and the evaluation records a FAILED trial.
            assert name == "mlp" and label.startswith("random") and "non-finite" in str(exc), (label, exc)
            diverged.append(label)
            continue
        assert np.all(np.isfinite(pred)), (label, config)
        # concrete() leaves no symbolic value among the space's numeric parameters (analysis places them;
        # the MLP's batch_size "auto" is min(200, n)).
        placed = family.concrete(config, shape_of(X))
        assert all(not isinstance(v, str) for k, v in placed.items() if k in family.space
                   and not hasattr(family.space[k], "choices")), placed
    assert len(diverged) <= 1, diverged


@pytest.mark.parametrize("name", ["xgboost", "random_forest"])
def test_ensembles_beat_predicting_the_mean(name, diabetes):
    family = MODELS[name].for_task("regression")
    _, y, _, y_test = diabetes
    pred = fit_predict(family, family.package_default(), diabetes)
    mse, baseline = np.mean((y_test - pred) ** 2), np.mean((y_test - y.mean()) ** 2)
    assert mse < 0.8 * baseline, (mse, baseline)


@pytest.mark.parametrize("name", ["xgboost", "random_forest", "mlp"])
def test_the_fidelity_scales_the_regressor(name):
    family = MODELS[name].for_task("regression")
    param = family.fidelity_param
    config = {**family.space.default(), param: 90}
    shape = DataShape(100, 4, 0)
    assert family.make_estimator(config, seed=0, fidelity=1 / 9, shape=shape).get_params()[param] == 10
    assert family.make_estimator(config, seed=0, fidelity=1.0, shape=shape).get_params()[param] == 90


def test_families_without_a_fidelity_have_none_for_regression():
    for name in ("elastic_net", "decision_tree", "knn", "svm"):
        assert MODELS[name].for_task("regression").fidelity_param is None


# -- package defaults are the regressors' own ------------------------------------------------------------------

def test_package_defaults_are_the_regressors_defaults():
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.linear_model import ElasticNet
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.svm import SVR
    from sklearn.tree import DecisionTreeRegressor

    shape = DataShape(100, 4, 0)

    def built(name):
        family = MODELS[name].for_task("regression")
        return family.make_estimator(family.package_default(), seed=0, fidelity=1.0, shape=shape).get_params()

    forest, ref = built("random_forest"), RandomForestRegressor().get_params()
    assert ref["max_features"] == 1.0 and MODELS["random_forest"].package_default()["max_features"] == "sqrt"
    for key in ("n_estimators", "bootstrap", "max_features", "min_samples_leaf", "criterion"):
        assert forest[key] == ref[key], key
    assert forest["max_samples"] in (None, 1.0)
    net, ref = built("elastic_net"), ElasticNet().get_params()
    assert (net["alpha"], net["l1_ratio"]) == (ref["alpha"], ref["l1_ratio"]) == (1.0, 0.5)
    assert (net["tol"], net["max_iter"], net["fit_intercept"]) == (ref["tol"], ref["max_iter"], True)
    tree, ref = built("decision_tree"), DecisionTreeRegressor().get_params()
    assert (tree["cp"], tree["max_depth"], tree["min_samples_split"], tree["min_samples_leaf"]) == (
        ref["ccp_alpha"], ref["max_depth"], ref["min_samples_split"], ref["min_samples_leaf"])
    knn, ref = built("knn"), KNeighborsRegressor().get_params()
    assert all(knn[k] == ref[k] for k in ("n_neighbors", "weights", "p"))
    svr, ref = built("svm"), SVR().get_params()
    assert all(svr[k] == ref[k] for k in ("kernel", "C", "gamma", "epsilon")) and svr["epsilon"] == 0.1
    mlp, ref = built("mlp"), MLPRegressor().get_params()
    for key in ("hidden_layer_sizes", "activation", "solver", "alpha", "learning_rate_init", "batch_size",
                "max_iter", "n_iter_no_change", "early_stopping"):
        assert mlp[key] == ref[key], key


def test_xgboost_regressor_is_squared_error_with_xgboosts_defaults(diabetes):
    from xgboost import XGBRegressor

    family = MODELS["xgboost"].for_task("regression")
    X, y, X_test, _ = diabetes
    est = family.make_estimator(family.package_default(), seed=0, fidelity=1.0, shape=shape_of(X))
    assert isinstance(est, XGBRegressor)
    params = est.get_params()
    assert (params["objective"], params["n_jobs"], params["tree_method"]) == ("reg:squarederror", 1, "hist")
    # Passing the package default explicitly fits the same model as passing nothing.
    est.fit(X, y)
    plain = XGBRegressor(n_jobs=1, tree_method="hist", random_state=0).fit(X, y)
    assert np.allclose(est.predict(X_test), plain.predict(X_test), rtol=1e-5)


def test_probst2019_regression_defaults():
    forest = MODELS["random_forest"].for_task("regression")
    r = forest.named_defaults()["probst2019"]
    assert (r["n_estimators"], r["bootstrap"], r["max_samples"], r["max_features"]) == (500, True, 1.0, "sqrt")
    shape = DataShape(200, 9, 0)
    est = forest.make_estimator(r, seed=0, fidelity=1.0, shape=shape).get_params()
    assert est["min_samples_leaf"] == 5 and est["max_features"] == "sqrt"  # ranger: min.node.size 5
    placed = forest.concrete(r, shape)
    assert placed["max_features"] == pytest.approx(3 / 9)
    assert round(200 ** placed["min_samples_leaf_exp"]) == 5
    for name in ("xgboost", "elastic_net", "decision_tree", "knn", "svm"):
        assert MODELS[name].for_task("regression").named_defaults() == MODELS[name].named_defaults(), name
    assert MODELS["mlp"].for_task("regression").named_defaults() == {}


# -- the decision tree: rpart's cp relative to the root's MSE ---------------------------------------------------

def test_decision_tree_cp_is_relative_to_the_roots_mse(diabetes):
    from sklearn.tree import DecisionTreeRegressor

    X, y, X_test, _ = diabetes
    family = MODELS["decision_tree"].for_task("regression")

    def fit(cp):
        return family.make_estimator({"cp": cp, "maxdepth": 30, "minbucket": 1, "minsplit": 2}, seed=0,
                                     fidelity=1.0, shape=shape_of(X)).fit(X, y)

    root = fit(1.0)
    assert root.tree_model_.get_n_leaves() == 1
    assert np.allclose(root.predict(X_test), y.mean())
    unpruned = fit(0.0)
    reference = DecisionTreeRegressor(random_state=0).fit(X, y)
    assert unpruned.tree_model_.get_n_leaves() == reference.get_n_leaves() > 100
    assert np.array_equal(unpruned.predict(X_test), reference.predict(X_test))
    for cp in (0.001, 0.01, 0.05):
        tree = fit(cp)
        assert tree.ccp_alpha_ == pytest.approx(cp * np.var(y))
        reference = DecisionTreeRegressor(ccp_alpha=cp * np.var(y), random_state=0).fit(X, y)
        assert tree.tree_model_.get_n_leaves() == reference.get_n_leaves()
        assert np.array_equal(tree.predict(X_test), reference.predict(X_test))
    leaves = [fit(cp).tree_model_.get_n_leaves() for cp in (0.0, 0.001, 0.01, 0.05, 0.2, 1.0)]
    assert leaves == sorted(leaves, reverse=True) and 1 < leaves[3] < leaves[0]
    # The scale of y does not change which tree a cp gives (cp is relative; a fixed ccp_alpha would be).
    scaled = family.make_estimator({"cp": 0.01, "maxdepth": 30, "minbucket": 1, "minsplit": 2}, seed=0,
                                   fidelity=1.0, shape=shape_of(X)).fit(X, 1000 * y)
    assert scaled.tree_model_.get_n_leaves() == leaves[2]


# -- the elastic net: glmnet's gaussian objective --------------------------------------------------------------

@pytest.mark.parametrize(("alpha", "lam"), [(1.0, 1.0), (0.5, 2.0), (0.9, 4.0), (0.2, 8.0)])
def test_elastic_net_solves_glmnets_gaussian_objective(alpha, lam, diabetes):
    """The fit satisfies the optimality conditions of 1/(2n) RSS + lambda [(1-alpha)/2 ||b||^2 + alpha ||b||_1]."""
    X, y, _, _ = diabetes
    n = len(y)
    family = MODELS["elastic_net"].for_task("regression")
    est = family.make_estimator({"alpha": alpha, "lambda": lam}, seed=0, fidelity=1.0, shape=shape_of(X))
    est.set_params(tol=1e-12, max_iter=100_000).fit(X, y)
    b, b0 = est.coef_, est.intercept_
    r = y - X @ b - b0
    score = X.T @ r / n  # (1/n) x_j' r
    active = b != 0.0
    assert 0 < active.sum() < len(b)  # the L1 part zeroes some coefficients: a real elastic net at these lambdas
    assert np.allclose(score[active], lam * ((1 - alpha) * b[active] + alpha * np.sign(b[active])), atol=1e-6)
    assert np.all(np.abs(score[~active]) <= lam * alpha + 1e-6)
    assert abs(r.mean()) < 1e-8  # the intercept is not penalised
    # The classifier's mapping (a factor n in the penalty) would not solve the same problem.
    wrong = est.set_params(alpha=lam / n).fit(X, y)
    score = X.T @ (y - X @ wrong.coef_ - wrong.intercept_) / n
    on = wrong.coef_ != 0
    assert not np.allclose(score[on], lam * ((1 - alpha) * wrong.coef_[on] + alpha * np.sign(wrong.coef_[on])),
                           atol=1e-6)


def test_elastic_net_without_penalty_is_least_squares(diabetes):
    from sklearn.linear_model import LinearRegression

    X, y, X_test, _ = diabetes
    family = MODELS["elastic_net"].for_task("regression")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning that ElasticNet(alpha=0) should not be used
        est = family.make_estimator({"alpha": 1.0, "lambda": 0.0}, seed=0, fidelity=1.0, shape=shape_of(X))
        est.fit(X, y)
    assert isinstance(est, LinearRegression)
    score = X.T @ (y - est.predict(X)) / len(y)  # the normal equations
    assert np.allclose(score, 0.0, atol=1e-8)
    assert np.allclose(est.predict(X_test), LinearRegression().fit(X, y).predict(X_test))
    assert family.default("probst2019") == {"alpha": 1.0, "lambda": 0.0}
    with pytest.raises(SpaceError, match="lambda"):
        family.make_estimator({"alpha": 1.0, "lambda": "1/n"}, seed=0, fidelity=1.0, shape=shape_of(X))


def test_elastic_net_large_lambda_is_the_mean(diabetes):
    X, y, X_test, _ = diabetes
    family = MODELS["elastic_net"].for_task("regression")
    # lambda above max_j |x_j' (y - mean y)| / (n alpha) zeroes every coefficient.
    lam_max = np.max(np.abs(X.T @ (y - y.mean()))) / len(y)
    est = family.make_estimator({"alpha": 1.0, "lambda": 1.01 * lam_max}, seed=0, fidelity=1.0,
                                shape=shape_of(X)).fit(X, y)
    assert np.all(est.coef_ == 0.0) and np.allclose(est.predict(X_test), y.mean())
    est = family.make_estimator({"alpha": 1.0, "lambda": 0.99 * lam_max}, seed=0, fidelity=1.0,
                                shape=shape_of(X)).set_params(tol=1e-12).fit(X, y)
    assert np.count_nonzero(est.coef_) == 1


# -- the others' mappings --------------------------------------------------------------------------------------

def test_svr_mapping_and_fixed_epsilon(diabetes):
    from sklearn.svm import SVR

    X, y, X_test, _ = diabetes
    family = MODELS["svm"].for_task("regression")
    assert "epsilon" not in family.space
    config = {"kernel": "poly", "C": 4.0, "gamma": 0.25, "degree": 2}
    est = family.make_estimator(config, seed=0, fidelity=1.0, shape=shape_of(X)).fit(X, y)
    reference = SVR(kernel="poly", C=4.0, gamma=0.25, degree=2, epsilon=0.1).fit(X, y)
    assert np.allclose(est.predict(X_test), reference.predict(X_test))
    assert family.named_defaults()["probst2019"]["gamma"] == "auto"


def test_knn_regressor_averages_the_neighbours(diabetes):
    from sklearn.neighbors import NearestNeighbors

    X, y, X_test, _ = diabetes
    family = MODELS["knn"].for_task("regression")
    est = family.make_estimator({"n_neighbors": 7, "weights": "uniform", "p": 1.5}, seed=0, fidelity=1.0,
                                shape=shape_of(X)).fit(X, y)
    _, idx = NearestNeighbors(n_neighbors=7, p=1.5).fit(X).kneighbors(X_test)
    assert np.allclose(est.predict(X_test), y[idx].mean(axis=1))


def test_mlp_regressor_trains_exactly_max_iter_epochs(diabetes):
    X, y, _, _ = diabetes
    family = MODELS["mlp"].for_task("regression")
    config = {**family.space.default(), "width_1": 16, "max_iter": 90}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reaching max_iter is the budget, not a warning
        est = family.make_estimator(config, seed=0, fidelity=1 / 9, shape=shape_of(X)).fit(X, y)
    assert est.n_iter_ == 10 and est.out_activation_ == "identity"
    assert math.isfinite(est.loss_)


# -- the command line ------------------------------------------------------------------------------------------

def test_cli_lists_task_types_and_shows_the_regressor(capsys):
    from hpo_bench.cli import main

    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["family", "params", "fidelity", "scaled", "tasks", "library"]
    for name, family in MODELS.items():
        line = next(line for line in lines if line.split()[:1] == [name])
        assert "classification, regression" in line and line.endswith(family.library)
    for name in MODELS:
        assert main(["models", "show", name]) == 0
        out = capsys.readouterr().out.splitlines()
        assert "tasks: classification, regression" in out[1]
        regressor = MODELS[name].for_task("regression")
        line = next(line for line in out if line.startswith("the default for regression"))
        assert f"({regressor.library}; the same space; " in line
        assert all(f"{k} = " in line for k in regressor.package_default())
    assert main(["models", "show", "random_forest"]) == 0
    out = capsys.readouterr().out
    assert "max_features = 1, min_samples_leaf_exp = 0" in out  # the regressor's max_features = 1.0
    assert ("the default 'probst2019' for regression: n_estimators = 500, bootstrap = True, max_samples = 1, "
            "max_features = sqrt, min_samples_leaf_exp = log_n(5)") in out
    assert main(["models", "show", "elastic_net"]) == 0
    assert "(sklearn.linear_model.ElasticNet; the same space; fidelity parameter: none): alpha = 0.5, lambda = 1" in (
        capsys.readouterr().out)
