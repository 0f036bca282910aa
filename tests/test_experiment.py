from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import experiment_text

from hpo_bench.errors import ExperimentError
from hpo_bench.experiment import load_experiment, parse_experiment


def test_a_valid_file_expands_into_runs():
    exp = parse_experiment(experiment_text(tasks='["sklearn:iris", "sklearn:wine"]', seeds="[3, 5]",
                                           optimizers='random = {}\ncoarse = { type = "grid", n_points = 2 }'))
    assert exp.seeds == [3, 5]
    assert [o.label for o in exp.optimizers] == ["random", "coarse"]
    assert exp.optimizer("coarse").type == "grid" and exp.optimizer("coarse").options == {"n_points": 2}
    runs = exp.runs()
    assert len(runs) == 2 * 2 * 1 * 2 and len({r.key for r in runs}) == len(runs)
    assert runs[0].seed == 3 and runs[-1].seed == 5  # seed-major


@pytest.mark.parametrize("overrides, message", [
    ({"models": '["xgboost", "svm2"]'}, "models: unknown model 'svm2' (allowed: xgboost, random_forest"),
    ({"budget_evals": "-5"}, "budget_evals = -5: must be an integer >= 1"),
    ({"budget_evals": "2.5"}, "budget_evals = 2.5: must be an integer >= 1"),
    ({"colour": '"red"'}, "unknown key 'colour' (allowed: name, description, tasks"),
    ({"metric": '"auc"'}, "metric = 'auc': must be one of ['1-auc', 'logloss', 'error', 'brier', 'balanced_error']"),
    ({"seeds": "[1, 1]"}, "seeds = [1, 1]"),
    ({"cv_folds": "1"}, "cv_folds = 1: must be an integer from 2 to 50"),
    ({"tasks": '["sklearn:nope"]'}, "unknown task 'sklearn:nope'"),
    ({"tasks": '["nope:x"]'}, "task 'nope:x': unknown source 'nope'"),
    ({"name": '"a b"'}, "name = 'a b'"),
    ({"budget_evals": "None"}, "missing key 'budget_evals'"),
    ({"optimizers": "bayes = {}"}, "optimizers.bayes: unknown optimizer type 'bayes' (allowed: gp, grid, halving"),
    ({"optimizers": "grid = { points = 2 }"}, "optimizers.grid: optimizer 'grid': unknown option 'points'"),
    ({"optimizers": 'grid = { n_points = "2" }'}, "n_points = '2' must be int"),
    ({"test": '"outer"'}, "test = 'outer': must be one of ['none', 'holdout']"),
    ({"test": '"holdout"', "test_fraction": "0.9"}, "test_fraction = 0.9: must be a number in (0, 0.5]"),
    ({"test_fraction": "0.2"}, "test_fraction = 0.2: needs test = \"holdout\""),
    ({"seed_design": '"random"'}, "seed_design = 'random': must be one of ['repeated', 'crossed']"),
    ({"seed_design": '"crossed"', "seeds": "[0, 1]"}, "seeds = [0, 1]: with seed_design = \"crossed\" must be a count"),
    ({"optimizers": "optuna-tpe = { multivariate = 1 }"}, "multivariate = 1 must be bool"),
    ({"budget_evals": "{ svm = 3 }"}, "budget_evals.svm = 3: names a model the experiment does not run"),
    ({"models": '["xgboost", "knn"]', "budget_evals": "{ xgboost = 3 }"},
     "budget_evals = {'xgboost': 3}: a table must give a budget for every model; 'knn' has none"),
    ({"budget_evals": "{ xgboost = 0 }"}, "budget_evals.xgboost = 0: must be an integer >= 1"),
    ({"defaults": '"R"'}, "defaults = 'R': must be one of ['package', 'probst2019']"),
    ({"budget_seconds": "0"}, "budget_seconds = 0: must be a positive number of seconds per run"),
    ({"budget_seconds": '"10s"'}, "budget_seconds = '10s': must be a positive number of seconds per run"),
    ({"budget_seconds": "true"}, "budget_seconds = True: must be a positive number of seconds per run"),
    ({"models": '["mlp"]', "defaults": '"probst2019"'}, "model 'mlp' has no such default (only 'package')"),
])
def test_bad_files_name_the_key_and_what_is_allowed(overrides, message):
    with pytest.raises(ExperimentError) as info:
        parse_experiment(experiment_text(**overrides), where="exp.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("exp.toml: ")


def test_malformed_toml_and_missing_file(tmp_path):
    with pytest.raises(ExperimentError, match="not valid TOML"):
        parse_experiment("name = [", where="x.toml")
    with pytest.raises(ExperimentError, match="cannot read experiment file"):
        load_experiment(tmp_path / "missing.toml")


def test_the_quickstart_file_is_valid():
    from pathlib import Path

    exp = load_experiment(Path(__file__).parents[1] / "benchmarks" / "quickstart.toml")
    assert exp.name == "quickstart" and list(exp.models) == ["decision_tree", "svm"] and not exp.include_default


def test_budgets_per_model_and_the_r_defaults():
    exp = parse_experiment(experiment_text(models='["xgboost", "knn"]', budget_evals="{ knn = 7, xgboost = 3 }",
                                           defaults='"probst2019"', tune='["all", "each"]'))
    assert exp.budget("knn") == 7 and exp.budget("xgboost") == 3
    assert exp.defaults == "probst2019"
    assert parse_experiment(experiment_text(models='["xgboost", "knn"]')).budgets == {"xgboost": 5, "knn": 5}


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[1] / "benchmarks").rglob("*.toml")),
                         ids=lambda p: p.name)
