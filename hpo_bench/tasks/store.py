"""The local task store: one folder per task (Parquet data + JSON metadata), so runs work offline.

```
<store>/<key>/task.json       ids, names, target, classes, feature types, splits, source, checksums
<store>/<key>/data.parquet    the features and the label (as text), one row per example, in OpenML's row order
<store>/<key>/splits.parquet  official splits only: one column per repeat, the test fold of each row
```
Only `hpo-bench tasks pull` and `hpo-bench tasks import` write here; runs only read. A folder is
written beside its final place and renamed into it, so a killed pull never leaves half a task.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpo_bench.errors import TaskError
from hpo_bench.tasks.base import CLASSIFICATION, REGRESSION, Split, Task, canonical_frame, regression_target

STORE_ENV = "HPO_BENCH_TASK_STORE"
FORMAT_VERSION = 1
META, DATA, SPLITS = "task.json", "data.parquet", "splits.parquet"
GENERATED_SPLITS = "generated at run time: stratified k-fold shuffled by the seed each run records"


def default_store_dir() -> Path:
    """$HPO_BENCH_TASK_STORE, else $XDG_CACHE_HOME/hpo-bench/tasks, else ~/.cache/hpo-bench/tasks."""
    if os.environ.get(STORE_ENV):
        return Path(os.environ[STORE_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    return (Path(cache).expanduser() if cache else Path.home() / ".cache") / "hpo-bench" / "tasks"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def folds_to_splits(folds: np.ndarray) -> list[Split]:
    """(train, test) index pairs from the test-fold number of each row (one repeat of a k-fold CV)."""
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(int(folds.max()) + 1)]


@dataclass(frozen=True)
class StoredTask:
    """One task in the store: its folder and its metadata (data are read only by `TaskStore.load`)."""

    key: str
    path: Path
    meta: dict[str, Any]

    @property
    def ids(self) -> dict[str, Any]:
        return self.meta.get("ids", {})

    @property
    def kind(self) -> str:
        return self.meta["source"]["kind"]

    @property
    def splits_official(self) -> bool:
        return bool(self.meta["splits"]["official"])

    def describe(self) -> str:
        """One line: its size, its target ("2 classes" or "regression"; stored before regression existed:
        classification) and its splits."""
        meta, splits = self.meta, self.meta["splits"]
        target = "regression" if meta.get("task_type") == REGRESSION else f"{meta['n_classes']} classes"
        kind = f"official {splits['n_repeats']}x{splits['n_folds']}-fold" if splits["official"] else "generated splits"
        return (f"{meta['n_rows']} rows, {meta['n_features']} features ({len(meta['categorical'])} categorical), "
                f"{target}, {kind}")


# What reading a task needs from its task.json; a file lacking one is refused when it is read, not with
# a KeyError half-way through loading.
_META_KEYS = ("format_version", "name", "target", "classes", "categorical", "n_rows", "n_features", "n_classes", "ids",
              "source", "splits", "checksum")


class TaskStore:
    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_store_dir()
        if self.root.exists() and not self.root.is_dir():
            where = "--task-store" if root is not None else f"the default task store (${STORE_ENV} or the cache)"
            raise TaskError(f"task store {str(self.root)!r} ({where}): is a file, not a folder")

    # -- reading ----------------------------------------------------------------------------------
    def entries(self) -> list[StoredTask]:
        """Every task in the store, by key. A folder without readable metadata is an error, not skipped."""
        if not self.root.is_dir():
            return []
        out = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            out.append(self._entry(folder))
        return out

    def get(self, key: str) -> StoredTask | None:
        if not key or key.startswith(".") or "/" in key or "\\" in key:  # a folder of the store, never beside it
            return None
        folder = self.root / key
        return self._entry(folder) if (folder / META).is_file() else None

    def _entry(self, folder: Path) -> StoredTask:
        try:
            meta = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TaskError(f"task store {self.root}: {folder.name}/{META} cannot be read ({exc}); "
                            f"remove {folder} and pull or import the task again") from None
        if not isinstance(meta, dict):
            raise TaskError(f"task store {self.root}: {folder.name}/{META} is not a JSON object; remove {folder} "
                            "and pull or import the task again")
        if meta.get("format_version") != FORMAT_VERSION:
            raise TaskError(f"task store {self.root}: {folder.name} has format version {meta.get('format_version')}"
                            f", this hpo-bench reads {FORMAT_VERSION}; pull or import it again")
        missing = [k for k in _META_KEYS if k not in meta]
        nested = [f"{k}.{sub}" for k, sub in (("source", "kind"), ("source", "description"), ("splits", "official"),
                                              ("checksum", "files"), ("checksum", "fingerprint"))
                  if not isinstance(meta.get(k), dict) or sub not in meta[k]]
        if missing or nested:
            raise TaskError(f"task store {self.root}: {folder.name}/{META} lacks {', '.join(missing + nested)}; "
                            f"remove {folder} and pull or import the task again")
        return StoredTask(folder.name, folder, meta)

    def load(self, entry: StoredTask, name: str | None = None) -> Task:
        """The task's data, checked against the checksums and the fingerprint recorded when it was stored."""
        meta = entry.meta
        for filename, expected in meta["checksum"]["files"].items():
            path = entry.path / filename
            if not path.is_file() or _sha256(path) != expected:
                raise TaskError(f"task store {self.root}: {entry.key}/{filename} is missing or does not match its "
                                f"sha256 in {META}; pull or import the task again")
        frame = pd.read_parquet(entry.path / DATA)
        target = meta["target"]
        # Stored before regression existed: a classification task.
        task_type = meta.get("task_type", CLASSIFICATION)
        if task_type == REGRESSION:
            codes = regression_target(frame.pop(target), where=f"{entry.key}/{DATA}")
        else:
            labels = frame.pop(target).astype(object).to_numpy()
            codes = pd.Categorical(labels, categories=meta["classes"]).codes.astype(np.int64)
            if (codes < 0).any():
                raise TaskError(f"task store {self.root}: {entry.key}: {int((codes < 0).sum())} labels are not among "
                                f"the classes {meta['classes']} of {META}; pull or import the task again")
        X, categorical = canonical_frame(frame, meta["categorical"], where=f"{entry.key}/{DATA}")
        splits = None
        if meta["splits"]["official"]:
            folds = pd.read_parquet(entry.path / SPLITS)["repeat_0"].to_numpy()
            splits = folds_to_splits(folds)
        task = Task(name=name or entry.key, X=X, y=codes, classes=list(meta["classes"]), categorical=categorical,
                    source=meta["source"]["description"], ids=dict(meta["ids"]), splits=splits,
                    splits_official=splits is not None, target=target, task_type=task_type)
        if task.fingerprint() != meta["checksum"]["fingerprint"]:
            raise TaskError(f"task store {self.root}: {entry.key} reads back with fingerprint {task.fingerprint()}, "
                            f"it was stored as {meta['checksum']['fingerprint']} (a different pandas/pyarrow reads "
                            "it differently?); pull or import the task again")
        return task

    def official_folds(self, entry: StoredTask) -> np.ndarray:
        """All official repeats: an array (n_repeats, n_rows) of each row's test fold."""
        if not entry.splits_official:
            raise TaskError(f"task {entry.key} has no official splits ({entry.meta['splits']['kind']})")
        return pd.read_parquet(entry.path / SPLITS).to_numpy().T

    # -- writing ----------------------------------------------------------------------------------
    def save(self, task: Task, key: str, *, source: dict[str, Any], splits_kind: str,
             folds: np.ndarray | None = None, replace: bool = False) -> StoredTask:
        """Write `task` under `key`. `folds` (n_repeats, n_rows) are official test-fold numbers, if any.

        `task.splits` must be repeat 0 of `folds` (what runs use); every repeat is kept in the store.
        """
        if not key or key.startswith(".") or not all(c.isalnum() or c in "-_." for c in key):
            raise TaskError(f"task name {key!r}: use letters, digits, '-', '_' or '.' (it names a folder)")
        final = self.root / key
        if final.exists() and not replace:
            raise TaskError(f"task {key!r} is already in the task store {self.root}")
        if task.target in task.X.columns:
            raise TaskError(f"task {key!r}: the target {task.target!r} is also a feature column")
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".tmp-{key}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            frame = task.X.copy()
            frame[task.target] = (np.asarray(task.y, dtype=np.float64) if task.is_regression
                                  else pd.Categorical.from_codes(task.y, categories=task.classes))
            frame.to_parquet(tmp / DATA, index=False)
            files = {DATA: _sha256(tmp / DATA)}
            splits_meta: dict[str, Any] = {"official": folds is not None, "kind": splits_kind}
            if folds is not None:
                folds = np.asarray(folds, dtype=np.int32)
                pd.DataFrame({f"repeat_{r}": folds[r] for r in range(folds.shape[0])}).to_parquet(
                    tmp / SPLITS, index=False)
                files[SPLITS] = _sha256(tmp / SPLITS)
                splits_meta.update(n_repeats=int(folds.shape[0]), n_folds=int(folds.max()) + 1,
                                   used_by_runs="repeat 0 (every repeat is kept in splits.parquet)")
            meta = {
                "format_version": FORMAT_VERSION, "key": key, "name": task.ids.get("name", key),
                "target": task.target, "task_type": task.task_type, "classes": task.classes, "n_rows": task.n_rows,
                "n_features": task.n_features, "n_classes": task.n_classes, "categorical": task.categorical,
                "features": [{"name": c, "type": "categorical" if c in task.categorical else "numeric",
                              "n_missing": int(task.X[c].isna().sum()),
                              **({"n_categories": len(task.X[c].cat.categories)} if c in task.categorical else {})}
                             for c in task.X.columns],
                "ids": task.ids, "source": {"description": task.source, **source}, "splits": splits_meta,
                "checksum": {"fingerprint": task.fingerprint(), "files": files},
                "stored_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (tmp / META).write_text(json.dumps(meta, indent=1, default=_json_default) + "\n", encoding="utf-8")
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return self._entry(final)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
