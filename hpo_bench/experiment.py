"""The experiment file (TOML): parse, validate, expand into runs.

```toml
name = "quickstart"
tasks = ["sklearn:breast_cancer", "sklearn:wine"]
models = ["xgboost", "random_forest"]
budget_evals = 20          # evaluations per run, counted at full fidelity (the default trial included)
# budget_evals = { xgboost = 200, random_forest = 50 }   # or one per model, every model named
budget_seconds = 30        # and at most this much recorded time per run (fit + predict + the optimizer's own)
seeds = 3                  # a count (0, 1, 2) or a list of seeds
cv_folds = 5
metric = "1-auc"           # or "logloss", "error", ...; regression tasks: "rmse", "mae", "1-r2"
n_workers = 2              # default: the machine's cores
include_default = true     # the package default is every run's first trial
defaults = "probst2019"    # the R packages' defaults of Probst et al. 2019 instead (default: "package")
space = "probst2019"       # every model searches the space Probst et al. 2019 sampled (default: "family", its own)
tune = ["all", "each"]     # runs tuning everything, and one run per hyperparameter alone
time_limit_s = 60          # an evaluation running longer is stopped and stored TIMEOUT; default: no limit
executor = "dask"          # "local" (default), "dask" or "ray"
test = "holdout"           # an outer stratified split: the search sees inner CV on the rest only
test_fraction = 0.2        # the held-out share (default 0.2)
seed_design = "crossed"    # split, model and optimizer seeds crossed (seeds = k gives k**3 repetitions)
scheduler_address = "tcp://10.0.0.5:8786"   # Dask or Ray (a head's "HOST:6379"); without it, a local cluster

[configs]                  # optional: configurations evaluated after the default, before the optimizer
random_forest = [{ n_estimators = 500, bootstrap = false, max_features = 0.5, min_samples_leaf_exp = 0.0 }]

[spaces]                   # optional: a model searches a ConfigSpace JSON space instead of its family's
xgboost = "spaces/xgboost.json"                 # relative to this file (docs/configspace.md)

[optimizers]
random = {}
grid = { n_points = 3 }
grid-k = { type = "grid", n_points = 30, models = ["knn"] }   # `models`: only these models run it (default: all)
coarse-grid = { type = "grid", n_points = 2 }   # a label of your own, with `type`
local = { type = "my_optimizer:LocalSearch" }   # a class of your own, or an entry point (docs/plugins.md)
```
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpo_bench.configspace import from_configspace_json
from hpo_bench.errors import ExperimentError, HpoBenchError
from hpo_bench.evaluation import ALL_METRICS, METRICS, REGRESSION_METRICS
from hpo_bench.models import ModelFamily, get_model
from hpo_bench.optimizers import get_optimizer
from hpo_bench.optimizers.base import optimizer_problem
from hpo_bench.plugins import describe, load_reference
from hpo_bench.settings import DEFAULTS, NAME_RULE, is_name
from hpo_bench.space import Categorical, Float, Int, Parameter, SearchSpace
from hpo_bench.tasks import FORMS, check_task_ref, expand_task_refs, is_surrogate
from hpo_bench.trial import RunSpec
from hpo_bench.tuning import ALL, expand_tune, tuned_space

# Sizes are bounded where they are read: `seeds = 10**12` would otherwise build a list of a trillion
# seeds (MemoryError) before anything could say what is wrong with the file.
MAX_SEEDS = 100_000
MAX_BUDGET_EVALS = 10**9
MAX_WORKERS = 10_000

TEST_MODES = ("none", "holdout")
DEFAULT_KINDS = ("probst2019",)  # named defaults besides the package's (ModelFamily.named_defaults)
SPACE_KINDS = ("family", "probst2019")  # the family's own space, or one of ModelFamily.named_spaces
SEED_DESIGNS = ("repeated", "crossed")
MAX_CROSSED_LEVELS = 10
DASK_SCHEMES = ("tcp", "tls", "ucx", "ws", "wss")
EXECUTORS = ("local", "inline", "dask", "ray")  # = hpo_bench.executors.EXECUTORS; parsing a file imports no executor
CLUSTER_EXECUTORS = ("dask", "ray")  # those that take a scheduler_address
# Why a time limit is refused with the inline executor on real tasks (a surrogate's predicted fit time
# is held against it as a real one would be).
INLINE_NO_TIME_LIMIT = ("the inline executor evaluates in the driver's process, where no fit can be stopped; "
                        "use the local executor for a time limit")

_REQUIRED = object()  # Rule.default of a key the file must give
_NO_SPACES: dict[str, str] = {}  # what a file without a [spaces] table gives: no table, not an empty one


@dataclass(frozen=True)
class Rule:
    """What one key of an experiment file may hold, as data: its types, range or choices, its default, and
    what it sets. `value` checks a file's value against it (every message names where the file came from,
    the key, the value and the rule: "must be ..."); the manual lists every key's rule from RULES.

    What a value must be beyond its own key (a task reference that resolves, a budget for each model the
    file runs, a time limit the executor can enforce) is checked after the rules, in `_validate`."""

    doc: str  # what the key sets, in one line
    types: tuple[type, ...] = ()  # the value's types, () any; a bool is never a number, an int is a float
    low: float | None = None  # a number's bounds: [low, high], or (low, high] with low_open
    high: float | None = None
    low_open: bool = False
    choices: tuple[Any, ...] = ()
    unit: str = ""  # what a number counts, "seconds per run"
    limit: int | None = None  # a sanity bound on a size, said on its own: "must be at most 100,000"
    valid: Callable[[Any], bool] | None = None  # what the data above cannot say (a list's entries)
    expected: str = ""  # the rule in words, where the data above cannot say it
    default: Any = _REQUIRED  # the value of a key the file leaves out (a callable: made when the file is read)
    default_doc: str = ""  # that default in words, where it is made when the file is read

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    @property
    def rule(self) -> str:
        """The rule in words, as a message says it after "must be"."""
        if self.expected:
            return self.expected
        if self.choices:
            return f"one of {list(self.choices)}"
        if self.types == (bool,):
            return "true or false"
        if self.types == (str,):
            return "a string"
        kind = "an integer" if self.types == (int,) else "a number"
        unit = f" of {self.unit}" if self.unit else ""
        unit += f" (at most {self.limit:,})" if self.limit is not None else ""
        if self.low is not None and self.high is not None:
            span = f"in ({self.low:g}, {self.high:g}]" if self.low_open else f"from {self.low:g} to {self.high:g}"
            return f"{kind} {span}{unit}"
        if self.low == 0 and self.low_open:
            return f"a positive {kind.split()[-1]}{unit}"
        return f"{kind} >= {self.low:g}{unit}" if self.low is not None else f"{kind}{unit}"

    def problem(self, value: Any) -> str | None:
        """Why `value` breaks the rule, or None."""
        if not self._accepts(value):
            return f"must be {self.rule}"
        if self.limit is not None and isinstance(value, int) and value > self.limit:
            return f"must be at most {self.limit:,}"
        return None

    def _accepts(self, value: Any) -> bool:
        if self.types:
            if isinstance(value, bool) and bool not in self.types:
                return False
            if not isinstance(value, self.types) and not (float in self.types and isinstance(value, int)):
                return False
        if self.choices and value not in self.choices:
            return False
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                return False
            if self.low is not None and (value <= self.low if self.low_open else value < self.low):
                return False
            if self.high is not None and value > self.high:
                return False
        return self.valid is None or self.valid(value)

    def value(self, data: Mapping[str, Any], key: str, where: str, name: str | None = None) -> Any:
        """`data[key]` checked against the rule, or the default when the file leaves the key out; `name` spells
        the key in messages (default: `key`). The one message of every rule: where, the key, the value, the rule."""
        if key not in data:
            if self.required:
                raise ExperimentError(f"{where}: missing key {key!r}: {self.doc}")
            return self.default() if callable(self.default) else self.default
        problem = self.problem(data[key])
        if problem:
            raise _fail(where, name or key, data[key], problem)
        return data[key]


def _distinct_strings(value: list[Any]) -> bool:
    return bool(value) and all(isinstance(v, str) for v in value) and len(set(value)) == len(value)


def _seeds_ok(value: int | list[Any]) -> bool:
    if not isinstance(value, list):
        return value >= 1
    return (0 < len(value) <= MAX_SEEDS and len(set(value)) == len(value)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value))


# Every key of an experiment file, in the order the manual lists them.
RULES: dict[str, Rule] = {
    "name": Rule("names the store results/<name>.sqlite and the reports reports/<name>/", (str,), valid=is_name,
                 expected=NAME_RULE),
    "description": Rule("free text about the experiment", (str,), default=""),
    "tasks": Rule("the tasks every model is run on; a suite stands for its member tasks", (list,),
                  valid=_distinct_strings,
                  expected="a non-empty list of distinct task references: " + ", ".join(FORMS)),
    "models": Rule("the model families to tune (built-in, \"package.module:FAMILY\" or an entry point)", (list,),
                   valid=_distinct_strings, expected="a non-empty list of distinct model family names"),
    "optimizers": Rule("the search strategies, each under a label: { type = ..., options }; the option models = [...] "
                       "runs one on those models only (default: every model), and every model needs one", (dict,),
                       valid=bool, expected="a table such as [optimizers] random = {}"),
    "budget_evals": Rule("evaluations per run at full fidelity (the default trial included), the same for every "
                         "model or one per model", (int, dict), low=1, limit=MAX_BUDGET_EVALS,
                         expected="an integer >= 1, or a table giving one for each model, such as "
                                  "{ xgboost = 200, knn = 500 }"),
    "budget_seconds": Rule("recorded seconds per run: a run asks no more once its trials' fit and predict times plus "
                           "its optimizer's ask and tell times reach it (budget_evals still caps it)", (float,),
                           low=0, low_open=True, unit="seconds per run", default=None, default_doc="no time budget"),
    "seeds": Rule("the repetitions: seeds 0 .. count-1, or the seeds listed", (int, list), valid=_seeds_ok,
                  limit=MAX_SEEDS, default=1,
                  expected=f"a positive count or a list of distinct non-negative integers (at most {MAX_SEEDS:,})"),
    "cv_folds": Rule("folds of the cross-validation each configuration is scored by", (int,), low=2, high=50,
                     default=DEFAULTS["cv_folds"]),
    "metric": Rule("the loss optimised; every metric of the task type is recorded", (str,), choices=ALL_METRICS,
                   default=DEFAULTS["metric"], expected=f"one of {list(METRICS)} for classification tasks, "
                                                       f"{list(REGRESSION_METRICS)} for regression tasks"),
    "n_workers": Rule("worker processes evaluating at once", (int,), low=1, limit=MAX_WORKERS,
                      default=lambda: os.cpu_count() or 1, default_doc="the number of cores"),
    "include_default": Rule("each run's first trial is the default configuration", (bool,),
                            default=DEFAULTS["include_default"]),
    "configs": Rule("configurations each run of a model evaluates after the default and before its optimizer asks "
                    "anything (never told to it, charged to the budget, scored on the held-out test when there is "
                    "one)", (dict,), expected="a table of model = [ { parameter = value, ... }, ... ]", default=dict,
                    default_doc="none"),
    "spaces": Rule("a ConfigSpace JSON file (relative to the experiment file) per model, whose space that model "
                   "searches instead of its family's; its parameters must be the family's, and those it leaves out "
                   "are held at the default", (dict,), expected='a table of model = "path/to/space.json"',
                   default=_NO_SPACES, default_doc="none"),
    "defaults": Rule("which default each model is evaluated at and holds untuned parameters at: the library's own "
                     "('package') or the R packages' defaults of Probst, Boulesteix & Bischl 2019", (str,),
                     choices=("package", *DEFAULT_KINDS), default=DEFAULTS["defaults"]),
    "space": Rule("which space every model searches: the family's own, or the space the mlr random bot of Probst, "
                  "Boulesteix & Bischl 2019 sampled (hpo_bench/models/ cites each); a model named in [spaces] keeps "
                  "its file's space", (str,), choices=SPACE_KINDS, default=DEFAULTS["space"]),
    "tune": Rule("what each run tunes: everything ('all'), one run per hyperparameter alone ('each') or per pair "
                 "('pairs'), or the parameters named", (str, list), default="all",
                 expected="'all', 'each', 'pairs', a parameter name, a list of names, or a list of these"),
    "time_limit_s": Rule("an evaluation (all its folds) running longer is stopped and stored TIMEOUT", (float,), low=0,
                         low_open=True, unit="seconds per evaluation", default=None, default_doc="no limit"),
    "executor": Rule("where evaluations run: worker processes on this machine ('local'), the driver's own process "
                     "one at a time ('inline': for cheap evaluations), a Dask or a Ray cluster", (str,),
                     choices=EXECUTORS, default="local"),
    "scheduler_address": Rule("the cluster to join (without it, a local cluster)", (str,), default=None,
                              default_doc="none",
                              expected="a Dask scheduler address such as 'tcp://HOST:PORT' (executor 'dask'), or a "
                                       "Ray cluster's head 'HOST:PORT', 'ray://HOST:PORT' or 'auto' (executor 'ray')"),
    "test": Rule("'holdout': each repetition's data split into an outer training part, on which the inner CV drives "
                 "the search, and a held-out test part that scores the default and each incumbent", (str,),
                 choices=TEST_MODES, default=DEFAULTS["test"]),
    "test_fraction": Rule("the held-out share of the rows (test = 'holdout')", (float,), low=0, high=0.5,
                          low_open=True, default=DEFAULTS["test_fraction"]),
    "seed_design": Rule("'repeated': repetition s varies the optimizer and model seeds together over fixed splits; "
                        "'crossed' (seeds = k): the split, model and optimizer seeds crossed, k**3 repetitions, for "
                        "the variance decomposition", (str,), choices=SEED_DESIGNS, default=DEFAULTS["seed_design"]),
}
_BUDGET = Rule("evaluations per run of one model", (int,), low=1, limit=MAX_BUDGET_EVALS)  # an entry of a table

_HOST = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?")


def inline_time_limit_refused(executor: str, time_limit_s: float | None, tasks: list[str]) -> bool:
    """Whether `executor` would have to enforce `time_limit_s` on real tasks in the driver's process."""
    return executor == "inline" and time_limit_s is not None and not all(is_surrogate(t) for t in tasks)


