"""The ask/tell protocol every optimizer follows, and the registry that names them.

An optimizer lives in the driver and never sees data. It is created from the space, a seed and the
run's budget; `ask` returns the next suggestion and `tell` gives back its result, in the order of the
asks. Resuming a run re-tells the stored results to a fresh optimizer of the same seed, so an optimizer
must be a deterministic function of (space, seed, options, results told so far).

Several suggestions may be pending at once (`batch_size` > 1): the scheduler asks a whole batch, then
tells the whole batch in order once every result is back. An optimizer must therefore give sensible,
distinct suggestions when asked again before it is told (constant liar in GP and TPE), and may raise
`AwaitResults` when it cannot suggest anything before the pending results are told (the end of a
halving rung); the scheduler then closes the batch early.

An optimizer outside this package is any subclass, named in an experiment file as "package.module:Class"
or by an entry point (hpo_bench/plugins.py; the protocol for users: docs/plugins.md). Every subclass gets
COMMON_OPTIONS, a `name` and a `summary` when it defines none (`__init_subclass__`), registered or not.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from hpo_bench.errors import ExperimentError
from hpo_bench.plugins import OPTIMIZER_GROUP, resolve
from hpo_bench.space import SearchSpace
from hpo_bench.trial import Suggestion, TrialResult


@dataclass(frozen=True)
class Option:
    """One option an optimizer accepts from the experiment file."""

    default: Any
    help: str
    types: tuple[type, ...] = ()

    def check(self, optimizer: str, name: str, value: Any) -> Any:
        types = self.types or (type(self.default),)
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            allowed = " or ".join(t.__name__ for t in types)
            raise ExperimentError(f"optimizer {optimizer!r}: option {name} = {value!r} must be {allowed}")
        return value


class AwaitResults(Exception):  # noqa: N818  (a signal, not an error)
    """Raised by `ask` when nothing can be suggested before the pending suggestions are told."""


# Every optimizer accepts `batch_size`: `Optimizer.__init_subclass__` adds COMMON_OPTIONS to every class's `options`.
COMMON_OPTIONS: dict[str, Option] = {
    "batch_size": Option(1, "suggestions pending at once per run, asked as a batch and told in order once "
                            "all are back", (int,)),
}


class Optimizer(ABC):
    """Ask/tell search over a space; a deterministic function of (space, seed, options, results told)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    options: ClassVar[dict[str, Option]] = COMMON_OPTIONS
    # False for strategies whose suggestions never depend on the losses told (grid, random, Sobol): the
    # best trial under any recorded metric is then a fair incumbent for that metric, as it is for an
    # adaptive optimizer only under the metric it was told.
    adaptive: ClassVar[bool] = True
    library: ClassVar[str | None] = None  # the distribution a peer adapter drives, e.g. "optuna"
    # The modules it imports when built, beyond hpo-bench's dependencies: `hpo-bench optimizers` marks the
    # optimizers whose module is missing here (optuna-cmaes without `cmaes`) before a run finds out.
    requires: ClassVar[tuple[str, ...]] = ()
    # True for strategies that ask fidelities below 1 (halving, Hyperband). The experiment file refuses
    # them on a model without a fidelity parameter: each trial would be a full fit charged as a fraction.
    multi_fidelity: ClassVar[bool] = False
    batch_size: int = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Every optimizer takes the common options, also one whose `options` forgot them, and a user's
        # class that never goes through `register`.
        cls.options = {**COMMON_OPTIONS, **cls.options}
        if "name" not in cls.__dict__:  # what an experiment file would call it
            cls.name = f"{cls.__module__}:{cls.__qualname__}"
        if "summary" not in cls.__dict__ and (cls.__doc__ or not hasattr(cls, "summary")):
            cls.summary = (inspect.cleandoc(cls.__doc__ or "").splitlines() or [""])[0]

    def __init__(self, space: SearchSpace, *, seed: int, budget_evals: float, **options: Any) -> None:
        """Check the options and the space, cheaply: experiment files build every optimizer on every
        space it will search before anything runs, so a subclass refuses what it cannot do here (raise
        ExperimentError, or `check_option`) and leaves fitting and sampling to `ask`."""
        self.space = space
        self.seed = seed
        self.budget_evals = budget_evals
        self.rng = np.random.default_rng(seed)
        unknown = set(options) - set(self.options)
        if unknown:
            raise ExperimentError(f"optimizer {self.name!r}: unknown option(s) {sorted(unknown)} "
                                  f"(allowed: {sorted(self.options) or 'none'})")
        for key, opt in self.options.items():
            value = options.get(key, opt.default)
            setattr(self, key, value if key not in options else opt.check(self.name, key, value))
        self.check_option(self.batch_size >= 1, "batch_size", "must be >= 1")

    def check_option(self, ok: bool, option: str, rule: str) -> None:
        """Raise ExperimentError naming the option, its value and the rule unless `ok` (a range check)."""
        if not ok:
            raise ExperimentError(f"optimizer {self.name!r}: option {option} = {getattr(self, option)!r} {rule}")

    @abstractmethod
    def ask(self) -> Suggestion:
        """The next suggestion; raise OptimizerExhausted when there is none left."""

    def tell(self, suggestion: Suggestion, result: TrialResult) -> None:  # noqa: B027  (optional hook)
        """Learn from a result; FAILED and TIMEOUT results carry no loss."""


OPTIMIZERS: dict[str, type[Optimizer]] = {}


def register(cls: type[Optimizer]) -> type[Optimizer]:
    """Add a built-in optimizer to OPTIMIZERS under its `name` (a user's class needs no registering)."""
    OPTIMIZERS[cls.name] = cls
    return cls


def optimizer_problem(obj: Any) -> str | None:
    """None if `obj` can be an experiment's optimizer type, else the rule it breaks."""
    if not (inspect.isclass(obj) and issubclass(obj, Optimizer)):
        return "an optimizer type must be a subclass of hpo_bench.optimizers.Optimizer"
    if inspect.isabstract(obj):
        return f"it is abstract (it does not define {', '.join(sorted(obj.__abstractmethods__))})"
    bad = [key for key, opt in obj.options.items() if not isinstance(opt, Option)]
    if bad:
        return f"options[{bad[0]!r}] must be an hpo_bench.optimizers.Option"
    return None


def get_optimizer(name: str) -> type[Optimizer]:
    """The optimizer class a type name stands for: built-in, "package.module:Class" or an entry point."""
    return resolve(name, what="optimizer type", group=OPTIMIZER_GROUP, builtins=dict(sorted(OPTIMIZERS.items())),
                   check=optimizer_problem, form="module:Class")
