"""Tasks by reference, resolved without network.

- `sklearn:<name>`: a dataset bundled with scikit-learn (no store needed);
- `openml:task/<id>`: an OpenML task in the local task store (pulled: official splits; imported with
  that task id: generated splits, and the store says so);
- `openml:data/<id>`: an OpenML dataset in the store, splits generated from the recorded seed;
- `suite:<name>`: a bundled suite (`OpenML-CC18`, `OpenML-CTR23`, `probst-38`), expanded into its members;
- `surrogate:<name>/<task>`: a surrogate of `<task>` fitted on a results store's trials
  (hpo_bench/surrogates.py, `hpo-bench surrogate build`), kept in the task store's `.surrogates/` folder;
- `<name>` or `<id>`: a task in the store by its name (folder) or OpenML task or dataset id.

Each form is one source's (the protocol: source.py; the sources: SOURCES below). `parse_ref` is the one
parser of references, `load_task` loads what one names; no module outside hpo_bench.tasks parses one.
Only `hpo-bench tasks pull` goes to the network; everything here reads the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpo_bench.errors import TaskError
from hpo_bench.tasks.base import Split, Task
from hpo_bench.tasks.files import NamedSource
from hpo_bench.tasks.openml import OPENML
from hpo_bench.tasks.sklearn_bundled import SklearnSource
from hpo_bench.tasks.source import TaskRef, TaskSource, find_entry, split_prefix
from hpo_bench.tasks.store import StoredTask, TaskStore, default_store_dir
from hpo_bench.tasks.suites import SUITES, SuiteSource
from hpo_bench.tasks.surrogate import SURROGATE, list_surrogates

# Every source, in the order messages list their forms; the last takes references without a prefix.
SOURCES: tuple[TaskSource, ...] = (SklearnSource(), OPENML, SuiteSource(), SURROGATE, NamedSource())
_BY_PREFIX = {source.prefix: source for source in SOURCES}
FORMS = tuple(form for source in SOURCES for form in source.forms)


def parse_ref(ref: str) -> TaskRef:
    """The reference checked by its source, without reading the store (that happens when a run starts).

    The one parser of task references: every other module asks this one (or a parsed reference) what a
    reference names."""
    if not isinstance(ref, str) or not ref:
        raise TaskError(f"task {ref!r}: must be a non-empty string ({', '.join(FORMS)})")
    prefix, rest = split_prefix(ref)
    source = _BY_PREFIX.get(prefix)
    if source is None:
        raise TaskError(f"task {ref!r}: unknown source {prefix!r}; allowed forms: {', '.join(FORMS)}")
    try:
        parsed = source.parse(ref, rest)
    except TaskError as exc:
        if prefix is not None:
            raise
        raise TaskError(f"{exc}; allowed forms: {', '.join(FORMS)}") from None  # nothing matched: say what would
    if parsed.stands_for is not None:
        try:
            parse_ref(parsed.stands_for)
        except TaskError as exc:
            raise TaskError(f"task {ref!r} stands for a task that is not one: {exc}") from None
    return parsed


def check_task_ref(ref: str) -> None:
    """Raise TaskError unless `ref` is a well-formed task reference."""
    parse_ref(ref)


def real_task(ref: Any) -> str | None:
    """The reference of the real task that `ref` stands for (a surrogate task's), or None: `ref` is a real
    task, or not a reference at all."""
    try:
        return parse_ref(ref).stands_for
    except TaskError:
        return None


def is_surrogate(ref: str) -> bool:
    """Whether `ref` names a surrogate task (its evaluations are predictions, made in the driver's process)."""
    return parse_ref(ref).is_surrogate


def expand_task_refs(refs: list[str]) -> list[str]:
    """Suites replaced by their members, in order, without repeats."""
    out: list[str] = []
    for ref in refs:
        parsed = parse_ref(ref)
        for member in parsed.source.expand(parsed):
            if member not in out:
                out.append(member)
    return out


def find_in_store(ref: str, store: TaskStore) -> StoredTask | None:
    """The stored task `ref` names, or None. Ambiguous bare ids and names are errors."""
    return find_entry(parse_ref(ref), store)


def how_to_get(refs: list[str]) -> str:
    """The pull / import commands that would put `refs` into the store."""
    pull, names = [], []
    for suite in SUITES.values():  # a whole bundled suite missing: name the suite, not its 72 members
        if set(suite.refs()) <= set(refs):
            pull.append(f"--suite {suite.name}")
            refs = [r for r in refs if r not in suite.refs()]
    for ref in refs:
        parsed = parse_ref(ref)
        if parsed.kind == "openml-task" or parsed.kind == "id":
            pull.append(f"--task {parsed.value}")
        elif parsed.kind == "openml-data":
            pull.append(f"--data {parsed.value}")
        else:
            names.append(parsed.value)
    ways = []
    if pull:
        ways.append(f"pull with `hpo-bench tasks pull {' '.join(pull)}` (needs network to OpenML)")
    ids = "--openml-task-id ID" if any(p.startswith(("--task", "--suite OpenML")) for p in pull) else \
        "--openml-data-id ID"
    name = f" --name {names[0]}" if names else ""
    ways.append(f"import from a file with `hpo-bench tasks import FILE --target COLUMN{name}"
                f"{' ' + ids if pull else ''}` or a manifest with `hpo-bench tasks import MANIFEST.csv`")
    return "; or ".join(ways)


def missing_tasks(refs: list[str], store: TaskStore) -> list[str]:
    """The references (not bundled with scikit-learn) that the store cannot resolve."""
    # Surrogate tasks are checked when a run loads them (tasks/surrogate.py), with their own message.
    return [r for r in refs if parse_ref(r).source.in_store and find_in_store(r, store) is None]


def check_tasks_available(refs: list[str], store: TaskStore) -> None:
    """Raise one TaskError naming every task the store lacks and how to get it (before any run starts)."""
    missing = missing_tasks(refs, store)
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise TaskError(f"{'task' if len(missing) == 1 else f'{len(missing)} tasks'} {shown} "
                        f"{'is' if len(missing) == 1 else 'are'} not in the task store {store.root}; "
                        f"runs never download: {how_to_get(missing)}")


def load_task(ref: str, store: TaskStore | str | Path | None = None) -> Any:
    """The task `ref` names, loaded by its source: bundled with scikit-learn, read from the local task store,
    or a surrogate task (a SurrogateTask) kept there."""
    parsed = parse_ref(ref)
    store = store if isinstance(store, TaskStore) else TaskStore(store)
    task = parsed.source.load(parsed, store)
    if task is None:
        check_tasks_available([ref], store)
    return task


__all__ = ["FORMS", "SOURCES", "SUITES", "Split", "StoredTask", "Task", "TaskRef", "TaskSource", "TaskStore",
           "check_task_ref", "check_tasks_available", "default_store_dir", "expand_task_refs", "find_in_store",
           "is_surrogate", "list_surrogates", "load_task", "parse_ref", "real_task"]
