"""The splits of one repetition of a task: inner CV folds for the search, and an optional held-out test.

Without a held-out test, the folds are the task's official ones or stratified k folds from a recorded
seed, the same for every repetition unless the seed design varies the split. With `test = "holdout"`,
the rows are first split into an outer training part and a test part (stratified for classification,
from a recorded seed; an official OpenML fold where the task has them); the inner folds are drawn from
the outer training part only, so nothing the optimizer sees was computed on a test row. Checked before
anything is written: a class with fewer rows than folds would leave test folds without it (AUC
undefined), so it is refused; a regression task needs two rows in every test fold (R^2 is undefined on
one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

from hpo_bench.errors import ExperimentError
from hpo_bench.seeding import derive_seed
from hpo_bench.tasks.base import Split, Task


@dataclass(frozen=True)
class RunSplits:
    key: str  # where the folds are in the workers' context
    seed: int  # recorded with every run that uses them
    folds: list[Split]
    holdout: Split | None = None  # (outer training rows, test rows)

    @property
    def test_key(self) -> str:
        return self.key + "#test"


def split_seed(task: str, n_folds: int, split_rep: int = 0, test_fraction: float | None = None) -> int:
    # Repetition 0 without a held-out test keeps the seed stores had before repetitions of splits
    # existed, so their runs (and the committed reports) are reproduced exactly.
    extra: tuple[object, ...] = () if split_rep == 0 and test_fraction is None else (split_rep,)
    if test_fraction is not None:
        extra += ("holdout", test_fraction)
    return derive_seed("splits", task, n_folds, *extra)


def _check_classes(task: Task, ref: str, rows: np.ndarray, need: int, rule: str, where: str) -> None:
    if task.is_regression:
        _check_rows(task, ref, rows, need, where)
        return
    counts = np.bincount(task.y[rows], minlength=task.n_classes)
    part = "" if len(rows) == task.n_rows else " in this part of the split"
    smallest = int(np.argmin(counts))
    if counts[smallest] < need:
        raise ExperimentError(
            f"{where}: task {ref!r}: class {task.classes[smallest]!r} has {counts[smallest]} row(s)"
            f"{part}, fewer than {rule}; lower "
            "cv_folds or leave the task out")


def _check_rows(task: Task, ref: str, rows: np.ndarray, n_parts: int, where: str) -> None:
    """A regression task's rows must fill `n_parts` test parts of at least two rows each."""
    part = "" if len(rows) == task.n_rows else " in this part of the split"
    if len(rows) < 2 * n_parts:
        raise ExperimentError(f"{where}: task {ref!r}: {len(rows)} row(s){part}, fewer than 2 per test part for "
                              f"{n_parts} parts (R^2 needs two rows); lower cv_folds or leave the task out")


def make_splits(task: Task, ref: str, *, n_folds: int, split_rep: int = 0, test_fraction: float | None = None,
                where: str = "<experiment>") -> RunSplits:
    """The folds (and held-out test) of repetition `split_rep` of `task`; ExperimentError if unusable."""
    seed = split_seed(ref, n_folds, split_rep, test_fraction)
    key = ref if split_rep == 0 and test_fraction is None else f"{ref}#split{split_rep}"
    official = task.splits is not None
    if test_fraction is None:
        if official:
            if split_rep:
                raise ExperimentError(f"{where}: task {ref!r} has official splits, which a seed design cannot vary; "
                                      "use test = \"holdout\" (its outer split is an official fold) or seed_design "
                                      "= \"repeated\"")
            return RunSplits(key, seed, task.splits)
        _check_classes(task, ref, np.arange(task.n_rows), n_folds, f"cv_folds = {n_folds} (stratified folds need "
                       "every class in every test fold)", where)
        return RunSplits(key, seed, task.cv_splits(n_folds, seed))
    if official:
        if split_rep >= len(task.splits):
            raise ExperimentError(f"{where}: task {ref!r} has {len(task.splits)} official folds, split repetition "
                                  f"{split_rep} needs one more each")
        outer_train, test = task.splits[split_rep]
    else:
        # Every class in the test part and cv_folds of it in the outer training part.
        _check_classes(task, ref, np.arange(task.n_rows), n_folds + 1, f"cv_folds + 1 = {n_folds + 1} (the held-out "
                       "part and every inner test fold need every class)", where)
        kind = ShuffleSplit if task.is_regression else StratifiedShuffleSplit
        outer = kind(n_splits=1, test_size=test_fraction, random_state=seed)
        outer_train, test = next(outer.split(np.zeros(task.n_rows), task.y))
        outer_train, test = np.sort(outer_train), np.sort(test)
        _check_classes(task, ref, test, 1, f"1 in the held-out part (test_fraction = {test_fraction:g})", where)
    _check_classes(task, ref, outer_train, n_folds, f"cv_folds = {n_folds} (stratified folds need every class "
                   "in every test fold)", where)
    return RunSplits(key, seed, task.cv_splits(n_folds, seed, rows=outer_train), (outer_train, test))
