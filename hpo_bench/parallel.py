"""Work spread over the machine's cores with joblib (loky worker processes), and the workers started early.

A loky worker spends about 2 s importing Optuna, scikit-learn and matplotlib before its first task; for
the quickstart's report that was a seventh of its time, spent while one core waited. `start_workers`
starts them without waiting, so they import while the caller imports and loads; the later Parallel calls
of the analysis and the report reuse them (joblib keeps one executor per n_jobs). This module imports
nothing heavy itself, so the command line can call it first.
"""

from __future__ import annotations

import importlib
import os

from joblib import Parallel, delayed

# What a report's workers run (by name: this module imports nothing of the analysis or the report).
REPORT_MODULES = ("hpo_bench.analysis.importance", "hpo_bench.report.figures")


def n_jobs(n_tasks: int) -> int:
    """As many workers as there are cores, but no more than tasks (joblib reuses the executor while this
    is the same)."""
    return max(1, min(n_tasks, os.cpu_count() or 1))


def _import(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)


def start_workers(modules: tuple[str, ...]):
    """Start one worker per core importing `modules`, without waiting: the returned generator finishes
    when they are up (consuming it is optional)."""
    n = n_jobs(os.cpu_count() or 1)
    return Parallel(n_jobs=n, return_as="generator")(delayed(_import)(modules) for _ in range(n))
