"""SMAC3's facades behind our ask/tell protocol (the `smac` extra).

Each adapter builds one SMAC facade per run, with `target_function=None`, and drives its own ask/tell
machinery (`facade.ask()` gives a TrialInfo, `facade.tell(info, TrialValue(...))`); SMAC's components
are the facade's own (`get_model`, `get_initial_design`, `get_intensifier`, ...) unless an option,
shown in the label, says otherwise. The Scenario is built from our space (hpo_bench/configspace.py, so
conditions are kept), `deterministic=True` (a trial's loss is one averaged CV loss, evaluated once),
`seed` drawn from the run's seed, and `n_trials` from the run's budget (see each class).

Disk. SMAC writes its scenario, run history and intensifier state to `output_directory` (default
./smac3_output) when a facade is created and at every `tell`, and continues a run it finds there. Here
the facade is created in a fresh temporary directory, with `overwrite=True`, which is removed as soon as
the facade exists, and every tell passes `save=False`: nothing is written anywhere else and no run can
read another's output. Resuming is our replay, as for every optimizer. SMAC's logging set-up (which
reconfigures the root logger to print INFO to stdout) is not run (`logging_level=False`), and SMAC's
own loggers are set to WARNING.

Failures. A FAILED trial is told as StatusType.CRASHED, a TIMEOUT as StatusType.TIMEOUT, each with the
scenario's own `crash_cost` (SMAC's default, inf), which is what SMAC's runner records for a crashed or
timed-out target function. SMAC 2.4.1 itself cannot train its model on that cost: its run-history
encoders let inf through, the log-scaled encoder turns it into NaN, and the first model fit after a
crash raises "Input y contains NaN" (also inside SMAC's own `optimize`). SMAC fixed this upstream
(automl/SMAC3 PR #1312: non-finite costs are replaced with the maximum observed cost in
`runhistory.objective_bounds` when the model's data is encoded). Until a release with that fix is
pinned, `_finite_crash_costs` applies the same rule to the facade's own encoder class: the run history
keeps SMAC's crash cost, only the model's training targets see the worst successful cost; while no trial
has succeeded there is nothing finite to learn from, the crashed trials are left out of the model's
data and SMAC samples at random from its space, as it does with no data.

Batches. SMAC's intensifier tracks running trials, so asking again before a tell gives another trial
(SMAC's own parallel mode works this way); a batch is told in trial order, so a run is a function of
(space, seed, options, results told) whichever worker finishes first.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import math
import tempfile
import warnings
from typing import Any

from hpo_bench.configspace import from_configuration, to_configspace
from hpo_bench.errors import OptimizerExhausted
from hpo_bench.optimizers.base import COMMON_OPTIONS, Optimizer, Option, register
from hpo_bench.optimizers.peers import _need, _seed
from hpo_bench.trial import Suggestion, TrialResult, TrialState


def _finite_crash_costs(encoder_cls: type) -> type:
    """`encoder_cls` with SMAC's upstream rule for non-finite costs (PR #1312; see the module docstring)."""
    import numpy as np

    class FiniteCrashCosts(encoder_cls):  # type: ignore[misc, valid-type]
        def _build_matrix(self, trials, store_statistics=False):
            finite = {k: v for k, v in trials.items() if np.all(np.isfinite(np.asarray(v.cost, dtype=float)))}
            if len(finite) < len(trials):
                worst = self.runhistory.objective_bounds[0][1] if self.runhistory.objective_bounds else -np.inf
                if np.isfinite(worst):
                    trials = {k: v if k in finite else dataclasses.replace(v, cost=float(worst))
                              for k, v in trials.items()}
                else:  # nothing has succeeded yet: no cost to stand in for a crash
                    trials = finite
            return super()._build_matrix(trials, store_statistics=store_statistics)

    return FiniteCrashCosts


class _FirstSeen(dict):
    """A set that iterates in insertion order (the keys of a dict): what SMAC's local search needs to be
    a function of its seed alone."""

    def __init__(self, items: Any = ()) -> None:
        super().__init__(dict.fromkeys(items))

    def add(self, item: Any) -> None:
        self[item] = None


def _seeded_local_search() -> None:
    """Make SMAC's local search iterate its start points in the order its docstring gives.

    SMAC 2.4.1's LocalSearch collects its start points as `list(set(...))`: the order of a set of
    Configurations follows their hashes, which Python salts per process (PYTHONHASHSEED), and the local
    search draws from one random stream in that order. Two processes with the same seed then ask
    different configurations, and a run resumed in a new process replays into different trials
    (measured: tests/test_run.py's SIGKILL test). SMAC documents the list as "unique configurations
    only ... when reading from left to right, all but the first occurrence of a configuration are
    dropped"; `set` in that module is replaced by an insertion-ordered one, which is exactly that, the
    same start points in the documented order. Idempotent; it changes no other module.
    """
    from smac.acquisition.maximizer import local_search

    local_search.set = _FirstSeen  # the module's global name shadows the builtin for its own code only


