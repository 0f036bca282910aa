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
from collections.abc import Mapping
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
from hpo_bench.settings import DEFAULTS, NAME_RULE, check_name
from hpo_bench.space import Categorical, Float, Int, Parameter, SearchSpace
from hpo_bench.tasks import check_task_ref, expand_task_refs, is_surrogate
from hpo_bench.trial import RunSpec
from hpo_bench.tuning import ALL, expand_tune, tuned_space

# Sizes are bounded where they are read: `seeds = 10**12` would otherwise build a list of a trillion
# seeds (MemoryError) before anything could say what is wrong with the file.
MAX_SEEDS = 100_000
MAX_BUDGET_EVALS = 10**9
MAX_WORKERS = 10_000

KEYS = {
    "name": NAME_RULE,
    "description": "free text",
    "tasks": "a list of task references: sklearn:NAME, openml:task/ID, openml:data/ID, suite:NAME, or a name or "
             "OpenML id in the task store",
    "models": "a list of model families",
    "optimizers": "a table of label = { type = ..., options }; the option models = [...] runs that optimizer on those "
                  "models only (default: every model), and every model needs at least one optimizer",
    "budget_evals": "a positive integer: evaluations per run at full fidelity (the default trial included), or a "
                    "table giving one for each model, such as { xgboost = 200, knn = 500 }",
    "budget_seconds": "a positive number of seconds per run: a run asks no more once its trials' recorded fit and "
                      "predict times plus its optimizer's ask and tell times reach it (budget_evals still caps "
                      "it); default: no time budget",
    "seeds": f"a positive count or a list of distinct non-negative integers (at most {MAX_SEEDS:,})",
    "cv_folds": "an integer from 2 to 50",
    "metric": f"one of {list(METRICS)} for classification tasks, {list(REGRESSION_METRICS)} for regression tasks "
              "(the one optimized; every one of the task type is recorded)",
    "n_workers": f"a positive integer (at most {MAX_WORKERS:,})",
    "include_default": "true or false",
    "configs": "a table of model = [ { parameter = value, ... }, ... ]: configurations each run of that model "
               "evaluates after the default and before its optimizer asks anything (never told to it, charged "
               "to the budget, scored on the held-out test when there is one)",
    "spaces": "a table of model = \"path/to/space.json\": a ConfigSpace JSON file (relative to the experiment file) "
              "whose space that model searches instead of its family's; its parameters must be the family's, and "
              "those it leaves out are held at the default",
    "defaults": "which default each model is evaluated at and holds untuned parameters at: 'package' (default: "
                "the library's own) or 'probst2019' (the R packages' defaults of Probst, Boulesteix & Bischl 2019)",
    "space": "which space every model searches: 'family' (default: the family's own) or 'probst2019' (the space "
             "the mlr random bot of Probst, Boulesteix & Bischl 2019 sampled; hpo_bench/models/ cites each); a "
             "model named in [spaces] keeps its file's space",
    "tune": "what each run tunes: 'all' (default), 'each', 'pairs', a parameter name, a list of names, or a list "
            "of these",
    "time_limit_s": "a positive number of seconds per evaluation (all its folds); default: no limit",
    "executor": "'local' (worker processes on this machine), 'inline' (in the driver's process, one evaluation "
                "at a time: for cheap evaluations), 'dask' or 'ray'",
    "scheduler_address": "the cluster to join: a Dask scheduler address such as 'tcp://HOST:PORT' (executor 'dask'), "
                         "or a Ray cluster's head 'HOST:PORT', 'ray://HOST:PORT' or 'auto' (executor 'ray')",
    "test": "'none' (default) or 'holdout': each repetition's data split into an outer training part, on which "
            "the inner CV drives the search, and a held-out test part that scores the default and each incumbent",
    "test_fraction": "a number in (0, 0.5]: the held-out share of the rows (test = 'holdout'), default 0.2",
    "seed_design": "'repeated' (default: repetition s varies the optimizer and model seeds together over fixed "
                   "splits) or 'crossed' (seeds = k: the split, model and optimizer seeds crossed, k**3 "
                   "repetitions, for the variance decomposition)",
}
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


