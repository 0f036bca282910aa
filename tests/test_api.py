"""The Python API: the manual's example (docs/getting-started.md) runs as written; dict and TOML experiments
are the same experiment."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest

import hpo_bench
from hpo_bench.errors import ExperimentError, HpoBenchError, StoreError
from hpo_bench.experiment import Experiment, parse_experiment
from hpo_bench.optimizers.random_search import RandomSearch

ROOT = Path(__file__).resolve().parents[1]


class StopsAtTheThirdAsk(RandomSearch):
    """Random search whose third suggestion is a Ctrl-C (a KeyboardInterrupt in the main process)."""

    def ask(self):
        self.asked = getattr(self, "asked", 0) + 1
        if self.asked == 3:
            raise KeyboardInterrupt
        return super().ask()
TOML = """
name = "api-same"   # a comment the hash does not see
tasks = ["sklearn:iris"]
models = ["decision_tree"]
budget_evals = 4
seeds = [0, 3]
cv_folds = 3
include_default = true
tune = ["all", "cp"]

[optimizers]
random = {}
coarse = { type = "grid", n_points = 2 }
"""


def readme_example() -> str:
    text = (ROOT / "docs" / "getting-started.md").read_text()
    section = text.split("## Use from Python", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/getting-started.md's 'Use from Python' section has no python block"
    return match.group(1)


@pytest.mark.slow  # a driver process: the example as a script, with its worker processes (15-32 s)
def test_readme_example_runs(tmp_path):
    """The manual's example, as a script of its own (worker processes import it), in a fresh folder."""
    (tmp_path / "example.py").write_text(readme_example())
    out = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "{'done': 4} 40" in out.stdout  # 1 task x 1 model x 2 optimizers x 2 seeds, 10 evaluations each
    assert (tmp_path / "reports" / "api-example" / "index.html").stat().st_size > 0
    with hpo_bench.open_store(tmp_path / "results" / "api-example.sqlite") as store:
        trials = store.trials(params=True)
    assert len(trials) == 40 and set(trials["optimizer"]) == {"random", "tpe"}
    # one column per hyperparameter, the configuration's own values (None, unlimited depth, as missing)
    for _, row in trials.iterrows():
        config = json.loads(row["config"])
        assert all(pd.isna(row[f"params_{k}"]) if v is None else row[f"params_{k}"] == v for k, v in config.items())


def test_dict_and_toml_are_the_same_experiment():
    from_toml = parse_experiment(TOML, where="a.toml")
    from_dict = Experiment.from_dict(tomllib.loads(TOML))
    assert from_dict.runs() == from_toml.runs() and len(from_toml.runs()) == 2 * 2 * 2
    assert from_dict.file_hash == from_toml.file_hash
    # comments, layout and key order are not content; a value is
    reordered = "\n".join(reversed(TOML.strip().split("\n[optimizers]")[0].splitlines()))
    reordered += "\n[optimizers]" + TOML.split("[optimizers]")[1]
    assert parse_experiment(reordered).file_hash == from_toml.file_hash
    assert parse_experiment(TOML.replace("budget_evals = 4", "budget_evals = 5")).file_hash != from_toml.file_hash
    # the dict's text is TOML that parses back to the same experiment
    assert parse_experiment(from_dict.text).file_hash == from_toml.file_hash


def test_from_dict_validates_as_a_file_does():
    data = tomllib.loads(TOML)
    with pytest.raises(ExperimentError, match=r"<dict>: budget_evals = 0: must be an integer >= 1"):
        Experiment.from_dict({**data, "budget_evals": 0})
    with pytest.raises(ExperimentError, match="unknown key 'budget'"):
        Experiment.from_dict({**data, "budget": 3})
    with pytest.raises(ExperimentError, match="not expressible as an experiment file"):
        Experiment.from_dict({**data, "description": None})
    with pytest.raises(ExperimentError, match="must be a mapping"):
        Experiment.from_dict(["name"])


def test_a_dict_experiment_resumes_the_store_its_file_made(tmp_path):
    (tmp_path / "a.toml").write_text(TOML)
    first = hpo_bench.run(tmp_path / "a.toml", results_dir=tmp_path, n_workers=1, models=["decision_tree"])
    # 8 runs of at most 4 evaluations; the grid over cp alone has 2 points besides the default
    assert first.ok and first.counts == {"done": 8} and first.n_trials == 30
    again = hpo_bench.run(tomllib.loads(TOML), results_dir=tmp_path, n_workers=1)
    assert again.counts == {"done": 8} and again.n_trials == 30  # nothing re-run: the same experiment
    changed = {**tomllib.loads(TOML), "budget_evals": 5}
    with pytest.raises(StoreError, match="different version of the experiment file"):
        hpo_bench.run(changed, results_dir=tmp_path, n_workers=1)
    with pytest.raises(Exception, match="n_workers 0: must be a positive integer"):
        hpo_bench.run(tomllib.loads(TOML), results_dir=tmp_path, n_workers=0)


def test_a_store_bound_to_its_file_text_still_resumes(tmp_path):
    """Stores made before content hashing hold the text's sha256; the same file still continues them."""
    (tmp_path / "a.toml").write_text(TOML)
    hpo_bench.run(tmp_path / "a.toml", results_dir=tmp_path, n_workers=1)
    exp = hpo_bench.load_experiment(tmp_path / "a.toml")
    with sqlite3.connect(tmp_path / "api-same.sqlite") as db:
        db.execute("UPDATE experiment SET file_hash = ?", (exp.text_hash,))
    assert hpo_bench.run(exp, results_dir=tmp_path, n_workers=1).counts == {"done": 8}


