"""Adapters for other libraries' optimizers behind our ask/tell protocol (the `peers` extra).

Each adapter drives the library's own ask/tell machinery, seeded from the run's seed; a failed trial is
told as failed (Optuna's TrialState.FAIL, Hyperopt's STATUS_FAIL), never with a made-up loss. If the
library raises, the exception propagates and the scheduler records the run as crashed: an adapter never
falls back to another strategy. The libraries are imported when an adapter is created, so the core
package works without them. A space an adapter cannot search (Hyperopt: a condition on an integer parent;
CMA-ES: fewer than two unconditional numeric parameters) is refused by its constructor, which the
experiment file runs on every space before anything is written.
"""

from __future__ import annotations

import math
from typing import Any

from hpo_bench.errors import ExperimentError
from hpo_bench.optimizers.base import COMMON_OPTIONS, Optimizer, Option, register
from hpo_bench.space import Categorical, Float, Int, SearchSpace
from hpo_bench.trial import Suggestion, TrialResult


def _need(module: str, optimizer: str, extra: str = "peers") -> Any:
    """`module` imported, or ExperimentError naming the package and the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        hint = "pip install torch" if module == "torch" else f'pip install "hpo-bench[{extra}]"'
        raise ExperimentError(f"optimizer {optimizer!r} needs the package {module.split('.')[0]!r}: {hint}") from None


def _set_options(optimizer: Optimizer, names: tuple[str, ...]) -> dict[str, Any]:
    """The options the experiment file set (not None): only those are passed, the rest are the library's."""
    return {name: getattr(optimizer, name) for name in names if getattr(optimizer, name) is not None}


def _seed(optimizer: Optimizer) -> int:
    return int(optimizer.rng.integers(2**31 - 1))


# -- Optuna -----------------------------------------------------------------------------------------
class _OptunaAdapter(Optimizer):
    """One in-memory Optuna study per run; the space is asked define-by-run, so conditions hold."""

    library = "optuna"
    requires = ("optuna",)

    def _make_sampler(self, optuna: Any, seed: int) -> Any:
        raise NotImplementedError

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        # Optuna accepts a negative count of start-up trials without a word.
        if getattr(self, "n_startup_trials", None) is not None:
            self.check_option(self.n_startup_trials >= 0, "n_startup_trials", "must be >= 0")
        optuna = _need("optuna", self.name)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial
        self._optuna = optuna
        self.study = optuna.create_study(direction="minimize", sampler=self._make_sampler(optuna, _seed(self)))
        self._trials: dict[int, Any] = {}

    def ask(self) -> Suggestion:
        trial = self.study.ask()
        config: dict[str, Any] = {}
        for p in self.space.parameters:
            if p.condition is not None and not p.condition.holds(config):
                continue  # define-by-run: an inactive parameter is never suggested
            if isinstance(p, Categorical):
                config[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif isinstance(p, Int):
                config[p.name] = int(trial.suggest_int(p.name, p.low, p.high, log=p.log))
            else:
                config[p.name] = float(trial.suggest_float(p.name, p.low, p.high, log=p.log))
        self._trials[trial.number] = trial
        return Suggestion(config, info={"optuna_trial": trial.number})

    def tell(self, suggestion: Suggestion, result: TrialResult) -> None:
        trial = self._trials.pop(suggestion.info["optuna_trial"])
        if result.ok:
            self.study.tell(trial, float(result.loss))
        else:
            self.study.tell(trial, state=self._optuna.trial.TrialState.FAIL)


@register
class OptunaTPE(_OptunaAdapter):
    name = "optuna-tpe"
    summary = "Optuna's TPESampler, as `TPESampler(seed=...)` builds it unless an option says otherwise; extra `peers`"
    # None: the option is not passed, so the sampler runs at the installed Optuna's own default (in Optuna 5,
    # multivariate TPE with the constant liar for single-objective studies). A comparison against a peer in
    # a setting of our choosing would not be a comparison with that peer; a non-default setting is an
    # option, and so visible in the label the experiment file gives it.
    options = {
        **COMMON_OPTIONS,
        "multivariate": Option(None, "Optuna's multivariate TPE (default: Optuna's own)", (bool,)),
        "group": Option(None, "group decomposition of conditional spaces, needs multivariate (default: Optuna's)",
                        (bool,)),
        "constant_liar": Option(None, "constant liar for pending trials (default: Optuna's own)", (bool,)),
        "n_startup_trials": Option(None, "random trials before TPE (default: Optuna's own, 10)", (int,)),
    }

    def _make_sampler(self, optuna, seed):
        return optuna.samplers.TPESampler(seed=seed, **_set_options(self, ("multivariate", "group", "constant_liar",
                                                                           "n_startup_trials")))


@register
class OptunaGP(_OptunaAdapter):
    name = "optuna-gp"
    requires = ("optuna", "torch")
    summary = "Optuna's GPSampler; parameters outside its joint space (conditional ones) are drawn by " \
              "Optuna's independent (random) sampler; extra `peers`"
    options = {**COMMON_OPTIONS, "n_startup_trials": Option(None, "random trials before the GP (default: Optuna's "
                                                                "own, 10)", (int,))}

    def __init__(self, space, *, seed, budget_evals, **options):
        # Optuna's GPSampler is written in PyTorch, which the `peers` extra does not pull in (a CPU
        # wheel is hundreds of MB); say so at creation rather than crash the run at its first model ask.
        _need("torch", self.name)
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)

    def _make_sampler(self, optuna, seed):
        # warn_independent_sampling only silences a log line per trial; it changes no suggestion.
        return optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False,
                                         **_set_options(self, ("n_startup_trials",)))


