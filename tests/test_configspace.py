"""Search spaces to and from ConfigSpace: exact round trips, refusals, the CLI and experiment files."""

from __future__ import annotations

import json
import sys
from io import StringIO

import numpy as np
import pytest
from conftest import experiment_text

from hpo_bench.cli import main
from hpo_bench.configspace import (
    POSITION,
    from_configspace,
    from_configspace_json,
    from_configuration,
    to_configspace,
    to_configspace_json,
)
from hpo_bench.errors import ExperimentError, SpaceError
from hpo_bench.experiment import load_experiment, parse_experiment
from hpo_bench.models import MODELS
from hpo_bench.space import Categorical, Condition, Float, Int, SearchSpace
from hpo_bench.store import Store
from hpo_bench.tuning import full_config

CS = pytest.importorskip("ConfigSpace")


def _validates(space: SearchSpace, config: dict) -> bool:
    try:
        space.validate(config)
    except SpaceError:
        return False
    return True


@pytest.mark.parametrize("name", list(MODELS))
def test_every_family_round_trips_through_configspace_json(name):
    family = MODELS[name]
    space = family.space
    text = to_configspace_json(space, name=name)
    cs = CS.ConfigurationSpace.from_json(StringIO(text))  # ConfigSpace's own reader
    back = from_configspace(cs)

    assert back == space
    assert back.names == space.names  # our order, not ConfigSpace's
    for ours, theirs in zip(space, back, strict=True):
        assert type(theirs) is type(ours) and theirs.to_dict() == ours.to_dict()
    assert to_configspace_json(space, name=name) == text  # nothing random in the conversion
    assert json.loads(text)["name"] == name

    # Defaults: the space's own is ConfigSpace's, and every default validates (or not) alike.
    assert from_configuration(cs.get_default_configuration()) == space.default()
    assert back.validate(space.default()) == space.default()
    for config in [family.package_default(), *family.named_defaults().values()]:
        assert _validates(back, config) == _validates(space, config)

    # Sampling: ConfigSpace's configurations are ours, and ours are ConfigSpace's (Configuration checks them).
    cs.seed(0)
    for configuration in cs.sample_configuration(50):
        space.validate(from_configuration(configuration), where=f"{name} sample")
    rng = np.random.default_rng(0)
    for _ in range(50):
        CS.Configuration(cs, values=space.sample(rng))


def _forbidden(cs):
    cs.add(CS.ForbiddenAndConjunction(CS.ForbiddenEqualsClause(cs["kernel"], "poly"),
                                      CS.ForbiddenInClause(cs["C"], [1.0])))


def _conditioned(conjunction):
    """A change adding a parameter `w` active under `conjunction` of two conditions (or one condition)."""
    def change(cs):
        w = CS.UniformFloatHyperparameter("w", 0.0, 1.0)
        cs.add(w)
        first, second = CS.EqualsCondition(w, cs["kernel"], "rbf"), CS.EqualsCondition(w, cs["C"], 1.0)
        cs.add(conjunction(first, second))
    return change