class _SmacAdapter(Optimizer):
    """One SMAC facade per run, built in a temporary directory that is gone once it exists."""

    library = "smac"
    requires = ("smac",)
    facade_name: str  # the class in smac.facade
    component_options: dict[str, tuple[str, str]] = {}  # our option -> (facade getter, its keyword)

    def _n_trials(self) -> int:
        # SMAC counts trials; a trial here costs one full-fidelity evaluation, so the budget is the count.
        return max(1, math.floor(self.budget_evals + 1e-9))

    def _scenario_kwargs(self) -> dict[str, Any]:
        return {}

    def _fidelity(self, info: Any) -> float:
        return 1.0

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        if getattr(self, "n_configs", None) is not None:
            self.check_option(self.n_configs >= 0, "n_configs", "must be >= 0")
        self._check()
        smac = _need("smac", self.name, extra="smac")
        _seeded_local_search()
        from smac.runhistory.dataclasses import TrialValue
        from smac.runhistory.enumerations import StatusType

        self._TrialValue, self._Status = TrialValue, StatusType
        logging.getLogger("smac").setLevel(logging.WARNING)
        facade_cls = getattr(smac, self.facade_name)
        with tempfile.TemporaryDirectory(prefix="hpo-bench-smac-") as tmp:
            scenario = smac.Scenario(to_configspace(space), output_directory=tmp, deterministic=True,
                                     seed=_seed(self), n_trials=self._n_trials(), **self._scenario_kwargs())
            components: dict[str, Any] = {}
            getters: dict[str, dict[str, Any]] = {}
            for option, (getter, keyword) in self.component_options.items():
                if getattr(self, option) is not None:
                    getters.setdefault(getter, {})[keyword] = getattr(self, option)
            for getter, kwargs in getters.items():
                components[getter.removeprefix("get_")] = getattr(facade_cls, getter)(scenario, **kwargs)
            encoder = facade_cls.get_runhistory_encoder(scenario)  # the facade's own, as it builds it
            encoder.__class__ = _finite_crash_costs(type(encoder))
            components["runhistory_encoder"] = encoder
            self.facade = facade_cls(scenario, None, logging_level=False, overwrite=True, **components)
        self.scenario = scenario
        self._pending: dict[int, Any] = {}
        self._n_asked = 0

    def _check(self) -> None:
        """Refuse options SMAC would take without a word (a subclass adds its own)."""

    def ask(self) -> Suggestion:
        try:
            with warnings.catch_warnings():
                # SMAC's local search averages its own timings for a debug line, over an empty list when it
                # took no step: numpy's warnings about that mean say nothing about the search.
                warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
                warnings.filterwarnings("ignore", "invalid value encountered in scalar divide", RuntimeWarning)
                info = self.facade.ask()
        except StopIteration:  # SMAC's intensifier found no new trial: its space is exhausted
            raise OptimizerExhausted(f"{self.name}: SMAC's intensifier has no new trial to run") from None
        config = from_configuration(info.config)
        config = {p.name: config[p.name] for p in self.space.parameters if p.name in config}
        number = self._n_asked
        self._n_asked += 1
        self._pending[number] = info
        extra = {} if info.budget is None else {"smac_budget": float(info.budget)}
        return Suggestion(config, fidelity=self._fidelity(info), info={"smac_trial": number, **extra})

    def tell(self, suggestion: Suggestion, result: TrialResult) -> None:
        info = self._pending.pop(suggestion.info["smac_trial"])
        if result.ok:
            value = self._TrialValue(cost=float(result.loss))
        else:
            status = self._Status.TIMEOUT if result.state == TrialState.TIMEOUT else self._Status.CRASHED
            value = self._TrialValue(cost=self.scenario.crash_cost, status=status)
        self.facade.tell(info, value, save=False)


_CRASHES = "; crashes told at SMAC's crash cost, which SMAC 2.4.1's model cannot fit, encoded by SMAC's " \
           "upstream rule (automl/SMAC3 PR #1312); extra `smac`"
_N_CONFIGS = "configurations in SMAC's initial design (default: SMAC's own, {per} per hyperparameter, at most " \
             "n_trials / 4)"


