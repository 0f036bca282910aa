"""Datasets that ship with scikit-learn: no download, so the quickstart runs anywhere."""

from __future__ import annotations

import numpy as np
from sklearn import datasets

from hpo_bench.errors import TaskError
from hpo_bench.tasks.base import REGRESSION, Task, regression_target
from hpo_bench.tasks.source import TaskRef, TaskSource
from hpo_bench.tasks.store import TaskStore

# name -> (loader, OpenML data id of the same data where there is one)
BUNDLED = {
    "breast_cancer": (datasets.load_breast_cancer, 1510),
    "wine": (datasets.load_wine, 187),
    "iris": (datasets.load_iris, 61),
    "digits": (datasets.load_digits, None),
    # Regression: disease progression after one year, 442 patients, 10 features (already centred and
    # scaled by scikit-learn; Efron et al. 2004).
    "diabetes": (datasets.load_diabetes, None),
}
REGRESSION_SETS = ("diabetes",)


def load_sklearn_task(name: str) -> Task:
    if name not in BUNDLED:
        raise TaskError(f"unknown bundled dataset sklearn:{name} (allowed: {', '.join(BUNDLED)})")
    loader, openml_id = BUNDLED[name]
    bunch = loader(as_frame=True)
    X = bunch.data.astype(np.float64)
    ids = {"openml_data_id": openml_id} if openml_id else {}
    source = "scikit-learn " + loader.__name__
    if name in REGRESSION_SETS:
        return Task(name=f"sklearn:{name}", X=X, y=regression_target(bunch.target, f"sklearn:{name}"), classes=[],
                    source=source, ids=ids, task_type=REGRESSION)
    y = np.asarray(bunch.target, dtype=np.int64)
    classes = [str(c) for c in bunch.target_names]
    return Task(name=f"sklearn:{name}", X=X, y=y, classes=classes, source=source, ids=ids)


class SklearnSource(TaskSource):
    """`sklearn:NAME`: a dataset bundled with scikit-learn, loaded without the task store."""

    prefix = "sklearn"
    forms = ("sklearn:NAME",)

    def parse(self, ref: str, rest: str) -> TaskRef:
        if rest not in BUNDLED:
            raise TaskError(f"unknown task {ref!r} (bundled: {', '.join('sklearn:' + n for n in BUNDLED)})")
        return TaskRef(ref, "sklearn", rest, self)

    def load(self, ref: TaskRef, store: TaskStore) -> Task:
        return load_sklearn_task(str(ref.value))
