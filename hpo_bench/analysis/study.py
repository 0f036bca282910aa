"""What analysis reads from a result store, loaded once for `analyze` and the report alike.

A `Study` holds the trials (with their runs and held-out test scores), the runs, tasks and sessions, the
recorded experiment file, and the search space each model was tuned in as stored with its runs. Analysis
encodes stored configurations in that stored space, never in the space the model family has in today's
code: a family whose range or parameters changed since the store was made would otherwise misplace (or
drop) every configuration the runs drew.

Rule for spaces: the runs of one model that tune the same hyperparameters must share one space
(fingerprint). A store mixing several has trials of different searches under one model name, which no
table can pool or compare (the runs tuning everything are pooled across tasks for importance, surrogates
and tuning spaces, and compared across seeds everywhere): loading it is refused, naming the model and the
fingerprints. That happens only when the family's space changed in code between sittings of one store.

Reading a store runs no code: a model named "package.module:ATTR" is analysed from what the store holds,
without importing that module. What a store does not record about a family (its package and named
defaults, how symbolic values such as "sqrt" are placed) comes from `builtin_family`, for hpo-bench's own
families only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from hpo_bench.errors import HpoBenchError
from hpo_bench.models import MODELS, ModelFamily
from hpo_bench.settings import recorded_settings
from hpo_bench.space import SearchSpace
from hpo_bench.store import Store
from hpo_bench.tuning import ALL


@dataclass(frozen=True)
class Study:
    """A store's contents as analysis reads them; see the module docstring.

    `trials`: every trial of the loaded models joined with its run and its held-out test score
    (`test_state`, `test_metrics`; see `Store.trials`). `runs`: every run of the store, also of models not
    loaded (the report says what the store holds). `spaces`: model -> the space its fully tuned runs
    searched, for each model with such runs. `left_out`: the store's models not loaded.
    """

    trials: pd.DataFrame
    tasks: pd.DataFrame
    spaces: dict[str, SearchSpace]
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)
    sessions: pd.DataFrame = field(default_factory=pd.DataFrame)
    experiment: dict[str, Any] = field(default_factory=dict)  # the recorded file: name, file_path, file_text, ...
    name: str = ""
    left_out: tuple[str, ...] = ()

    @property
    def task_type(self) -> str:
        """"classification" or "regression" (see `task_type_of`)."""
        return task_type_of(self.tasks)

    @property
    def settings(self) -> dict[str, Any]:
        """The recorded file's plain settings (cv_folds, test, test_fraction, seed_design, ...)."""
        return recorded_settings(self.experiment.get("file_text", ""), str(self.experiment.get("file_path")))

    def with_trials(self, trials: pd.DataFrame) -> Study:
        """The same study with other trials (a metric's view of them)."""
        return replace(self, trials=trials)


def load_study(path: str | Path, models: list[str] | None = None) -> Study:
    """Read the store at `path` (read-only); `models`: these models' trials only (default: all).

    Raises StoreError for a store without an experiment or with a stored name that could not name a
    report folder, HpoBenchError for a model the store lacks or one tuned in several spaces.
    """
    store = Store(path, create=False)
    try:
        name = store.experiment_name()  # checked: it names the output folders
        trials, tasks, runs, sessions = store.trials(), store.tasks(), store.runs(), store.sessions()
        experiment = store.experiment_row()
        stored_spaces = store.run_spaces()
    finally:
        store.close()
    left: list[str] = []
    if models is not None:
        trials, left = select_models(trials, models)
        stored_spaces = stored_spaces[stored_spaces["model"].isin(models)]
        runs = runs[runs["model"].isin(models)]  # what the report says was run is what it reports
    return Study(trials=trials, tasks=tasks, spaces=_spaces(stored_spaces, Path(path)), runs=runs, sessions=sessions,
                 experiment=experiment, name=name, left_out=tuple(left))


def _spaces(stored: pd.DataFrame, path: Path) -> dict[str, SearchSpace]:
    """model -> the space of its fully tuned runs; HpoBenchError where one model x tuned has several."""
    for (model, tuned), group in stored.groupby(["model", "tuned"], sort=True):
        if len(group) > 1:
            found = ", ".join(f"{r.space_fingerprint} ({r.n_runs} runs)" for r in group.itertuples())
            raise HpoBenchError(
                f"{path}: the runs of model {model!r} tuning {tuned!r} searched {len(group)} different spaces "
                f"(fingerprints {found}): its space changed between sittings of this store, and trials of "
                "different searches cannot be pooled or compared; analyse the runs of each space from a store "
                "of their own")
    full = stored[stored["tuned"] == ALL]
    return {r.model: SearchSpace.from_json(r.space) for r in full.itertuples()}


def select_models(trials: pd.DataFrame, models: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """The trials of `models` and the store's other models; a name the store lacks raises HpoBenchError."""
    present = sorted(trials["model"].unique())
    unknown = [m for m in models if m not in present]
    if not models or unknown:
        raise HpoBenchError(f"--models {','.join(models)}: name models of the store, comma-separated "
                            f"({', '.join(present)})")
    return trials[trials["model"].isin(models)], sorted(set(present) - set(models))


def builtin_family(model: str, task_type: str = "classification") -> ModelFamily | None:
    """hpo-bench's own family of that name for tasks of `task_type`, or None for a model from elsewhere
    ("package.module:ATTR") or one without an estimator for that type.

    Only what a store does not record is taken from it (defaults, the placing of symbolic values), and
    only from the families that ship with hpo-bench: importing the module a user's model names would run
    its code on reading a store.
    """
    family = MODELS.get(model)
    return None if family is None or task_type not in family.task_types() else family.for_task(task_type)


def task_type_of(tasks: pd.DataFrame | None) -> str:
    """The type of a store's tasks: one per store, since one experiment optimises one metric (the
    scheduler refuses to mix types). Stores made before regression existed hold classification tasks."""
    if tasks is None or tasks.empty or "task_type" not in tasks:
        return "classification"
    kinds = sorted(set(tasks["task_type"].fillna("classification")))
    if len(kinds) > 1:
        raise HpoBenchError(f"the store holds tasks of several types ({', '.join(kinds)}); analyse each from a "
                            "store of its own")
    return kinds[0]


def outside_reason(model: str) -> str:
    """Why a table that needs a family's defaults does not apply to a model from outside hpo-bench."""
    return (f"{model} is not one of hpo-bench's families: its package default and the placing of its symbolic "
            "values are code, which reading a store does not import")


__all__ = ["Study", "builtin_family", "load_study", "outside_reason", "select_models", "task_type_of"]
