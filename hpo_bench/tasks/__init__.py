"""Tasks by reference, resolved without network.

- `sklearn:<name>`: a dataset bundled with scikit-learn (no store needed);
- `openml:task/<id>`: an OpenML task in the local task store (pulled: official splits; imported with
  that task id: generated splits, and the store says so);
- `openml:data/<id>`: an OpenML dataset in the store, splits generated from the recorded seed;
- `suite:<name>`: a bundled suite (`OpenML-CC18`, `OpenML-CTR23`, `probst-38`), expanded into its members;
- `surrogate:<name>/<task>`: a surrogate of `<task>` fitted on a results store's trials
  (hpo_bench/surrogates.py, `hpo-bench surrogate build`), kept in the task store's `.surrogates/` folder;
- `<name>` or `<id>`: a task in the store by its name (folder) or OpenML task or dataset id.

Only `hpo-bench tasks pull` goes to the network; everything here reads the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hpo_bench.errors import TaskError
from hpo_bench.tasks.base import Split, Task
from hpo_bench.tasks.sklearn_bundled import BUNDLED, load_sklearn_task
from hpo_bench.tasks.store import StoredTask, TaskStore, default_store_dir
from hpo_bench.tasks.suites import SUITES

FORMS = ("sklearn:NAME", "openml:task/ID", "openml:data/ID", "suite:NAME", "surrogate:NAME/TASK",
         "a name or OpenML id in the task store")


@dataclass(frozen=True)
class TaskRef:
    text: str
    kind: str  # "sklearn", "openml-task", "openml-data", "suite", "surrogate", "id" or "name"
    value: str | int


def parse_ref(ref: str) -> TaskRef:
    """The reference's form, checked without reading the store (that happens when a run starts)."""
    if not isinstance(ref, str) or not ref:
        raise TaskError(f"task {ref!r}: must be a non-empty string ({', '.join(FORMS)})")
    source, sep, rest = ref.partition(":")
    if not sep:
        if ref.isdigit():
            return TaskRef(ref, "id", int(ref))
        # A name is a folder of the task store: "." and ".." (any leading dot) would read task.json and
        # data from the store's own folder or its parent.
        if all(c.isalnum() or c in "-_." for c in ref) and not ref.startswith("."):
            return TaskRef(ref, "name", ref)
        raise TaskError(f"task {ref!r}: not a name (letters, digits, '-', '_', '.', not starting with '.'); "
                        f"allowed forms: {', '.join(FORMS)}")
    if source == "sklearn":
        if rest not in BUNDLED:
            raise TaskError(f"unknown task {ref!r} (bundled: {', '.join('sklearn:' + n for n in BUNDLED)})")
        return TaskRef(ref, "sklearn", rest)
    if source == "openml":
        what, _, number = rest.partition("/")
        if what not in ("task", "data") or not number.isdigit() or int(number) < 1:
            raise TaskError(f"task {ref!r}: write openml:task/ID or openml:data/ID with a positive integer ID")
        return TaskRef(ref, f"openml-{what}", int(number))
    if source == "suite":
        if rest not in SUITES:
            raise TaskError(f"unknown suite {ref!r} (bundled: {', '.join('suite:' + s for s in SUITES)})")
        return TaskRef(ref, "suite", rest)
    if source == "surrogate":
        name, slash, task = rest.partition("/")
        if not (slash and task and name) or name.startswith(".") or not all(c.isalnum() or c in "-_." for c in name):
            raise TaskError(f"task {ref!r}: write surrogate:NAME/TASK, NAME of letters, digits, '-', '_', '.' "
                            "(`hpo-bench surrogate build STORE --name NAME` makes them)")
        parse_ref(task)
        return TaskRef(ref, "surrogate", rest)
    raise TaskError(f"task {ref!r}: unknown source {source!r}; allowed forms: {', '.join(FORMS)}")


def check_task_ref(ref: str) -> None:
    """Raise TaskError unless `ref` is a well-formed task reference."""
    parse_ref(ref)


def expand_task_refs(refs: list[str]) -> list[str]:
    """Suites replaced by their members, in order, without repeats."""
    out: list[str] = []
    for ref in refs:
        parsed = parse_ref(ref)
        for member in SUITES[parsed.value].refs() if parsed.kind == "suite" else [ref]:
            if member not in out:
                out.append(member)
    return out


def find_in_store(ref: str, store: TaskStore) -> StoredTask | None:
    """The stored task `ref` names, or None. Ambiguous bare ids and names are errors."""
    parsed = parse_ref(ref)
    if parsed.kind in ("sklearn", "suite", "surrogate"):
        raise TaskError(f"task {ref!r} is not looked up among the task store's tasks")
    if parsed.kind == "name":
        entry = store.get(parsed.value)
        if entry is not None:
            return entry
        matches = [e for e in store.entries() if e.meta.get("name") == parsed.value]
    else:
        entries = store.entries()
        n = parsed.value
        if parsed.kind == "openml-task":
            # A pulled task (official splits) before a file imported with that task id.
            matches = sorted((e for e in entries if e.ids.get("openml_task_id") == n),
                             key=lambda e: not e.splits_official)[:1]
        elif parsed.kind == "openml-data":
            # Splits generated from the seed: a pulled dataset or an imported file, never an official task.
            matches = sorted((e for e in entries if e.ids.get("openml_data_id") == n and not e.splits_official),
                             key=lambda e: e.kind != "openml-data")[:1]
        else:
            matches = [e for e in entries if n in (e.ids.get("openml_task_id"), e.ids.get("openml_data_id"))]
    if len(matches) > 1:
        raise TaskError(f"task {ref!r} matches {len(matches)} tasks in the task store {store.root} "
                        f"({', '.join(e.key for e in matches)}); name one of them, or write openml:task/ID "
                        "or openml:data/ID")
    return matches[0] if matches else None


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
    # Surrogate tasks are checked when a run loads them (hpo_bench.surrogates), with their own message.
    return [r for r in refs if parse_ref(r).kind not in ("sklearn", "surrogate") and find_in_store(r, store) is None]


def check_tasks_available(refs: list[str], store: TaskStore) -> None:
    """Raise one TaskError naming every task the store lacks and how to get it (before any run starts)."""
    missing = missing_tasks(refs, store)
    if missing:
        shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
        raise TaskError(f"{'task' if len(missing) == 1 else f'{len(missing)} tasks'} {shown} "
                        f"{'is' if len(missing) == 1 else 'are'} not in the task store {store.root}; "
                        f"runs never download: {how_to_get(missing)}")


def load_task(ref: str, store: TaskStore | str | Path | None = None) -> Task:
    """The task `ref` names: bundled with scikit-learn, or read from the local task store."""
    parsed = parse_ref(ref)
    if parsed.kind == "sklearn":
        return load_sklearn_task(str(parsed.value))
    if parsed.kind == "surrogate":
        raise TaskError(f"{ref!r} is a surrogate task: hpo_bench.surrogates.load_surrogate_task reads it")
    if parsed.kind == "suite":
        raise TaskError(f"{ref!r} is a suite of {len(SUITES[parsed.value].ids)} tasks; expand it first")
    store = store if isinstance(store, TaskStore) else TaskStore(store)
    entry = find_in_store(ref, store)
    if entry is None:
        check_tasks_available([ref], store)
    return store.load(entry, name=ref)


__all__ = ["FORMS", "SUITES", "Split", "StoredTask", "Task", "TaskRef", "TaskStore", "check_task_ref",
           "check_tasks_available", "default_store_dir", "expand_task_refs", "find_in_store", "load_task",
           "parse_ref"]
