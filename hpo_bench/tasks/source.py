"""The task protocol: what a task reference is, and what a source of tasks provides.

A reference is `PREFIX:REST` (`sklearn:iris`, `openml:task/31`, `suite:OpenML-CC18`, `surrogate:NAME/TASK`)
or, without a prefix, a name or an OpenML id of a task in the local task store. Each kind of reference has
one `TaskSource`: it is named by its prefix, checks the rest of a reference without reading anything
(`parse`), and loads the task a reference names (`load`). The sources:

- sklearn_bundled.SklearnSource  `sklearn:NAME`, a dataset bundled with scikit-learn (no store needed);
- openml.OpenMLSource            `openml:task/ID`, `openml:data/ID`, a task pulled into the task store;
- suites.SuiteSource             `suite:NAME`, a bundled suite, expanded into its members (never loaded);
- surrogate.SurrogateSource      `surrogate:NAME/TASK`, a surrogate of TASK kept in the task store;
- files.NamedSource              a bare name or id: a task of the store (a file imported, a task pulled).

hpo_bench.tasks.parse_ref picks a source by the prefix and is the one parser of references; this module
imports none of the sources (an import contract checks it), and no module outside hpo_bench.tasks imports
this one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hpo_bench.errors import TaskError
from hpo_bench.tasks.base import Task
from hpo_bench.tasks.store import StoredTask, TaskStore


@dataclass(frozen=True)
class TaskRef:
    """A reference checked by its source: its text, its kind, the value that identifies the task."""

    text: str
    kind: str  # "sklearn", "openml-task", "openml-data", "suite", "surrogate", "id" or "name"
    value: str | int
    source: TaskSource = field(compare=False, repr=False)
    stands_for: str | None = None  # the reference of the real task that this one stands for (a surrogate's)

    @property
    def is_surrogate(self) -> bool:
        """Its task is a surrogate's predictions, evaluated in the driver's process, not data for workers."""
        return self.source.surrogate


class TaskSource(ABC):
    """One kind of task reference: how it is written, checked and loaded."""

    prefix: ClassVar[str | None]  # "sklearn" of "sklearn:NAME"; None: references without a prefix
    forms: ClassVar[tuple[str, ...]]  # how its references are written, for messages
    in_store: ClassVar[bool] = False  # its tasks are folders of the task store: one can be missing there
    surrogate: ClassVar[bool] = False  # its tasks are a surrogate's predictions (TaskRef.is_surrogate)

    @abstractmethod
    def parse(self, ref: str, rest: str) -> TaskRef:
        """`ref` (whose text after the prefix is `rest`) checked without reading the store; TaskError if it is
        malformed. A reference standing for another (`stands_for`) has that one checked by the caller."""

    @abstractmethod
    def load(self, ref: TaskRef, store: TaskStore) -> Any:
        """The task `ref` names: a Task (or a SurrogateTask), or None when the store does not hold it (the caller
        then says how to get it). Raises TaskError for a reference that names no loadable task."""

    def parse_own(self, ref: str) -> TaskRef:
        """`ref` checked as one of this source's references (TaskError if it is another source's)."""
        prefix, rest = split_prefix(ref)
        if prefix != self.prefix:
            raise TaskError(f"task {ref!r}: not of the form {' or '.join(self.forms)}")
        return self.parse(ref, rest)

    def expand(self, ref: TaskRef) -> list[str]:
        """The references of the tasks `ref` stands for: itself, or a suite's members."""
        return [ref.text]

    def matches(self, ref: TaskRef, store: TaskStore) -> list[StoredTask]:
        """The tasks of the store that `ref` could name (more than one: ambiguous)."""
        raise TaskError(f"task {ref.text!r} is not looked up among the task store's tasks")


class InStoreSource(TaskSource):
    """A source whose tasks are read from the local task store (pulled or imported beforehand)."""

    in_store = True

    @abstractmethod
    def matches(self, ref: TaskRef, store: TaskStore) -> list[StoredTask]: ...

    def load(self, ref: TaskRef, store: TaskStore) -> Task | None:
        entry = find_entry(ref, store)
        return None if entry is None else store.load(entry, name=ref.text)


def split_prefix(ref: str) -> tuple[str | None, str]:
    """(prefix, the rest) of "prefix:rest"; (None, ref) for a reference without a prefix."""
    prefix, sep, rest = ref.partition(":")
    return (prefix, rest) if sep else (None, ref)


def find_entry(ref: TaskRef, store: TaskStore) -> StoredTask | None:
    """The stored task `ref` names, or None; a reference matching several is an error naming them."""
    matches = ref.source.matches(ref, store)
    if len(matches) > 1:
        raise TaskError(f"task {ref.text!r} matches {len(matches)} tasks in the task store {store.root} "
                        f"({', '.join(e.key for e in matches)}); name one of them, or write openml:task/ID "
                        "or openml:data/ID")
    return matches[0] if matches else None


def is_folder_name(name: str) -> bool:
    """A name that can be a folder of the task store: letters, digits, '-', '_', '.', not starting with '.'
    ("." and ".." would read the store's own folder or its parent)."""
    return bool(name) and not name.startswith(".") and all(c.isalnum() or c in "-_." for c in name)