@dataclass(frozen=True)
class OptimizerSpec:
    label: str
    type: str
    options: dict[str, Any] = field(default_factory=dict)
    # The models it runs on; None: every model. A grid over kNN's 30 values of k beside random search on
    # the other families is one study (Probst et al. 2019's protocol), not two.
    models: tuple[str, ...] | None = None

    def serves(self, model: str) -> bool:
        return self.models is None or model in self.models


@dataclass(frozen=True)
class Experiment:
    name: str
    tasks: list[str]
    models: list[str]
    optimizers: list[OptimizerSpec]
    budgets: dict[str, int]  # model -> evaluations per run
    seeds: list[int]
    cv_folds: int = 5
    metric: str = "1-auc"
    n_workers: int = 1
    include_default: bool = False
    defaults: str = "package"
    configs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # model -> listed configurations
    spaces: dict[str, SearchSpace] = field(default_factory=dict)  # model -> the space of its `spaces` file
    tune: dict[str, list[str]] = field(default_factory=dict)  # model -> run labels
    time_limit_s: float | None = None
    budget_seconds: float | None = None  # recorded seconds per run (runs.py: what is charged), None: no time budget
    executor: str = "local"
    scheduler_address: str | None = None
    test: str = "none"
    test_fraction: float = 0.2
    seed_design: str = "repeated"
    description: str = ""
    text: str = ""  # the file as written (comments included), or a dict's TOML
    path: str = ""
    # sha256 of the validated content (content_hash): a store is bound to it, so a comment or a key's
    # order may change without orphaning the store, and the same experiment built from a dict or from
    # its TOML file is the same experiment.
    file_hash: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "<dict>") -> Experiment:
        """An experiment from the mapping an experiment file holds, validated as a file is (same rules,
        same errors, same hash); its `text` is the mapping written as TOML."""
        import tomli_w

        if not isinstance(data, Mapping):
            raise ExperimentError(f"{where}: an experiment must be a mapping of keys to values, not "
                                  f"{type(data).__name__}")
        data = _class_references(data, where)
        try:
            text = tomli_w.dumps(dict(data))
        except (TypeError, ValueError) as exc:  # None, a set, a non-string key: nothing TOML can hold
            raise ExperimentError(f"{where}: not expressible as an experiment file: {exc}") from None
        return parse_experiment(text, where)

    @property
    def text_hash(self) -> str:
        """sha256 of the text: what stores made before content hashing were bound to."""
        return hashlib.sha256(self.text.encode()).hexdigest()

    def family(self, model: str, task_type: str = "classification") -> ModelFamily:
        """The model's family as this experiment runs it on tasks of `task_type`: searching its `spaces`
        file's space if it has one."""
        family = get_model(model).for_task(task_type)
        return family.with_space(self.spaces[model]) if model in self.spaces else family

    def budget(self, model: str) -> int:
        """Evaluations per run of `model`, at full fidelity."""
        return self.budgets[model]

    def optimizer(self, label: str) -> OptimizerSpec:
        return next(o for o in self.optimizers if o.label == label)

    def seed_factors(self, seed: int) -> tuple[int, int, int]:
        """(split, model, optimizer) repetition of repetition `seed`."""
        if self.seed_design == "crossed":
            k = len(self.seeds)
            return seed // (k * k), (seed // k) % k, seed % k
        return 0, seed, seed

    def repetitions(self) -> list[int]:
        """The repetition numbers: the seeds, or 0 .. k**3 - 1 for a crossed design of k levels."""
        return list(range(len(self.seeds) ** 3)) if self.seed_design == "crossed" else list(self.seeds)

    def runs(self) -> list[RunSpec]:
        """All runs, seed-major so that an early stop leaves whole repetitions behind."""
        return [RunSpec(seed, task, model, opt.label, tuned, *self.seed_factors(seed)) for seed in self.repetitions()
                for task in self.tasks for model in self.models for tuned in self.tune.get(model, ["all"])
                for opt in self.optimizers if opt.serves(model)]


