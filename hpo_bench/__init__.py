"""hpo-bench: benchmark hyperparameter optimisation on real data.

The Python API (hpo_bench.api) and the types a user's optimizer or model needs are importable from
here. They are loaded on first use (PEP 562), so that `import hpo_bench` and the command line's
`--help` do not pay for scikit-learn and pandas.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Experiment": "hpo_bench.experiment",
    "load_experiment": "hpo_bench.experiment",
    "run": "hpo_bench.api",
    "RunSummary": "hpo_bench.api",
    "Interrupted": "hpo_bench.api",
    "open_store": "hpo_bench.api",
    "export_trials": "hpo_bench.api",
    "export_optuna": "hpo_bench.api",
    "export_mlflow": "hpo_bench.api",
    "add_task": "hpo_bench.api",
    "analyze": "hpo_bench.api",
    "status": "hpo_bench.api",
    "model_families": "hpo_bench.api",
    "model_space": "hpo_bench.api",
    "model_details": "hpo_bench.api",
    "export_as": "hpo_bench.api",
    "pack_results": "hpo_bench.api",
    "unpack_results": "hpo_bench.api",
    "pull_tasks": "hpo_bench.api",
    "import_tasks": "hpo_bench.api",
    "optimizer_types": "hpo_bench.api",
    "stored_tasks": "hpo_bench.api",
    "surrogate_benchmarks": "hpo_bench.api",
    # the package hpo_bench.report, which is callable: hpo_bench.report(store) is hpo_bench.api.report
    "report": "hpo_bench",
    "Store": "hpo_bench.store",
    "SearchSpace": "hpo_bench.space",
    "Float": "hpo_bench.space",
    "Int": "hpo_bench.space",
    "Categorical": "hpo_bench.space",
    "Condition": "hpo_bench.space",
    "Optimizer": "hpo_bench.optimizers",
    "Option": "hpo_bench.optimizers",
    "Suggestion": "hpo_bench.trial",
    "AwaitResults": "hpo_bench.optimizers",
    "TrialResult": "hpo_bench.trial",
    "TrialState": "hpo_bench.trial",
    "ModelFamily": "hpo_bench.models",
    "DataShape": "hpo_bench.models",
    "HpoBenchError": "hpo_bench.errors",
}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'hpo_bench' has no attribute {name!r}")
    if _EXPORTS[name] == "hpo_bench":  # a subpackage (report): importing it binds it here itself
        return importlib.import_module(f"hpo_bench.{name}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
