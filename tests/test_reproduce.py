"""Same versions, same trials: a slice of the committed Probst et al. study, run again here, gives exactly
the trials its store holds (benchmarks/reproduce_slice.py; the README installs reports/constraints.txt)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from test_tasks import write_manifest

from hpo_bench.tasks import TaskStore
from hpo_bench.tasks.files import import_manifest

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "benchmarks" / "tunability-probst2019.toml"
_spec = importlib.util.spec_from_file_location("reproduce_slice", ROOT / "benchmarks" / "reproduce_slice.py")
reproduce_slice = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reproduce_slice)


@pytest.mark.slow  # irreducibly long: 501 evaluations of the study, compared one by one (17-52 s)
def test_the_decision_tree_slice_of_the_probst_study_reproduces_its_stored_trials_exactly(tmp_path):
    tasks = TaskStore(tmp_path / "tasks")
    import_manifest(tasks, write_manifest(tmp_path, ["diabetes"]))  # openml:data/37
    expected = pd.read_csv(reproduce_slice.expected_path(STUDY, "openml:data/37", 0))
    assert (expected[expected.model == "decision_tree"].trial_number == list(range(501))).all()
    assert expected[(expected.model == "decision_tree") & (expected.trial_number == 0)].source.item() == "default"
    found = reproduce_slice.check(STUDY, "openml:data/37", 0, models=["decision_tree"], task_store=tasks.root,
                                  results_dir=tmp_path / "results")
    assert found == [], found[:5]


def test_the_comparison_sees_a_changed_loss_a_missing_trial_and_other_data():
    expected = pd.read_csv(reproduce_slice.expected_path(STUDY, "openml:data/37", 0))
    expected = expected[expected.model == "decision_tree"].reset_index(drop=True)
    assert reproduce_slice.differences(expected, expected.copy()) == []
    changed = expected.copy()
    changed.loc[7, "fold_losses"] = changed.loc[7, "fold_losses"].replace("0.", "0.1", 1)
    changed = changed.drop(index=9)
    changed["task_fingerprint"] = "0" * 16
    found = reproduce_slice.differences(expected, changed)
    assert len(found) == 3, found
    assert found[0].startswith("task data differ")
    assert found[1] == "decision_tree random seed 0 trial 9: missing here"
    assert found[2].startswith("decision_tree random seed 0 trial 7: fold_losses [")
