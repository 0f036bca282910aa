"""Tasks by reference: "sklearn:<name>" (bundled with scikit-learn)."""

from __future__ import annotations

from hpo_bench.errors import TaskError
from hpo_bench.tasks.base import Split, Task
from hpo_bench.tasks.sklearn_bundled import BUNDLED, load_sklearn_task

SOURCES = ("sklearn",)


def check_task_ref(ref: str) -> None:
    """Raise TaskError unless `ref` names a task this installation can load."""
    source, sep, name = ref.partition(":")
    if not sep or source not in SOURCES:
        raise TaskError(f"task {ref!r} must be written source:name with source in {list(SOURCES)}")
    if source == "sklearn" and name not in BUNDLED:
        raise TaskError(f"unknown task {ref!r} (bundled: {', '.join('sklearn:' + n for n in BUNDLED)})")


def load_task(ref: str) -> Task:
    check_task_ref(ref)
    return load_sklearn_task(ref.partition(":")[2])


__all__ = ["Split", "Task", "check_task_ref", "load_task"]
