"""The model families, by name. A family outside this package is named as "package.module:ATTR"."""

from __future__ import annotations

import difflib
import importlib

from hpo_bench.errors import ExperimentError
from hpo_bench.models.base import DataShape, ModelFamily
from hpo_bench.models.decision_tree import FAMILY as DECISION_TREE
from hpo_bench.models.elastic_net import FAMILY as ELASTIC_NET
from hpo_bench.models.knn import FAMILY as KNN
from hpo_bench.models.mlp import FAMILY as MLP
from hpo_bench.models.random_forest import FAMILY as RANDOM_FOREST
from hpo_bench.models.svm import FAMILY as SVM
from hpo_bench.models.xgboost import FAMILY as XGBOOST

# The six families of Probst, Boulesteix & Bischl (2019), then the neural network.
MODELS: dict[str, ModelFamily] = {f.name: f for f in (XGBOOST, RANDOM_FOREST, ELASTIC_NET, DECISION_TREE, KNN, SVM,
                                                      MLP)}


def get_model(name: str) -> ModelFamily:
    """The family registered as `name`, or the ModelFamily instance at "module:attribute"."""
    if name in MODELS:
        return MODELS[name]
    if isinstance(name, str) and ":" in name:
        module_name, _, attr = name.partition(":")
        # A relative or empty module name (":x", "..:x") has no package to be relative to: importlib
        # raises TypeError or ValueError for those, not ImportError.
        if not module_name or module_name.startswith(".") or not attr:
            raise ExperimentError(f"model {name!r}: write module:ATTRIBUTE with an absolute module name, "
                                  "e.g. 'mypackage.models:FAMILY'")
        try:
            family = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise ExperimentError(f"model {name!r} cannot be imported: {exc}") from None
        if not isinstance(family, ModelFamily):
            raise ExperimentError(f"model {name!r} is a {type(family).__name__}, not a ModelFamily instance")
        return family
    close = difflib.get_close_matches(name, list(MODELS), n=1) if isinstance(name, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ExperimentError(f"unknown model {name!r} (allowed: {', '.join(MODELS)}, or module:ATTRIBUTE){hint}")


__all__ = ["MODELS", "DataShape", "ModelFamily", "get_model"]
