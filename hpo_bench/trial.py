"""The records every layer shares: what a run is, what an optimizer suggests, what an evaluation returns,
and what the store keeps of a trial; and the kinds of task.

Plain data only, importing nothing of hpo-bench: an optimizer can import these without pulling in the
evaluation (scikit-learn), the tasks or the store, and the store can describe a run without the
experiment file's parser. This module is their one home.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

# The kinds of task: a task is one (hpo_bench.tasks), a model family serves some (hpo_bench.models), a run's
# metric scores one. Here, the module both import, so that neither imports the other for them.
CLASSIFICATION, REGRESSION = "classification", "regression"
TASK_TYPES = (CLASSIFICATION, REGRESSION)


class TrialState(StrEnum):
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    TIMEOUT = "TIMEOUT"


@dataclass
class TrialResult:
    """What one evaluation produced. `loss` is None unless the state is COMPLETE.

    `loss` and `fold_losses` are the experiment's metric, the one the optimizer minimises; `fold_metrics`
    holds every metric of hpo_bench.evaluation.METRICS per fold, all computed from the same predictions.
    `error` says why a trial did not complete; on a COMPLETE trial it holds the warnings its fits raised
    (a solver stopped at max_iter: ConvergenceWarning), prefixed "warnings: ", or None if there were none.
    """

    state: TrialState
    metric: str
    loss: float | None = None
    fold_losses: list[float] = field(default_factory=list)
    fit_time_s: float = 0.0
    predict_time_s: float = 0.0
    error: str | None = None
    fold_metrics: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True for a COMPLETE trial with a finite loss: the only kind an optimizer can learn a loss from."""
        return self.state == TrialState.COMPLETE and self.loss is not None and math.isfinite(self.loss)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "state": str(self.state)}

    @classmethod
    def failed(cls, metric: str, error: str, state: TrialState = TrialState.FAILED,
               fit_time_s: float = 0.0) -> TrialResult:
        """A result without a loss; `fit_time_s`: how long it ran before it was stopped (a TIMEOUT)."""
        return cls(state=state, metric=metric, error=error, fit_time_s=fit_time_s)


@dataclass(frozen=True)
class Suggestion:
    """A configuration to evaluate at a fidelity (1.0 = full), with optimizer bookkeeping in `info`."""

    config: dict[str, Any]
    fidelity: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial as stored: what was asked, at which fidelity, and what came back."""

    trial_number: int
    source: str  # "optimizer", "default" or "listed"
    config: dict[str, Any]
    fidelity: float
    result: TrialResult
    info: dict[str, Any]
    submitted_at: float | None
    finished_at: float
    # Seconds the optimizer spent on this trial: its ask, plus the tells of the batch before it (None in
    # stores made before time budgets). Stored, so that a time budget replays from records, not the clock.
    optimizer_time_s: float | None = None

    @property
    def charged_s(self) -> float:
        """What a time budget charges for the trial (`budget_seconds`): see `charged_seconds`."""
        return charged_seconds(self.result, self.optimizer_time_s)


def charged_seconds(result: TrialResult, optimizer_time_s: float | None) -> float:
    """A trial's recorded time: fit and predict (over all folds) plus the optimizer's ask and tell time.

    A TIMEOUT trial records the time it ran until it was stopped as its fit time; a trial whose worker
    died records none. Nothing here reads a clock: a resumed run charges exactly what the live one did.
    """
    return (result.fit_time_s or 0.0) + (result.predict_time_s or 0.0) + (optimizer_time_s or 0.0)


@dataclass(frozen=True, order=True)
class RunSpec:
    """One run: an optimizer's search on one task and model with one seed."""

    seed: int
    task: str
    model: str
    optimizer: str  # the label from the experiment file
    tuned: str = "all"  # what the run tunes, see hpo_bench.tuning
    # The seed factors of the repetition: which data split, model seed and optimizer seed it uses. By
    # default (seed_design "repeated") the splits are fixed and the other two follow `seed`.
    split_rep: int = 0
    model_rep: int = -1  # -1: `seed`
    optimizer_rep: int = -1  # -1: `seed`

    def __post_init__(self) -> None:
        if self.model_rep < 0:
            object.__setattr__(self, "model_rep", self.seed)
        if self.optimizer_rep < 0:
            object.__setattr__(self, "optimizer_rep", self.seed)

    @property
    def key(self) -> str:
        return f"{self.task}|{self.model}|{self.optimizer}|{self.seed}|{self.tuned}"


__all__ = ["RunSpec", "Suggestion", "TrialRecord", "TrialResult", "TrialState", "charged_seconds"]
