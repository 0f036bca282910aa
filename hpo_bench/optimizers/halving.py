"""Successive halving and Hyperband (Li et al. 2018) over a model family's fidelity.

What the fidelity means here: a rung's resource r (an integer between min_resources and
max_resources, as in scikit-learn's HalvingRandomSearchCV) is asked at fidelity r / max_resources, so
the evaluation fits the configuration with its fidelity parameter (n_estimators for XGBoost and random
forest) scaled to max(1, round(fidelity * value)). The last rung is at fidelity 1: the configuration as
sampled, so the best found is measured on full fits like every other optimizer's. The scheduler charges
each trial its fidelity, so a bracket of 27 candidates at 1/27, 9 at 3/27, 3 at 9/27 and 1 at 27/27
costs 4 full-fidelity evaluations.

Candidates are random draws from the space (HalvingRandomSearchCV's ParameterSampler equivalent);
brackets repeat with fresh candidates until the scheduler stops the run at its budget. Each trial's
`info` holds its bracket, rung, resource and candidate index, and a promoted candidate keeps its index,
so rungs and promotions can be read back from the store.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from hpo_bench.errors import ExperimentError
from hpo_bench.optimizers.base import COMMON_OPTIONS, AwaitResults, Optimizer, Option, register
from hpo_bench.trial import Suggestion, TrialResult


def halving_schedule(n_candidates: int, min_resources: int, max_resources: int, factor: float
                     ) -> tuple[list[int], list[int]]:
    """(candidates per rung, resource per rung) by scikit-learn's HalvingRandomSearchCV arithmetic.

    n_candidates = 0 means "exhaust" (max_resources // min_resources candidates); min_resources = 0
    means "exhaust" (the largest start whose last rung still fits under max_resources). Not both.
    Without aggressive elimination: as many rungs as both the candidates (down to fewer than `factor`)
    and the resources (up to max_resources) allow; each rung keeps ceil(n / factor) candidates.
    """
    if n_candidates == 0 and min_resources == 0:
        raise ExperimentError("halving: n_candidates and min_resources cannot both be 0 ('exhaust')")
    min_r = min_resources or 1
    n = n_candidates or max_resources // min_r
    required = 1 + math.floor(math.log(n, factor))
    if min_resources == 0:
        min_r = max(1, max_resources // factor ** (required - 1))
    possible = 1 + math.floor(math.log(max_resources // min_r, factor))
    counts, resources = [], []
    for itr in range(min(possible, required)):
        resources.append(min(int(factor**itr * min_r), max_resources))
        counts.append(n)
        n = math.ceil(n / factor)
    return counts, resources


def hyperband_brackets(max_resources: int, min_resources: int, factor: int) -> list[tuple[list[int], list[int]]]:
    """Hyperband's brackets s = s_max..0 (Li et al. 2018, Algorithm 1) in resource units.

    R = max_resources / min_resources; bracket s starts n = ceil((s_max + 1) / (s + 1) * eta^s)
    candidates at r = R eta^-s, and rung i keeps floor(n eta^-i) at r eta^i.
    """
    ratio = max_resources / min_resources
    s_max = math.floor(math.log(ratio, factor) + 1e-9)
    out = []
    for s in range(s_max, -1, -1):
        n = math.ceil((s_max + 1) / (s + 1) * factor**s)
        counts = [math.floor(n * factor ** (-i)) for i in range(s + 1)]
        resources = [round(max_resources * factor ** (i - s)) for i in range(s + 1)]
        out.append((counts, resources))
    return out


@dataclass
class _Bracket:
    index: int
    counts: list[int]
    resources: list[int]
    candidates: list[dict[str, Any]]
    rung: int = 0
    members: list[int] = field(default_factory=list)  # candidate indices in this rung, in ask order
    asked: int = 0
    losses: dict[int, float] = field(default_factory=dict)


class _Halving(Optimizer):
    """Common machinery: brackets of rungs, asked rung by rung; a rung is promoted once fully told."""

    multi_fidelity = True

    def _brackets(self) -> list[tuple[list[int], list[int]]]:
        raise NotImplementedError

    def _setup(self) -> None:
        self.check_option(isinstance(self.factor, int) and self.factor >= 2 or isinstance(self.factor, float)
                    and self.factor > 1, "factor", "must be > 1")
        self.check_option(self.max_resources >= 1, "max_resources", "must be >= 1")
        schedules = self._brackets()
        for _, resources in schedules:
            if resources[-1] != self.max_resources:
                raise ExperimentError(
                    f"optimizer {self.name!r}: with these settings the last rung gets resource {resources[-1]} "
                    f"< max_resources = {self.max_resources}, so no configuration would be evaluated at full "
                    "fidelity; raise n_candidates, or set min_resources = 0 ('exhaust')")
        self._schedules = schedules
        self._bracket: _Bracket | None = None
        self._n_brackets = 0

    def _new_bracket(self) -> _Bracket:
        counts, resources = self._schedules[self._n_brackets % len(self._schedules)]
        candidates = [self.space.sample(self.rng) for _ in range(counts[0])]
        bracket = _Bracket(self._n_brackets, counts, resources, candidates, members=list(range(counts[0])))
        self._n_brackets += 1
        return bracket

    def ask(self) -> Suggestion:
        b = self._bracket
        if b is None or (b.rung == len(b.counts) - 1 and len(b.losses) == len(b.members)):
            b = self._bracket = self._new_bracket()
        if b.asked == len(b.members):
            if len(b.losses) < len(b.members):
                raise AwaitResults(f"rung {b.rung} of bracket {b.index} needs its results before promotion")
            self._promote(b)
        cand = b.members[b.asked]
        b.asked += 1
        r = b.resources[b.rung]
        info = {"bracket": b.index, "rung": b.rung, "candidate": cand, "resource": r,
                "n_rung": len(b.members)}
        return Suggestion(dict(b.candidates[cand]), fidelity=r / self.max_resources, info=info)

    def _promote(self, b: _Bracket) -> None:
        # Failed trials rank last; ties keep ask order (sorted is stable), as scikit-learn's _top_k.
        keep = b.counts[b.rung + 1]
        ranked = sorted(b.members, key=lambda c: b.losses[c])
        b.rung += 1
        b.members, b.asked, b.losses = ranked[:keep], 0, {}

    def tell(self, suggestion: Suggestion, result: TrialResult) -> None:
        b = self._bracket
        info = suggestion.info
        if b is None or info["bracket"] != b.index or info["rung"] != b.rung:
            raise ValueError(f"tell of bracket {info['bracket']} rung {info['rung']} while bracket "
                             f"{b and b.index} is at rung {b and b.rung}")
        b.losses[info["candidate"]] = float(result.loss) if result.ok else math.inf


@register
class SuccessiveHalving(_Halving):
    name = "halving"
    summary = "successive halving of random candidates over the fidelity (HalvingRandomSearchCV arithmetic), " \
              "brackets repeated until the budget is spent"
    options = {
        **COMMON_OPTIONS,
        "n_candidates": Option(0, "candidates in the first rung; 0 = max_resources // min_resources", (int,)),
        "min_resources": Option(1, "resource of the first rung; 0 = the largest that still ends at "
                                   "max_resources", (int,)),
        "max_resources": Option(27, "resource of a full-fidelity fit; a rung at r runs at fidelity "
                                    "r / max_resources", (int,)),
        "factor": Option(3, "candidates kept per rung: ceil(n / factor); resource grows by factor", (int, float)),
    }

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        self.check_option(self.n_candidates >= 0, "n_candidates", "must be >= 0")
        self.check_option(0 <= self.min_resources <= self.max_resources, "min_resources",
                    f"must be in [0, max_resources = {self.max_resources}]")
        self._setup()

    def _brackets(self):
        return [halving_schedule(self.n_candidates, self.min_resources, self.max_resources, self.factor)]


@register
class Hyperband(_Halving):
    name = "hyperband"
    summary = "Hyperband (Li et al. 2018): successive-halving brackets from aggressive to none, cycled"
    options = {
        **COMMON_OPTIONS,
        "min_resources": Option(1, "smallest rung's resource", (int,)),
        "max_resources": Option(27, "resource of a full-fidelity fit (R); fidelity = r / max_resources", (int,)),
        "factor": Option(3, "eta: candidates kept per rung floor(n / eta), resource grows by eta", (int,)),
    }

    def __init__(self, space, *, seed, budget_evals, **options):
        super().__init__(space, seed=seed, budget_evals=budget_evals, **options)
        self.check_option(1 <= self.min_resources <= self.max_resources, "min_resources",
                    f"must be in [1, max_resources = {self.max_resources}]")
        self._setup()

    def _brackets(self):
        return hyperband_brackets(self.max_resources, self.min_resources, self.factor)
