"""The model families, by name. A family outside this package is named as "package.module:ATTR" or by an
entry point in the group `hpo_bench.models` (hpo_bench/plugins.py)."""

from __future__ import annotations

from typing import Any

from hpo_bench.models.base import TASK_TYPES, DataShape, FamilyWithSpace, ModelFamily
from hpo_bench.models.decision_tree import FAMILY as DECISION_TREE
from hpo_bench.models.elastic_net import FAMILY as ELASTIC_NET
from hpo_bench.models.knn import FAMILY as KNN
from hpo_bench.models.mlp import FAMILY as MLP
from hpo_bench.models.random_forest import FAMILY as RANDOM_FOREST
from hpo_bench.models.svm import FAMILY as SVM
from hpo_bench.models.xgboost import FAMILY as XGBOOST
from hpo_bench.plugins import MODEL_GROUP, resolve

# The six families of Probst, Boulesteix & Bischl (2019), then the neural network.
MODELS: dict[str, ModelFamily] = {f.name: f for f in (XGBOOST, RANDOM_FOREST, ELASTIC_NET, DECISION_TREE, KNN, SVM,
                                                      MLP)}


def model_problem(obj: Any) -> str | None:
    """None if `obj` can be an experiment's model, else the rule it breaks."""
    if isinstance(obj, ModelFamily):
        return None
    if isinstance(obj, type) and issubclass(obj, ModelFamily):
        return "name an instance of it (FAMILY = MyFamily() in the module), not the class"
    return "a model must be an hpo_bench.models.ModelFamily instance"


def get_model(name: str) -> ModelFamily:
    """The family a model name stands for: built-in, "package.module:ATTRIBUTE" or an entry point."""
    return resolve(name, what="model", group=MODEL_GROUP, builtins=MODELS, check=model_problem,
                   form="module:ATTRIBUTE")


__all__ = ["MODELS", "TASK_TYPES", "DataShape", "FamilyWithSpace", "ModelFamily", "get_model", "model_problem"]