def _close(word: str, allowed: list[str]) -> str:
    """"; did you mean 'x'?" for a misspelt key or name, else ""."""
    match = difflib.get_close_matches(word, allowed, n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def _fail(where: str, key: str, value: Any, rule: str) -> ExperimentError:
    return ExperimentError(f"{where}: {key} = {value!r}: {rule}")


def _budgets(where: str, value: Any, models: list[str]) -> dict[str, int]:
    """budget_evals as one budget per model: a number for all of them, or a table naming each."""
    if not isinstance(value, dict):
        return dict.fromkeys(models, value)
    unknown = [m for m in value if m not in models]
    if unknown:
        raise _fail(where, f"budget_evals.{unknown[0]}", value[unknown[0]],
                    f"names a model the experiment does not run (models: {', '.join(models)})")
    missing = [m for m in models if m not in value]
    if missing:
        raise _fail(where, "budget_evals", value, f"a table must give a budget for every model; {missing[0]!r} "
                    "has none")
    return {m: _BUDGET.value(value, m, where, f"budget_evals.{m}") for m in models}


def _configs(where: str, value: Any, families: dict[str, ModelFamily]) -> dict[str, list[dict[str, Any]]]:
    """The listed configurations per model, each checked against the model's space."""
    models = list(families)
    out = {}
    for model, configs in value.items():
        if model not in models:
            raise _fail(where, f"configs.{model}", configs, f"names a model the experiment does not run "
                        f"(models: {', '.join(models)})")
        if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
            raise _fail(where, f"configs.{model}", configs, "must be a list of tables such as [{ n_neighbors = 7 }]")
        space = families[model].space
        try:
            out[model] = [space.validate(c, where=f"configs.{model}[{i}]") for i, c in enumerate(configs)]
        except HpoBenchError as exc:
            raise ExperimentError(f"{where}: {exc}") from None
    return out


def _spaces(where: str, value: Any, models: list[str], base: Path) -> dict[str, SearchSpace]:
    """The spaces of `spaces` files per model, each parameter one of its family's (of the same kind)."""
    if not value and value is not _NO_SPACES:  # a [spaces] table written but left empty: a file forgotten
        raise _fail(where, "spaces", value, "is empty; name a model's ConfigSpace JSON file (model = \"file.json\") "
                    "or remove the [spaces] table")
    out = {}
    for model, file in value.items():
        key = f"spaces.{model}"
        if model not in models:
            raise _fail(where, key, file, f"names a model the experiment does not run (models: {', '.join(models)})")
        if not isinstance(file, str) or not file:
            raise _fail(where, key, file, "must be the path of a ConfigSpace JSON file, such as \"xgboost.json\" "
                        "('hpo-bench models show NAME --format configspace' writes one)")
        path = base / file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise _fail(where, key, file, f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise _fail(where, key, file, f"{path} is not UTF-8 text (byte {exc.start})") from None
        try:
            space = from_configspace_json(text, where=str(path))
        except HpoBenchError as exc:
            raise ExperimentError(f"{where}: {key}: {exc}") from None
        own = get_model(model).space
        for p in space:
            if p.name not in own:
                raise ExperimentError(f"{where}: {key}: {path}: parameter {p.name!r} is not a hyperparameter of "
                                      f"{model} (its parameters: {', '.join(own.names)})")
            problem = _kind_problem(own[p.name], p)
            if problem:
                raise ExperimentError(f"{where}: {key}: {path}: parameter {p.name!r} is {p.describe()}, and "
                                      f"{model}'s is {own[p.name].describe()}: {problem}")
        out[model] = space
    return out


def _kind_problem(own: Parameter, given: Parameter) -> str | None:
    """Why a file's parameter cannot stand for the family's parameter of the same name (its estimator
    would get values of another kind), or None. Ranges and choices are the file's to choose."""
    choices = given.choices if isinstance(given, Categorical) else ()
    numbers = isinstance(given, Categorical) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in choices)
    if isinstance(own, Categorical):
        ok, rule = isinstance(given, Categorical), "a categorical parameter takes a categorical"
    elif isinstance(own, Int):
        ok = isinstance(given, Int) or (numbers and all(isinstance(v, int) for v in choices))
        rule = "an integer parameter takes an int or a categorical of integers"
    else:
        ok = isinstance(given, (Float, Int)) or numbers
        rule = "a real parameter takes a float, an int or a categorical of numbers"
    return None if ok else rule


def _class_references(data: Mapping[str, Any], where: str) -> Mapping[str, Any]:
    """`data` with each optimizer class object (`{"type": MyOptimizer}`, or the class as the whole entry)
    replaced by its "module:Class" reference: the experiment's text and the store record the reference,
    which rebuilds the class when a run resumes in another process."""
    optimizers = data.get("optimizers")
    if not isinstance(optimizers, Mapping):
        return data
    out = {}
    for label, options in optimizers.items():
        if inspect.isclass(options):
            options = {"type": options}
        if isinstance(options, Mapping) and "type" in options and not isinstance(options["type"], str):
            options = {**options, "type": optimizer_reference(options["type"], f"{where}: optimizers.{label}.type")}
        out[label] = options
    return {**data, "optimizers": out}


def optimizer_reference(obj: Any, what: str) -> str:
    """The "module:Class" reference of an optimizer class, checked to import back to that very class."""
    problem = optimizer_problem(obj)
    if problem:
        raise ExperimentError(f"{what}: {describe(obj)} is not an optimizer class: {problem} (or a type name, "
                              "a string)")
    ref = f"{obj.__module__}:{obj.__qualname__}"
    if "<locals>" in obj.__qualname__:
        raise ExperimentError(f"{what}: the class {obj.__qualname__} is defined inside a function; define it at "
                              "the top level of a module, so that its module:Class reference rebuilds it on resume")
    try:
        found = load_reference(ref, what)
    except ExperimentError:
        found = None
    if found is not obj:
        raise ExperimentError(f"{what}: the class {obj.__qualname__} cannot be found again as {ref!r} (a class "
                              "made at run time, or replaced since); define it at the top level of a module")
    return ref


def _build_optimizers(where: str, optimizers: list[OptimizerSpec], families: dict[str, ModelFamily],
                      budgets: dict[str, int], tune: dict[str, list[str]], defaults: str) -> None:
    """Build every optimizer on every space it will search, with each model's budget.

    An option out of range, or an optimizer that cannot search a space (Hyperopt on a condition whose
    parent is an integer, CMA-ES on one parameter), then stops the file here, before a store is written,
    rather than ending runs as crashed. Constructors are cheap by contract (no fitting, no sampling).
    Seed 0: what a constructor checks (options, the space) does not depend on the seed.
    """
    for spec in optimizers:
        cls = get_optimizer(spec.type)
        for model, family in families.items():
            if not spec.serves(model):
                continue
            if cls.multi_fidelity and family.fidelity_param is None:
                raise ExperimentError(f"{where}: optimizers.{spec.label} on {model}: optimizer {cls.name!r} asks "
                                      f"fidelities below 1, and {model} has no fidelity parameter, so each trial "
                                      "would be a full fit charged as a fraction of one; use it on a model with a "
                                      "fidelity (hpo-bench models lists them)")
            for tuned in tune[model]:
                try:
                    cls(tuned_space(family, tuned, defaults), seed=0, budget_evals=budgets[model], **spec.options)
                except HpoBenchError as exc:
                    on = model if tuned == ALL else f"{model} tuning {tuned}"
                    raise ExperimentError(f"{where}: optimizers.{spec.label} on {on}: {exc}") from None


def parse_experiment(text: str, where: str = "<experiment>", *, build_optimizers: bool = True,
                     base_dir: str | Path | None = None) -> Experiment:
    """Validate an experiment file's text; every error names the key, the value and what is allowed.

    `base_dir`: where the paths in the file (`spaces`) are relative to; default the working directory.

    `build_optimizers = False` skips building each optimizer on its spaces (`_build_optimizers`): for
    readers of a finished store, which run nothing (its peer libraries may not even be installed here).
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{where}: not valid TOML: {exc}") from None
    return _validate(data, text, where, build_optimizers, Path(base_dir) if base_dir is not None else Path())


def content_hash(data: Mapping[str, Any]) -> str:
    """sha256 of an experiment's keys and values, independent of comments, layout and key order."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _validate(data: dict[str, Any], text: str, where: str, build_optimizers: bool = True,
              base: Path = Path()) -> Experiment:
    unknown = [k for k in data if k not in RULES]
    if unknown:
        raise ExperimentError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(RULES)})"
                              f"{_close(unknown[0], list(RULES))}")
    v = {key: rule.value(data, key, where) for key, rule in RULES.items()}  # each key against its own rule
    # What no key's rule says alone: the entries against the registries, and the keys against each other.
    tasks = _tasks(where, v["tasks"])
    models = _models(where, v["models"])
    optimizers = _optimizers(where, v["optimizers"], models)
    budgets = _budgets(where, v["budget_evals"], models)
    seeds = _seeds(where, v["seeds"], v["seed_design"])
    _defaults(where, v["defaults"], models)
    spaces = _named_spaces(where, v["space"], _spaces(where, v["spaces"], models, base), models)
    families = {m: get_model(m).with_space(spaces[m]) if m in spaces else get_model(m) for m in models}
    configs = _configs(where, v["configs"], families)
    for model in models:
        needed = int(v["include_default"]) + len(configs.get(model, []))
        if budgets[model] < needed:
            raise _fail(where, "budget_evals", v["budget_evals"], f"{model} needs at least {needed} evaluations "
                        "per run: its default and listed configurations come first")
    tune = {model: expand_tune(v["tune"], families[model], where, v["defaults"]) for model in models}
    _execution(where, v, data, tasks)
    exp = Experiment(
        name=v["name"], tasks=tasks, models=models, optimizers=optimizers, budgets=budgets, seeds=seeds,
        cv_folds=v["cv_folds"], metric=v["metric"], n_workers=v["n_workers"], include_default=v["include_default"],
        defaults=v["defaults"], configs=configs, spaces=spaces, tune=tune, time_limit_s=_seconds(v["time_limit_s"]),
        budget_seconds=_seconds(v["budget_seconds"]), executor=v["executor"], scheduler_address=v["scheduler_address"],
        test=v["test"], test_fraction=float(v["test_fraction"]), seed_design=v["seed_design"],
        description=v["description"], text=text, path=where,
        # The spaces files' content, not their paths: editing one makes another experiment, moving it does not.
        file_hash=content_hash({**data, "spaces": {m: sp.to_dict() for m, sp in spaces.items()}} if spaces else data),
    )
    if build_optimizers:  # last: every other key is checked, and this is the costliest check
        _build_optimizers(where, optimizers, families, budgets, tune, v["defaults"])
    return exp


