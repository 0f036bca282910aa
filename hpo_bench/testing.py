"""The contract every optimizer keeps, as checks a plugin's author runs on their own class.

The project's tests run exactly these on every built-in optimizer (tests/test_optimizers.py)::

    from hpo_bench.testing import check_optimizer
    check_optimizer(MyOptimizer)                                 # XGBoost's space, default options
    check_optimizer(MyOptimizer, space, {"radius": 0.2}, seeded=False)

Each check raises AssertionError saying what broke (no pytest needed: unittest or a plain script will
do). They drive the optimizer as the scheduler does (`drive`): suggestions asked one at a time or in
batches, a batch told in trial order once all of it is back, the budget counted in full-fidelity
evaluations, failed and timed-out trials told without a loss, and a resume replaying stored results to
a fresh optimizer of the same seed, which must ask exactly what it asked before. The losses come from a
cheap deterministic function of the configuration (`toy_loss`), not from fitting anything.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpo_bench.errors import ExperimentError, OptimizerExhausted
from hpo_bench.optimizers.base import COMMON_OPTIONS, AwaitResults, Optimizer, Option, optimizer_problem
from hpo_bench.space import SearchSpace, config_key
from hpo_bench.trial import Suggestion, TrialResult, TrialState

N_ASKS = 16  # trials per drive, and the budget of full-fidelity evaluations
METRIC = "1-auc"
History = list[tuple[Suggestion, TrialResult]]


def default_space() -> SearchSpace:
    """XGBoost's space: integer, log-scaled, categorical and conditional parameters (10 of them)."""
    from hpo_bench.models import MODELS

    return MODELS["xgboost"].space


def toy_loss(space: SearchSpace, config: Mapping[str, Any], fidelity: float) -> float:
    """A smooth deterministic loss on the unit-cube encoding, with its minimum inside the cube, worse at low
    fidelity."""
    unit = np.nan_to_num(space.encode(config), nan=0.3)
    return float(np.sum((unit - 0.6) ** 2) + 0.2 * (1.0 - fidelity))


