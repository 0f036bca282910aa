"""Datasets that ship with scikit-learn: no download, so the quickstart runs anywhere."""

from __future__ import annotations

import numpy as np
from sklearn import datasets

from hpo_bench.errors import TaskError
from hpo_bench.tasks.base import Task

# name -> (loader, OpenML data id of the same data where there is one)
BUNDLED = {
    "breast_cancer": (datasets.load_breast_cancer, 1510),
    "wine": (datasets.load_wine, 187),
    "iris": (datasets.load_iris, 61),
    "digits": (datasets.load_digits, None),
}


def load_sklearn_task(name: str) -> Task:
    if name not in BUNDLED:
        raise TaskError(f"unknown bundled dataset sklearn:{name} (allowed: {', '.join(BUNDLED)})")
    loader, openml_id = BUNDLED[name]
    bunch = loader(as_frame=True)
    X = bunch.data.astype(np.float64)
    y = np.asarray(bunch.target, dtype=np.int64)
    classes = [str(c) for c in bunch.target_names]
    ids = {"openml_data_id": openml_id} if openml_id else {}
    return Task(name=f"sklearn:{name}", X=X, y=y, classes=classes, source="scikit-learn " + loader.__name__,
                ids=ids)