def _seconds(value: float | None) -> float | None:
    return None if value is None else float(value)


def _tasks(where: str, tasks: list[str]) -> list[str]:
    """Each reference checked by its source; suites become their member tasks, so each run names one task."""
    for ref in tasks:
        try:
            check_task_ref(ref)
        except HpoBenchError as exc:
            raise ExperimentError(f"{where}: tasks: {exc}") from None
    return expand_task_refs(tasks)


def _models(where: str, models: list[str]) -> list[str]:
    for model in models:
        try:
            get_model(model)
        except HpoBenchError as exc:
            raise ExperimentError(f"{where}: models: {exc}") from None
    return models


def _optimizers(where: str, raw: dict[str, Any], models: list[str]) -> list[OptimizerSpec]:
    """Each optimizer's type and options checked against its class, and the models it runs on."""
    optimizers = []
    for label, options in raw.items():
        if not isinstance(options, dict):
            raise _fail(where, f"optimizers.{label}", options, "must be a table of options, e.g. {}")
        options = dict(options)
        served = options.pop("models", None)
        if served is not None:
            if not isinstance(served, list) or not _distinct_strings(served):
                raise _fail(where, f"optimizers.{label}.models", served, "must be a non-empty list of distinct "
                            "model names")
            strange = [m for m in served if m not in models]
            if strange:
                raise _fail(where, f"optimizers.{label}.models", served, f"names {strange[0]!r}, a model the "
                            f"experiment does not run (models: {', '.join(models)}){_close(strange[0], models)}")
            served = tuple(served)
        kind = options.pop("type", label)
        if not isinstance(kind, str):
            raise _fail(where, f"optimizers.{label}.type", kind, "must be an optimizer type (a string)")
        try:
            cls = get_optimizer(kind)
            for key, value in options.items():
                if key not in cls.options:
                    raise ExperimentError(f"optimizer {label!r}: unknown option {key!r} "
                                          f"(allowed: {', '.join(['type', *cls.options])})"
                                          f"{_close(key, ['type', *cls.options])}")
                cls.options[key].check(label, key, value)
        except HpoBenchError as exc:
            raise ExperimentError(f"{where}: optimizers.{label}: {exc}") from None
        optimizers.append(OptimizerSpec(label, kind, options, served))
    orphans = [m for m in models if not any(o.serves(m) for o in optimizers)]
    if orphans:
        raise _fail(where, "optimizers", raw, f"no optimizer runs model {orphans[0]!r}: give it one (an "
                    "optimizer without `models` runs every model)")
    return optimizers


