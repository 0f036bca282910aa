"""Ray Tune's search algorithms behind our ask/tell protocol (the `ray` extra).

Each adapter drives Ray Tune's own search-algorithm layer (`ray.tune.search`) without a Tuner and
without `ray.init()`: a Searcher is a plain object whose `suggest(trial_id)` gives a configuration and
whose `on_trial_complete(trial_id, result)` takes the result. Our space goes through Ray Tune's search
space (`tune.uniform`, `tune.loguniform`, `tune.randint`, `tune.lograndint`, `tune.choice`), which Ray
Tune itself converts to the searcher's library (OptunaSearch, HyperOptSearch), so what is measured is
Ray Tune's layer at its defaults, seeded through the arguments Ray Tune documents (`random_state`,
`seed`, `random_state_seed`) from the run's seed. A failed or timed-out trial is told as Ray Tune tells
an errored trial, `on_trial_complete(trial_id, error=True)`, never with a made-up loss; a library that
raises is not replaced by anything else (see peers.py).

Conditions: Ray Tune's plain search spaces are flat; they have no conditions. A Ray Tune user whose
model has conditional hyperparameters writes every one of them into `param_space` and the trainable
ignores those its configuration makes inactive. That is what these adapters do: the searcher samples
every parameter of the space on every trial, and the adapter drops a child whose condition does not
hold before the configuration is evaluated or stored (the searcher still records the value it drew,
as it would under Ray Tune). Refusing conditional spaces instead would leave the Ray Tune searchers
unusable on most model families (XGBoost, SVM, MLP); Ray Tune's own ways around flat spaces (a
define-by-run function for OptunaSearch, a nested Hyperopt space for HyperOptSearch) bypass its search
space and would measure Optuna and Hyperopt themselves, which `optuna-tpe` and `hyperopt-tpe` already do.
"""

from __future__ import annotations

from typing import Any

from hpo_bench.errors import ExperimentError, OptimizerExhausted
from hpo_bench.optimizers.base import COMMON_OPTIONS, AwaitResults, Optimizer, Option, register
from hpo_bench.optimizers.peers import _need, _seed
from hpo_bench.space import Categorical, Float, Int, SearchSpace
from hpo_bench.trial import Suggestion, TrialResult

METRIC = "loss"  # the metric name the searchers are built with; mode "min"


def tune_space(space: SearchSpace, tune: Any) -> dict[str, Any]:
    """The space as a flat Ray Tune `param_space`, conditional parameters included (module docstring).

    Ray Tune's integer domains exclude their upper bound, ours include it: `randint(low, high + 1)`.
    """
    out: dict[str, Any] = {}
    for p in space.parameters:
        if "/" in p.name:  # Ray Tune flattens nested configurations with "/" and would split the name
            raise ExperimentError(f"Ray Tune optimizers: parameter name {p.name!r} contains '/', which Ray Tune "
                                  "reads as a nested configuration")
        if isinstance(p, Categorical):
            out[p.name] = tune.choice(list(p.choices))
        elif isinstance(p, Int):
            out[p.name] = tune.lograndint(p.low, p.high + 1) if p.log else tune.randint(p.low, p.high + 1)
        else:
            assert isinstance(p, Float)
            out[p.name] = tune.loguniform(p.low, p.high) if p.log else tune.uniform(p.low, p.high)
    return out


def active_config(space: SearchSpace, sampled: dict[str, Any], where: str) -> dict[str, Any]:
    """A flat Ray Tune sample as a configuration of our space: inactive children dropped, values typed
    (a float drawn on a log scale is clipped into its range: exp(log(high)) may round past it)."""
    config: dict[str, Any] = {}
    for p in space.parameters:
        if p.condition is not None and not p.condition.holds(config):
            continue
        value = sampled[p.name]
        if isinstance(p, Float):
            value = float(min(p.high, max(p.low, float(value))))
        config[p.name] = value
    return space.validate(config, where=where)


class _RayAdapter(Optimizer):
    library = "ray"
    requires = ("ray.tune",)

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        _need("ray.tune", self.name, extra="ray")
        from ray import tune

        self._param_space = tune_space(space, tune)
        self._n_asked = 0

    def _trial_id(self) -> str:
        trial_id = f"{self._n_asked:05d}"  # Ray Tune's ids end in a zero-padded counter too
        self._n_asked += 1
        return trial_id


