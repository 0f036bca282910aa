"""Model families that misbehave for real, to test the executors: crash, hang, or kill their worker.

Importable by worker processes as "executor_families:NAME" (pytest puts tests/ on sys.path; local
workers and Dask workers inherit it). Every failure here happens in a real process: `os._exit`,
`time.sleep`, a real SIGKILL, never a mock.
"""

from __future__ import annotations

import os
import signal
import time

from hpo_bench.models.base import ModelFamily
from hpo_bench.space import Float, SearchSpace

CRASH_ABOVE = 0.7  # CRASHING exits its process when x > CRASH_ABOVE
CRASH_EXIT_CODE = 3


def _logreg(seed: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(random_state=seed, max_iter=200)


class Crashing(ModelFamily):
    """Logistic regression; a configuration with x > 0.7 ends the evaluating process with exit code 3."""

    name = "crashing"
    library = "sklearn.linear_model.LogisticRegression"
    needs_scaling = True
    space = SearchSpace([Float("x", 0.0, 1.0, default=0.5)])

    def package_default(self):
        return {"x": 0.5}

    def make_estimator(self, config, *, seed, fidelity, shape):
        if config["x"] > CRASH_ABOVE:
            os._exit(CRASH_EXIT_CODE)  # a crash: no exception, no cleanup, the process is gone
        return _logreg(seed)


class Sleepy(ModelFamily):
    """Logistic regression that first sleeps `sleep_s` seconds: an evaluation that outlives a time limit."""

    name = "sleepy"
    library = "sklearn.linear_model.LogisticRegression"
    needs_scaling = True
    space = SearchSpace([Float("sleep_s", 0.0, 1.0, default=0.0)])

    def package_default(self):
        return {"sleep_s": 0.0}

    def make_estimator(self, config, *, seed, fidelity, shape):
        time.sleep(config["sleep_s"])
        return _logreg(seed)


class WorkerKiller(ModelFamily):
    """Dask and Ray only: SIGKILLs the Dask worker or Ray actor whose evaluation process runs it (as a
    nanny, Ray's memory monitor or the OOM killer would). Never use it with the local executor, where the
    parent is the driver."""

    name = "worker_killer"
    library = "sklearn.linear_model.LogisticRegression"
    needs_scaling = True
    space = SearchSpace([Float("x", 0.0, 1.0, default=0.5)])

    def package_default(self):
        return {"x": 0.5}

    def make_estimator(self, config, *, seed, fidelity, shape):
        os.kill(os.getppid(), signal.SIGKILL)
        time.sleep(60)  # killed with the worker (PDEATHSIG) before this returns
        return _logreg(seed)


CRASHING = Crashing()
SLEEPY = Sleepy()
WORKER_KILLER = WorkerKiller()
