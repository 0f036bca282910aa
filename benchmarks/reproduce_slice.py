"""Same versions, same trials: one task and one seed of a committed study, run again from its experiment
file, against the trials the study's store holds (configurations, per-fold losses, held-out test scores),
compared exactly.

    python benchmarks/reproduce_slice.py make benchmarks/tunability-probst2019.toml --task openml:data/37
    python benchmarks/reproduce_slice.py check benchmarks/tunability-probst2019.toml --task openml:data/37

`make` writes the slice's stored trials (of the runs that are done) from results/<study>.sqlite to
reports/<study>/reproduce/<task>-seed<S>.csv.gz, with the task's data fingerprint and the package versions
of the store's sessions. `check` runs the slice (the study's file with `tasks = [TASK]` and `seeds = [S]`;
seeds derive from task, model, optimizer and repetition, so the slice's trials are the study's) into a
temporary results folder, with the models the expected file holds, and prints every difference; exit 1
if there is one. Run it in an environment made with `pip install -c reports/constraints.txt .` (README,
"Same versions, same trials"); tests/test_reproduce.py runs the decision-tree part.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import tomllib
from pathlib import Path

import pandas as pd

import hpo_bench
from hpo_bench.store import Store, package_versions

ROOT = Path(__file__).resolve().parents[1]
# What a trial is made of, as the store holds it (JSON text for configurations and losses: compared as text,
# which is exact: the same floats give the same JSON).
COLUMNS = ["task", "model", "optimizer", "seed", "trial_number", "source", "state", "config", "fold_losses",
           "test_metrics"]


def expected_path(study_file: Path, task: str, seed: int) -> Path:
    study = tomllib.loads(study_file.read_text())
    slug = task.replace(":", "-").replace("/", "-")
    return ROOT / "reports" / study["name"] / "reproduce" / f"{slug}-seed{seed}.csv.gz"


def slice_experiment(study_file: Path, task: str, seed: int) -> hpo_bench.Experiment:
    study = tomllib.loads(study_file.read_text())
    if task not in study["tasks"]:
        raise SystemExit(f"--task {task}: not a task of {study_file} ({', '.join(study['tasks'])})")
    return hpo_bench.Experiment.from_dict({**study, "tasks": [task], "seeds": [seed]}, where=f"{study_file} (slice)")


def trials_of(store_path: Path, task: str, seed: int, models: list[str] | None = None) -> pd.DataFrame:
    """The slice's trials of the runs that are done, with the task's fingerprint."""
    with Store(store_path, create=False) as store:
        runs = store.runs()
        done = runs[(runs.task == task) & (runs.seed == seed) & (runs.status == "done")]
        if models is not None:
            done = done[done.model.isin(models)]
        trials = store.trials(run_id=list(done.run_id)) if len(done) else pd.DataFrame(columns=COLUMNS)
        fingerprint = store.tasks().set_index("task").fingerprint.get(task)
    trials = trials[COLUMNS].sort_values(COLUMNS[:5]).reset_index(drop=True)
    trials.insert(1, "task_fingerprint", fingerprint)
    return trials


def differences(expected: pd.DataFrame, got: pd.DataFrame) -> list[str]:
    """Every way `got` is not `expected`, one line each (empty: identical)."""
    keys = ["model", "optimizer", "seed", "trial_number"]
    found = []
    if set(expected.task_fingerprint) != set(got.task_fingerprint):
        found.append(f"task data differ: fingerprint {sorted(set(expected.task_fingerprint))} expected, "
                     f"{sorted(set(got.task_fingerprint))} here")
    merged = expected.merge(got, on=keys, how="outer", suffixes=("", "_here"), indicator=True)
    for side, what in (("left_only", "missing here"), ("right_only", "not in the expected trials")):
        for _, row in merged[merged._merge == side].iterrows():
            found.append(f"{row.model} {row.optimizer} seed {row.seed} trial {row.trial_number}: {what}")
    both = merged[merged._merge == "both"]
    for column in ("source", "state", "config", "fold_losses", "test_metrics"):
        a, b = both[column].fillna(""), both[f"{column}_here"].fillna("")
        for _, row in both[a != b].iterrows():
            found.append(f"{row.model} {row.optimizer} seed {row.seed} trial {row.trial_number}: {column} "
                         f"{row[column]} expected, {row[column + '_here']} here")
    return found


def make(study_file: Path, task: str, seed: int) -> Path:
    study = tomllib.loads(study_file.read_text())
    store_path = ROOT / "results" / f"{study['name']}.sqlite"
    trials = trials_of(store_path, task, seed)
    if not len(trials):
        raise SystemExit(f"{store_path}: no finished run of task {task}, seed {seed}")
    with Store(store_path, create=False) as store:
        versions = sorted({v for v in store.sessions().versions})
    out = expected_path(study_file, task, seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    trials.to_csv(out, index=False)
    (out.parent / "versions.json").write_text(json.dumps([json.loads(v) for v in versions], indent=1) + "\n")
    counts = trials.groupby("model").size().to_dict()
    print(f"wrote {len(trials)} trials of {task}, seed {seed} ({counts}) to {out.relative_to(ROOT)}")
    return out


def check(study_file: Path, task: str, seed: int, models: list[str] | None = None,
          task_store: Path | None = None, results_dir: Path | None = None) -> list[str]:
    """Run the slice (the models of the expected file, or `models`) and return the differences."""
    expected = pd.read_csv(expected_path(study_file, task, seed), dtype={"config": str, "fold_losses": str})
    models = models or sorted(expected.model.unique())
    expected = expected[expected.model.isin(models)]
    exp = slice_experiment(study_file, task, seed)
    with tempfile.TemporaryDirectory() as tmp:
        results = results_dir or Path(tmp)
        summary = hpo_bench.run(exp, results_dir=results, task_store=task_store, models=models, progress=True)
        got = trials_of(summary.store_path, task, seed, models)
    return differences(expected.reset_index(drop=True), got)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["make", "check"])
    parser.add_argument("study", type=Path, help="the study's experiment file")
    parser.add_argument("--task", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default=None, help="check: comma-separated (default: every model expected)")
    args = parser.parse_args()
    if args.action == "make":
        make(args.study, args.task, args.seed)
        return 0
    models = None if args.models is None else args.models.split(",")
    found = check(args.study, args.task, args.seed, models)
    versions = package_versions()
    print(f"environment: Python {versions['python']}, " + ", ".join(f"{k} {v}" for k, v in versions.items()
                                                                 if k != "python"))
    if found:
        print(f"{len(found)} differences:\n" + "\n".join(found[:50]))
        return 1
    expected = pd.read_csv(expected_path(args.study, args.task, args.seed))
    if models is not None:
        expected = expected[expected.model.isin(models)]
    print(f"identical: {len(expected)} trials of {args.task}, seed {args.seed} "
          f"({expected.groupby('model').size().to_dict()}): configurations, fold losses, held-out test scores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
