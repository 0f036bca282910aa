"""The per-evaluation time limit: a slow real configuration is stopped, stored TIMEOUT, and the run goes on."""

from __future__ import annotations

import json
import time

import pytest

from hpo_bench.executors import Job, LocalExecutor, WorkerContext
from hpo_bench.experiment import load_experiment
from hpo_bench.models import MODELS
from hpo_bench.models.base import ModelFamily
from hpo_bench.scheduler import Scheduler
from hpo_bench.space import Categorical, SearchSpace
from hpo_bench.store import Store
from hpo_bench.trial import TrialState

LIMIT_S = 2.0
# Two real configurations of the MLP space: four layers of 1024 units trained 243 epochs in batches of
# 4 rows takes minutes on breast_cancer; one layer of 16 units for 20 epochs takes well under a second.
HUGE = {"n_layers": 4, "width_1": 1024, "width_2": 1024, "width_3": 1024, "width_4": 1024, "activation": "relu",
        "solver": "adam", "learning_rate_init": 1e-3, "batch_size": 4, "alpha": 1e-4, "max_iter": 243}
SMALL = {"n_layers": 1, "width_1": 16, "activation": "relu", "solver": "adam", "learning_rate_init": 1e-2,
         "batch_size": 64, "alpha": 1e-4, "max_iter": 20}


class MLPSizes(ModelFamily):
    """The MLP family restricted to the two configurations above, so the order of trials is known."""

    name = "mlp_sizes"
    library = MODELS["mlp"].library
    needs_scaling = True
    space = SearchSpace([Categorical("size", ("small", "huge"))])

    def package_default(self):
        return {"size": "huge"}

    def make_estimator(self, config, *, seed, fidelity, shape):
        mlp_config = HUGE if config["size"] == "huge" else SMALL
        return MODELS["mlp"].make_estimator(mlp_config, seed=seed, fidelity=fidelity, shape=shape)


MLP_SIZES = MLPSizes()


def test_the_two_configurations_belong_to_the_mlp_space():
    for config in (HUGE, SMALL):
        assert MODELS["mlp"].space.validate(config) == config


def test_a_run_stops_a_slow_evaluation_records_timeout_and_goes_on(write_experiment, tmp_path):
    # Trial 0 is the package default (huge), then the grid in its order: small, then huge again.
    exp = load_experiment(write_experiment(
        tasks='["sklearn:breast_cancer"]', models='["test_time_limit:MLP_SIZES"]', budget_evals=3, seeds=1,
        n_workers=1, time_limit_s=LIMIT_S, optimizers="grid = { shuffle = false }"))
    assert exp.time_limit_s == LIMIT_S
    store = Store(tmp_path / "s.sqlite")
    start = time.monotonic()
    counts = Scheduler(exp, store).run()
    wall = time.monotonic() - start
    trials = store.trials().sort_values("trial_number")
    store.close()
    assert counts == {"done": 1}
    assert [json.loads(c)["size"] for c in trials.config] == ["huge", "small", "huge"]
    assert list(trials.state) == ["TIMEOUT", "COMPLETE", "TIMEOUT"]
    timed_out = trials[trials.state == "TIMEOUT"]
    assert timed_out.loss.isna().all()
    assert timed_out.error.str.contains(f"over the time limit of {LIMIT_S:g} s").all()
    # The executor's own clock, from handing the job to a ready worker to the kill.
    stopped_after = timed_out.error.str.extract(r"stopped after ([0-9.]+) s")[0].astype(float)
    assert ((stopped_after >= LIMIT_S) & (stopped_after <= 2 * LIMIT_S)).all(), stopped_after.tolist()
    # And the store's: trial 2 went to a worker that was already up (trial 0 waited for the first
    # worker to start, trial 1 for the replacement of the killed one), so submitted -> stored is the
    # evaluation's wall time.
    last = trials.iloc[2]
    assert LIMIT_S <= last.finished_at - last.submitted_at <= 2 * LIMIT_S
    assert trials.loss.iloc[1] < 0.1  # the small network is fitted for real after the kill
    assert wall < 60


def test_two_workers_each_stop_their_slow_job_in_time(breast_cancer):
    # Both jobs time out together; replacing the first killed worker must not delay stopping the second.
    context = WorkerContext(tasks={"bc": breast_cancer}, splits={"bc": breast_cancer.cv_splits(3, 0)},
                            metric="1-auc")
    model = "test_time_limit:MLP_SIZES"

    def collect(executor, n, submitted):
        results, deadline = {}, time.monotonic() + 60
        while len(results) < n and time.monotonic() < deadline:
            for job, result in executor.wait(timeout=1.0):
                results[job.job_id] = (result, time.monotonic() - submitted[job.job_id])
        return results

    with LocalExecutor(2, context, time_limit_s=LIMIT_S) as executor:
        # Two small jobs first, so both workers are up and the clock below measures evaluations only.
        submitted = {}
        for job_id in (1, 2):
            executor.submit(Job(job_id, "bc", model, {"size": "small"}, 1.0, job_id))
            submitted[job_id] = time.monotonic()
        warm = collect(executor, 2, submitted)
        assert [r.state for r, _ in warm.values()] == [TrialState.COMPLETE] * 2
        for job_id in (3, 4):
            executor.submit(Job(job_id, "bc", model, {"size": "huge"}, 1.0, job_id))
            submitted[job_id] = time.monotonic()
        slow = collect(executor, 2, submitted)
        # and the replaced workers take work again
        executor.submit(Job(5, "bc", model, {"size": "small"}, 1.0, 5))
        submitted[5] = time.monotonic()
        after = collect(executor, 1, submitted)
    assert sorted(slow) == [3, 4]
    for result, elapsed in slow.values():
        assert result.state == TrialState.TIMEOUT
        assert LIMIT_S <= elapsed <= 2 * LIMIT_S, elapsed
    assert after[5][0].state == TrialState.COMPLETE


@pytest.mark.parametrize("value", ["0", "-1", '"10"', "true", "inf", "nan"])
def test_time_limit_must_be_a_positive_number(write_experiment, value):
    from hpo_bench.errors import ExperimentError

    with pytest.raises(ExperimentError, match="time_limit_s = .*: must be a positive number of seconds"):
        load_experiment(write_experiment(time_limit_s=value))


def test_a_worker_that_dies_while_starting_or_idle_is_replaced(iris):
    # The OOM killer may take a worker at any time; the job it would have run is not lost.
    context = WorkerContext(tasks={"iris": iris}, splits={"iris": iris.cv_splits(3, 0)}, metric="1-auc",
                            models=("knn",))
    config = MODELS["knn"].package_default()
    with LocalExecutor(1, context, time_limit_s=30) as executor:
        starting = executor._workers[0]
        assert not starting.ready
        starting.process.kill()  # dies before it could say it is ready
        executor.submit(Job(1, "iris", "knn", config, 1.0, 0))
        results = []
        deadline = time.monotonic() + 60
        while not results and time.monotonic() < deadline:
            results = executor.wait(timeout=1.0)
        assert [r.state for _, r in results] == [TrialState.COMPLETE]
        idle = executor._workers[0]
        assert idle is not starting and idle.ready
        idle.process.kill()  # dies while idle: the next job goes to a replacement
        idle.process.join()
        executor.submit(Job(2, "iris", "knn", config, 1.0, 0))
        results = []
        while not results and time.monotonic() < deadline:
            results = executor.wait(timeout=1.0)
        assert [r.state for _, r in results] == [TrialState.COMPLETE]