def toy_result(space: SearchSpace, number: int, suggestion: Suggestion, fail_every: int = 3) -> TrialResult:
    """Trial `number`'s result: every `fail_every`-th fails (FAILED and TIMEOUT in turn, no loss); 0: none."""
    if fail_every and number % fail_every == fail_every - 1:
        state = TrialState.TIMEOUT if (number // fail_every) % 2 else TrialState.FAILED
        return TrialResult.failed(METRIC, "toy failure", state=state)
    return TrialResult(TrialState.COMPLETE, METRIC, loss=toy_loss(space, suggestion.config, suggestion.fidelity))


def keys(history: History) -> list[tuple[str, float]]:
    """What a resume compares: each trial's configuration (as stored) and fidelity."""
    return [(config_key(s.config), s.fidelity) for s, _ in history]


@dataclass
class Drive:
    """What `drive` saw: the trials in order, the batches (trial numbers told together), why it stopped."""

    history: History = field(default_factory=list)
    batches: list[list[int]] = field(default_factory=list)
    used: float = 0.0  # budget spent, in full-fidelity evaluations
    stop: str = "n_asks"  # "n_asks", "budget" or "exhausted"


def drive(optimizer: Optimizer, n_asks: int = N_ASKS, *, fail_every: int = 3, batch: int = 1,
          replay: History | None = None) -> History:
    """The scheduler's protocol in miniature; the trials, as (suggestion, result) in trial order.

    Up to `batch` suggestions are asked before any is told (AwaitResults closes a batch early), then the
    batch is told in trial order. The run stops after `n_asks` trials, when the next suggestion would
    overspend `optimizer.budget_evals` (counted in fidelities), or at OptimizerExhausted. `replay` is a
    stored history told back first, as a resume does: the same suggestions must come out of it.
    """
    return _drive(optimizer, n_asks, fail_every=fail_every, batch=batch, replay=replay).history


def _drive(opt: Optimizer, n_asks: int = N_ASKS, *, fail_every: int = 3, batch: int = 1,
           replay: History | None = None) -> Drive:
    out = Drive()
    pending: list[int] = []
    what = type(opt).__name__

    def flush() -> None:
        for number in pending:
            s, r = out.history[number]
            try:
                opt.tell(s, r)
            except Exception as exc:
                raise AssertionError(f"{what}: tell of trial {number} ({r.state}) raised {exc!r}") from exc
        if pending:
            out.batches.append(list(pending))
        pending.clear()

    while len(out.history) < n_asks:
        if len(pending) == batch:
            flush()
        number = len(out.history)
        try:
            s = opt.ask()
        except AwaitResults:
            if not pending:
                raise AssertionError(f"{what}: ask of trial {number} raised AwaitResults with nothing pending: "
                                     "no result can come that would let it go on") from None
            flush()
            continue
        except OptimizerExhausted:
            out.stop = "exhausted"
            break
        except Exception as exc:
            told = sum(len(b) for b in out.batches)
            failed = sum(out.history[n][1].state != TrialState.COMPLETE for b in out.batches for n in b)
            raise AssertionError(f"{what}: ask of trial {number} raised {exc!r} ({told} results told, {failed} of "
                                 f"them failed, {len(pending)} pending)") from exc
        if not isinstance(s, Suggestion):
            raise AssertionError(f"{what}: ask returned {s!r}, not an hpo_bench.optimizers.Suggestion")
        fidelity = s.fidelity
        if isinstance(fidelity, bool) or not isinstance(fidelity, (int, float)) or not 0.0 < fidelity <= 1.0:
            raise AssertionError(f"{what}: trial {number} asks fidelity {fidelity!r}, outside (0, 1]")
        if replay is not None and number < len(replay):
            old = replay[number][0]
            if (config_key(s.config), s.fidelity) != (config_key(old.config), old.fidelity):
                raise AssertionError(f"{what}: not a function of (space, seed, options, results told): replaying "
                                     f"{len(replay)} stored trials, trial {number} asks {s.config} at fidelity "
                                     f"{s.fidelity}, the first run asked {old.config} at {old.fidelity}")
            r = replay[number][1]
        else:
            if out.used + fidelity > opt.budget_evals + 1e-9:  # the scheduler stops the run here
                out.stop = "budget"
                break
            r = toy_result(opt.space, number, s, fail_every)
        out.used += fidelity
        out.history.append((s, r))
        pending.append(number)
    flush()
    return out


def _make(cls: type[Optimizer], space: SearchSpace, seed: int, options: Mapping[str, Any] | None,
          budget: float = N_ASKS, **more: Any) -> Optimizer:
    return cls(space, seed=seed, budget_evals=budget, **{**(options or {}), **more})


def _first_difference(a: History, b: History) -> str:
    ka, kb = keys(a), keys(b)
    for i, (x, y) in enumerate(zip(ka, kb, strict=False)):
        if x != y:
            return f"trial {i}: {x[0]} at {x[1]} against {y[0]} at {y[1]}"
    return f"{len(ka)} trials against {len(kb)}"


def check_class(cls: type[Optimizer], space: SearchSpace | None = None, options: Mapping[str, Any] | None = None
                ) -> None:
    """The class itself: an Optimizer subclass with its metadata, typed options, and a constructor that
    refuses unknown options and a bad batch_size (it calls Optimizer.__init__)."""
    space = default_space() if space is None else space
    problem = optimizer_problem(cls)
    if problem:
        raise AssertionError(f"{cls!r}: {problem}")
    what = cls.__name__
    for attr, kinds in (("name", (str,)), ("summary", (str,)), ("adaptive", (bool,)), ("multi_fidelity", (bool,)),
                        ("library", (str, type(None)))):
        if not isinstance(getattr(cls, attr, None), kinds):
            raise AssertionError(f"{what}.{attr} = {getattr(cls, attr, None)!r} must be "
                                 f"{' or '.join(k.__name__ for k in kinds)}")
    missing = set(COMMON_OPTIONS) - set(cls.options)
    if missing:
        raise AssertionError(f"{what}.options lacks the common options {sorted(missing)}")
    for key, opt in cls.options.items():
        if not isinstance(opt, Option):
            raise AssertionError(f"{what}.options[{key!r}] is {opt!r}, not an Option")
        if opt.default is None and not opt.types:
            raise AssertionError(f"{what}.options[{key!r}]: a default of None needs `types` (what may be given)")
        if opt.default is not None:
            try:
                opt.check(what, key, opt.default)
            except ExperimentError as exc:
                raise AssertionError(f"{what}.options[{key!r}]: its default fails its own type: {exc}") from None
    opt = _make(cls, space, 0, options)
    for attr in ("space", "rng", "batch_size", "budget_evals"):
        if not hasattr(opt, attr):
            raise AssertionError(f"{what}: an instance has no {attr!r}: does __init__ call super().__init__?")
    for bad, rule in (({"__no_such_option__": 1}, "an unknown option"), ({"batch_size": 0}, "batch_size = 0")):
        try:
            _make(cls, space, 0, options, **bad)
        except ExperimentError:
            continue
        raise AssertionError(f"{what}: the constructor accepts {rule} (it must raise ExperimentError; does it "
                             "pass **options to super().__init__?)")


def check_suggestions(cls: type[Optimizer], space: SearchSpace | None = None, options: Mapping[str, Any] | None = None,
                      seed: int = 1) -> History:
    """Suggestions are valid configurations of the space (every active parameter, no inactive one, values in
    range), survive the store's JSON round trip, ask fidelity 1 unless the class is `multi_fidelity`, and
    the optimizer takes failed and timed-out results. Returns the drive's trials."""
    space = default_space() if space is None else space
    what = cls.__name__
    history = drive(_make(cls, space, seed, options))
    if not history:
        raise AssertionError(f"{what}: asked nothing within a budget of {N_ASKS} evaluations")
    for number, (s, _) in enumerate(history):
        if not isinstance(s.config, dict) or not isinstance(s.info, dict):
            raise AssertionError(f"{what}: trial {number}: config and info must be dicts, got {s.config!r}, "
                                 f"{s.info!r}")
        try:
            clean = space.validate(s.config, where=f"{what}: trial {number}")
        except Exception as exc:
            raise AssertionError(str(exc)) from None
        # The store keeps config_key(config); a resume compares what is asked again with it.
        stored = json.loads(config_key(s.config))
        if clean != s.config or config_key(stored) != config_key(s.config):
            raise AssertionError(f"{what}: trial {number}: {s.config} does not survive the store's JSON round trip")
        if not cls.multi_fidelity and s.fidelity != 1.0:
            raise AssertionError(f"{what}: trial {number} asks fidelity {s.fidelity}, but the class is not "
                                 "multi_fidelity (set multi_fidelity = True to ask fidelities below 1)")
    return history


def check_determinism(cls: type[Optimizer], space: SearchSpace | None = None,
                      options: Mapping[str, Any] | None = None, seed: int = 1) -> None:
    """The same seed asks the same, whatever the global random state (numpy's and Python's) holds."""
    space = default_space() if space is None else space
    saved = np.random.get_state(), random.getstate()
    try:
        runs = []
        for salt in (11, 12):  # an optimizer drawing from the global streams gives itself away here
            np.random.seed(salt)
            random.seed(salt)
            runs.append(drive(_make(cls, space, seed, options)))
    finally:
        np.random.set_state(saved[0])
        random.setstate(saved[1])
    if keys(runs[0]) != keys(runs[1]):
        raise AssertionError(f"{cls.__name__}: seed {seed} asked differently on a second run "
                             f"({_first_difference(*runs)}); draw from self.rng (np.random.default_rng(seed)), "
                             "never from global random state")


def check_seeds_matter(cls: type[Optimizer], space: SearchSpace | None = None,
                       options: Mapping[str, Any] | None = None) -> None:
    """Two seeds ask differently (skip with `seeded=False` in check_optimizer for a strategy that ignores
    its seed, such as an unshuffled grid)."""
    space = default_space() if space is None else space
    if keys(drive(_make(cls, space, 1, options))) == keys(drive(_make(cls, space, 2, options))):
        raise AssertionError(f"{cls.__name__}: seeds 1 and 2 asked the same {N_ASKS} trials: the seed is not used")


def check_replay(cls: type[Optimizer], space: SearchSpace | None = None, options: Mapping[str, Any] | None = None,
                 seed: int = 1) -> None:
    """Resume by replay: a fresh optimizer of the same seed, told the first half of a run's results,
    asks those trials again and then goes on exactly as the uninterrupted run did."""
    space = default_space() if space is None else space
    first = drive(_make(cls, space, seed, options))
    resumed = drive(_make(cls, space, seed, options), n_asks=len(first), replay=first[: len(first) // 2])
    if keys(resumed) != keys(first):
        raise AssertionError(f"{cls.__name__}: after a resume at trial {len(first) // 2} the run went on differently "
                             f"({_first_difference(resumed, first)})")


def check_batches(cls: type[Optimizer], space: SearchSpace | None = None, options: Mapping[str, Any] | None = None,
                  seed: int = 1, batch: int = 3) -> None:
    """With batch_size = 3: suggestions asked before any result is back are distinct, the run is
    reproducible, and a resume that cuts a batch in two asks the same."""
    space = default_space() if space is None else space
    what = cls.__name__
    first = _drive(_make(cls, space, seed, options, batch_size=batch), batch=batch)
    again = _drive(_make(cls, space, seed, options, batch_size=batch), batch=batch)
    if keys(first.history) != keys(again.history):
        raise AssertionError(f"{what}: batch_size = {batch} is not reproducible "
                             f"({_first_difference(first.history, again.history)})")
    for numbers in first.batches:
        asked = [keys(first.history)[n] for n in numbers]
        if len(set(asked)) != len(asked):
            raise AssertionError(f"{what}: batch of trials {numbers} asks the same configuration twice: {asked}")
    cut = min(len(first.history) - 1, batch * 2 + 1)  # inside the third batch
    resumed = drive(_make(cls, space, seed, options, batch_size=batch), n_asks=len(first.history), batch=batch,
                    replay=first.history[:cut])
    if keys(resumed) != keys(first.history):
        raise AssertionError(f"{what}: batch_size = {batch}: after a resume at trial {cut} the run went on "
                             f"differently ({_first_difference(resumed, first.history)})")


def check_only_failures(cls: type[Optimizer], space: SearchSpace | None = None,
                        options: Mapping[str, Any] | None = None, seed: int = 1) -> None:
    """A run whose every trial fails (a model that cannot fit this data) goes on asking to its budget: no
    loss to learn from is no reason to raise."""
    space = default_space() if space is None else space
    _drive(_make(cls, space, seed, options), fail_every=1)


def check_budget(cls: type[Optimizer], space: SearchSpace | None = None, options: Mapping[str, Any] | None = None,
                 seed: int = 1) -> None:
    """The optimizer works at the smallest budget (one evaluation), and driven until the budget (counted in
    fidelities) stops it, it keeps suggesting until that budget is spent, unless it raises
    OptimizerExhausted."""
    space = default_space() if space is None else space
    for budget in (1, 6):
        run = _drive(_make(cls, space, seed, options, budget=budget), n_asks=1000)
        if run.stop == "n_asks":
            raise AssertionError(f"{cls.__name__}: {len(run.history)} trials spent only {run.used:g} of a budget of "
                                 f"{budget} evaluations")


def check_optimizer(cls: type[Optimizer], space: SearchSpace | None = None, options: Mapping[str, Any] | None = None,
                    *, seeded: bool = True) -> History:
    """Every check above, on `space` (default: XGBoost's) with `options`; returns the trials of a drive with
    seed 1, for checks of one's own. `seeded = False` for a strategy whose suggestions ignore the seed."""
    space = default_space() if space is None else space
    _make(cls, space, 0, options)  # a missing library or a refused space says so first, as itself
    check_class(cls, space, options)
    history = check_suggestions(cls, space, options)
    check_determinism(cls, space, options)
    if seeded:
        check_seeds_matter(cls, space, options)
    check_replay(cls, space, options)
    check_batches(cls, space, options)
    check_only_failures(cls, space, options)
    check_budget(cls, space, options)
    return history


__all__ = ["METRIC", "N_ASKS", "History", "check_batches", "check_budget", "check_class", "check_determinism",
           "check_only_failures", "check_optimizer", "check_replay", "check_seeds_matter", "check_suggestions",
           "default_space", "drive", "keys", "toy_loss", "toy_result"]
