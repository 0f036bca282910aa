"""Which hyperparameters a run tunes: all of them, one at a time, or chosen subsets.

Probst, Boulesteix & Bischl (2019) measure the tunability of hyperparameter i as the gain of tuning
only i, the others held at the default. A run's `tuned` label says what it tunes: "all", one name
("learning_rate") or names joined by "+" ("learning_rate+max_depth"). Parameters not tuned are held at
the experiment's default (the package's unless `defaults` names another); a parameter that the
resulting configuration makes inactive is dropped.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

from hpo_bench.errors import ExperimentError, SpaceError
from hpo_bench.models import FamilyWithSpace, ModelFamily
from hpo_bench.space import SearchSpace

ALL = "all"
KEYWORDS = {"all": "every hyperparameter jointly", "each": "each hyperparameter alone (one run per parameter)",
            "pairs": "each pair of hyperparameters jointly"}


def tuned_names(model: ModelFamily, label: str) -> list[str]:
    return model.space.names if label == ALL else label.split("+")


def expand_tune(value: Any, model: ModelFamily, where: str, defaults: str = "package") -> list[str]:
    """The run labels that the experiment's `tune` value gives for one model, checked against its space."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ExperimentError(f"{where}: tune = []: name at least one of {list(KEYWORDS)} or a parameter")
    labels: list[str] = []
    for item in items:
        if item == "each":
            labels.extend(model.space.names)
        elif item == "pairs":
            labels.extend("+".join(pair) for pair in itertools.combinations(model.space.names, 2))
        elif item == ALL:
            labels.append(ALL)
        elif isinstance(item, str) or (isinstance(item, list) and item and all(isinstance(n, str) for n in item)):
            names = [item] if isinstance(item, str) else item
            order = model.space.names
            missing = [n for n in names if n not in order]
            if missing:
                raise ExperimentError(f"{where}: tune: {missing[0]!r} is not a hyperparameter of {model.name} "
                                      f"(allowed: {', '.join(list(KEYWORDS) + order)})")
            labels.append("+".join(sorted(set(names), key=order.index)))
        else:
            raise ExperimentError(f"{where}: tune = {value!r}: each entry must be one of {list(KEYWORDS)}, a "
                                  "hyperparameter name or a list of names")
    labels = list(dict.fromkeys(labels))
    for label in labels:
        try:
            tuned_space(model, label, defaults)
        except SpaceError as exc:
            raise ExperimentError(f"{where}: tune: {model.name}: {exc}") from None
    return labels


def tuned_space(model: ModelFamily, label: str, defaults: str = "package") -> SearchSpace:
    """The space an optimizer searches for a run tuning `label`, the others held at the default."""
    if label == ALL:
        return model.space
    return model.space.subspace(tuned_names(model, label), fixed=model.default(defaults))


def full_config(model: ModelFamily, label: str, config: Mapping[str, Any],
                defaults: str = "package") -> dict[str, Any]:
    """The configuration to evaluate: the tuned values over the default, inactive ones dropped."""
    config = dict(config) if label == ALL else model.space.active_only({**model.default(defaults), **config})
    if isinstance(model, FamilyWithSpace):  # the parameters its space leaves out are not tuned either
        config = model.held_at_default(config, defaults)
    return config