@register
class SmacHPO(_SmacAdapter):
    name = "smac-hpo"
    summary = "SMAC3's HyperparameterOptimizationFacade (random forest, log EI, Sobol initial design) through " \
              "its ask/tell interface, at the facade's defaults unless an option says otherwise" + _CRASHES
    facade_name = "HyperparameterOptimizationFacade"
    # None: not passed, so the facade's own default (SMAC 2.4: 10 Sobol configurations per hyperparameter,
    # capped at n_trials * max_ratio = n_trials / 4, so 4 of a 16-evaluation run).
    options = {**COMMON_OPTIONS, "n_configs": Option(None, _N_CONFIGS.format(per=10), (int,))}
    component_options = {"n_configs": ("get_initial_design", "n_configs")}


@register
class SmacBB(_SmacAdapter):
    name = "smac-bb"
    summary = "SMAC3's BlackBoxFacade (Gaussian process, EI, Sobol initial design) through its ask/tell " \
              "interface, at the facade's defaults unless an option says otherwise" + _CRASHES
    facade_name = "BlackBoxFacade"
    # SMAC's GP is its own (smac.model.gaussian_process, on scikit-learn's kernels): no package beyond smac's
    # own requirements. Initial design: 8 Sobol configurations per hyperparameter, capped at n_trials / 4.
    options = {**COMMON_OPTIONS, "n_configs": Option(None, _N_CONFIGS.format(per=8), (int,))}
    component_options = {"n_configs": ("get_initial_design", "n_configs")}


@register
class SmacHB(_SmacAdapter):
    name = "smac-hb"
    summary = "SMAC3's MultiFidelityFacade (random forest, Hyperband intensifier) over the model's fidelity at " \
              "budget / max_budget, at the facade's defaults unless an option says otherwise (budgets 1 to 27: " \
              "SMAC has no default)" + _CRASHES
    facade_name = "MultiFidelityFacade"
    multi_fidelity = True
    # SMAC has no default budgets (a Scenario of the MultiFidelityFacade must set min_budget and max_budget).
    # Ours are those of our own Hyperband (min_resources = 1, max_resources = 27): SMAC's budgets 1, 3, 9, 27
    # (with SMAC's eta = 3) are asked at fidelities 1/27, 1/9, 1/3 and 1, the last the configuration as
    # sampled. Integer budgets, because SMAC counts the rungs as floor(log(max / min) / log(eta)) and a
    # float ratio such as 1 / (1/27) can fall just below a power of eta.
    options = {
        **COMMON_OPTIONS,
        "n_configs": Option(None, "configurations in SMAC's random initial design (default: SMAC's own, 10 per "
                                  "hyperparameter, at most n_trials / 4)", (int,)),
        "eta": Option(None, "Hyperband's eta (default: SMAC's own, 3)", (int,)),
        "min_budget": Option(1, "SMAC's smallest budget; a trial at budget b runs at fidelity b / max_budget "
                                "(SMAC has no default; ours is our Hyperband's 1 of 27)", (int, float)),
        "max_budget": Option(27, "SMAC's budget of a full-fidelity fit (SMAC has no default; ours is our "
                                 "Hyperband's 27)", (int, float)),
    }
    component_options = {"n_configs": ("get_initial_design", "n_configs"), "eta": ("get_intensifier", "eta")}

    def _check(self) -> None:
        self.check_option(self.max_budget > 0, "max_budget", "must be > 0")
        self.check_option(0 < self.min_budget <= self.max_budget, "min_budget",
                          f"must be in (0, max_budget = {self.max_budget}]")
        if self.eta is not None:
            self.check_option(self.eta >= 2, "eta", "must be >= 2")

    def _scenario_kwargs(self) -> dict[str, Any]:
        return {"min_budget": self.min_budget, "max_budget": self.max_budget}

    def _n_trials(self) -> int:
        # A trial here costs budget / max_budget of a full-fidelity evaluation, so SMAC's n_trials (which sizes
        # its initial design, at most n_trials / 4) is not the budget: it is SMAC's own conversion of the run's
        # budget, in SMAC's budget units (budget_evals * max_budget), into the number of Hyperband trials it
        # buys (smac.intensifier.hyperband_utils.get_n_trials_for_hyperband_multifidelity). The scheduler
        # still stops the run at its budget in full-fidelity evaluations.
        from smac.facade import MultiFidelityFacade
        from smac.intensifier.hyperband_utils import get_n_trials_for_hyperband_multifidelity

        eta = self.eta or inspect.signature(MultiFidelityFacade.get_intensifier).parameters["eta"].default
        n = get_n_trials_for_hyperband_multifidelity(self.budget_evals * self.max_budget, self.min_budget,
                                                     self.max_budget, eta, print_summary=False)
        return max(1, int(n))

    def _fidelity(self, info: Any) -> float:
        return min(1.0, float(info.budget) / self.max_budget)


__all__ = ["SmacBB", "SmacHB", "SmacHPO"]
