"""Analysis of a result store: every function reads trials (a DataFrame from `Store.trials`) only."""

from __future__ import annotations

from hpo_bench.analysis.best_found import best_found_table, run_best

__all__ = ["best_found_table", "run_best"]