def test_public_names_load_on_first_use():
    code = ("import sys, hpo_bench; assert 'sklearn' not in sys.modules and 'pandas' not in sys.modules; "
            "from hpo_bench import run, open_store, SearchSpace, Optimizer, TrialResult; print(len(hpo_bench.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        hpo_bench.nope  # noqa: B018


def test_the_listings_of_the_command_line_are_library_calls(tmp_path):
    families = {r.name: r for r in hpo_bench.model_families()}
    assert "xgboost" in families and families["xgboost"].problem is None and families["xgboost"].plugin is None
    rows = hpo_bench.model_space("xgboost")
    assert {"name", "type", "range", "scale", "default", "condition"} == set(rows[0])
    assert any(r["range"].startswith("[2^") for r in rows)  # powers of two as the papers write them
    types = {r.name: r for r in hpo_bench.optimizer_types()}
    assert types["random"].library_version is None and types["random"].missing == ()
    assert types["optuna-tpe"].library_version not in (None, "")  # a peer: the version installed, or not installed
    assert hpo_bench.stored_tasks(tmp_path / "empty").empty
    assert hpo_bench.surrogate_benchmarks(tmp_path / "empty") == []


def test_the_export_formats_the_command_line_offers_are_the_apis():
    import argparse

    from hpo_bench.api import EXPORT_FILES
    from hpo_bench.cli import build_parser

    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    export = next(a for a in commands.choices["export"]._actions if a.dest == "format")
    assert list(export.choices) == list(EXPORT_FILES)


def test_export_pack_and_unpack_are_library_calls_with_the_command_lines_defaults(tmp_path, write_experiment):
    """What `hpo-bench export`, `results pack` and `results unpack` compute (default paths, an experiment file
    naming its store) is the API's: the command line only prints it."""
    exp = write_experiment(models='["decision_tree"]', budget_evals=3, seeds=1, n_workers=1, executor='"inline"')
    results = tmp_path / "results"
    hpo_bench.run(exp, results_dir=results)
    with pytest.raises(StoreError, match="its store .*other.sqlite does not exist"):
        hpo_bench.pack_results(write_experiment("other.toml", name='"other"'), results_dir=results)
    packed = hpo_bench.pack_results(exp, results_dir=results)
    assert packed.folder == results / "tiny" and packed.store == results / "tiny.sqlite" and packed.rows["trials"] == 3
    with pytest.raises(StoreError, match="tiny.sqlite: exists"):  # by default beside the folder: never overwritten
        hpo_bench.unpack_results(packed.folder)
    (results / "tiny.sqlite").rename(tmp_path / "kept.sqlite")
    out, descriptor = hpo_bench.unpack_results(packed.folder)
    assert out == results / "tiny.sqlite" and descriptor["hpo_bench"]["n_trials"] == 3
    with hpo_bench.open_store(results / "tiny.sqlite") as store:
        written = hpo_bench.export_as(store, "parquet", reports_dir=tmp_path / "reports")
        assert (written.output, written.n_runs, written.n_trials) == (str(tmp_path / "reports/tiny/trials.parquet"),
                                                                        None, 3)
        with pytest.raises(HpoBenchError, match="already exists; an export never overwrites"):
            hpo_bench.export_as(store, "parquet", reports_dir=tmp_path / "reports")
        optuna_db = hpo_bench.export_as(store, "optuna", reports_dir=tmp_path / "reports")
    assert optuna_db.n_runs == 1 and optuna_db.n_trials == 3 and optuna_db.output.endswith("tiny/optuna.db")


def test_a_familys_details_are_a_library_call():
    svm = hpo_bench.model_details("svm")
    assert svm.library.startswith("sklearn") and svm.needs_scaling and "classification" in svm.task_types
    assert "probst2019" in svm.named_defaults and [r["name"] for r in svm.space] == [
        r["name"] for r in hpo_bench.model_space("svm")]
    regressor = next(v for v in svm.variants if v.task_type == "regression")
    assert regressor.library != svm.library and regressor.default


def test_task_import_and_pull_are_library_calls(tmp_path):
    from hpo_bench.errors import TaskError

    data = tmp_path / "toy.csv"
    data.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(40)))
    [imported] = hpo_bench.import_tasks(data, target="y", task_store=tmp_path / "tasks")
    assert imported.status == "imported" and imported.entry.meta["n_rows"] == 40
    assert hpo_bench.stored_tasks(tmp_path / "tasks")["rows"].tolist() == [40]
    with pytest.raises(TaskError, match="give --target COLUMN for a data file"):
        hpo_bench.import_tasks(data, task_store=tmp_path / "tasks")
    with pytest.raises(TaskError, match="name at least one"):
        next(hpo_bench.pull_tasks(task_store=tmp_path / "tasks"))


def test_an_interrupted_run_says_how_many_trials_it_stored(tmp_path):
    exp = hpo_bench.Experiment.from_dict({
        "name": "stopped", "tasks": ["sklearn:iris"], "models": ["decision_tree"], "budget_evals": 5, "seeds": 1,
        "cv_folds": 3, "executor": "inline", "optimizers": {"mine": {"type": StopsAtTheThirdAsk}}})
    with pytest.raises(KeyboardInterrupt) as stop:
        hpo_bench.run(exp, results_dir=tmp_path)
    assert isinstance(stop.value, hpo_bench.Interrupted) and stop.value.n_trials == 2
    assert stop.value.store_path == tmp_path / "stopped.sqlite" and "2 trials are stored in" in str(stop.value)