@register
class RayRandom(_RayAdapter):
    name = "ray-random"
    adaptive = False
    summary = "Ray Tune's BasicVariantGenerator (random sampling of a flat param_space), seeded by its " \
              "random_state; extra `ray`"

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        import numpy as np
        from ray.tune.search.variant_generator import generate_variants

        self._generate = generate_variants
        # BasicVariantGenerator(random_state=s) draws every sample of a Tuner's run from one
        # np.random.default_rng(s), one `generate_variants(spec)` per sample (its _TrialIterator). That is
        # its sampling exactly, without the Experiment and Trial objects it wraps the samples in (building
        # those validates a storage directory, ~/ray_results by default: a write no optimizer may make).
        # tests/test_raytune.py checks that the plain BasicVariantGenerator asks the same.
        self._rng = np.random.default_rng(_seed(self))

    def ask(self) -> Suggestion:
        variants = self._generate({"config": self._param_space}, random_state=self._rng)
        _, spec = next(variants)
        trial_id = self._trial_id()
        config = active_config(self.space, spec["config"], f"{self.name}: trial {trial_id}")
        return Suggestion(config, info={"ray_trial_id": trial_id})


class _RaySearcher(_RayAdapter):
    """A Ray Tune Searcher given the flat param_space, metric "loss" and mode "min" as a Tuner gives them."""

    def _make_searcher(self, seed: int) -> Any:
        raise NotImplementedError

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        self.searcher = self._make_searcher(_seed(self))
        # What a Tuner does with its param_space: Ray Tune converts the space to the searcher's library.
        if not self.searcher.set_search_properties(METRIC, "min", self._param_space):
            raise RuntimeError(f"{self.name}: {type(self.searcher).__name__} refused the search space")
        self._pending: set[str] = set()

    def ask(self) -> Suggestion:
        from ray.tune.search import Searcher

        trial_id = f"{self._n_asked:05d}"
        sampled = self.searcher.suggest(trial_id)
        if sampled == Searcher.FINISHED:
            raise OptimizerExhausted(f"{self.name}: the searcher is finished")
        if sampled is None:  # Ray Tune's "nothing now, ask again once a trial completes"
            if self._pending:
                raise AwaitResults
            raise RuntimeError(f"{self.name}: the searcher suggested nothing with no trial pending")
        self._trial_id()
        self._pending.add(trial_id)
        config = active_config(self.space, sampled, f"{self.name}: trial {trial_id}")
        return Suggestion(config, info={"ray_trial_id": trial_id})

    def tell(self, suggestion: Suggestion, result: TrialResult) -> None:
        trial_id = suggestion.info["ray_trial_id"]
        self._pending.remove(trial_id)
        if result.ok:
            self.searcher.on_trial_complete(trial_id, result={METRIC: float(result.loss)})
        else:  # FAILED and TIMEOUT: as Ray Tune reports a trial that errored, with no result
            self.searcher.on_trial_complete(trial_id, error=True)


@register
class RayOptuna(_RaySearcher):
    name = "ray-optuna"
    requires = ("ray.tune", "optuna")
    summary = "Ray Tune's OptunaSearch, as `OptunaSearch(seed=...)` builds it (Optuna's TPESampler) " \
              "unless an option says otherwise; extra `ray`"
    options = {**COMMON_OPTIONS, "n_startup_trials": Option(None, "random trials before TPE: passes "
                                                                "TPESampler(seed=..., n_startup_trials=n) as the "
                                                                "sampler (default: OptunaSearch's own)", (int,))}

    def _make_searcher(self, seed):
        optuna = _need("optuna", self.name)
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial; changes no suggestion
        from ray.tune.search.optuna import OptunaSearch

        if self.n_startup_trials is None:
            more: dict[str, Any] = {"seed": seed}  # OptunaSearch builds TPESampler(seed=seed) itself
        else:
            self.check_option(self.n_startup_trials >= 0, "n_startup_trials", "must be >= 0")
            more = {"sampler": optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials)}
        return OptunaSearch(metric=METRIC, mode="min", **more)


@register
class RayHyperopt(_RaySearcher):
    name = "ray-hyperopt"
    requires = ("ray.tune", "hyperopt")
    summary = "Ray Tune's HyperOptSearch (Hyperopt's TPE), as `HyperOptSearch(random_state_seed=...)` builds " \
              "it unless an option says otherwise; extra `ray` and `peers`"
    options = {**COMMON_OPTIONS, "n_initial_points": Option(None, "random trials before TPE (default: "
                                                                "HyperOptSearch's own, 20)", (int,))}

    def _make_searcher(self, seed):
        if self.n_initial_points is not None:
            self.check_option(self.n_initial_points >= 0, "n_initial_points", "must be >= 0")
        _need("hyperopt", self.name)
        from ray.tune.search.hyperopt import HyperOptSearch

        more = {} if self.n_initial_points is None else {"n_initial_points": self.n_initial_points}
        return HyperOptSearch(metric=METRIC, mode="min", random_state_seed=seed, **more)


__all__ = ["METRIC", "RayHyperopt", "RayOptuna", "RayRandom", "active_config", "tune_space"]
