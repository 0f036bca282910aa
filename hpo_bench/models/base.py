"""What every model family provides: a search space, the package's defaults, a fidelity, estimators."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from hpo_bench.errors import SpaceError
from hpo_bench.space import SearchSpace
from hpo_bench.trial import TASK_TYPES  # the kinds of task a family can serve


@dataclass(frozen=True)
class DataShape:
    """What an estimator may depend on besides its configuration: the training fold's size."""

    n_samples: int
    n_features: int
    n_classes: int  # 0 for regression


class ModelFamily(ABC):
    """One family (XGBoost, random forest, ...): a space, defaults as run, and how to build the estimator.

    `package_default()` is the configuration the library uses when nothing is passed. It is evaluated
    as it is, so it may lie outside the search space (xgboost's reg_alpha = 0 under a log range) or hold
    a symbolic value (random forest's max_features = "sqrt", i.e. sqrt(p) of whichever p).
    """

    name: ClassVar[str]
    library: ClassVar[str]
    # The integer hyperparameter that sets the cost of a fit (trees, epochs); a fidelity f in (0, 1]
    # scales it to max(1, round(f * value)).
    fidelity_param: ClassVar[str | None] = None
    # Distance- and gradient-based learners need standardised numeric features.
    needs_scaling: ClassVar[bool] = False
    # What this object's estimator does. A family serving both kinds is its classifier; `for_task`
    # gives its regressor, a family object of its own (same name, its own library, defaults, estimator).
    task_type: ClassVar[str] = "classification"

    @property
    @abstractmethod
    def space(self) -> SearchSpace: ...

    @abstractmethod
    def package_default(self) -> dict[str, Any]: ...

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        """Defaults besides the package's, by name: "probst2019" is the R package's default that Probst,
        Boulesteix & Bischl (2019) measured tunability against, in this family's terms (docs/models.md)."""
        return {}

    def named_spaces(self) -> dict[str, SearchSpace]:
        """Search spaces besides the family's own, by name: "probst2019" is the space the mlr random bot of
        Probst, Boulesteix & Bischl (2019) sampled, in this family's parameters (an experiment's `space` key).
        Its parameters are the family's own, so the estimator is the same; what it leaves out, or makes
        inactive where the family's own space would not, is held at the experiment's default."""
        return {}

    def space_of(self, kind: str) -> SearchSpace:
        """The space of the given kind: "family" (its own) or one of `named_spaces`."""
        if kind == "family":
            return self.space
        named = self.named_spaces()
        if kind not in named:
            raise SpaceError(f"{self.name} has no {kind!r} space (it has: {', '.join(['family', *named])})")
        return named[kind]

    def default(self, kind: str = "package") -> dict[str, Any]:
        """The default of the given kind: "package" (what this library does) or one of `named_defaults`."""
        if kind == "package":
            return self.package_default()
        named = self.named_defaults()
        if kind not in named:
            raise SpaceError(f"{self.name} has no {kind!r} default (it has: {', '.join(['package', *named])})")
        return dict(named[kind])

    @abstractmethod
    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        """An unfitted scikit-learn compatible estimator for `config` (already validated or a default): a
        classifier with predict_proba, or for a regression family a regressor with predict."""

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        """`config` with symbolic values (a default's "sqrt") replaced by the numbers they stand for on
        data of this shape, so that every configuration can be placed in the search space."""
        return dict(config)

    def task_types(self) -> tuple[str, ...]:
        """The kinds of task this family serves (what `hpo-bench models` lists)."""
        return tuple(t for t in TASK_TYPES if self._variant(t) is not None)

    def _variant(self, task_type: str) -> ModelFamily | None:
        """The family object for `task_type`, None if it serves no such task: itself, or the object
        `pair_families` made its sibling. The pairing is on the instances, so a subclass of a built-in
        family (a family of one's own, under its own name) does not inherit the built-in's regressor."""
        if task_type == self.task_type:
            return self
        return self.__dict__.get("_siblings", {}).get(task_type)

    def for_task(self, task_type: str) -> ModelFamily:
        """The family as it runs on a task of `task_type`; SpaceError naming the family if it has none."""
        variant = self._variant(task_type)
        if variant is None:
            raise SpaceError(f"model {self.name!r} has no estimator for {task_type} tasks (it serves: "
                             f"{', '.join(self.task_types()) or 'none'})")
        return variant

    def with_space(self, space: SearchSpace) -> ModelFamily:
        """This family searching `space` instead of its own (an experiment's `spaces` file); its estimator,
        defaults and fidelity are this family's."""
        return FamilyWithSpace(self, space)

    def scaled(self, config: Mapping[str, Any], fidelity: float) -> dict[str, Any]:
        """The configuration with its fidelity hyperparameter scaled to `fidelity`."""
        config = dict(config)
        if self.fidelity_param and fidelity < 1.0 and self.fidelity_param in config:
            config[self.fidelity_param] = max(1, round(config[self.fidelity_param] * fidelity))
        return config


def pair_families(*families: ModelFamily) -> None:
    """Make family objects of one name, one per task type (a classifier and its regressor), each other's
    `for_task`."""
    by_type = {family.task_type: family for family in families}
    if len(by_type) != len(families) or len({family.name for family in families}) != 1:
        raise ValueError("pair_families: one family object per task type, all of one name")
    for family in families:
        family._siblings = by_type


class FamilyWithSpace(ModelFamily):
    """A family with another search space (ModelFamily.with_space); everything else is the family's own.

    The workers evaluate with the family itself (its space plays no part in fitting), so only what
    searches, validates and stores configurations needs this one.
    """

    def __init__(self, family: ModelFamily, space: SearchSpace) -> None:
        self.family = family
        self._space = space
        self.name, self.library = family.name, family.library
        self.fidelity_param, self.needs_scaling = family.fidelity_param, family.needs_scaling
        self.task_type = family.task_type

    def _variant(self, task_type: str) -> ModelFamily | None:
        variant = self.family._variant(task_type)
        return None if variant is None else variant if variant is self.family else FamilyWithSpace(variant, self._space)

    @property
    def space(self) -> SearchSpace:
        return self._space

    def package_default(self) -> dict[str, Any]:
        return self.family.package_default()

    def named_defaults(self) -> dict[str, dict[str, Any]]:
        return self.family.named_defaults()

    def named_spaces(self) -> dict[str, SearchSpace]:
        return self.family.named_spaces()

    def make_estimator(self, config: Mapping[str, Any], *, seed: int, fidelity: float, shape: DataShape) -> Any:
        return self.family.make_estimator(config, seed=seed, fidelity=fidelity, shape=shape)

    def concrete(self, config: Mapping[str, Any], shape: DataShape) -> dict[str, Any]:
        return self.family.concrete(config, shape)

    def scaled(self, config: Mapping[str, Any], fidelity: float) -> dict[str, Any]:
        return self.family.scaled(config, fidelity)

    def held_at_default(self, config: Mapping[str, Any], kind: str = "package") -> dict[str, Any]:
        """`config` with the family's parameters that it does not set held at the default `kind`, where the
        family's own conditions make them active: what a run tuning a subset does, so that the estimator gets
        every parameter its family reads. That covers parameters this space leaves out and those its
        conditions make inactive where the family's would not: the probst2019 svm space has gamma for the
        radial kernel only, and e1071's polynomial kernel then uses its default gamma = 1/p."""
        default = self.family.default(kind)
        out = dict(config)
        for p in self.family.space:
            if p.name not in out and p.name in default and (p.condition is None or p.condition.holds(out)):
                out[p.name] = default[p.name]
        return out