def _string_list(where: str, key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(where, key, value, "must be a non-empty list of strings")
    if len(set(value)) != len(value):
        raise _fail(where, key, value, "must not repeat an entry")
    return value


def _positive_int(where: str, key: str, value: Any, high: int | None = None, low: int = 1,
                  limit: int | None = None) -> int:
    """`value` if an integer in [low, high]; `limit` is a sanity bound on a size (see MAX_SEEDS)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
        rule = f"must be an integer from {low} to {high}" if high else f"must be an integer >= {low}"
        raise _fail(where, key, value, rule)
    if limit is not None and value > limit:
        raise _fail(where, key, value, f"must be at most {limit:,}")
    return value


def _budgets(where: str, value: Any, models: list[str]) -> dict[str, int]:
    """budget_evals as one budget per model: a number for all of them, or a table naming each."""
    if not isinstance(value, dict):
        budget = _positive_int(where, "budget_evals", value, limit=MAX_BUDGET_EVALS)
        return dict.fromkeys(models, budget)
    unknown = [m for m in value if m not in models]
    if unknown:
        raise _fail(where, f"budget_evals.{unknown[0]}", value[unknown[0]],
                    f"names a model the experiment does not run (models: {', '.join(models)})")
    missing = [m for m in models if m not in value]
    if missing:
        raise _fail(where, "budget_evals", value, f"a table must give a budget for every model; {missing[0]!r} "
                    "has none")
    return {m: _positive_int(where, f"budget_evals.{m}", value[m], limit=MAX_BUDGET_EVALS) for m in models}


def _configs(where: str, value: Any, families: dict[str, ModelFamily]) -> dict[str, list[dict[str, Any]]]:
    """The listed configurations per model, each checked against the model's space."""
    if not isinstance(value, dict):
        raise _fail(where, "configs", value, KEYS["configs"])
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


_NO_SPACES: dict[str, str] = {}  # what a file without a [spaces] table gives: no table, not an empty one


def _spaces(where: str, value: Any, models: list[str], base: Path) -> dict[str, SearchSpace]:
    """The spaces of `spaces` files per model, each parameter one of its family's (of the same kind)."""
    if not isinstance(value, dict):
        raise _fail(where, "spaces", value, KEYS["spaces"])
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
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise ExperimentError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(KEYS)})"
                              f"{_close(unknown[0], list(KEYS))}")
    for key in ("name", "tasks", "models", "optimizers", "budget_evals"):
        if key not in data:
            raise ExperimentError(f"{where}: missing key {key!r}: {KEYS[key]}")

    name = check_name(data["name"], where)
    tasks = _string_list(where, "tasks", data["tasks"])
    for ref in tasks:
        try:
            check_task_ref(ref)
        except HpoBenchError as exc:
            raise ExperimentError(f"{where}: tasks: {exc}") from None
    tasks = expand_task_refs(tasks)  # suites become their member tasks, so each run names one task
    models = _string_list(where, "models", data["models"])
    for model in models:
        try:
            get_model(model)
        except HpoBenchError as exc:
            raise ExperimentError(f"{where}: models: {exc}") from None

    raw_opts = data["optimizers"]
    if not isinstance(raw_opts, dict) or not raw_opts:
        raise _fail(where, "optimizers", raw_opts, "must be a table such as [optimizers] random = {}")
    optimizers = []
    for label, options in raw_opts.items():
        if not isinstance(options, dict):
            raise _fail(where, f"optimizers.{label}", options, "must be a table of options, e.g. {}")
        options = dict(options)
        served = options.pop("models", None)
        if served is not None:
            if (not isinstance(served, list) or not served or not all(isinstance(m, str) for m in served)
                    or len(set(served)) != len(served)):
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
        raise _fail(where, "optimizers", raw_opts, f"no optimizer runs model {orphans[0]!r}: give it one (an "
                    "optimizer without `models` runs every model)")

    budgets = _budgets(where, data["budget_evals"], models)
    seeds_value = data.get("seeds", 1)
    if isinstance(seeds_value, list):
        if (not seeds_value or len(seeds_value) > MAX_SEEDS or len(set(seeds_value)) != len(seeds_value)
                or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds_value)):
            raise _fail(where, "seeds", seeds_value, KEYS["seeds"])
        seeds = list(seeds_value)
    else:
        seeds = list(range(_positive_int(where, "seeds", seeds_value, limit=MAX_SEEDS)))
    metric = data.get("metric", DEFAULTS["metric"])
    if metric not in ALL_METRICS:
        raise _fail(where, "metric", metric, KEYS["metric"])
    include_default = data.get("include_default", DEFAULTS["include_default"])
    if not isinstance(include_default, bool):
        raise _fail(where, "include_default", include_default, KEYS["include_default"])
    defaults = data.get("defaults", DEFAULTS["defaults"])
    kinds = ["package", *DEFAULT_KINDS]
    if defaults not in kinds:
        raise _fail(where, "defaults", defaults, f"must be one of {kinds}")
    lacking = [m for m in models if defaults != "package" and defaults not in get_model(m).named_defaults()]
    if lacking:
        raise _fail(where, "defaults", defaults, f"model {lacking[0]!r} has no such default (only 'package')")
    spaces = _spaces(where, data.get("spaces", _NO_SPACES), models, base)
    space_kind = data.get("space", DEFAULTS["space"])
    if space_kind not in SPACE_KINDS:
        raise _fail(where, "space", space_kind, f"must be one of {list(SPACE_KINDS)}")
    if space_kind != "family":
        lacking = [m for m in models if m not in spaces and space_kind not in get_model(m).named_spaces()]
        if lacking:
            have = ", ".join(["family", *get_model(lacking[0]).named_spaces()])
            raise _fail(where, "space", space_kind, f"model {lacking[0]!r} has no such space (it has: {have})")
        # A [spaces] file names a model's space explicitly; the others take the named one.
        spaces = {**{m: get_model(m).space_of(space_kind) for m in models}, **spaces}
    families = {m: get_model(m).with_space(spaces[m]) if m in spaces else get_model(m) for m in models}
    configs = _configs(where, data.get("configs", {}), families)
    for model in models:
        needed = int(include_default) + len(configs.get(model, []))
        if budgets[model] < needed:
            raise _fail(where, "budget_evals", data["budget_evals"], f"{model} needs at least {needed} evaluations "
                        "per run: its default and listed configurations come first")
    tune = {model: expand_tune(data.get("tune", "all"), families[model], where, defaults) for model in models}
    time_limit_s = _positive_seconds(where, data, "time_limit_s")
    budget_seconds = _positive_seconds(where, data, "budget_seconds")
    executor = data.get("executor", "local")
    if executor not in EXECUTORS:
        raise _fail(where, "executor", executor, KEYS["executor"])
    if inline_time_limit_refused(executor, time_limit_s, tasks):
        raise _fail(where, "time_limit_s", time_limit_s, f'with executor = "inline": {INLINE_NO_TIME_LIMIT}')
    address = data.get("scheduler_address")
    if address is not None:
        if executor not in CLUSTER_EXECUTORS:
            raise _fail(where, "scheduler_address", address, "needs executor = \"dask\" or \"ray\"")
        check_scheduler_address(address, f"{where}: scheduler_address", executor)
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(where, "description", description, KEYS["description"])
    test = data.get("test", DEFAULTS["test"])
    if test not in TEST_MODES:
        raise _fail(where, "test", test, "must be " + KEYS["test"])
    test_fraction = data.get("test_fraction", DEFAULTS["test_fraction"])
    if (isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float))
            or not 0 < test_fraction <= 0.5):
        raise _fail(where, "test_fraction", test_fraction, "must be " + KEYS["test_fraction"])
    if "test_fraction" in data and test != "holdout":
        raise _fail(where, "test_fraction", test_fraction, 'needs test = "holdout"')
    seed_design = data.get("seed_design", DEFAULTS["seed_design"])
    if seed_design not in SEED_DESIGNS:
        raise _fail(where, "seed_design", seed_design, "must be " + KEYS["seed_design"])
    if seed_design == "crossed" and (isinstance(seeds_value, list) or not 2 <= len(seeds) <= MAX_CROSSED_LEVELS):
        raise _fail(where, "seeds", seeds_value, f"with seed_design = \"crossed\" must be a count of levels from 2 "
                    f"to {MAX_CROSSED_LEVELS} (k levels give k**3 repetitions)")
    exp = Experiment(
        name=name, tasks=tasks, models=models, optimizers=optimizers, budgets=budgets, seeds=seeds,
        cv_folds=_positive_int(where, "cv_folds", data.get("cv_folds", DEFAULTS["cv_folds"]), high=50, low=2),
        metric=metric,
        n_workers=_positive_int(where, "n_workers", data.get("n_workers", os.cpu_count() or 1), limit=MAX_WORKERS),
        include_default=include_default, defaults=defaults, configs=configs, spaces=spaces, tune=tune,
        time_limit_s=time_limit_s, budget_seconds=budget_seconds,
        executor=executor, scheduler_address=address, test=test, test_fraction=float(test_fraction),
        seed_design=seed_design, description=description, text=text, path=where,
        # The spaces files' content, not their paths: editing one makes another experiment, moving it does not.
        file_hash=content_hash({**data, "spaces": {m: sp.to_dict() for m, sp in spaces.items()}} if spaces else data),
    )
    if build_optimizers:  # last: every other key is checked, and this is the costliest check
        _build_optimizers(where, optimizers, families, budgets, tune, defaults)
    return exp


def _positive_seconds(where: str, data: Mapping[str, Any], key: str) -> float | None:
    """The optional number of seconds under `key`, as a float; None when absent."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise _fail(where, key, value, "must be " + KEYS[key])
    return float(value)


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