@register
class OptunaCmaEs(_OptunaAdapter):
    name = "optuna-cmaes"
    requires = ("optuna", "cmaes")
    summary = "Optuna's CmaEsSampler on the always-active numeric parameters; categorical and conditional " \
              "ones are drawn by Optuna's independent (random) sampler; extra `peers`"
    options = {**COMMON_OPTIONS, "n_startup_trials": Option(None, "independent trials before CMA-ES (default: "
                                                                "Optuna's own, 1)", (int,))}

    def __init__(self, space, *, seed, budget_evals, **options):
        # CMA-ES models continuous (and integer) coordinates only. Optuna leaves every categorical, and
        # every parameter absent from some trials (a condition), to its independent sampler; that is
        # Optuna's documented behaviour and is what this adapter measures. A space with nothing for
        # CMA-ES to model would be random search under another name, so it is refused.
        modelled = [p for p in space.parameters if not isinstance(p, Categorical) and p.condition is None]
        if len(modelled) < 2:
            raise ExperimentError(f"optimizer {self.name!r}: CMA-ES needs at least two unconditional numeric "
                                  f"parameters, the space has {len(modelled)}")
        _need("cmaes", self.name)  # Optuna's CMA-ES is the `cmaes` package (in the `peers` extra)
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)

    def _make_sampler(self, optuna, seed):
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False,
                                            **_set_options(self, ("n_startup_trials",)))