def _seeds(where: str, value: int | list[int], seed_design: str) -> list[int]:
    """The seeds of a count or a list; a crossed design takes a count of levels."""
    seeds = list(value) if isinstance(value, list) else list(range(value))
    if seed_design == "crossed" and (isinstance(value, list) or not 2 <= len(seeds) <= MAX_CROSSED_LEVELS):
        raise _fail(where, "seeds", value, f"with seed_design = \"crossed\" must be a count of levels from 2 "
                    f"to {MAX_CROSSED_LEVELS} (k levels give k**3 repetitions)")
    return seeds


def _defaults(where: str, defaults: str, models: list[str]) -> None:
    lacking = [m for m in models if defaults != "package" and defaults not in get_model(m).named_defaults()]
    if lacking:
        raise _fail(where, "defaults", defaults, f"model {lacking[0]!r} has no such default (only 'package')")


def _named_spaces(where: str, kind: str, spaces: dict[str, SearchSpace], models: list[str]) -> dict[str, SearchSpace]:
    """The spaces of [spaces] files, and for the other models the space `kind` names (none for 'family')."""
    if kind == "family":
        return spaces
    lacking = [m for m in models if m not in spaces and kind not in get_model(m).named_spaces()]
    if lacking:
        have = ", ".join(["family", *get_model(lacking[0]).named_spaces()])
        raise _fail(where, "space", kind, f"model {lacking[0]!r} has no such space (it has: {have})")
    # A [spaces] file names a model's space explicitly; the others take the named one.
    return {**{m: get_model(m).space_of(kind) for m in models}, **spaces}