@pytest.mark.parametrize("change, message", [
    (_forbidden, "parameter 'kernel': forbidden clause"),
    (_conditioned(lambda a, b: CS.OrConjunction(a, b)), "parameter 'w': conditions joined by OR"),
    (_conditioned(lambda a, b: CS.AndConjunction(a, b)), "parameter 'w': conditions joined by AND"),
    (_conditioned(lambda a, b: CS.NotEqualsCondition(a.child, a.parent, "linear")),
     "parameter 'w': a NotEqualsCondition"),
    (lambda cs: cs.add(CS.NormalFloatHyperparameter("w", mu=0.0, sigma=1.0, lower=-3.0, upper=3.0)),
     "parameter 'w': a NormalFloatHyperparameter has a prior"),
    (lambda cs: cs.add(CS.BetaIntegerHyperparameter("w", alpha=2.0, beta=2.0, lower=1, upper=9)),
     "parameter 'w': a BetaIntegerHyperparameter has a prior"),
    (lambda cs: cs.add(CS.OrdinalHyperparameter("w", ["low", "mid", "high"])),
     "parameter 'w': ordinal ['low', 'mid', 'high']"),
    (lambda cs: cs.add(CS.OrdinalHyperparameter("w", [16, 32, 64])), "parameter 'w': ordinal [16, 32, 64]"),
    (lambda cs: cs.add(CS.CategoricalHyperparameter("w", ["a", "b"], weights=[0.9, 0.1])),
     "parameter 'w': categorical weights"),
    (lambda cs: cs.add(CS.CategoricalHyperparameter("w", ["a", None])), "parameter 'w': value None"),
])
def test_what_has_no_exact_counterpart_is_refused_naming_the_parameter(change, message):
    cs = to_configspace(MODELS["svm"].space)
    change(cs)
    with pytest.raises(SpaceError) as info:
        from_configspace(cs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_what_maps_exactly_is_read():
    cs = CS.ConfigurationSpace()
    cs.add([CS.OrdinalHyperparameter("depth", [2, 3, 4, 5], default_value=3),
            CS.OrdinalHyperparameter("mode", ["fast", "slow"]),
            CS.Constant("kind", "tree"),
            CS.CategoricalHyperparameter("even", ["a", "b"], weights=[2, 2])])
    cs.add(CS.InCondition(cs["mode"], cs["depth"], [4, 5]))
    space = from_configspace(cs)
    assert space["depth"] == Int("depth", 2, 5, default=3)
    assert space["mode"] == Categorical("mode", ("fast", "slow"), condition=Condition("depth", (4, 5)))
    assert space["kind"] == Categorical("kind", ("tree",))
    assert space["even"] == Categorical("even", ("a", "b"))


def test_a_file_from_elsewhere_keeps_configspace_order_with_parents_first():
    cs = CS.ConfigurationSpace({"b": (0.0, 1.0), "a": ["x", "y"], "c": (1, 9)})
    cs.add(CS.EqualsCondition(cs["b"], cs["a"], "x"))
    assert from_configspace(cs).names == ["a", "c", "b"]  # ConfigSpace's: unconditional by name, then b
    # Positions edited by hand that put a child first: the child still comes after its parent.
    text = to_configspace_json(SearchSpace([Categorical("a", ("x", "y")), Float("b", 0.0, 1.0, condition=Condition(
        "a", ("x",))), Int("c", 1, 9)]))
    data = json.loads(text)
    for hp in data["hyperparameters"]:
        hp["meta"] = {POSITION: {"b": 0, "a": 1, "c": 2}[hp["name"]]}
    assert from_configspace_json(json.dumps(data)).names == ["a", "b", "c"]


def test_a_space_configspace_cannot_hold_is_refused_naming_the_parameter():
    with pytest.raises(SpaceError, match="^parameter 'c': ConfigSpace cannot hold it: Choices for categorical"):
        to_configspace(SearchSpace([Categorical("c", (True, 1))]))  # distinct here, equal to ConfigSpace


def test_bad_json_and_an_old_quantised_file_are_refused():
    with pytest.raises(SpaceError, match="^f.json: not a ConfigSpace JSON space: JSONDecodeError"):
        from_configspace_json("{", where="f.json")
    old = {"hyperparameters": [{"type": "uniform_float", "name": "lr", "lower": 0.0, "upper": 1.0, "q": 0.1}],
           "conditions": [], "forbiddens": []}
    with pytest.raises(SpaceError, match=r"^f.json: parameter 'lr': quantised \(q = 0.1\)"):
        from_configspace_json(json.dumps(old), where="f.json")


def test_cli_writes_a_family_space_as_configspace_json(tmp_path, capsys):
    assert main(["models", "show", "mlp", "--format", "configspace"]) == 0
    cs = CS.ConfigurationSpace.from_json(StringIO(capsys.readouterr().out))
    assert from_configspace(cs) == MODELS["mlp"].space
    out = tmp_path / "xgboost.json"
    assert main(["models", "show", "xgboost", "--format", "configspace", "--output", str(out)]) == 0
    assert "wrote the space of xgboost (10 parameters)" in capsys.readouterr().out
    assert from_configspace(CS.ConfigurationSpace.from_json(out)) == MODELS["xgboost"].space
    assert main(["models", "show", "xgboost", "--output", str(out)]) == 2
    assert "--output writes ConfigSpace JSON; add --format configspace" in capsys.readouterr().err


def test_without_configspace_the_feature_exits_2_saying_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ConfigSpace", None)  # what an environment without it gives: ImportError
    assert main(["models", "show", "knn", "--format", "configspace"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and 'pip install "hpo-bench[configspace]"' in err


def _knn_file(path, n_neighbors_high=10):
    """knn's space with a narrower k and without `weights`, as a user edits an exported file."""
    data = json.loads(to_configspace_json(MODELS["knn"].space, name="knn"))
    data["hyperparameters"] = [hp for hp in data["hyperparameters"] if hp["name"] != "weights"]
    for hp in data["hyperparameters"]:
        if hp["name"] == "n_neighbors":
            hp["upper"] = n_neighbors_high
    path.write_text(json.dumps(data, indent=2))
    return path


def test_an_experiment_runs_a_model_in_the_space_of_its_configspace_file(tmp_path):
    (tmp_path / "spaces").mkdir()
    file = _knn_file(tmp_path / "spaces" / "knn.json")
    exp_path = tmp_path / "exp.toml"
    exp_path.write_text(experiment_text(models='["knn"]', seeds="1", budget_evals="4", n_workers="1",
                                        spaces='{ knn = "spaces/knn.json" }'))
    expected = from_configspace(CS.ConfigurationSpace.from_json(file))
    exp = load_experiment(exp_path)  # the path is relative to the file, not the working directory
    assert exp.spaces == {"knn": expected} and exp.family("knn").space == expected

    results = tmp_path / "results"
    assert main(["run", str(exp_path), "--results-dir", str(results)]) == 0
    with Store(results / "tiny.sqlite", create=False) as store:
        assert [SearchSpace.from_json(s) for s in store.run_spaces().space] == [expected]
        trials = store.trials()
    assert len(trials) == 4 and (trials.state == "COMPLETE").all()
    configs = [json.loads(c) for c in trials.config]
    assert configs[0] == MODELS["knn"].package_default()  # the default trial is the family's, as it is
    for config in configs[1:]:
        assert config["n_neighbors"] <= 10
        assert config["weights"] == "uniform"  # left out of the file: held at the default


def test_the_files_content_counts_in_the_experiment_hash(tmp_path):
    text = experiment_text(models='["knn"]', spaces='{ knn = "knn.json" }')
    _knn_file(tmp_path / "knn.json")
    first = parse_experiment(text, base_dir=tmp_path).file_hash
    assert first != parse_experiment(experiment_text(models='["knn"]')).file_hash
    (tmp_path / "elsewhere").mkdir()
    _knn_file(tmp_path / "elsewhere" / "knn.json")
    assert parse_experiment(text, base_dir=tmp_path / "elsewhere").file_hash == first  # moved, same content
    _knn_file(tmp_path / "knn.json", n_neighbors_high=12)
    assert parse_experiment(text, base_dir=tmp_path).file_hash != first  # edited: another experiment


def test_an_exported_space_runs_as_the_family_own_and_is_what_tune_and_configs_see(tmp_path):
    for name in ("xgboost", "knn"):
        assert main(["models", "show", name, "--format", "configspace", "--output", str(tmp_path / name)]) == 0
    keys = {"models": '["xgboost", "knn"]', "tune": '["all", "each"]'}
    exp = parse_experiment(experiment_text(**keys, spaces='{ xgboost = "xgboost", knn = "knn" }'), base_dir=tmp_path)
    plain = parse_experiment(experiment_text(**keys))
    assert exp.tune == plain.tune and exp.runs() == plain.runs()
    for model in ("xgboost", "knn"):
        family = exp.family(model)
        assert family.space == MODELS[model].space and family.space.names == MODELS[model].space.names
        one, two = np.random.default_rng(3), np.random.default_rng(3)
        for _ in range(20):  # the same draws, completed alike (nothing left out, so nothing held)
            config = family.space.sample(one)
            assert config == MODELS[model].space.sample(two)
            assert full_config(family, "all", config) == full_config(MODELS[model], "all", config)

    _knn_file(tmp_path / "knn.json")  # k in [1, 10], weights left out
    with pytest.raises(ExperimentError, match=r"configs.knn\[0\]: unknown parameter 'weights'"):
        parse_experiment(experiment_text(models='["knn"]', spaces='{ knn = "knn.json" }', configs=
                                         '{ knn = [{ n_neighbors = 3, p = 1.0, weights = "distance" }] }'),
                         base_dir=tmp_path)
    exp = parse_experiment(experiment_text(models='["knn"]', tune='"each"', spaces='{ knn = "knn.json" }'),
                           base_dir=tmp_path)
    assert exp.tune == {"knn": ["n_neighbors", "p"]}


def test_a_categorical_of_integers_stands_for_an_integer_parameter(tmp_path):
    data = json.loads(to_configspace_json(MODELS["knn"].space))
    for hp in data["hyperparameters"]:
        if hp["name"] == "n_neighbors":
            for key in ("lower", "upper", "log"):
                del hp[key]
            hp.update(type="categorical", choices=[3, 5, 7], default_value=5, weights=None)
    (tmp_path / "knn.json").write_text(json.dumps(data))
    exp = parse_experiment(experiment_text(models='["knn"]', spaces='{ knn = "knn.json" }'), base_dir=tmp_path)
    assert exp.spaces["knn"]["n_neighbors"] == Categorical("n_neighbors", (3, 5, 7), default=5)
    assert exp.spaces["knn"].names == ["n_neighbors", "weights", "p"]  # positions kept from the export


@pytest.mark.parametrize("edit, message", [
    (lambda hps: hps.append({"type": "uniform_int", "name": "leaf_size", "lower": 1, "upper": 50}),
     "exp.toml: spaces.knn: {dir}/knn.json: parameter 'leaf_size' is not a hyperparameter of knn (its parameters: "
     "n_neighbors, weights, p)"),
    (lambda hps: hps[0].update(type="uniform_float", lower=1.0, upper=30.0, default_value=7.0),
     "exp.toml: spaces.knn: {dir}/knn.json: parameter 'n_neighbors' is float [1, 30], and knn's is int [1, 30]: "
     "an integer parameter takes an int or a categorical of integers"),
    (lambda hps: hps.__setitem__(1, {"type": "uniform_float", "name": "weights", "lower": 1.0, "upper": 2.0}),
     "parameter 'weights' is float [1, 2], and knn's is categorical {uniform, distance}: a categorical parameter "
     "takes a categorical"),
    (lambda hps: hps.append({"type": "normal_float", "name": "p2", "mu": 2.0, "sigma": 1.0, "lower": 1.0,
                                "upper": 5.0}),
     "exp.toml: spaces.knn: {dir}/knn.json: parameter 'p2': a NormalFloatHyperparameter has a prior"),
])
def test_a_file_with_what_the_family_cannot_take_is_refused(tmp_path, edit, message):
    data = json.loads(to_configspace_json(MODELS["knn"].space))
    data["hyperparameters"].sort(key=lambda hp: hp["meta"][POSITION])  # n_neighbors, weights, p
    edit(data["hyperparameters"])
    (tmp_path / "knn.json").write_text(json.dumps(data))
    with pytest.raises(ExperimentError) as info:
        parse_experiment(experiment_text(models='["knn"]', spaces='{ knn = "knn.json" }'), where="exp.toml",
                         base_dir=tmp_path)
    assert message.replace("{dir}", str(tmp_path)) in str(info.value)


@pytest.mark.parametrize("spaces, message", [
    ('{ svm = "svm.json" }', "spaces.svm = 'svm.json': names a model the experiment does not run"),
    ("{ knn = 3 }", "spaces.knn = 3: must be the path of a ConfigSpace JSON file"),
    ('{ knn = "missing.json" }', "spaces.knn = 'missing.json': cannot read"),
    ('"knn.json"', "spaces = 'knn.json': must be a table of model"),
])
def test_bad_spaces_entries_name_the_key(tmp_path, spaces, message):
    with pytest.raises(ExperimentError) as info:
        parse_experiment(experiment_text(models='["knn"]', spaces=spaces), where="exp.toml", base_dir=tmp_path)
    assert message in str(info.value)
