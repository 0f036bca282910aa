"""Analysis reads the spaces stored with the runs: a family whose space changes in code after a store was
made, a model from outside hpo-bench whose module cannot be imported, and a store mixing two spaces."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import experiment_text

from hpo_bench.analysis import NotApplicable, analyze, load_study
from hpo_bench.analysis.importance import importance_table
from hpo_bench.cli import main
from hpo_bench.errors import HpoBenchError
from hpo_bench.models import get_model
from hpo_bench.report import build_report
from hpo_bench.report.figures import marginal_effects
from hpo_bench.space import Float, Int, SearchSpace

TREE = get_model("decision_tree")


def _run(root: Path, **keys: object) -> Path:
    (root / "exp.toml").write_text(experiment_text(**keys))
    assert main(["run", str(root / "exp.toml"), "--results-dir", str(root / "results")]) == 0
    return root / "results" / f"{str(keys['name']).strip(chr(34))}.sqlite"


@pytest.fixture(scope="module")
def tree_store(tmp_path_factory) -> Path:
    """40 random configurations of decision_tree and its default on breast_cancer."""
    return _run(tmp_path_factory.mktemp("drift"), name='"drift"', tasks='["sklearn:breast_cancer"]',
                models='["decision_tree"]', budget_evals=41, seeds=1)


def _changed_space() -> SearchSpace:
    """decision_tree's space as a later version of the code might have it: cp renamed, minsplit narrowed."""
    return SearchSpace([Float("complexity", 0.0, 1.0, default=0.01), Int("maxdepth", 1, 30, default=30),
                        Int("minbucket", 1, 60, default=7), Int("minsplit", 2, 10, default=5)])


def test_a_family_whose_space_changed_in_code_is_analysed_in_the_space_stored_with_its_runs(tree_store, monkeypatch):
    before, skipped_before = analyze(load_study(tree_store))
    assert {"importance", "tuning_space", "tunability", "surrogate_tunability"} <= set(before)
    stored = load_study(tree_store).spaces["decision_tree"]
    assert stored.fingerprint() == TREE.space.fingerprint() and stored.names == ["cp", "maxdepth", "minbucket",
                                                                                "minsplit"]

    monkeypatch.setattr(type(TREE), "space", property(lambda self: _changed_space()))
    assert get_model("decision_tree").space.names[0] == "complexity"  # the code's space has changed
    study = load_study(tree_store)
    assert study.spaces["decision_tree"].fingerprint() == stored.fingerprint()  # the store's has not
    after, skipped_after = analyze(study)
    assert sorted(after) == sorted(before) and skipped_after == skipped_before
    for name, table in before.items():
        pd.testing.assert_frame_equal(table, after[name], obj=name)
    assert set(after["importance"]["parameter"]) == {"cp", "maxdepth", "minbucket", "minsplit"}
    fig = marginal_effects(study.trials, "decision_tree", study.spaces["decision_tree"])
    assert [ax.get_xlabel() for ax in fig.axes if ax.get_visible()] == stored.names

    # What encoding in the code's space would have done: every configuration names "cp", which that space
    # does not have, so none of them could be placed and the importance table would be gone.
    full = study.trials[study.trials["tuned"] == "all"]
    with pytest.raises(NotApplicable, match="10 complete fully tuned trials"):
        importance_table(full, {"decision_tree": get_model("decision_tree").space})


def test_a_store_whose_runs_searched_two_spaces_for_one_model_is_refused_naming_both(tree_store, tmp_path):
    mixed = tmp_path / "mixed.sqlite"
    mixed.write_bytes(tree_store.read_bytes())
    changed = _changed_space()
    with sqlite3.connect(mixed) as db:  # as if one run had been added after the family's space changed
        db.execute("INSERT INTO runs (run_key, task, model, optimizer, optimizer_type, optimizer_options, tuned, "
                   "seed, optimizer_seed, model_seed, budget_evals, space, space_fingerprint, task_fingerprint) "
                   "SELECT run_key || '|later', task, model, optimizer, optimizer_type, optimizer_options, tuned, "
                   "seed + 1, optimizer_seed, model_seed, budget_evals, ?, ?, task_fingerprint FROM runs",
                   (changed.to_json(), changed.fingerprint()))
    db.close()
    with pytest.raises(HpoBenchError, match="decision_tree") as info:
        load_study(mixed)
    assert TREE.space.fingerprint() in str(info.value) and changed.fingerprint() in str(info.value)


def test_a_model_from_outside_hpo_bench_is_analysed_without_importing_its_module(tmp_path, monkeypatch):
    store = _run(tmp_path, name='"outside"', models='["families:FAILING_LOGREG"]', budget_evals=15, seeds=1)
    # From here on `import families` fails: a reader that imported the model's module would crash.
    monkeypatch.setitem(sys.modules, "families", None)
    study = load_study(store)
    assert study.spaces["families:FAILING_LOGREG"].names == ["C"]
    tables, skipped = analyze(study)
    assert "tunability" in tables and "tuning_space" in tables
    assert "not one of hpo-bench's families" in skipped["surrogate_tunability"]
    report = build_report(store, tmp_path / "reports")
    assert "marginal_families:FAILING_LOGREG" in report.figures
    assert "not one of hpo-bench's families" in report.skipped["surrogate_quality"]
