"""Optimizer benchmark: search quality on real tasks and optimizer overhead, tables under reports/.

    python benchmarks/optimizers/run.py                 # the full study (hours of CPU; resumable)
    python benchmarks/optimizers/run.py --reduced       # a sanity run: 3 tasks, 3 seeds, 20 evals, 3 folds
    python benchmarks/optimizers/run.py --part overhead # only the overhead part (minutes, no model fits)

Quality: the experiment file's runs go through hpo-bench's own scheduler and store (results/<name>.sqlite,
resumable after an interruption), on tasks from the local task store; when some are missing, the offline
copies in ../shared/datasets are imported first (`hpo-bench tasks import ../shared/datasets/manifest.csv`
does the same). Per task: the median over seeds of each optimizer's
best-found loss; GP-BO and TPE are compared with random search (on how many tasks their median is lower)
and with Optuna's TPE by a Wilcoxon signed-rank test over the (task, seed) pairs (scipy.stats.wilcoxon;
the runs of a pair share their folds and model seeds).

Overhead: median seconds per `ask` when 50, 100 and 200 observations have been told, on a cheap
synthetic objective over the XGBoost space (no model fits, so only the optimizer is timed): ours
(GP, TPE, TPE multivariate) against Optuna's TPE and Hyperopt's TPE, all in this one process.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import wilcoxon

from hpo_bench.analysis.best_found import run_best
from hpo_bench.experiment import Experiment, load_experiment
from hpo_bench.models import get_model
from hpo_bench.optimizers import get_optimizer
from hpo_bench.scheduler import Scheduler
from hpo_bench.seeding import derive_seed
from hpo_bench.store import Store
from hpo_bench.tasks import TaskStore, check_tasks_available, missing_tasks
from hpo_bench.tasks.files import import_manifest
from hpo_bench.trial import TrialResult, TrialState

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MANIFEST = REPO.parent / "shared" / "datasets" / "manifest.csv"
# diabetes, wdbc, credit_g
REDUCED = {"tasks": ["openml:data/37", "openml:data/1510", "openml:data/31"], "seeds": [0, 1, 2], "budget_evals": 20,
           "cv_folds": 3, "optimizers": ["random", "tpe", "gp", "optuna-tpe"]}
OURS = ["gp", "tpe", "tpe-mv"]
PEER = "optuna-tpe"


# -- tasks ------------------------------------------------------------------------------------------
def ensure_tasks(exp: Experiment, store: TaskStore) -> None:
    if missing_tasks(exp.tasks, store) and MANIFEST.exists():
        print(f"importing {MANIFEST} into the task store {store.root}", file=sys.stderr)
        import_manifest(store, MANIFEST)
    check_tasks_available(exp.tasks, store)


def load_study(path: Path, reduced: bool) -> Experiment:
    exp = load_experiment(path)
    if reduced:
        optimizers = [o for o in exp.optimizers if o.label in REDUCED["optimizers"]]
        note = f"\n# reduced sanity run: {REDUCED}\n"
        exp = dataclasses.replace(exp, name=exp.name + "-reduced", tasks=REDUCED["tasks"], seeds=REDUCED["seeds"],
                                  budget_evals=REDUCED["budget_evals"], cv_folds=REDUCED["cv_folds"],
                                  optimizers=optimizers, text=exp.text + note)
    return exp


# -- quality ------------------------------------------------------------------------------------------
def quality(exp: Experiment, results: Path, reports: Path, n_workers: int | None, tasks: TaskStore) -> str:
    ensure_tasks(exp, tasks)
    store = Store(results / f"{exp.name}.sqlite")
    try:
        counts = Scheduler(exp, store, n_workers=n_workers, task_store=tasks).run()
        trials = store.trials()
    finally:
        store.close()
    per_run = run_best(trials)
    per_run.to_csv(reports / "quality_runs.csv", index=False, float_format="%.6g")
    medians = per_run.pivot_table(index="task", columns="optimizer", values="best_loss", aggfunc="median")
    labels = [o.label for o in exp.optimizers]
    medians = medians[[c for c in labels if c in medians.columns]]
    medians.to_csv(reports / "quality_median_by_task.csv", float_format="%.6g")

    rows = []
    wide = per_run.pivot_table(index=["task", "seed"], columns="optimizer", values="best_loss")
    for ours in [o for o in OURS if o in wide.columns]:
        for other in [o for o in ("random", PEER) if o in wide.columns]:
            pair = wide[[ours, other]].dropna()
            diff = pair[ours] - pair[other]
            row = {"ours": ours, "vs": other, "n_pairs": len(pair), "median_diff": float(diff.median()),
                   "ours_better": int((diff < 0).sum()), "ties": int((diff == 0).sum()),
                   "ours_worse": int((diff > 0).sum()),
                   "tasks_median_lower": int((medians[ours] < medians[other]).sum()),
                   "n_tasks": int(medians[[ours, other]].dropna().shape[0])}
            nonzero = diff[diff != 0]
            if len(nonzero) >= 1:
                row["p_two_sided"] = float(wilcoxon(pair[ours], pair[other], zero_method="wilcox").pvalue)
                # H1: ours is worse (larger loss). A small p here would mean "significantly worse".
                row["p_ours_worse"] = float(wilcoxon(pair[ours], pair[other], zero_method="wilcox",
                                                     alternative="greater").pvalue)
            rows.append(row)
    tests = pd.DataFrame(rows)
    tests.to_csv(reports / "quality_tests.csv", index=False, float_format="%.6g")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.4f}".format):
        text = (f"runs: {counts}\n\nmedian best-found {exp.metric} per task (over {len(exp.seeds)} seeds, "
                f"{max(exp.budgets.values())} evaluations, {exp.cv_folds}-fold CV):\n{medians.to_string()}\n\n"
                f"paired comparisons over (task, seed), Wilcoxon signed-rank:\n{tests.to_string(index=False)}\n")
    return text


# -- overhead -----------------------------------------------------------------------------------------
def synthetic_loss(space, config) -> float:
    """A cheap, smooth-ish objective on the unit-cube encoding, with an effect of the booster branch."""
    unit = np.nan_to_num(space.encode(config), nan=0.5)
    return float(np.sum((unit - 0.35) ** 2) + 0.1 * np.sin(12 * unit).sum())


def overhead(reports: Path, seeds: int, points=(50, 100, 200), window: int = 5) -> str:
    space = get_model("xgboost").space
    contenders = {"gp": ("gp", {}), "tpe": ("tpe", {}), "tpe-mv": ("tpe", {"multivariate": True}),
                  "optuna-tpe": ("optuna-tpe", {}), "hyperopt-tpe": ("hyperopt-tpe", {}), "random": ("random", {})}
    rows = []
    for label, (kind, options) in contenders.items():
        for seed in range(seeds):
            opt = get_optimizer(kind)(space, seed=derive_seed("overhead", label, seed), budget_evals=10**6, **options)
            times = []
            for _ in range(max(points) + window):
                start = time.perf_counter()
                s = opt.ask()
                times.append(time.perf_counter() - start)
                opt.tell(s, TrialResult(TrialState.COMPLETE, "synthetic", loss=synthetic_loss(space, s.config)))
            for n in points:
                # the asks made when n, n+1, ... n+window-1 observations had been told
                rows.extend({"optimizer": label, "seed": seed, "n_observations": n, "ask_s": t}
                            for t in times[n:n + window])
            print(f"overhead: {label} seed {seed} done ({sum(times):.1f} s)", file=sys.stderr)
    raw = pd.DataFrame(rows)
    table = raw.pivot_table(index="optimizer", columns="n_observations", values="ask_s", aggfunc="median")
    table = table.loc[[c for c in contenders if c in table.index]]
    table.columns = [f"median_ask_s_at_{n}" for n in table.columns]
    table.to_csv(reports / "overhead.csv", float_format="%.6g")
    return (f"median seconds per ask ({seeds} seeds x {window} asks around each point, synthetic objective, "
            f"XGBoost space):\n{table.to_string(float_format=lambda x: f'{x:.4f}')}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", default=str(HERE / "experiment.toml"))
    parser.add_argument("--part", choices=["all", "quality", "overhead"], default="all")
    parser.add_argument("--reduced", action="store_true", help="3 tasks, 3 seeds, 20 evaluations, 3 folds")
    parser.add_argument("--overhead-seeds", type=int, default=3)
    parser.add_argument("--results-dir", default=str(REPO / "results"))
    parser.add_argument("--reports-dir", default=str(REPO / "reports"))
    parser.add_argument("--n-workers", type=int, default=None)
    parser.add_argument("--task-store", default=None,
                        help="default: $HPO_BENCH_TASK_STORE, else the user's cache; ../shared/datasets is imported "
                             "into it when tasks are missing")
    args = parser.parse_args(argv)

    exp = load_study(Path(args.experiment), args.reduced)
    reports = Path(args.reports_dir) / exp.name
    reports.mkdir(parents=True, exist_ok=True)
    sections = []
    if args.part in ("all", "overhead"):
        sections.append(overhead(reports, args.overhead_seeds))
    if args.part in ("all", "quality"):
        sections.append(quality(exp, Path(args.results_dir), reports, args.n_workers, TaskStore(args.task_store)))
    summary = "\n".join(sections)
    (reports / f"summary-{args.part}.txt").write_text(summary)
    print(summary)
    print(f"wrote {reports}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
