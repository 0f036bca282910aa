"""A user's optimizer and model family from outside the package: named as module:Class or by an entry point,
run through the CLI, resumed after a driver's death, checked by hpo_bench.testing; the naming rules and their errors."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import experiment_text
from killing import cut_short
from test_run import trials_of

from hpo_bench import plugins
from hpo_bench.cli import main
from hpo_bench.errors import ExperimentError
from hpo_bench.experiment import parse_experiment
from hpo_bench.models import MODELS, get_model
from hpo_bench.optimizers import get_optimizer
from hpo_bench.testing import check_optimizer

ROOT = Path(__file__).parents[1]
# The example a user would start from, copied under another module name: the test runs the copy on the path.
EXAMPLE = ROOT / "examples" / "my_optimizer.py"
FAMILIES = '''"""A user's model family: scikit-learn's decision tree, pausing before each fit (a kill lands mid-run)."""

import time

from hpo_bench.models import ModelFamily
from hpo_bench.space import Categorical, Float, Int, SearchSpace


class PausedTree(ModelFamily):
    name = "paused_tree"
    library = "sklearn.tree.DecisionTreeClassifier"
    space = SearchSpace([Int("max_depth", 1, 8, default=3), Categorical("criterion", ("gini", "entropy")),
                         Float("min_impurity_decrease", 0.0, 0.05, default=0.0)])

    def package_default(self):
        return {"max_depth": 3, "criterion": "gini", "min_impurity_decrease": 0.0}

    def make_estimator(self, config, *, seed, fidelity, shape):
        from sklearn.tree import DecisionTreeClassifier

        time.sleep(0.1)
        return DecisionTreeClassifier(**config, random_state=seed)


PAUSED_TREE = PausedTree()
'''
# An installed distribution is a folder NAME-VERSION.dist-info on sys.path; importlib.metadata reads its
# entry points from there, so no pip is needed to install one.
ENTRY_POINTS = """[hpo_bench.optimizers]
user-local = user_search:LocalSearch

[hpo_bench.models]
paused-tree = user_families:PAUSED_TREE
"""


def _dist_info(folder: Path, name: str, version: str, entry_points: str) -> None:
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(entry_points)


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder outside the package with the user's modules and a distribution `xyz 0.1` registering them,
    on sys.path here and on PYTHONPATH for the CLI processes; forgotten again afterwards."""
    folder = tmp_path / "user"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "user_search.py")
    (folder / "user_families.py").write_text(FAMILIES)
    _dist_info(folder, "xyz", "0.1", ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(folder), str(ROOT)]))
    plugins.plugins.cache_clear()
    yield folder
    plugins.plugins.cache_clear()
    for module in ("user_search", "user_families"):
        sys.modules.pop(module, None)



def _experiment(optimizer_type: str, models: str, seeds: int) -> str:
    """8 evaluations per run on iris, the default first, with the user's optimizer under the label `local`."""
    return experiment_text(name='"user"', tasks='["sklearn:iris"]', models=models, budget_evals=8, seeds=seeds,
                           optimizers=f'local = {{ type = "{optimizer_type}", n_initial = 3 }}')


def test_a_users_optimizer_runs_resumes_after_a_cut_and_is_the_same_through_an_entry_point(plugin_dir, tmp_path):
    exp = tmp_path / "user.toml"
    exp.write_text(_experiment("user_search:LocalSearch", '["user_families:PAUSED_TREE"]', seeds=2))
    total = 2 * 8
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "reference")]) == 0
    reference = trials_of(tmp_path / "reference" / "user.sqlite")
    assert len(reference) == total and (reference.state == "COMPLETE").all()
    assert set(reference.source) == {"default", "optimizer"}

    # A store as a driver killed mid-run leaves it (tests/killing.py), then the same command again in the
    # process: replay, no trial lost or repeated. (The real SIGKILL of a driver is tested once per executor.)
    killed = tmp_path / "killed"
    killed.mkdir()
    db = killed / "user.sqlite"
    stored = cut_short(tmp_path / "reference" / "user.sqlite", db, keep=[4, 6])
    assert 4 <= stored < total
    assert main(["run", str(exp), "--results-dir", str(killed), "--executor", "inline"]) == 0
    pd.testing.assert_frame_equal(trials_of(db), reference)

    # The same class through the entry point of `xyz 0.1`, under the same label: the same trials. The
    # second model is the user's family through its entry point, which the workers resolve too.
    by_entry_point = tmp_path / "entry.toml"
    by_entry_point.write_text(_experiment("user-local", '["user_families:PAUSED_TREE", "paused-tree"]', seeds=1))
    assert main(["run", str(by_entry_point), "--results-dir", str(tmp_path / "entry")]) == 0
    trials = trials_of(tmp_path / "entry" / "user.sqlite")
    pd.testing.assert_frame_equal(trials[trials.model == "user_families:PAUSED_TREE"].reset_index(drop=True),
                                  reference[reference.seed == 0].reset_index(drop=True))
    assert len(trials[trials.model == "paused-tree"]) == 8


