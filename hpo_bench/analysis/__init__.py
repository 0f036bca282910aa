"""Analysis of a result store: it reads stored trials and stored spaces, and runs nothing.

`load_study` reads a store once (trials, runs, tasks, the space each model was tuned in); `analyze`
computes every table that applies to it and says why the others do not: the tables are declared in
`registry.TABLES`, each once. The functions behind the tables take trials (a DataFrame from
`Store.trials`) and, where they encode configurations, the stored spaces.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hpo_bench.analysis import registry
from hpo_bench.analysis.agreement import agreement_tables
from hpo_bench.analysis.anytime import time_traces
from hpo_bench.analysis.best_found import best_found_table, incumbent_traces, metric_view, run_best
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.study import Study, load_study, select_models


def analyze(study: Study, reference: pd.DataFrame | None = None, seed: int = 0, metric: str | None = None,
            ice_task: str | None = None, against: Study | None = None,
            ) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """All tables by name (those of `registry.TABLES` that apply), and for each table left out, why.
    Deterministic for a given store and seed.

    `metric`: any recorded metric (default: the optimised one); see `metric_view` for how it chooses
    each run's incumbent. `ice_task`: the dataset of the surrogate ICE curves (default: per family, the
    one whose surrogate has the highest out-of-fold R^2). `against`: the real study a surrogate study
    stands for, for the agreement tables (`agreement_tables`); `registry.NotComparable` says why the two
    cannot be compared.
    """
    inputs = registry.Inputs(study.with_trials(metric_view(study.trials, metric)), seed=seed, metric=metric,
                             reference=reference, ice_task=ice_task, against=against)
    return registry.make_tables(inputs, registry.TABLES)


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