# -- Hyperopt ---------------------------------------------------------------------------------------
def hyperopt_space(space: SearchSpace, hp: Any) -> dict[str, Any]:
    """The space as Hyperopt expressions; conditions become hp.choice branches holding their children.

    Each branch of a parent's choice is a dict {parent: value, **children active under that value}.
    Hyperopt labels must be unique, so a child that lives in several branches is labelled
    "child@parent=value" in each; `flatten` undoes the nesting and the labels.
    """
    children: dict[str, list] = {}
    for p in space.parameters:
        if p.condition is not None:
            parent = space[p.condition.parent]
            if not isinstance(parent, Categorical):
                raise ExperimentError(f"optimizer 'hyperopt-tpe': parameter {p.name!r} is conditioned on the "
                                      f"numeric parameter {parent.name!r}; only choices can branch in Hyperopt")
            children.setdefault(parent.name, []).append(p)

    def expr(p, suffix: str) -> Any:
        label = p.name + suffix
        if isinstance(p, Categorical):
            if p.name in children:
                branches = []
                for value in p.choices:
                    tag = f"{suffix}@{p.name}={value}"
                    branch = {p.name: value}
                    for child in children[p.name]:
                        if value in child.condition.values:
                            branch[child.name] = expr(child, tag if len(child.condition.values) > 1 else suffix)
                    branches.append(branch)
                return hp.choice(label, branches)
            return hp.choice(label, list(p.choices))
        if isinstance(p, Int):
            # An integer's cell is [v - 0.5, v + 0.5] on its scale, as in our encoding; rounded and clipped.
            if p.log:
                return hp.qloguniform(label, math.log(p.low - 0.5 if p.low > 0.5 else p.low), math.log(p.high + 0.5),
                                      1)
            return hp.quniform(label, p.low - 0.5, p.high + 0.5, 1)
        assert isinstance(p, Float)
        return hp.loguniform(label, math.log(p.low), math.log(p.high)) if p.log else hp.uniform(label, p.low, p.high)

    return {p.name: expr(p, "") for p in space.parameters if p.condition is None}


def flatten(space: SearchSpace, value: Any) -> dict[str, Any]:
    """A Hyperopt sample (nested branch dicts) as one flat configuration of our space, typed and clipped."""
    flat: dict[str, Any] = {}

    def walk(node: Any, key: str | None) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, k)
        elif key is not None:
            flat[key] = node

    walk(value, None)
    config: dict[str, Any] = {}
    for p in space.parameters:
        if p.name not in flat:
            continue
        v = flat[p.name]
        if isinstance(p, Int):
            v = int(min(p.high, max(p.low, round(float(v)))))
        elif isinstance(p, Float):
            v = float(min(p.high, max(p.low, float(v))))
        config[p.name] = v
    return config


@register
class HyperoptTPE(Optimizer):
    name = "hyperopt-tpe"
    library = "hyperopt"
    requires = ("hyperopt",)
    summary = "Hyperopt's tpe.suggest through its Trials/Domain machinery, conditions as hp.choice branches; " \
              "extra `peers`"
    options = {**COMMON_OPTIONS, "n_startup_jobs": Option(20, "random trials before TPE (Hyperopt's default)",
                                                          (int,))}

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        self.check_option(self.n_startup_jobs >= 0, "n_startup_jobs", "must be >= 0")
        hyperopt = _need("hyperopt", self.name)
        self._h = hyperopt
        self._expr = hyperopt_space(space, hyperopt.hp)
        self.trials = hyperopt.Trials()
        # The objective is never called: results come back through `tell`.
        self.domain = hyperopt.base.Domain(lambda config: 0.0, self._expr)
        self._docs: dict[int, dict] = {}

    def ask(self) -> Suggestion:
        from hyperopt import tpe

        new_id = self.trials.new_trial_ids(1)[0]
        docs = tpe.suggest([new_id], self.domain, self.trials, _seed(self), n_startup_jobs=self.n_startup_jobs)
        self.trials.insert_trial_docs(docs)
        self.trials.refresh()
        doc = docs[0]
        vals = {k: v[0] for k, v in doc["misc"]["vals"].items() if len(v)}
        config = flatten(self.space, self._h.space_eval(self._expr, vals))
        self._docs[new_id] = doc
        return Suggestion(config, info={"hyperopt_tid": new_id})

    def tell(self, suggestion: Suggestion, result: TrialResult) -> None:
        doc = self._docs.pop(suggestion.info["hyperopt_tid"])  # the very document Trials holds
        if result.ok:
            doc["result"] = {"status": self._h.STATUS_OK, "loss": float(result.loss)}
        else:
            doc["result"] = {"status": self._h.STATUS_FAIL}
        doc["state"] = self._h.JOB_STATE_DONE
        self.trials.refresh()
