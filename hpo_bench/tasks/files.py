"""Tasks from local files: CSV / TSV (gzipped or not), ARFF and Parquet, one file or a manifest of many.

Imported tasks have no official splits: runs generate folds (stratified for classification) from the
seed they record, and the store's metadata says so. A task is classification unless it is imported as
regression (`task_type`, a manifest column or `--task-type`): its target must then be numeric and
finite. OpenML ids given with a file (or in the manifest) let experiments name the task as
`openml:task/ID`, `openml:data/ID` or by the bare id.

`NamedSource` is the task source of references without a prefix: a task of the store by its name or id.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hpo_bench.errors import TaskError
from hpo_bench.tasks.base import (
    CLASSIFICATION,
    REGRESSION,
    TASK_TYPES,
    Task,
    canonical_frame,
    encode_labels,
    regression_target,
)
from hpo_bench.tasks.source import InStoreSource, TaskRef, is_folder_name
from hpo_bench.tasks.store import GENERATED_SPLITS, StoredTask, TaskStore

FORMATS = (".csv", ".tsv", ".tab", ".arff", ".parquet", ".pq")  # each also as .gz, except Parquet
MANIFEST_COLUMNS = ("name", "file", "target")
# Manifest columns checked against the file, and the ids it may carry (openml_cc18_task_id: ../shared's name).
_CHECKED = ("n_rows", "n_features", "n_classes")
_TASK_ID_COLUMNS = ("openml_task_id", "openml_cc18_task_id")


class NamedSource(InStoreSource):
    """A reference without a prefix: a task of the task store by its name (its folder, as a file was imported
    under, or the dataset's name) or by an OpenML task or dataset id (of a task pulled, or a file imported
    with that id)."""

    prefix = None
    forms = ("a name or OpenML id in the task store",)

    def parse(self, ref: str, rest: str) -> TaskRef:
        if ref.isdigit():
            return TaskRef(ref, "id", int(ref), self)
        if is_folder_name(ref):
            return TaskRef(ref, "name", ref, self)
        raise TaskError(f"task {ref!r}: not a name (letters, digits, '-', '_', '.', not starting with '.')")

    def matches(self, ref: TaskRef, store: TaskStore) -> list[StoredTask]:
        if ref.kind == "name":
            entry = store.get(str(ref.value))
            if entry is not None:
                return [entry]
            return [e for e in store.entries() if e.meta.get("name") == ref.value]
        return [e for e in store.entries() if ref.value in (e.ids.get("openml_task_id"), e.ids.get("openml_data_id"))]


@dataclass(frozen=True)
class Imported:
    entry: StoredTask
    status: str  # "imported", "replaced" or "unchanged"


def _format(path: Path) -> tuple[str, bool]:
    name = path.name.lower()
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    for fmt in FORMATS:
        if base.endswith(fmt):
            if gz and fmt in (".parquet", ".pq"):
                break
            return fmt, gz
    raise TaskError(f"{path}: unknown file type (allowed: {', '.join(FORMATS)}, and .csv.gz, .tsv.gz, .arff.gz)")


def read_table(path: str | Path) -> tuple[pd.DataFrame, list[str]]:
    """The file as a DataFrame, and the columns the file itself declares nominal (ARFF)."""
    path = Path(path)
    fmt, gz = _format(path)
    if not path.is_file():
        raise TaskError(f"{path}: no such file")
    try:
        if fmt in (".parquet", ".pq"):
            return pd.read_parquet(path), []
        if fmt == ".arff":
            return _read_arff(path, gz)
        return pd.read_csv(path, sep="," if fmt == ".csv" else "\t", low_memory=False), []
    except TaskError:
        raise
    except Exception as exc:  # a parser's error names the line; keep it, add the file
        raise TaskError(f"{path}: cannot be read as {fmt[1:]}: {type(exc).__name__}: {exc}") from None


def _read_arff(path: Path, gz: bool) -> tuple[pd.DataFrame, list[str]]:
    import arff  # liac-arff, the parser openml itself uses

    opener = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = arff.load(f)
    names = [name for name, _ in data["attributes"]]
    nominal = [name for name, kind in data["attributes"] if isinstance(kind, list)]
    frame = pd.DataFrame(data["data"], columns=names)
    for name, kind in data["attributes"]:
        if isinstance(kind, list):  # nominal: keep the declared values and their order (also for the label)
            frame[name] = pd.Categorical(frame[name], categories=kind)
        elif kind.upper() in ("NUMERIC", "REAL", "INTEGER"):
            frame[name] = pd.to_numeric(frame[name])
    return frame, nominal


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def task_from_file(path: str | Path, *, target: str, categorical: list[str] | None = None,
                   name: str | None = None, ids: dict[str, Any] | None = None, where: str | None = None,
                   task_type: str = CLASSIFICATION) -> Task:
    """A Task from one file; `categorical` adds to the columns the file declares nominal (ARFF)."""
    path = Path(path)
    frame, nominal = read_table(path)
    return task_from_frame(frame, target=target, nominal=nominal, categorical=categorical,
                           name=name or path.name.split(".")[0], ids=ids, where=where or str(path),
                           task_type=task_type, source=f"file {path.name}", container=path.name)


def task_from_frame(frame: pd.DataFrame, *, target: str, name: str, where: str, nominal: list[str] | None = None,
                    categorical: list[str] | None = None, ids: dict[str, Any] | None = None,
                    task_type: str = CLASSIFICATION, source: str = "a pandas DataFrame",
                    container: str = "the DataFrame") -> Task:
    """A Task from a table holding the target column: the checks of every import, from a file or from a
    DataFrame (`hpo_bench.add_task`). `container` names the table in messages."""
    columns = [str(c) for c in frame.columns]
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:  # X[column] would be a frame, and a model could not tell the columns apart
        raise TaskError(f"{where}: column name {repeated[0]!r} appears {columns.count(repeated[0])} times in "
                        f"{container}; column names must be unique")
    if target not in frame.columns:
        shown = ", ".join(map(str, list(frame.columns)[:15])) + (" ..." if frame.shape[1] > 15 else "")
        raise TaskError(f"{where}: target column {target!r} is not in {container} (columns: {shown})")
    if task_type not in TASK_TYPES:
        raise TaskError(f"{where}: task_type = {task_type!r}: must be one of {list(TASK_TYPES)}")
    frame = frame.copy()
    y = frame.pop(target)
    if task_type == REGRESSION:
        codes, classes = regression_target(y, where=f"{where}: target {target!r}"), []
    else:
        codes, classes = encode_labels(y, where=f"{where}: target {target!r}")
    X, cats = canonical_frame(frame, [c for c in [*(nominal or []), *(categorical or [])] if c != target],
                              where=where)
    return Task(name=name, X=X, y=codes, classes=classes, categorical=cats, source=source,
                ids={"name": name, **(ids or {})}, target=target, task_type=task_type)


def import_file(store: TaskStore, path: str | Path, *, target: str, categorical: list[str] | None = None,
                name: str | None = None, openml_data_id: int | None = None, openml_task_id: int | None = None,
                replace: bool = False, extra: dict[str, Any] | None = None, where: str | None = None,
                expected: dict[str, int] | None = None, task_type: str = CLASSIFICATION) -> Imported:
    """Import one file into the store under `name` (default: the file name without its suffixes).

    `expected` (n_rows, n_features, n_classes) is checked against the file before anything is written.
    """
    path = Path(path)
    ids = {k: v for k, v in (("openml_data_id", openml_data_id), ("openml_task_id", openml_task_id)) if v}
    task = task_from_file(path, target=target, categorical=categorical, name=name, ids=ids, where=where,
                          task_type=task_type)
    for key, value in (expected or {}).items():
        if getattr(task, key) != value:
            raise TaskError(f"{where or path}: {key} = {value} in the manifest, but {path.name} has "
                            f"{getattr(task, key)} (target {target!r})")
    return store_task(store, task, {"kind": "file", "file": str(path.resolve()), "file_sha256": _sha256(path),
                                    **(extra or {})}, replace=replace, where=where or str(path))


def store_task(store: TaskStore, task: Task, source: dict[str, Any], *, replace: bool, where: str,
               again: str = "give another --name, or --replace it") -> Imported:
    """Save an imported task under its name: the same data and ids again is "unchanged"; other data under
    a name the store holds is refused unless `replace` (`again` says how, in the caller's terms)."""
    key = task.name
    existing = store.get(key)
    if existing is not None:
        if (existing.meta["checksum"]["fingerprint"] == task.fingerprint() and existing.ids == task.ids
                and existing.meta.get("task_type", CLASSIFICATION) == task.task_type):
            return Imported(existing, "unchanged")
        if not replace:
            raise TaskError(f"{where}: task {key!r} is already in the task store {store.root} with other "
                            f"data or ids; {again}")
    entry = store.save(task, key, source=source, splits_kind=GENERATED_SPLITS, replace=existing is not None)
    store.load(entry)  # reads back with the recorded fingerprint, or raises now rather than at run time
    return Imported(entry, "replaced" if existing is not None else "imported")


def is_manifest(path: str | Path) -> bool:
    """A CSV file whose header has the columns name, file and target."""
    path = Path(path)
    if not path.name.lower().endswith(".csv") or not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as f:  # a binary file is no manifest, and no error here
        header = [c.strip() for c in f.readline().strip().split(",")]
    return all(c in header for c in MANIFEST_COLUMNS)


def _int_or_none(value: str, where: str, column: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise TaskError(f"{where}: {column} = {value!r}: must be a non-negative integer or empty")
    return int(value)


def import_manifest(store: TaskStore, manifest: str | Path, *, replace: bool = False) -> list[Imported]:
    """Import every row of a manifest (name, file, target; optional task_type (classification, the default,
    or regression), categorical_columns separated by ';', n_rows / n_features / n_classes checked against
    the file, openml_data_id, openml_task_id)."""
    manifest = Path(manifest)
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    missing = [c for c in MANIFEST_COLUMNS if c not in table.columns]
    if missing:
        raise TaskError(f"{manifest}: a manifest needs the columns {list(MANIFEST_COLUMNS)}; {missing} missing")
    results = []
    for i, row in enumerate(table.to_dict("records"), start=2):  # line 1 is the header
        where = f"{manifest}:{i} ({row['name']})"
        task_type = row.get("task_type", "") or CLASSIFICATION
        if task_type not in TASK_TYPES:
            raise TaskError(f"{where}: task_type = {task_type!r}: must be one of {list(TASK_TYPES)} (or empty: "
                            "classification)")
        categorical = [c for c in row.get("categorical_columns", "").split(";") if c]
        task_ids = {_int_or_none(row[c], where, c) for c in _TASK_ID_COLUMNS if c in row} - {None}
        if len(task_ids) > 1:
            raise TaskError(f"{where}: the task id columns disagree ({sorted(task_ids)})")
        expected = {c: v for c in _CHECKED if (v := _int_or_none(row.get(c, ""), where, c)) is not None}
        imported = import_file(
            store, manifest.parent / row["file"], target=row["target"], categorical=categorical, name=row["name"],
            openml_data_id=_int_or_none(row.get("openml_data_id", ""), where, "openml_data_id"),
            openml_task_id=next(iter(task_ids), None), replace=replace, where=where, expected=expected,
            task_type=task_type,
            extra={"manifest": str(manifest.resolve()), "manifest_row": row})
        results.append(imported)
    return results
