"""Analysis of a result store: it reads stored trials and stored spaces, and runs nothing.

`load_study` reads a store once (trials, runs, tasks, the space each model was tuned in); `analyze`
computes every table that applies to it and says why the others do not. The functions behind the tables
take trials (a DataFrame from `Store.trials`) and, where they encode configurations, the stored spaces.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from hpo_bench.analysis.agreement import agreement_tables
from hpo_bench.analysis.anytime import time_traces
from hpo_bench.analysis.best_found import (
    best_found_table,
    incumbent_traces,
    metric_view,
    optimism_table,
    reference_losses,
    regret_traces,
    run_best,
)
from hpo_bench.analysis.comparisons import rank_traces, statistical_tests
from hpo_bench.analysis.importance import importance_table
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.partial_dependence import ice_task_problem, partial_dependence_tables
from hpo_bench.analysis.probst2019 import MEASURES, check_reference, probst_tables, same_dataset_tables
from hpo_bench.analysis.robustness import beat_probabilities, robustness_table
from hpo_bench.analysis.sampling import suggestion_density
from hpo_bench.analysis.study import Study, load_study, select_models
from hpo_bench.analysis.surrogate import fit_surrogates, surrogate_tunability
from hpo_bench.analysis.tunability import (
    pair_table,
    tunability_summary,
    tunability_table,
    tuning_space,
)
from hpo_bench.analysis.variance import variance_decomposition, variance_summary

SURROGATE_TABLES = ("surrogate_quality", "optimal_defaults", "surrogate_per_dataset", "surrogate_tunability",
                    "surrogate_tuning_space", "surrogate_pairs", "surrogate_vs_design", "surrogate_partial_dependence",
                    "surrogate_partial_dependence_summary", "surrogate_ice", "surrogate_partial_dependence_pairs",
                    "surrogate_marks")


def analyze(study: Study, reference: pd.DataFrame | None = None, seed: int = 0,
            metric: str | None = None, ice_task: str | None = None) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """All tables by name, and for each table left out, why. Deterministic for a given store and seed.

    `metric`: any recorded metric (default: the optimised one); see `metric_view` for how it chooses
    each run's incumbent. `ice_task`: the dataset of the surrogate ICE curves (default: per family, the
    one whose surrogate has the highest out-of-fold R^2).
    """
    trials, tasks, spaces = metric_view(study.trials, metric), study.tasks, study.spaces
    tables: dict[str, pd.DataFrame] = {}
    skipped: dict[str, str] = {}

    def add(name: str, make: Callable[[], pd.DataFrame]) -> None:
        try:
            table = make()
        except NotApplicable as why:
            skipped[name] = str(why)
            return
        if table.empty:
            skipped[name] = "no rows"
        else:
            tables[name] = table

    tables["best_found"] = best_found_table(trials)
    traces = incumbent_traces(trials)
    ref = reference_losses(trials, reference)
    tables["reference"] = ref
    tables["traces"] = regret_traces(traces, ref)
    add("optimism", lambda: optimism_table(traces))
    add("time_traces", lambda: regret_traces(time_traces(trials), ref, at="seconds"))
    add("tunability", lambda: tunability_table(trials, seed))
    add("tunability_pairs", lambda: pair_table(trials))
    add("tuning_space", lambda: tuning_space(trials, tasks))
    if "tunability" in tables:  # a tunability study (default trials); optimizer comparisons have none
        if str(trials["metric"].iloc[0]) in MEASURES:  # it will be set beside the paper's numbers
            check_reference()
        try:
            fitted = fit_surrogates(trials, tasks, spaces, seed)
            surrogate = surrogate_tunability(trials, tasks, spaces, seed, fitted=fitted)
            tables.update({k: v for k, v in surrogate.items() if not v.empty})
            views = partial_dependence_tables(fitted, surrogate, seed, ice_task)
            tables.update({k: v for k, v in views.items() if not v.empty})
            if "surrogate_ice" not in tables:
                skipped["surrogate_ice"] = ice_task_problem(fitted, str(ice_task)) or "no rows"
        except NotApplicable as why:
            for name in SURROGATE_TABLES:
                skipped[name] = str(why)
        add("tunability_summary", lambda: tunability_summary(tables["tunability"],
                                                             tables.get("surrogate_tunability"), trials))
        try:
            tables.update(probst_tables(trials, tables.get("surrogate_per_dataset"), str(trials["metric"].iloc[0]),
                                        seed, tables.get("surrogate_tuning_space")))
        except NotApplicable as why:
            for name in ("probst2019_agreement", "probst2019_hyperparameters", "probst2019_tuning_space"):
                skipped[name] = str(why)
        if "surrogate_per_dataset" in tables:
            try:
                tables.update(same_dataset_tables(tables["surrogate_per_dataset"], tasks,
                                                  str(trials["metric"].iloc[0]), seed,
                                                  tables.get("surrogate_quality")))
            except NotApplicable as why:
                for name in ("probst2019_same_datasets", "probst2019_same_datasets_per_dataset"):
                    skipped[name] = str(why)
        else:
            for name in ("probst2019_same_datasets", "probst2019_same_datasets_per_dataset"):
                skipped[name] = "no surrogate tunability per dataset to set beside the paper's (surrogate_quality)"
    else:  # one line says why the surrogate tables are absent, rather than figures pointing at nothing
        for name in SURROGATE_TABLES:
            skipped[name] = f"surrogates are fitted for a tunability study only ({skipped['tunability']})"
    add("importance", lambda: importance_table(trials, spaces, seed))
    add("suggestion_density", lambda: suggestion_density(trials, spaces))
    add("robustness", lambda: robustness_table(trials))
    add("beat_probabilities", lambda: beat_probabilities(trials))
    add("ranks", lambda: rank_traces(traces))
    add("tests", lambda: statistical_tests(trials))
    add("variance_decomposition", lambda: variance_decomposition(run_best(trials)))
    if "variance_decomposition" in tables:
        add("variance_summary", lambda: variance_summary(tables["variance_decomposition"]))
    return tables, skipped


def write_tables(tables: dict[str, pd.DataFrame], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, table in tables.items():
        path = out_dir / f"{name}.csv"
        table.to_csv(path, index=False, float_format="%.6g")
        paths.append(path)
    return paths


__all__ = ["NotApplicable", "Study", "agreement_tables", "analyze", "best_found_table", "incumbent_traces",
           "load_study", "metric_view", "run_best", "select_models", "time_traces", "write_tables"]