def _execution(where: str, v: dict[str, Any], data: Mapping[str, Any], tasks: list[str]) -> None:
    """Where and how evaluations run: a time limit the executor can enforce, a cluster address for an executor
    that joins one, a held-out share only with a held-out test."""
    if inline_time_limit_refused(v["executor"], v["time_limit_s"], tasks):
        raise _fail(where, "time_limit_s", v["time_limit_s"], f'with executor = "inline": {INLINE_NO_TIME_LIMIT}')
    address = v["scheduler_address"]
    if address is not None:
        if v["executor"] not in CLUSTER_EXECUTORS:
            raise _fail(where, "scheduler_address", address, "needs executor = \"dask\" or \"ray\"")
        check_scheduler_address(address, f"{where}: scheduler_address", v["executor"])
    if "test_fraction" in data and v["test"] != "holdout":
        raise _fail(where, "test_fraction", v["test_fraction"], 'needs test = "holdout"')


def check_scheduler_address(address: object, where: str, executor: str = "dask") -> str:
    """`address` if it is a cluster address for `executor`, checked before any run starts: for Dask a
    scheduler's SCHEME://HOST:PORT, for Ray a head's HOST:PORT, ray://HOST:PORT (Ray Client) or "auto"."""
    if executor == "ray":
        return _check_ray_address(address, where)
    scheme, sep, rest = address.partition("://") if isinstance(address, str) else ("", "", "")
    host, colon, port = rest.rpartition(":")
    # ASCII digits only ("８７８６".isdigit() is true), a port that exists, and a host name or a bracketed
    # IPv6 address: anything else fails later, inside Dask, with a less clear message.
    port_ok = port.isascii() and port.isdigit() and 0 < int(port) <= 65535
    if not sep or scheme not in DASK_SCHEMES or not _HOST.fullmatch(host) or not colon or not port_ok:
        raise ExperimentError(f"{where} = {address!r}: must be a Dask scheduler address SCHEME://HOST:PORT with "
                              f"SCHEME one of {list(DASK_SCHEMES)}, e.g. 'tcp://10.0.0.5:8786'")
    return address


def _check_ray_address(address: object, where: str) -> str:
    rest = address.removeprefix("ray://") if isinstance(address, str) else ""
    host, colon, port = rest.rpartition(":")
    port_ok = port.isascii() and port.isdigit() and 0 < int(port) <= 65535
    if address != "auto" and (not colon or not _HOST.fullmatch(host) or not port_ok):
        raise ExperimentError(f"{where} = {address!r}: must be a Ray cluster address: the head's HOST:PORT (as "
                              "`ray start --head` prints it, e.g. '10.0.0.5:6379'), 'ray://HOST:PORT' (Ray Client) "
                              "or 'auto'")
    return address


def load_experiment(path: str | Path, *, build_optimizers: bool = True) -> Experiment:
    """Read and validate an experiment file (see `parse_experiment`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentError(f"cannot read experiment file {str(path)!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ExperimentError(f"experiment file {str(path)!r} is not UTF-8 text (byte {exc.start}): a TOML file "
                              "is expected") from None
    return parse_experiment(text, where=str(path), build_optimizers=build_optimizers, base_dir=path.parent)
