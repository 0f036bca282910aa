"""One run's life cycle: what it evaluates next, when it tells its optimizer, when it is done.

A `Run` knows nothing of workers or of the store: the scheduler asks it for the next trial to submit
(`next_entry`), hands it each result once the result is stored (`receive`), and writes the store when
it ends. Its state, and every change of it, is here:

    PENDING ─ start ─► ASKING ─── its batch is full, or ask raised AwaitResults ───► WAITING
                         │  ▲                                                        │
                         │  └───────────── the batch is back, and told ──────────────┘
                         └─ the budget is spent, or OptimizerExhausted ─► STOPPING ─► DONE
    any state but DONE ─ the optimizer fails (made, asked, told), or asks out of range or space ─► CRASHED

ASKING asks presets first (the default and listed configurations: never told, so every optimizer
sees the same information), then the optimizer, up to `batch_size` suggestions that are told together,
in trial order, once all are back. When the optimizer raises AwaitResults (a halving rung needs its
results) and the batch is already back, it is told at once and the run asks again. STOPPING asks
nothing more: it tells its last batch once that is back, then refits the incumbents on the held-out
test, if the experiment has one, and is DONE once every test score is stored.

Replay goes through the same `ask` as live asking: on resume, `start` asks the run's stored trials
again one by one, and each suggestion must be the stored trial's configuration and fidelity; its
stored result is received as a live one would be, so batches close, are told and reopen exactly as
they did. A trial in flight when the driver died was never stored: it is asked again with the same
trial number and evaluated once more.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from hpo_bench.errors import OptimizerExhausted, SpaceError, StoreError
from hpo_bench.optimizers import AwaitResults, Optimizer
from hpo_bench.space import SearchSpace, config_key
from hpo_bench.trial import RunSpec, Suggestion, TrialRecord, TrialResult, TrialState, charged_seconds

EPS = 1e-9
PRESET_SOURCES = ("default", "listed")


class RunState(Enum):
    PENDING = "pending"  # not started: no optimizer yet, the stored trials not replayed
    ASKING = "asking"  # asks its presets, then its optimizer, while its batch has room
    WAITING = "waiting"  # its batch is closed (full, or the optimizer awaits results): waits for it to be back
    STOPPING = "stopping"  # asks no more (budget spent, optimizer exhausted): waits for its last trials, test refits
    DONE = "done"
    CRASHED = "crashed"


@dataclass
class Entry:
    """A trial asked and not yet told: in flight, back but waiting for its batch, or lost in a crash.

    A held-out test refit of a stored trial is an Entry too, with source "test"; it is never told.
    """

    trial_number: int
    suggestion: Suggestion
    source: str  # "optimizer", a preset ("default" or "listed": the experiment's `configs`), or "test"
    config: dict[str, Any]  # what is evaluated: the suggestion plus the defaults of what the run does not tune
    submitted: float | None = None  # None: not submitted yet (a trial lost when the driver died)
    result: TrialResult | None = None
    optimizer_s: float = 0.0  # the optimizer's time for it: its ask and the tells before it (0 for a preset)


def error_text(exc: BaseException) -> str:
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {exc}{where}"


class Run:
    """One run (task x model x optimizer x seed [x tuned subset]) and its optimizer, from start to end.

    `full_config` completes a suggestion with the defaults of what the run does not tune. `list_tests`
    (None without a held-out test) gives the test refits still to do, when the run has stopped and
    everything it asked is back; `on_end` is called once, when the run becomes DONE or CRASHED.
    """

    def __init__(self, spec: RunSpec, run_id: int, *, budget: float, presets: list[tuple[str, dict[str, Any]]],
                 space: SearchSpace, full_config: Callable[[dict[str, Any]], dict[str, Any]],
                 list_tests: Callable[[Run], list[Entry]] | None, on_end: Callable[[Run], None],
                 budget_seconds: float | None = None) -> None:
        self.spec = spec
        self.run_id = run_id
        self.budget = budget
        self.budget_seconds = budget_seconds
        self.presets = presets  # (source, config), asked first, in order, never told
        self.space = space  # what the optimizer searches: every suggestion must be a configuration of it
        self._full_config = full_config
        self._list_tests = list_tests
        self._on_end = on_end
        self.state = RunState.PENDING
        self.note: str | None = None  # why it stopped or crashed
        self.optimizer: Optimizer | None = None
        self.batch_size = 1
        self.n_trials = 0  # the next trial number
        self.presets_asked = 0
        self.used = 0.0  # fidelity asked so far, in flight included
        self.done = 0.0  # fidelity of the trials stored
        self.failures = 0
        self.spent_s = 0.0  # recorded seconds of the trials back (trial.charged_seconds), what budget_seconds caps
        self._tell_s = 0.0  # tell time not yet charged: it goes to the next trial asked
        self.entries: list[Entry] = []  # asked and not yet told: presets until back, batch members until told
        self.tests: list[Entry] | None = None  # test refits not yet submitted; None: not yet worked out
        self.tests_in_flight = 0
        self._replaying = False

    @property
    def ended(self) -> bool:
        return self.state in (RunState.DONE, RunState.CRASHED)

    @property
    def total(self) -> float:
        """The run's budget as progress counts it: recorded seconds under a time budget, else evaluations."""
        return self.budget if self.budget_seconds is None else self.budget_seconds

    @property
    def progressed(self) -> float:
        """How much of `total` is spent; all of it once the run ended (what it left will not be spent)."""
        if self.ended:
            return self.total
        return self.done if self.budget_seconds is None else min(self.spent_s, self.budget_seconds)

    @property
    def status(self) -> str:
        """The run's status in the store's words: "pending" until it is done or crashed."""
        return self.state.value if self.ended else RunState.PENDING.value

    def batch(self) -> list[Entry]:
        return [e for e in self.entries if e.source == "optimizer"]

    # -- start -------------------------------------------------------------------------------------
    def ended_before(self, status: str, note: str | None, stored: list[TrialRecord]) -> None:
        """A run that a past sitting finished (done or crashed): nothing to do but count its trials."""
        self.state, self.note = RunState(status), note
        self._count(stored)

    def cannot_start(self, note: str, stored: list[TrialRecord]) -> None:
        """PENDING -> CRASHED: no optimizer could be made; the trials stored so far still count."""
        self._count(stored)
        self.crash(note)

    def start(self, optimizer: Optimizer, stored: dict[int, TrialRecord]) -> None:
        """PENDING -> ASKING: take the optimizer and replay the stored trials (by trial number) through it.

        Raises StoreError when the stored trials cannot be replayed (the optimizer asks something else,
        or a lost trial is missing from a batch that later trials depend on).
        """
        assert self.state is RunState.PENDING
        self.optimizer, self.batch_size = optimizer, optimizer.batch_size
        self.state = RunState.ASKING
        self._replaying = True
        try:
            self._replay(stored)
        except StoreError:
            raise
        except Exception as exc:
            self.crash(error_text(exc))
        finally:
            self._replaying = False

    def _replay(self, stored: dict[int, TrialRecord]) -> None:
        key = self.spec.key
        end = max(stored) + 1 if stored else 0
        while self.n_trials < end and not self.ended:
            number = self.n_trials
            entry = self.ask()
            if entry is None:
                if self.state is RunState.WAITING:  # not told: a trial it holds was lost in flight
                    missing = [e.trial_number for e in self.batch() if e.result is None]
                    raise StoreError(f"resume of run {key}: trials {missing} are missing from a batch that later "
                                     "trials depend on; this store cannot be continued")
                return  # crashed
            trial = stored.get(entry.trial_number)
            if trial is None:  # asked, then lost in flight: it is submitted first when the run goes on
                continue
            if config_key(entry.config) != config_key(trial.config) or abs(
                    entry.suggestion.fidelity - trial.fidelity) > EPS:
                raise StoreError(
                    f"resume of run {key}: trial {number} was {trial.config} at fidelity {trial.fidelity}, the "
                    f"optimizer now asks {entry.config} at {entry.suggestion.fidelity}; the code or the "
                    "environment changed, so this store cannot be continued")
            entry.submitted = trial.submitted_at or 0.0
            entry.optimizer_s = trial.optimizer_time_s or 0.0  # what was charged live, not this replay's clock
            self.receive(entry, trial.result)

    def _count(self, stored: list[TrialRecord]) -> None:
        self.used = self.done = sum(t.fidelity for t in stored)
        self.spent_s = sum(t.charged_s for t in stored)
        self.failures = sum(t.result.state != TrialState.COMPLETE for t in stored)

    # -- asking ------------------------------------------------------------------------------------
    def next_entry(self) -> Entry | None:
        """What to submit now, stamped with the time (each entry is handed out once): a trial lost in a
        crash, a new trial, or a test refit; None: nothing now."""
        entry = self._next_entry()
        if entry is not None:
            entry.submitted = time.time()
        return entry

    def _next_entry(self) -> Entry | None:
        if self.ended:
            return None
        for entry in self.entries:  # trials lost in a crash first, with their trial numbers
            if entry.submitted is None:
                return entry
        entry = self.ask()
        if entry is None and self.state is RunState.STOPPING and self.tests:
            # A run that has just stopped (the budget is spent) has its refits ready in the same call: the
            # scheduler ends when a pass over the runs submits nothing, so they must not wait for another.
            self.tests_in_flight += 1
            return self.tests.pop(0)
        return entry

    def ask(self) -> Entry | None:
        """The next trial, a preset or the optimizer's; None when the run asks nothing now (it waits for its
        batch, stops or crashes). Live asking and replay both ask here, so they cannot differ."""
        if self.state is not RunState.ASKING:
            return None
        if self.presets_asked < len(self.presets):  # the default and listed configurations come first
            source, config = self.presets[self.presets_asked]
            self.presets_asked += 1
            return self._add(Entry(self.n_trials, Suggestion(config), source, config))
        if self.budget_seconds is not None and not self.batch():
            # A new batch starts only once every earlier trial is back (the presets too): whether there is
            # time left is then decided by stored times alone, so a resumed run stops at the same trial.
            if any(e.result is None for e in self.entries):
                return None
            if self.spent_s >= self.budget_seconds:
                self._stop(f"time budget spent: {self.spent_s:.1f} s of {self.budget_seconds:g} s recorded")
                return None
        if self.used >= self.budget - EPS:
            self._stop(None)
            return None
        start = time.perf_counter()
        try:
            suggestion = self.optimizer.ask()
        except AwaitResults:
            if not self.batch():
                self.crash("ask awaited results while none were pending")
                return None
            self._close_batch()
            return self.ask()  # asks again at once if the batch was already back and is now told
        except OptimizerExhausted as exc:
            self._stop(f"optimizer exhausted: {exc}")
            return None
        except Exception as exc:  # an optimizer that fails is recorded as crashed, never replaced
            self.crash(f"ask failed: {error_text(exc)}")
            return None
        if not 0.0 < suggestion.fidelity <= 1.0:
            self.crash(f"ask returned fidelity {suggestion.fidelity}, outside (0, 1]")
            return None
        try:  # a configuration outside the space (NaN, out of range, a parameter missing or unknown) is the
            # optimizer's failure, as a raise would be: it is never evaluated nor stored as if it were valid
            self.space.validate(suggestion.config, "ask returned a configuration outside the space")
        except SpaceError as exc:
            self.crash(str(exc))
            return None
        if self.used + suggestion.fidelity > self.budget + EPS:
            self._stop(f"budget left ({self.budget - self.used:g}) below the next suggestion's cost "
                       f"({suggestion.fidelity:g})")
            return None
        entry = self._add(Entry(self.n_trials, suggestion, "optimizer", self._full_config(suggestion.config),
                                optimizer_s=self._tell_s + time.perf_counter() - start))
        self._tell_s = 0.0
        if len(self.batch()) >= self.batch_size:
            self._close_batch()
        return entry

    def _add(self, entry: Entry) -> Entry:
        self.n_trials += 1
        self.used += entry.suggestion.fidelity
        self.entries.append(entry)
        return entry

    # -- results -----------------------------------------------------------------------------------
    def receive(self, entry: Entry, result: TrialResult) -> None:
        """The stored result of an entry it gave out (or, in replay, of a stored trial it asked again)."""
        if entry.source == "test":  # never told, not charged
            self.tests_in_flight -= 1
            if self.state is RunState.STOPPING:
                self._finish_when_scored()
            return
        self.done += entry.suggestion.fidelity
        self.spent_s += charged_seconds(result, entry.optimizer_s)
        if result.state != TrialState.COMPLETE:
            self.failures += 1
        entry.result = result
        if entry.source in PRESET_SOURCES:  # never told: every optimizer sees the same information
            self.entries.remove(entry)
        if not self.ended:
            self._tell_when_back()

    # -- state changes -----------------------------------------------------------------------------
    def _close_batch(self) -> None:
        """ASKING -> WAITING: ask no more until the batch is back and told (at once if it already is)."""
        self.state = RunState.WAITING
        self._tell_when_back()

    def _stop(self, note: str | None) -> None:
        """-> STOPPING: ask no more; done once the last batch is back and told and the test refits stored."""
        if self._replaying:  # the stored trials go on: the run did not stop here when it asked them
            raise StoreError(f"resume of run {self.spec.key}: trial {self.n_trials} is stored, but the run now "
                             f"stops before it ({note or 'budget spent'}); the code or the environment changed, "
                             "so this store cannot be continued")
        self.state, self.note = RunState.STOPPING, note
        self._tell_when_back()

    def _tell_when_back(self) -> None:
        """Tell a closed batch in trial order once all of it is back (WAITING -> ASKING); end a stopping run
        once nothing it asked is out."""
        batch = self.batch()
        if batch and self.state in (RunState.WAITING, RunState.STOPPING) and all(e.result is not None
                                                                                 for e in batch):
            start = time.perf_counter()
            for e in batch:
                try:
                    self.optimizer.tell(e.suggestion, e.result)
                except Exception as exc:
                    self.crash(f"tell failed at trial {e.trial_number}: {error_text(exc)}")
                    return
                self.entries.remove(e)
            self._tell_s += time.perf_counter() - start
            if self.state is RunState.WAITING:
                self.state = RunState.ASKING
        if self.state is RunState.STOPPING and not self.entries:
            self._finish_when_scored()

    def _finish_when_scored(self) -> None:
        """STOPPING -> DONE once the held-out test refits (if the experiment has a test) are all stored."""
        if self._list_tests is not None:
            if self.tests is None:
                self.tests = self._list_tests(self)
            if self.tests or self.tests_in_flight:
                return
        self.state = RunState.DONE
        self._on_end(self)

    def crash(self, note: str) -> None:
        """-> CRASHED: the run asks and tells nothing more; what is in flight is still stored."""
        if self._replaying:
            note = f"replaying the stored trials: {note}"
        self.state, self.note, self.optimizer = RunState.CRASHED, note, None
        self._on_end(self)