def test_the_entry_points_resolve_pass_the_contract_checks_and_are_listed(plugin_dir, capsys):
    import user_families
    import user_search

    cls = get_optimizer("user-local")
    assert cls is user_search.LocalSearch is get_optimizer("user_search:LocalSearch")
    assert get_model("paused-tree") is user_families.PAUSED_TREE
    history = check_optimizer(cls)  # hpo_bench.testing, as for every built-in optimizer
    assert {s.info["phase"] for s, _ in history} == {"random", "local"}
    check_optimizer(cls, user_families.PAUSED_TREE.space, {"n_initial": 2, "step": 0.3})
    # A user's class gets the common options and its own typed options, unregistered.
    assert list(cls.options) == ["batch_size", "n_initial", "step"] and cls.name == "user_search:LocalSearch"

    assert main(["optimizers"]) == 0
    out = capsys.readouterr().out
    assert ("\nuser-local: Seeded local search: random start, then Gaussian steps in the unit cube around the best "
            "so far. [plugin: entry point user-local = 'user_search:LocalSearch' of xyz 0.1]\n") in out
    assert "    step = 0.1 (float): standard deviation of a step, in unit-cube coordinates\n" in out
    assert main(["models"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("paused-tree"))
    assert line.split()[1:3] == ["3", "-"] and line.endswith(
        "[plugin: entry point paused-tree = 'user_families:PAUSED_TREE' of xyz 0.1]")


def test_a_users_options_are_typed_and_range_checked_when_the_file_is_read(plugin_dir):
    def parse(options: str):
        return parse_experiment(experiment_text(models='["user_families:PAUSED_TREE"]',
                                                optimizers=f"local = {{ type = \"user-local\", {options} }}"),
                                where="exp.toml")

    assert parse("batch_size = 2, step = 0.5").optimizer("local").options == {"batch_size": 2, "step": 0.5}
    for options, message in [
        ('step = "big"', "exp.toml: optimizers.local: optimizer 'local': option step = 'big' must be float"),
        ("step = 2.0", "exp.toml: optimizers.local on user_families:PAUSED_TREE: optimizer 'user_search:LocalSearch':"
                       " option step = 2.0 must be in (0, 1]"),
        ("n_initial = 0", "option n_initial = 0 must be >= 1"),
        ("batch_size = 0", "option batch_size = 0 must be >= 1"),
        ("radius = 1", "unknown option 'radius' (allowed: type, batch_size, n_initial, step)"),
    ]:
        with pytest.raises(ExperimentError) as info:
            parse(options)
        assert message in str(info.value), str(info.value)


def test_a_plugin_may_not_shadow_a_built_in_nor_share_a_name(plugin_dir, tmp_path, capsys):
    # A second distribution: an optimizer named like a built-in, a model likewise, and a name xyz gives too.
    _dist_info(plugin_dir, "abc", "0.2", "[hpo_bench.optimizers]\ntpe = user_search:LocalSearch\n"
                                         "user-local = user_search:LocalSearch\n\n"
                                         "[hpo_bench.models]\nknn = user_families:PAUSED_TREE\n"
                                         "tree-class = user_families:PausedTree\n")
    plugins.plugins.cache_clear()
    with pytest.raises(ExperimentError, match=r"optimizer type 'tpe' is a built-in and also the entry point tpe = "
                                              r"'user_search:LocalSearch' of abc 0\.2 \(group hpo_bench\.optimizers\): "
                                              r"a plugin may not shadow a built-in; rename the entry point"):
        get_optimizer("tpe")
    with pytest.raises(ExperimentError, match="model 'knn' is a built-in and also the entry point knn"):
        get_model("knn")
    with pytest.raises(ExperimentError, match=r"optimizer type 'user-local' is an entry point of several distributions "
                                              r"\(entry point .* of abc 0\.2; entry point .* of xyz 0\.1\)"):
        get_optimizer("user-local")
    with pytest.raises(ExperimentError, match=r"model 'tree-class' \(entry point tree-class = "
                                              r"'user_families:PausedTree' of abc 0\.2\) is the class PausedTree: "
                                              r"name an instance of it"):
        get_model("tree-class")
    assert get_optimizer("user_search:LocalSearch").name == "user_search:LocalSearch"  # always works
    assert get_optimizer("random") is not None and get_model("xgboost") is MODELS["xgboost"]  # untouched

    # Through the CLI: one line, exit 2, nothing written; the listing shows the clash instead of failing.
    exp = tmp_path / "e.toml"
    exp.write_text(experiment_text(optimizers="tpe = {}"))
    capsys.readouterr()
    assert main(["run", str(exp), "--results-dir", str(tmp_path / "results")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hpo-bench: error: ") and "may not shadow a built-in" in lines[0]
    assert not (tmp_path / "results").exists()
    assert main(["optimizers"]) == 0
    out = capsys.readouterr().out
    assert "\ntpe: not usable: optimizer type 'tpe' is a built-in and also the entry point" in out
    assert "\nuser-local: not usable: optimizer type 'user-local' is an entry point of several" in out
