"""Pull OpenML tasks, datasets and suites into the local task store. The only module that uses the network.

It drives the `openml` package (openml-python) with its configuration set for the pull alone: the
server (`--openml-server`, $HPO_BENCH_OPENML_SERVER, else openml.org), a cache in a temporary folder
inside the store (openml-python deletes cache folders when loading fails, and nothing of it is needed
after the pull), a few retries, and no Parquet downloads (the ARFF file is the one with an MD5 in the
dataset description). The previous configuration is restored afterwards.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpo_bench.errors import TaskError
from hpo_bench.tasks.base import CLASSIFICATION, REGRESSION, Task, canonical_frame, encode_labels, regression_target
from hpo_bench.tasks.source import InStoreSource, TaskRef
from hpo_bench.tasks.store import GENERATED_SPLITS, StoredTask, TaskStore, folds_to_splits
from hpo_bench.tasks.suites import SUITES

SERVER_ENV = "HPO_BENCH_OPENML_SERVER"
DEFAULT_SERVER = "https://www.openml.org/api/v1/xml"
N_RETRIES = 3  # openml-python's default is 5, with waits of 1, 2, 3, ... seconds between them


def openml_server(server: str | None = None) -> str:
    """The server to pull from: the argument, else $HPO_BENCH_OPENML_SERVER, else openml.org."""
    url = server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER
    if not url.startswith(("http://", "https://")):
        raise TaskError(f"OpenML server {url!r}: must be an http:// or https:// URL such as {DEFAULT_SERVER}")
    return url.rstrip("/")


class OpenMLSource(InStoreSource):
    """`openml:task/ID` (an OpenML task, its official splits) and `openml:data/ID` (a dataset, splits generated
    from the recorded seed), read from the task store: pulled there, or imported from a file with that id."""

    prefix = "openml"
    forms = ("openml:task/ID", "openml:data/ID")

    def parse(self, ref: str, rest: str) -> TaskRef:
        what, _, number = rest.partition("/")
        if what not in ("task", "data") or not number.isdigit() or int(number) < 1:
            raise TaskError(f"task {ref!r}: write openml:task/ID or openml:data/ID with a positive integer ID")
        return TaskRef(ref, f"openml-{what}", int(number), self)

    def matches(self, ref: TaskRef, store: TaskStore) -> list[StoredTask]:
        entries = store.entries()
        if ref.kind == "openml-task":
            # A pulled task (official splits) before a file imported with that task id.
            return sorted((e for e in entries if e.ids.get("openml_task_id") == ref.value),
                          key=lambda e: not e.splits_official)[:1]
        # Splits generated from the seed: a pulled dataset or an imported file, never an official task.
        return sorted((e for e in entries if e.ids.get("openml_data_id") == ref.value and not e.splits_official),
                      key=lambda e: e.kind != "openml-data")[:1]


OPENML = OpenMLSource()


@dataclass(frozen=True)
class Pulled:
    ref: str
    entry: StoredTask
    status: str  # "pulled", "replaced" or "in store" (nothing was requested)


@contextmanager
def _configured(server: str, cache_dir: Path) -> Iterator[Any]:
    """openml-python configured for one pull; its global configuration is restored afterwards."""
    import openml

    config = openml.config
    saved = (config.server, config._root_cache_directory, config.retry_policy, config.connection_n_retries,
             config.apikey, os.environ.get("OPENML_SKIP_PARQUET"))
    os.environ["OPENML_SKIP_PARQUET"] = "true"
    config.server = server
    # Public data need no key; the user's key goes only to the server it was configured for.
    config.apikey = saved[4] if server == saved[0].rstrip("/") else ""
    config.set_root_cache_directory(cache_dir)
    config.set_retry_policy("human", N_RETRIES)
    try:
        yield openml
    finally:
        config.server, root, policy, retries, config.apikey, skip = saved
        config.set_root_cache_directory(root)
        config.set_retry_policy(policy, retries)
        if skip is None:
            os.environ.pop("OPENML_SKIP_PARQUET", None)
        else:
            os.environ["OPENML_SKIP_PARQUET"] = skip


class Puller:
    """Pulls into `store`; what is already there is not requested again (use `replace` to refresh)."""

    def __init__(self, store: TaskStore, server: str | None = None) -> None:
        self.store = store
        self.server = openml_server(server)

    def _call(self, what: str, how_to_import: str, fn: Callable[[Any], Any]) -> Any:
        """Run fn(openml) with openml configured; turn its failures into one-line TaskErrors."""
        import requests
        from openml.exceptions import OpenMLServerException, PyOpenMLError

        self.store.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".openml-cache-", dir=self.store.root) as cache:
            try:
                with _configured(self.server, Path(cache)) as openml:
                    return fn(openml)
            except OpenMLServerException as exc:
                message = exc.message.removesuffix(" - None")  # openml appends the (empty) extra information
                raise TaskError(f"OpenML server {self.server}: {what}: {message} (OpenML error code {exc.code})"
                                ) from None
            except requests.exceptions.RequestException as exc:
                reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
                raise TaskError(
                    f"cannot reach the OpenML server {self.server} for {what} ({type(exc).__name__}: {reason}); "
                    f"it is not in the task store {self.store.root}: pull it where OpenML is reachable and copy "
                    f"the store folder, or import it from a file with `{how_to_import}`") from None
            except PyOpenMLError as exc:  # an unreadable answer, a download whose MD5 does not match, ...
                first = (str(exc).strip().splitlines() or [""])[0][:300]
                raise TaskError(f"OpenML server {self.server}: {what}: {type(exc).__name__}: {first}") from None

    def refs(self, task_ids: Sequence[int] = (), data_ids: Sequence[int] = (), suites: Sequence[str] = ()) -> list[str]:
        """The references to pull: the tasks, the datasets, then each suite's members, without repeats."""
        refs = [f"openml:task/{i}" for i in task_ids] + [f"openml:data/{i}" for i in data_ids]
        for suite in suites:
            refs += [r for r in self.suite_refs(suite) if r not in refs]
        return refs

    def pull(self, ref: str, replace: bool = False) -> Pulled:
        """Pull the task or dataset `openml:task/ID` or `openml:data/ID` names."""
        parsed = OPENML.parse_own(ref)
        pull = self.pull_task if parsed.kind == "openml-task" else self.pull_data
        return pull(int(parsed.value), replace=replace)

    # -- tasks ------------------------------------------------------------------------------------
    def pull_task(self, task_id: int, replace: bool = False) -> Pulled:
        key, ref = f"openml-task-{task_id}", f"openml:task/{task_id}"
        existing = self.store.get(key)
        if existing is not None and not replace:
            return Pulled(ref, existing, "in store")
        how = f"hpo-bench tasks import FILE --target COLUMN --openml-task-id {task_id}"
        task, folds, source = self._call(f"task {task_id}", how, lambda openml: self._fetch_task(openml, task_id))
        entry = self.store.save(task, key, source=source, folds=folds, replace=existing is not None,
                                splits_kind=f"official OpenML {source['estimation_procedure']}")
        self.store.load(entry)  # reads back with the recorded fingerprint, or fails now
        return Pulled(ref, entry, "replaced" if existing is not None else "pulled")

    def _fetch_task(self, openml: Any, task_id: int) -> tuple[Task, np.ndarray, dict[str, Any]]:
        task = openml.tasks.get_task(task_id, download_splits=True, download_data=True, download_qualities=False,
                                     download_features_meta_data=True)
        kinds = {openml.tasks.TaskType.SUPERVISED_CLASSIFICATION: CLASSIFICATION,
                 openml.tasks.TaskType.SUPERVISED_REGRESSION: REGRESSION}
        if task.task_type_id not in kinds:
            raise TaskError(f"OpenML task {task_id} is a {task.task_type} task; hpo-bench runs supervised "
                            "classification and regression tasks")
        dataset = task.get_dataset()
        where = f"OpenML task {task_id} (dataset {dataset.dataset_id} {dataset.name!r})"
        built = _task_from_dataset(dataset, task.target_name, where, kinds[task.task_type_id])
        repeats, n_folds, n_samples = task.get_split_dimensions()
        if n_samples != 1:
            raise TaskError(f"{where}: learning-curve tasks ({n_samples} samples per fold) are not supported")
        folds = np.full((repeats, built.n_rows), -1, dtype=np.int32)
        for r in range(repeats):
            for f in range(n_folds):
                train, test = task.get_train_test_split_indices(fold=f, repeat=r)
                if np.any(folds[r, test] >= 0) or len(train) + len(test) != built.n_rows or np.intersect1d(
                        train, test).size:
                    raise TaskError(f"{where}: repeat {r} fold {f} is not part of a partition of the rows "
                                    f"({task.estimation_procedure.get('type')}); only cross-validation is supported")
                folds[r, test] = f
        if (folds < 0).any():
            raise TaskError(f"{where}: {int((folds < 0).sum())} rows are in no test fold; only cross-validation "
                            "tasks are supported")
        built.splits = folds_to_splits(folds[0])
        built.splits_official = True
        built.ids["openml_task_id"] = task_id
        built.name = f"openml:task/{task_id}"
        built.source = (f"OpenML task {task_id}: dataset {dataset.dataset_id} {dataset.name!r} version "
                        f"{dataset.version}, {repeats} x {n_folds}-fold CV, from {self.server}")
        procedure = f"{task.estimation_procedure.get('type')} {repeats} x {n_folds} folds"
        return built, folds, {**_source(openml, self.server, dataset), "kind": "openml-task",
                              "estimation_procedure": procedure,
                              "splits_url": task.estimation_procedure.get("data_splits_url")}

    # -- datasets ---------------------------------------------------------------------------------
    def pull_data(self, data_id: int, replace: bool = False) -> Pulled:
        key, ref = f"openml-data-{data_id}", f"openml:data/{data_id}"
        existing = self.store.get(key)
        if existing is not None and not replace:
            return Pulled(ref, existing, "in store")
        how = f"hpo-bench tasks import FILE --target COLUMN --openml-data-id {data_id}"
        task, source = self._call(f"dataset {data_id}", how, lambda openml: self._fetch_data(openml, data_id))
        entry = self.store.save(task, key, source=source, splits_kind=GENERATED_SPLITS, replace=existing is not None)
        self.store.load(entry)
        return Pulled(ref, entry, "replaced" if existing is not None else "pulled")

    def _fetch_data(self, openml: Any, data_id: int) -> tuple[Task, dict[str, Any]]:
        dataset = openml.datasets.get_dataset(data_id, download_data=True, download_qualities=False,
                                              download_features_meta_data=True)
        where = f"OpenML dataset {data_id} {dataset.name!r}"
        target = dataset.default_target_attribute
        if not target or "," in target:
            raise TaskError(f"{where}: has no single default target ({target!r}); pull an OpenML task on it instead")
        # A dataset has no task type; OpenML declares its target's type: nominal is classification,
        # numeric regression (what OpenML itself would make of it).
        kind = REGRESSION if _feature_type(dataset, target) == "numeric" else CLASSIFICATION
        built = _task_from_dataset(dataset, target, where, kind)
        built.name = f"openml:data/{data_id}"
        built.source = f"OpenML dataset {data_id} {dataset.name!r} version {dataset.version} from {self.server}"
        return built, {**_source(openml, self.server, dataset), "kind": "openml-data"}

    # -- suites -----------------------------------------------------------------------------------
    def suite_refs(self, suite: str) -> list[str]:
        """A bundled suite's members (no request), else the suite's tasks as the server lists them."""
        if suite in SUITES:
            return SUITES[suite].refs()
        how = "hpo-bench tasks import FILE --target COLUMN (one per task)"
        ids = self._call(f"suite {suite!r}", how, lambda openml: list(
            openml.study.get_suite(int(suite) if suite.isdigit() else suite).tasks or []))
        return [f"openml:task/{i}" for i in ids]


def _source(openml: Any, server: str, dataset: Any) -> dict[str, Any]:
    return {"server": server, "data_url": dataset.url, "data_md5": dataset.md5_checksum,
            "openml_python": openml.__version__}


def _feature_type(dataset: Any, name: str) -> str | None:
    """The data type ("nominal", "numeric", ...) OpenML's feature description gives the column `name`."""
    return next((f.data_type for f in (dataset.features or {}).values() if f.name == name), None)


def _task_from_dataset(dataset: Any, target: str, where: str, task_type: str) -> Task:
    X, y, categorical_indicator, names = dataset.get_data(target=target)
    if task_type == REGRESSION:
        codes, classes = regression_target(y, where=f"{where}: target {target!r}"), []
    else:
        codes, classes = encode_labels(y, where=where)
    categorical = [n for n, is_cat in zip(names, categorical_indicator, strict=True) if is_cat]
    X, categorical = canonical_frame(X, categorical, where=where)
    ids = {"name": dataset.name, "openml_data_id": int(dataset.dataset_id), "openml_data_version": dataset.version}
    return Task(name=dataset.name, X=X, y=codes, classes=classes, categorical=categorical, ids=ids, target=target,
                task_type=task_type)
