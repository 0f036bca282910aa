"""Successive halving and Hyperband: rungs, fidelities and promotions against their references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import randint
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingRandomSearchCV
from sklearn.tree import DecisionTreeClassifier

from hpo_bench.errors import ExperimentError
from hpo_bench.models import MODELS
from hpo_bench.optimizers import AwaitResults, get_optimizer
from hpo_bench.optimizers.halving import hyperband_brackets
from hpo_bench.trial import TrialResult, TrialState

SPACE = MODELS["xgboost"].space


def sklearn_rungs(n_candidates, min_resources, max_resources, factor, iris):
    """What scikit-learn's HalvingRandomSearchCV does for these settings: candidates and resource per rung.

    The resource is a decision tree's max_leaf_nodes offset by one (it must be >= 2), so any integer
    resource from 1 up is allowed; the arithmetic does not depend on the estimator.
    """
    class Tree(DecisionTreeClassifier):
        def __init__(self, max_leaf_nodes=None, min_samples_split=2, random_state=0):
            super().__init__(max_leaf_nodes=max_leaf_nodes, min_samples_split=min_samples_split,
                             random_state=random_state)

        def fit(self, X, y):
            saved = self.max_leaf_nodes
            self.max_leaf_nodes = saved + 1
            try:
                return super().fit(X, y)
            finally:
                self.max_leaf_nodes = saved

    search = HalvingRandomSearchCV(
        Tree(), {"min_samples_split": randint(2, 40)}, resource="max_leaf_nodes",
        n_candidates="exhaust" if n_candidates == 0 else n_candidates,
        min_resources="exhaust" if min_resources == 0 else min_resources, max_resources=max_resources,
        factor=factor, cv=2, random_state=0)
    search.fit(iris.X.to_numpy(), iris.y)
    return list(search.n_candidates_), list(search.n_resources_)


def run_brackets(opt, n_brackets: int, losses) -> list[list[dict]]:
    """Ask/tell rung by rung (the scheduler with batch_size = a rung); the trials of each bracket."""
    brackets: list[list[dict]] = []
    pending: list = []
    while True:
        try:
            s = opt.ask()
        except AwaitResults:
            for s2 in pending:
                opt.tell(s2, losses(s2))
            pending.clear()
            continue
        if s.info["bracket"] >= n_brackets:
            return brackets
        if s.info["bracket"] == len(brackets):
            brackets.append([])
            pending = []
        brackets[-1].append({**s.info, "fidelity": s.fidelity, "config": s.config})
        pending.append(s)


@pytest.mark.parametrize("n_candidates, min_resources, max_resources, factor", [
    (0, 1, 27, 3),    # the defaults: 27 candidates, resources 1, 3, 9, 27
    (20, 0, 81, 3),   # min_resources = "exhaust"
    (10, 0, 64, 2),
    (0, 2, 32, 2),
    (7, 0, 100, 4),
])
def test_rungs_match_scikit_learn(iris, n_candidates, min_resources, max_resources, factor):
    want_counts, want_resources = sklearn_rungs(n_candidates, min_resources, max_resources, factor, iris)
    opt = get_optimizer("halving")(SPACE, seed=0, budget_evals=100, batch_size=1000, n_candidates=n_candidates,
                                   min_resources=min_resources, max_resources=max_resources, factor=factor)
    rng = np.random.default_rng(0)
    told: dict = {}

    def loss(s):
        key = (s.info["candidate"], s.info["rung"])
        told[key] = float(rng.random())
        return TrialResult(TrialState.COMPLETE, "1-auc", loss=told[key])

    (bracket,) = run_brackets(opt, 1, loss)
    rungs = sorted({t["rung"] for t in bracket})
    counts = [sum(t["rung"] == r for t in bracket) for r in rungs]
    fidelities = [sorted({t["fidelity"] for t in bracket if t["rung"] == r}) for r in rungs]
    assert counts == want_counts
    assert fidelities == [[r / max_resources] for r in want_resources]
    assert fidelities[-1] == [1.0]
    # promotions: each rung keeps the best ceil(n / factor) of the previous one, by the loss told
    for r in rungs[1:]:
        previous = {t["candidate"]: told[(t["candidate"], r - 1)] for t in bracket if t["rung"] == r - 1}
        best = sorted(previous, key=previous.get)[: counts[r]]
        assert [t["candidate"] for t in bracket if t["rung"] == r] == best
        assert counts[r] == math.ceil(counts[r - 1] / factor)


def test_settings_whose_last_rung_is_not_full_fidelity_are_refused(iris):
    # scikit-learn stops at resource 9 of 27 here (10 candidates run out first): no full-fidelity fit
    _, resources = sklearn_rungs(10, 1, 27, 3, iris)
    assert resources[-1] < 27
    with pytest.raises(ExperimentError, match="last rung gets resource 9 < max_resources = 27"):
        get_optimizer("halving")(SPACE, seed=0, budget_evals=10, n_candidates=10, min_resources=1, max_resources=27)


def test_failed_trials_are_never_promoted():
    opt = get_optimizer("halving")(SPACE, seed=0, budget_evals=100, batch_size=100)

    def loss(s):
        if s.info["candidate"] % 2 == 0:
            return TrialResult.failed("1-auc", "boom")
        return TrialResult(TrialState.COMPLETE, "1-auc", loss=1.0 / (1 + s.info["candidate"]))

    (bracket,) = run_brackets(opt, 1, loss)
    promoted = [t["candidate"] for t in bracket if t["rung"] == 1]
    assert promoted == [25, 23, 21, 19, 17, 15, 13, 11, 9]  # odd candidates, lowest loss first


def test_hyperband_brackets_follow_the_paper():
    # Li et al. 2018, Table 1 (R = 81, eta = 3): (n_i, r_i) per bracket s = 4..0
    table = [([81, 27, 9, 3, 1], [1, 3, 9, 27, 81]), ([34, 11, 3, 1], [3, 9, 27, 81]), ([15, 5, 1], [9, 27, 81]),
             ([8, 2], [27, 81]), ([5], [81])]
    assert hyperband_brackets(81, 1, 3) == table
    opt = get_optimizer("hyperband")(SPACE, seed=0, budget_evals=1000, batch_size=1000, max_resources=81)
    brackets = run_brackets(opt, 6, lambda s: TrialResult(TrialState.COMPLETE, "1-auc", loss=float(
        s.info["candidate"])))
    for trials, (counts, resources) in zip(brackets, table + table[:1], strict=True):
        rungs = sorted({t["rung"] for t in trials})
        assert [sum(t["rung"] == r for t in trials) for r in rungs] == counts
        assert [trials[[t["rung"] for t in trials].index(r)]["fidelity"] for r in rungs] == [x / 81 for x in resources]
