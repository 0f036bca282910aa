"""A model family for tests, importable by the worker processes as "families:FAILING_LOGREG".

Logistic regression with C drawn from [-1, 1]: scikit-learn rejects C <= 0 inside `fit`, so about half
of the random configurations fail for real, in the library, without any mock.
"""

from __future__ import annotations

from hpo_bench.models.base import ModelFamily
from hpo_bench.space import Float, SearchSpace


class FailingLogReg(ModelFamily):
    name = "failing_logreg"
    library = "sklearn.linear_model.LogisticRegression"
    needs_scaling = True
    space = SearchSpace([Float("C", -1.0, 1.0, default=0.5)])

    def package_default(self):
        return {"C": 1.0}

    def make_estimator(self, config, *, seed, fidelity, shape):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=config["C"], random_state=seed, max_iter=200)


FAILING_LOGREG = FailingLogReg()


class AlwaysFailingLogReg(FailingLogReg):
    """C drawn from [-2, -1] and a default of -1: every trial fails in scikit-learn (a store with no
    COMPLETE trial, for the report and analysis of such a store)."""

    name = "always_failing_logreg"
    space = SearchSpace([Float("C", -2.0, -1.0, default=-1.0)])

    def package_default(self):
        return {"C": -1.0}


ALWAYS_FAILING_LOGREG = AlwaysFailingLogReg()
