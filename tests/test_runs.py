"""A run's life cycle: its states, batches told in trial order, and replay through the live ask path."""

from __future__ import annotations

import shutil
import sqlite3

import pandas as pd
import pytest

from hpo_bench.errors import StoreError
from hpo_bench.experiment import load_experiment
from hpo_bench.models import get_model
from hpo_bench.optimizers.random_search import RandomSearch
from hpo_bench.runs import Run, RunState
from hpo_bench.scheduler import Scheduler
from hpo_bench.store import Store
from hpo_bench.trial import RunSpec, TrialResult, TrialState

COLUMNS = ["run_key", "trial_number", "source", "config", "fidelity", "state", "loss", "fold_losses"]


class Recording(RandomSearch):
    """Random search that keeps the trial numbers it is told, in the order told."""

    name = "recording"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.told: list[int] = []

    def tell(self, suggestion, result):
        self.told.append(int(result.loss))


def _result(number: int) -> TrialResult:
    return TrialResult(TrialState.COMPLETE, "1-auc", loss=float(number))


def test_a_run_walks_its_states_and_tells_each_batch_in_trial_order_whatever_comes_back_first():
    model = get_model("decision_tree")
    optimizer = Recording(model.space, seed=0, budget_evals=5, batch_size=2)
    ended: list[Run] = []
    run = Run(RunSpec(0, "sklearn:iris", "decision_tree", "recording"), 1, budget=5.0,
              presets=[("default", model.package_default())], space=model.space, full_config=dict, list_tests=None,
              on_end=ended.append)
    assert run.state is RunState.PENDING and run.next_entry() is None
    run.start(optimizer, {})
    default = run.next_entry()
    assert (default.trial_number, default.source, run.state) == (0, "default", RunState.ASKING)
    for first in (1, 3):
        a, b = run.next_entry(), run.next_entry()
        assert [a.trial_number, b.trial_number] == [first, first + 1]
        assert run.state is RunState.WAITING and run.next_entry() is None  # the batch of 2 is full
        run.receive(b, _result(b.trial_number))  # the second back first: nothing is told yet
        assert run.state is RunState.WAITING and optimizer.told == list(range(1, first))
        run.receive(a, _result(a.trial_number))
        assert run.state is RunState.ASKING and optimizer.told == list(range(1, first + 2))
    assert run.next_entry() is None  # 5 evaluations asked: the budget is spent
    assert run.state is RunState.STOPPING and not ended  # the default is still out
    run.receive(default, _result(0))
    assert run.state is RunState.DONE and run.status == "done" and ended == [run]
    assert optimizer.told == [1, 2, 3, 4]  # the default was never told


def test_a_batch_a_rung_ends_early_is_told_when_it_is_back_already(write_experiment, tmp_path):
    # Rungs of 9 and 3 candidates in batches of 4: each rung ends in a short batch, and with one worker
    # that batch is back before the next ask says AwaitResults. It must be told then (and the run go
    # on in the same sitting), and give the trials of batches that are whole rungs. The inline executor is
    # one worker in this process: each result is back, on its own, before the next ask. TINY_FOREST: a random
    # forest with a fidelity (n_estimators) and a space small enough to fit in milliseconds.
    trials = {}
    for batch_size in (4, 9):
        exp = load_experiment(write_experiment(
            f"b{batch_size}.toml", models='["optimizer_families:TINY_FOREST"]', budget_evals=6, seeds=1, n_workers=1,
            include_default="false", executor='"inline"',
            optimizers=f'halving = {{ batch_size = {batch_size}, max_resources = 9, '
                                                'n_candidates = 9 }'))
        with Store(tmp_path / f"b{batch_size}.sqlite") as store:
            assert Scheduler(exp, store).run() == {"done": 1}
            trials[batch_size] = store.trials()[COLUMNS[1:]]
    assert list(trials[4].fidelity) == [1 / 9] * 9 + [1 / 3] * 3 + [1.0] + [1 / 9] * 9 + [1 / 3] * 3 + [1.0]
    pd.testing.assert_frame_equal(trials[4], trials[9])


def _trials(path) -> pd.DataFrame:
    with sqlite3.connect(path) as db:
        return pd.read_sql(f"SELECT {', '.join(COLUMNS)} FROM trials JOIN runs USING (run_id) "
                           "ORDER BY run_key, trial_number", db)


def _lose(source, target, numbers) -> None:
    """A copy of a finished store as if the driver had died with `numbers` in flight."""
    shutil.copy(source, target)
    with sqlite3.connect(target) as db:
        db.executemany("DELETE FROM trials WHERE trial_number = ?", [(n,) for n in numbers])
        db.execute("UPDATE runs SET status = 'pending', note = NULL")


@pytest.fixture(scope="module")
def batched(tmp_path_factory):
    """A finished store of batched runs: the default, then batches of 3 (random) and 2 (TPE) of 10 evaluations."""
    from conftest import experiment_text

    path = tmp_path_factory.mktemp("batched") / "exp.toml"
    path.write_text(experiment_text(models='["decision_tree"]', budget_evals=10, seeds=1, executor='"inline"',
                                    optimizers=(
        'random = { batch_size = 3 }\ntpe = { type = "tpe", batch_size = 2 }')))
    exp = load_experiment(path)
    with Store(path.parent / "a.sqlite") as store:
        assert Scheduler(exp, store).run() == {"done": 2}
    return exp, path.parent / "a.sqlite"


# Trial 0 is the default; random's batches are 1-3, 4-6, 7-9, TPE's 1-2, 3-4, 5-6, 7-8, 9: each set
# lost is the default or the end of the last batches, which no stored trial depends on.
@pytest.mark.parametrize("lost", [(0,), (9,), (8, 9), (0, 7, 8, 9)], ids=str)
def test_trials_lost_in_an_open_batch_are_asked_again_and_give_the_same_trials(batched, tmp_path, lost):
    exp, complete = batched
    _lose(complete, tmp_path / "b.sqlite", lost)
    with Store(tmp_path / "b.sqlite") as store:
        assert Scheduler(exp, store).run() == {"done": 2}
    pd.testing.assert_frame_equal(_trials(tmp_path / "b.sqlite"), _trials(complete))


def test_a_trial_lost_from_a_batch_that_later_trials_depend_on_cannot_be_replayed(batched, tmp_path):
    exp, complete = batched
    _lose(complete, tmp_path / "b.sqlite", [5])  # random told 4-6 before asking 7
    with Store(tmp_path / "b.sqlite") as store, pytest.raises(StoreError) as info:
        Scheduler(exp, store).run()
    assert "trials [5] are missing from a batch that later trials depend on" in str(info.value)


def test_a_stored_trial_the_optimizer_no_longer_asks_stops_the_resume(batched, tmp_path):
    exp, complete = batched
    _lose(complete, tmp_path / "b.sqlite", [9])
    with sqlite3.connect(tmp_path / "b.sqlite") as db:
        db.execute("UPDATE trials SET fidelity = 0.5 WHERE trial_number = 2")
    with Store(tmp_path / "b.sqlite") as store, pytest.raises(StoreError) as info:
        Scheduler(exp, store).run()
    assert "trial 2 was {" in str(info.value) and "the code or the environment changed" in str(info.value)
