"""Every executor, the same rules: a crash is retried once then FAILED, a time limit stops the work,
results are the evaluation's own. Dask runs on a real LocalCluster of 2 worker processes, Ray on one local
Ray of 2 CPUs shared by this module's tests."""

from __future__ import annotations

import logging
import time

import pytest

from hpo_bench.evaluation import evaluate
from hpo_bench.executors import DaskExecutor, Job, WorkerContext, make_executor
from hpo_bench.models import get_model
from hpo_bench.trial import TrialState

FOLDS_SEED = 11
CRASHING, SLEEPY = "executor_families:CRASHING", "executor_families:SLEEPY"


@pytest.fixture(scope="module")
def context(iris) -> WorkerContext:
    return WorkerContext(tasks={"sklearn:iris": iris}, splits={"sklearn:iris": iris.cv_splits(3, FOLDS_SEED)},
                         metric="1-auc")


@pytest.fixture(scope="module")
def dask_address():
    """A real Dask cluster that the tests reach by address, as a user reaches a SLURM cluster."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR, scheduler_kwargs={"allowed_failures": 1})
    yield cluster.scheduler_address
    cluster.close()


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    """One local Ray for the module (it takes seconds to start); a RayExecutor uses it and leaves it running."""
    ray = pytest.importorskip("ray")
    import os
    import shutil
    import sys

    from hpo_bench.executors.ray import process_temp_dir, process_token

    # as RayExecutor starts a Ray: no usage statistics, the auth token in the environment (not ~/.ray)
    env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_TOKEN": process_token()}
    env = {k: v for k, v in env.items() if k not in os.environ}
    os.environ.update(env)
    if "RAY_AUTH_MODE" not in os.environ:  # ray.init sets it to "token" here: unset it again at the end
        env["RAY_AUTH_MODE"] = ""
    temp = process_temp_dir()  # a second Ray in this process (tests/test_ray.py) must use the same
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=temp, logging_level=logging.ERROR,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)
    for key in env:
        os.environ.pop(key, None)


@pytest.fixture(params=["local", pytest.param("dask", marks=pytest.mark.slow),  # a Dask cluster
                        pytest.param("ray", marks=pytest.mark.slow)])  # a local Ray
def kind(request) -> str:
    return request.param


def executor_of(kind: str, context: WorkerContext, request, time_limit_s: float | None = None):
    address = request.getfixturevalue("dask_address") if kind == "dask" else None
    if kind == "ray":
        request.getfixturevalue("ray_local")
    return make_executor(kind, 2, context, time_limit_s=time_limit_s, scheduler_address=address)


def run_all(executor, jobs: list[Job], timeout_s: float = 180.0) -> dict[int, object]:
    for job in jobs:
        executor.submit(job)
    results: dict[int, object] = {}
    deadline = time.monotonic() + timeout_s
    while len(results) < len(jobs):
        assert time.monotonic() < deadline, f"only {len(results)} of {len(jobs)} jobs came back"
        for job, result in executor.wait(timeout=1.0):
            assert job.job_id not in results, "a job came back twice"
            results[job.job_id] = result
    assert executor.n_running == 0
    return results


def test_a_crash_is_retried_once_then_failed_and_the_rest_goes_on(kind, context, request):
    good = {"x": 0.2}
    jobs = [Job(1, "sklearn:iris", CRASHING, {"x": 0.9}, 1.0, 5), Job(2, "sklearn:iris", CRASHING, good, 1.0, 5),
            Job(3, "sklearn:iris", CRASHING, {"x": 0.95}, 1.0, 5), Job(4, "sklearn:iris", CRASHING, good, 1.0, 6)]
    with executor_of(kind, context, request) as executor:
        results = run_all(executor, jobs)
        after = run_all(executor, [Job(5, "sklearn:iris", CRASHING, good, 1.0, 5)])  # workers were replaced
    for job_id in (1, 3):
        r = results[job_id]
        assert r.state == TrialState.FAILED and r.loss is None
        # two attempts, each ended by the model's os._exit(3)
        # locally the driver retries in a new process; a Dask worker or a Ray actor in a new sandbox of its own
        assert r.error == "the worker died twice evaluating this configuration (exit code 3)" if kind == "local" \
            else r.error == "the worker died twice evaluating this configuration (exit code 3; exit code 3)"
    expected = evaluate(context.tasks["sklearn:iris"], get_model(CRASHING), good, fidelity=1.0, seed=5,
                        splits=context.splits["sklearn:iris"], metric="1-auc")
    for r in (results[2], after[5]):
        assert r.state == TrialState.COMPLETE
        assert r.loss == expected.loss and r.fold_losses == expected.fold_losses
    assert results[4].state == TrialState.COMPLETE


def test_a_time_limit_stops_the_evaluation_and_the_worker_goes_on(kind, context, request):
    with executor_of(kind, context, request, time_limit_s=2.0) as executor:
        start = time.monotonic()
        results = run_all(executor, [Job(1, "sklearn:iris", SLEEPY, {"sleep_s": 60.0}, 1.0, 1),
                                     Job(2, "sklearn:iris", SLEEPY, {"sleep_s": 0.0}, 1.0, 1)])
        elapsed = time.monotonic() - start
        # the killed process was replaced; its import time does not count against the next job's limit
        again = run_all(executor, [Job(3, "sklearn:iris", SLEEPY, {"sleep_s": 0.0}, 1.0, 1)])
    assert results[1].state == TrialState.TIMEOUT
    assert "over the time limit of 2 s" in results[1].error
    assert 2.0 <= results[1].fit_time_s < 45, "a TIMEOUT records the time it ran (a time budget charges it)"
    assert elapsed < 45, f"the 60 s evaluation was not stopped ({elapsed:.0f} s)"
    assert results[2].state == TrialState.COMPLETE and again[3].state == TrialState.COMPLETE


def _sandbox_pids(context_id: str) -> list[int]:
    from hpo_bench.executors import dask as executors

    return [s.process.pid for s in executors._IDLE_SANDBOXES if s.context_id == context_id]


@pytest.mark.slow  # a Dask cluster
def test_dask_task_data_reach_each_worker_once(context, dask_address):
    with DaskExecutor(2, context, address=dask_address) as executor:
        client, key = executor._client, executor._context_future.key
        run_all(executor, [Job(i, "sklearn:iris", CRASHING, {"x": 0.05 * i}, 1.0, i) for i in range(4)])
        first = client.run(_sandbox_pids, key)
        run_all(executor, [Job(i, "sklearn:iris", CRASHING, {"x": 0.05 * i}, 1.0, i) for i in range(4, 8)])
        second = client.run(_sandbox_pids, key)
        holders = client.who_has([executor._context_future])[key]
    assert 1 <= len(holders) <= 2
    # one evaluation process per worker, which got the data when it started and kept it for every job
    assert sum(len(p) for p in first.values()) >= 1 and all(len(p) <= 1 for p in first.values())
    assert all(second[w] == p for w, p in first.items() if p)
    assert client.status == "closed"


@pytest.mark.slow  # a Dask cluster
def test_dask_worker_death_is_retried_by_dask_then_failed(context, dask_address):
    """Run last: it kills both Dask workers (their nannies start new ones)."""
    with DaskExecutor(2, context, address=dask_address) as executor:
        results = run_all(executor, [Job(1, "sklearn:iris", "executor_families:WORKER_KILLER", {"x": 0.5}, 1.0, 1)])
        after = run_all(executor, [Job(2, "sklearn:iris", CRASHING, {"x": 0.1}, 1.0, 1)])
    r = results[1]
    assert r.state == TrialState.FAILED
    assert r.error.startswith("a Dask worker died running it: KilledWorker: Attempted to run task")
    assert "on 2 different workers" in r.error  # tried twice: allowed-failures = 1
    assert after[2].state == TrialState.COMPLETE


@pytest.mark.slow  # a local Ray
def test_ray_actor_death_is_retried_once_then_failed(context, ray_local):
    """WORKER_KILLER SIGKILLs its sandbox's parent, the actor: a new actor retries the job once, then FAILED."""
    from hpo_bench.executors import RayExecutor

    with RayExecutor(2, context) as executor:
        results = run_all(executor, [Job(1, "sklearn:iris", "executor_families:WORKER_KILLER", {"x": 0.5}, 1.0, 1)])
        after = run_all(executor, [Job(2, "sklearn:iris", CRASHING, {"x": 0.1}, 1.0, 1)])
        assert executor._n_made == 2 + 2  # two actors replaced, one per attempt
    r = results[1]
    assert r.state == TrialState.FAILED
    assert r.error.startswith("a Ray worker died twice running it: ActorDiedError"), r.error
    assert after[2].state == TrialState.COMPLETE
    assert ray_local.is_initialized()  # a Ray the executor did not start is left running