def test_every_committed_experiment_file_is_valid(path):
    exp = load_experiment(path)
    assert exp.runs() and exp.name


def test_every_optimizer_is_built_on_every_space_it_will_search_when_the_file_is_read(tmp_path):
    # knn tuned alone per parameter: CMA-ES cannot search a one-parameter space, which "all" would not show
    text = experiment_text(models='["xgboost", "knn"]', tune='["all", "each"]', optimizers="optuna-cmaes = {}")
    with pytest.raises(ExperimentError, match=r"^exp.toml: optimizers.optuna-cmaes on xgboost tuning n_estimators: "
                                              r"optimizer 'optuna-cmaes': CMA-ES needs at least two"):
        parse_experiment(text, where="exp.toml")
    # Readers of a store run nothing, and do not build (a peer library may be missing where they read).
    path = tmp_path / "e.toml"
    path.write_text(text)
    assert load_experiment(path, build_optimizers=False).tune["knn"] == ["all", "n_neighbors", "weights", "p"]
    # A per-model budget sizes the grid: the model whose budget makes it too large is named.
    with pytest.raises(ExperimentError, match="optimizers.grid on xgboost: optimizer 'grid': 6 points per dimension"):
        parse_experiment(experiment_text(models='["knn", "xgboost"]', budget_evals="{ knn = 10, xgboost = 3000000 }",
                                         optimizers="grid = {}"), where="exp.toml")


def test_every_key_has_a_rule_and_every_message_says_it_the_same_way():
    from hpo_bench.experiment import RULES
    from hpo_bench.settings import DEFAULTS

    assert all(rule.doc and rule.rule for rule in RULES.values())
    for key, default in DEFAULTS.items():  # what readers of a store assume is what the validator applies
        assert RULES[key].default == default, key
    bad = {"cv_folds": 51, "test_fraction": 0.0, "n_workers": 0, "time_limit_s": -1, "include_default": 1,
           "executor": "slurm", "space": "mine", "description": 3, "seeds": 0, "tasks": []}
    for key, value in bad.items():
        with pytest.raises(ExperimentError) as info:
            parse_experiment(experiment_text(**{key: json.dumps(value)}), where="f.toml")
        assert str(info.value) == f"f.toml: {key} = {value!r}: must be {RULES[key].rule}", key
