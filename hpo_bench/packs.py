"""Packs: the published form of a result store, one compressed Parquet file per table and a descriptor.

A store (SQLite) is what a run writes; a pack (`results/<name>/`) is what git keeps and others read. The
round trip is exact: every table, its rows in primary-key order, floats bit for bit and JSON text as
stored, so a store unpacked from a pack gives the same analysis, report and resumed run as the store.

The descriptor is a Frictionless Data Package (datapackage.json, the standard for tabular data on disk):
each resource names its Parquet file, row count, size and SHA-256, and its fields with their meaning and
unit, so `frictionless`, pandas, pyarrow or DuckDB read a pack without hpo-bench. hpo-bench's own record
(format version, the experiment file's text and hash, package versions, data fingerprints) sits under the
descriptor's "hpo_bench" key, which the standard allows. The descriptor is written with the standard
library (a Data Package is plain JSON); the `frictionless` package would add a dependency tree for a file
we write in twenty lines and validate ourselves.

Packing an unchanged store leaves the folder byte for byte as it was (git sees no change): rows have a
fixed order, the Parquet files carry no timestamps, and a table whose rows equal the pack's keeps its
file, so even another pyarrow (whose version the Parquet footer names) rewrites nothing.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpo_bench.errors import StoreError

DESCRIPTOR = "datapackage.json"
FORMAT_VERSION = 1
# Measured on the flagship packs (README, "Results are data"); tests/test_packs.py holds every committed
# pack to these, so a pack cannot grow past them unnoticed.
MAX_PACK_BYTES = 8 * 2**20
MAX_TOTAL_BYTES = 40 * 2**20
_ARROW_TYPES = {"INTEGER": "int64", "REAL": "float64", "TEXT": "string"}
_FRICTIONLESS_TYPES = {"INTEGER": "integer", "REAL": "number", "TEXT": "string"}
_FILE_NAME = re.compile(r"^[a-z_]+\.parquet$")  # the only file names a descriptor may point to
_ZSTD_LEVEL = 19  # packs are written once and read often: the smallest files at a few seconds' cost

# What each table holds, and each column's meaning and unit: the descriptor's column dictionary.
# tests/test_packs.py checks that every column of the store's schema is here.
TABLES: dict[str, str] = {
    "meta": "the store's own settings (its schema version)",
    "experiment": "the experiment file the store was made from (one row)",
    "sessions": "each sitting of `hpo-bench run` that wrote to the store, with its package versions and machine",
    "tasks": "each dataset or task the runs used, with its fingerprint and split",
    "runs": "each run: a task x model x optimizer x seed (x tuned subset), its seeds, budget and the space it searched",
    "trials": "every evaluated configuration of every run, with its per-fold losses and every recorded metric",
    "test_scores": "held-out test scores of the configurations refitted on the outer training part (test = holdout)",
}
COLUMNS: dict[str, dict[str, tuple[str, str | None]]] = {
    "meta": {"key": ("setting name", None), "value": ("setting value (text)", None)},
    "experiment": {
        "id": ("always 1: a store holds one experiment", None),
        "name": ("the experiment's name (results/<name>, reports/<name>)", None),
        "file_path": ("the experiment file's path when the store was made", None),
        "file_text": ("the experiment file's full text (TOML)", None),
        "file_hash": ("SHA-256 of the experiment file's bytes, hex", None),
        "created_at": ("when the store was made", "s since 1970-01-01 UTC"),
    },
    "sessions": {
        "session_id": ("sitting number, from 1", None),
        "started_at": ("when the sitting started", "s since 1970-01-01 UTC"),
        "finished_at": ("when it ended (empty: killed)", "s since 1970-01-01 UTC"),
        "versions": ("JSON: package -> version of Python and the packages that make trials", None),
        "machine": ("JSON: hostname, platform, processor, cpu_count", None),
        "command": ("the command line of the sitting", None),
    },
    "tasks": {
        "task": ("task reference as the experiment names it (e.g. openml:data/37)", None),
        "fingerprint": ("SHA-256 of the task's data, target and splits (hex prefix)", None),
        "source": ("where the task came from (openml, file, sklearn, surrogate)", None),
        "n_rows": ("rows of the dataset", "count"),
        "n_features": ("feature columns", "count"),
        "n_classes": ("classes of the target (empty for regression)", "count"),
        "n_categorical": ("categorical feature columns", "count"),
        "ids": ("JSON: OpenML data and task ids, where known", None),
        "splits_official": ("1: OpenML's own splits; 0: generated from split_seed", None),
        "split_seed": ("seed of the generated splits", None),
        "n_folds": ("cross-validation folds", "count"),
        "task_type": ("classification or regression", None),
    },
    "runs": {
        "run_id": ("run number in the store, from 1", None),
        "run_key": ("the run's stable key: task|model|optimizer|tuned|seed factors", None),
        "task": ("task reference (tasks.task)", None),
        "model": ("model family name", None),
        "optimizer": ("optimizer label as the experiment file names it", None),
        "optimizer_type": ("optimizer type (registry name or package.module:Class)", None),
        "optimizer_options": ("JSON: the optimizer's options as given", None),
        "tuned": ("'all', or the one hyperparameter tuned with the others at their defaults", None),
        "seed": ("repetition number", None),
        "optimizer_seed": ("seed given to the optimizer", None),
        "model_seed": ("seed given to the model", None),
        "budget_evals": ("budget in full-fidelity evaluations", "evaluations"),
        "space": ("JSON: the search space the run searched (SearchSpace.from_json)", None),
        "space_fingerprint": ("SHA-256 of the space's JSON (hex prefix)", None),
        "task_fingerprint": ("tasks.fingerprint when the run was made", None),
        "status": ("pending, done or crashed", None),
        "note": ("why a run crashed or stopped early", None),
        "finished_at": ("when the run ended", "s since 1970-01-01 UTC"),
        "split_seed": ("seed of the run's data split (seed_design = crossed)", None),
        "split_rep": ("split repetition (crossed seed design)", None),
        "model_rep": ("model-seed repetition (crossed seed design)", None),
        "optimizer_rep": ("optimizer-seed repetition (crossed seed design)", None),
        "adaptive": ("1: the optimizer uses the results it is told (not grid, random or Sobol)", None),
        "budget_seconds": ("time budget of the run (empty: none)", "s"),
    },
    "trials": {
        "run_id": ("run (runs.run_id)", None),
        "trial_number": ("trial number within the run, from 0 (the default configuration first where "
                         "include_default)", None),
        "source": ("who proposed the configuration: default or optimizer", None),
        "config": ("JSON: hyperparameter name -> value", None),
        "fidelity": ("share of the full budget one evaluation cost (1: full; halving rungs below)", "evaluations"),
        "state": ("COMPLETE, FAILED or TIMEOUT", None),
        "metric": ("the metric optimised (the loss column's)", None),
        "loss": ("mean over folds of the optimised metric, as a loss (lower is better); empty unless COMPLETE",
                 "metric"),
        "fold_losses": ("JSON: the optimised metric per fold", "metric"),
        "fit_time_s": ("fit time summed over folds", "s"),
        "predict_time_s": ("prediction time summed over folds", "s"),
        "error": ("why the trial failed", None),
        "info": ("JSON: what the optimizer recorded with its suggestion (e.g. a halving bracket)", None),
        "submitted_at": ("when the trial was handed to a worker", "s since 1970-01-01 UTC"),
        "finished_at": ("when its result was stored", "s since 1970-01-01 UTC"),
        "session_id": ("sitting that evaluated it (sessions.session_id)", None),
        "fold_metrics": ("JSON: every metric of the task type -> its value per fold, as losses", "metric"),
        "optimizer_time_s": ("the optimizer's own time for this trial (its ask and the tells before it)", "s"),
    },
    "test_scores": {
        "run_id": ("run (runs.run_id)", None),
        "trial_number": ("trial whose configuration was refitted (trials.trial_number)", None),
        "state": ("COMPLETE, FAILED or TIMEOUT", None),
        "metrics": ("JSON: every metric of the task type on the held-out test part, as losses", "metric"),
        "fit_time_s": ("refit time", "s"),
        "predict_time_s": ("prediction time on the test part", "s"),
        "error": ("why the refit failed", None),
        "finished_at": ("when the score was stored", "s since 1970-01-01 UTC"),
        "session_id": ("sitting that computed it (sessions.session_id)", None),
    },
}


@dataclass(frozen=True)
class PackSummary:
    """What `pack` wrote: the folder, rows per table, the files it rewrote (empty: nothing changed), bytes,
    and the store it packed."""

    folder: Path
    rows: dict[str, int]
    changed: tuple[str, ...]
    n_bytes: int
    store: Path


def is_pack(path: str | Path) -> bool:
    """A folder holding a pack's descriptor (not checked: read_descriptor does that)."""
    return Path(path).is_dir() and (Path(path) / DESCRIPTOR).is_file()


# -- reading and checking -------------------------------------------------------------------------
def read_descriptor(folder: str | Path) -> dict[str, Any]:
    """The descriptor of the pack in `folder`, after checking every file it names against its size and
    SHA-256. Raises StoreError with one line naming the file for a missing, partial, foreign or altered pack.
    """
    folder = Path(folder)
    path = folder / DESCRIPTOR
    if not folder.is_dir():
        raise StoreError(f"{folder}: no pack here (a pack is a folder with {DESCRIPTOR} and Parquet files)")
    if not path.is_file():
        raise StoreError(f"{folder}: is a folder, not a result store (a .sqlite file) nor a pack (it has no "
                         f"{DESCRIPTOR})")
    try:
        descriptor = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: not a pack descriptor (not JSON: {exc})") from None
    own = descriptor.get("hpo_bench") if isinstance(descriptor, dict) else None
    if not isinstance(own, dict) or "format_version" not in own:
        raise StoreError(f"{path}: not an hpo-bench pack (no 'hpo_bench' record with a format_version)")
    if own["format_version"] != FORMAT_VERSION:
        raise StoreError(f"{path}: pack format version {own['format_version']!r}; this hpo-bench reads version "
                         f"{FORMAT_VERSION}")
    from hpo_bench.store import SCHEMA_VERSION

    if own.get("schema_version") != SCHEMA_VERSION:
        raise StoreError(f"{path}: a pack of store schema {own.get('schema_version')!r}; this hpo-bench reads "
                         f"schema {SCHEMA_VERSION} (unpack it with the hpo-bench that made it)")
    resources = descriptor.get("resources")
    names = [r.get("name") for r in resources] if isinstance(resources, list) and all(
        isinstance(r, dict) for r in resources) else None
    if names is None or sorted(names) != sorted(TABLES):
        raise StoreError(f"{path}: its resources {names} are not the store's tables {sorted(TABLES)}")
    for resource in resources:
        _check_file(folder, path, resource)
    return descriptor


def _check_file(folder: Path, descriptor_path: Path, resource: dict[str, Any]) -> None:
    name = resource.get("path")
    # A descriptor may come from anyone: it names files in its own folder only, by a plain name.
    if not isinstance(name, str) or not _FILE_NAME.match(name):
        raise StoreError(f"{descriptor_path}: resource path {name!r} is not a plain file name of this folder "
                         "(like trials.parquet)")
    file = folder / name
    if not file.is_file():
        raise StoreError(f"{file}: missing (a partial pack; pack the store again)")
    data = file.read_bytes()
    if len(data) != resource.get("bytes") or f"sha256:{hashlib.sha256(data).hexdigest()}" != resource.get("hash"):
        raise StoreError(f"{file}: its size or SHA-256 does not match {descriptor_path} (the file was altered or "
                         "damaged; pack the store again)")


def _read_table(folder: Path, resource: dict[str, Any]) -> Any:
    import pyarrow.parquet as pq

    file = folder / resource["path"]
    table = pq.read_table(file)
    want = [f["name"] for f in resource["schema"]["fields"]]
    if table.column_names != want:
        raise StoreError(f"{file}: columns {table.column_names} are not those its descriptor names {want}")
    return table


# -- pack -----------------------------------------------------------------------------------------
def pack(store_path: str | Path, folder: str | Path | None = None) -> PackSummary:
    """Write the store's pack to `folder` (default: <store's folder>/<experiment name>/).

    A folder that holds the pack of the same experiment file is updated (a study packed after each
    sitting); any other existing folder is refused. The new pack is written beside it and swapped in,
    so a kill leaves the old pack or the new one, never a mixture.
    """
    import pyarrow.parquet as pq

    from hpo_bench.store import SCHEMA_VERSION, Store

    store_path = Path(store_path)
    with Store(store_path, create=False) as store:
        name = store.experiment_name()
        db = store.db
        db.execute("BEGIN")  # one snapshot of every table while a run may be writing
        try:
            tables = {t: _snapshot(db, t) for t in _store_tables(db, store_path)}
        finally:
            db.execute("COMMIT")
    folder = Path(folder) if folder is not None else store_path.parent / name
    experiment = tables["experiment"][1]
    exp_row = dict(zip(tables["experiment"][0], experiment[0], strict=True)) if experiment else {}
    old = _existing_pack(folder, name, exp_row.get("file_hash"))
    tmp = folder.parent / f".{folder.name}.packing-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    resources, changed, rows = [], [], {}
    try:
        for table, (columns, values, types, primary) in tables.items():
            arrow = _arrow_table(columns, values, types, store_path, table)
            file = tmp / f"{table}.parquet"
            previous = _old_file(old, folder, table)
            if previous is not None and pq.read_table(previous).equals(arrow):
                shutil.copyfile(previous, file)  # same rows: the same bytes, whatever pyarrow writes today
            else:
                pq.write_table(arrow, file, compression="zstd", compression_level=_ZSTD_LEVEL, store_schema=False,
                               row_group_size=max(1, len(values)))
                changed.append(table)
            data = file.read_bytes()
            rows[table] = len(values)
            resources.append(_resource(table, columns, types, primary, len(values), data))
        descriptor = _descriptor(name, exp_row, tables, resources, SCHEMA_VERSION)
        text = json.dumps(descriptor, indent=1, ensure_ascii=False) + "\n"
        (tmp / DESCRIPTOR).write_text(text, encoding="utf-8")
        if old is not None and (folder / DESCRIPTOR).read_text(encoding="utf-8") == text:
            shutil.rmtree(tmp)
            return PackSummary(folder, rows, (), _folder_bytes(folder), store_path)
        _swap(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PackSummary(folder, rows, tuple(changed) or (DESCRIPTOR,), _folder_bytes(folder), store_path)


def _store_tables(db: sqlite3.Connection, store_path: Path) -> list[str]:
    names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                      "'sqlite_%' ORDER BY name")]
    if sorted(names) != sorted(TABLES):
        raise StoreError(f"{store_path}: tables {names} are not those of an hpo-bench store {sorted(TABLES)}")
    return sorted(names, key=list(TABLES).index)


def _snapshot(db: sqlite3.Connection, table: str) -> tuple[list[str], list[tuple], list[str], list[str]]:
    """(columns, rows in primary-key order, declared types, primary-key columns) of one table."""
    info = db.execute(f"PRAGMA table_info({table})").fetchall()  # noqa: S608 (a name of our schema)
    columns = [r[1] for r in info]
    types = [r[2].upper() for r in info]
    primary = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    order = ", ".join(primary) or "rowid"
    rows = [tuple(r) for r in db.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {order}")]  # noqa: S608
    return columns, rows, types, primary


def _arrow_table(columns: list[str], rows: list[tuple], types: list[str], store_path: Path, table: str) -> Any:
    import pyarrow as pa

    arrays = []
    for i, (column, kind) in enumerate(zip(columns, types, strict=True)):
        if kind not in _ARROW_TYPES:
            raise StoreError(f"{store_path}: column {table}.{column} has SQLite type {kind!r}, which a pack does "
                             "not hold")
        try:
            arrays.append(pa.array([r[i] for r in rows], type=_ARROW_TYPES[kind]))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            # SQLite keeps any value in any column; a pack keeps the declared type, so the round trip is exact.
            raise StoreError(f"{store_path}: column {table}.{column} ({kind}) holds a value of another type "
                             f"({exc})") from None
    return pa.table(arrays, names=columns)


def _existing_pack(folder: Path, name: str, file_hash: str | None) -> dict[str, Any] | None:
    """The descriptor of the pack `folder` holds, if it is of this experiment file; None for no folder or
    an empty one. Anything else there is refused: a pack never overwrites what it did not write."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        raise StoreError(f"{folder}: is a file, not a pack folder")
    if not any(folder.iterdir()):
        return None
    if not (folder / DESCRIPTOR).is_file():
        raise StoreError(f"{folder}: exists and is not a pack; give another --output or remove it")
    try:
        descriptor = json.loads((folder / DESCRIPTOR).read_text(encoding="utf-8"))
        own = descriptor["hpo_bench"]["experiment"]
    except (OSError, ValueError, KeyError, TypeError):
        raise StoreError(f"{folder}: exists and is not an hpo-bench pack; give another --output or remove it") from None
    if own.get("name") != name or own.get("file_hash") != file_hash:
        raise StoreError(f"{folder}: holds the pack of another experiment ({own.get('name')!r}, sha256 "
                         f"{str(own.get('file_hash'))[:12]}), not of this store's ({name!r}, sha256 "
                         f"{str(file_hash)[:12]}); give another --output")
    return descriptor


def _old_file(old: dict[str, Any] | None, folder: Path, table: str) -> Path | None:
    """The old pack's file of `table`, if it is there and intact (its hash as described)."""
    if old is None:
        return None
    for resource in old.get("resources", []):
        if resource.get("name") == table:
            try:
                _check_file(folder, folder / DESCRIPTOR, resource)
            except StoreError:
                return None
            return folder / resource["path"]
    return None


def _resource(table: str, columns: list[str], types: list[str], primary: list[str], n_rows: int,
              data: bytes) -> dict[str, Any]:
    fields = []
    for column, kind in zip(columns, types, strict=True):
        meaning, unit = COLUMNS[table][column]
        field = {"name": column, "type": _FRICTIONLESS_TYPES[kind], "description": meaning}
        if unit:
            field["unit"] = unit
        fields.append(field)
    return {"name": table, "path": f"{table}.parquet", "format": "parquet",
            "mediatype": "application/vnd.apache.parquet", "description": TABLES[table], "rows": n_rows,
            "bytes": len(data), "hash": f"sha256:{hashlib.sha256(data).hexdigest()}",
            "schema": {"fields": fields, "primaryKey": primary}}


def _descriptor(name: str, exp_row: dict[str, Any], tables: dict[str, Any], resources: list[dict[str, Any]],
                schema_version: int) -> dict[str, Any]:
    """Only what the store holds goes in: packing the same store gives the same descriptor anywhere."""
    import tomllib

    def column(table: str, col: str) -> list[Any]:
        columns, values = tables[table][0], tables[table][1]
        i = columns.index(col)
        return [r[i] for r in values]

    try:
        description = tomllib.loads(exp_row.get("file_text") or "").get("description", "")
    except tomllib.TOMLDecodeError:
        description = ""
    versions: list[dict[str, str]] = []
    for text in column("sessions", "versions"):
        found = json.loads(text or "{}")
        if found not in versions:
            versions.append(found)
    statuses = column("runs", "status")
    return {
        "$schema": "https://datapackage.org/profiles/2.0/datapackage.json",
        "name": name.lower(),
        "title": f"hpo-bench results: {name}",
        "description": str(description),
        "resources": resources,
        "hpo_bench": {
            "format_version": FORMAT_VERSION,
            "schema_version": schema_version,
            "experiment": {"name": name, "file_hash": exp_row.get("file_hash"),
                           "file_path": exp_row.get("file_path"), "file_text": exp_row.get("file_text")},
            "package_versions": versions,
            "data_fingerprints": dict(zip(column("tasks", "task"), column("tasks", "fingerprint"), strict=True)),
            "n_trials": len(tables["trials"][1]),
            "runs_by_status": {s: statuses.count(s) for s in sorted(set(statuses))},
            "row_order": "each table's rows are in the order of its primary key",
        },
    }


def _swap(new: Path, folder: Path) -> None:
    """Put `new` where `folder` is: a rename each, so the folder holds the old pack or the new one."""
    if not folder.exists():
        new.rename(folder)
        return
    old = folder.parent / f".{folder.name}.old-{os.getpid()}"
    folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old)


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())


# -- unpack ---------------------------------------------------------------------------------------
def unpack(folder: str | Path, store_path: str | Path) -> dict[str, Any]:
    """Write the pack in `folder` as a new store at `store_path` (refused if it exists); returns the
    descriptor. The store is built beside its final name and renamed into place when complete."""
    from hpo_bench.store import Store

    folder, store_path = Path(folder), Path(store_path)
    descriptor = read_descriptor(folder)
    if store_path.exists():
        raise StoreError(f"{store_path}: exists; unpack into a new store (--output) or remove it")
    tables = {r["name"]: (r, _read_table(folder, r)) for r in descriptor["resources"]}
    store_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = store_path.parent / f".{store_path.name}.unpacking-{os.getpid()}"
    _remove_store(tmp)
    try:
        with Store(tmp) as store, store.transaction():
            store.db.execute("DELETE FROM meta")  # the pack's rows, schema_version included
            for table in TABLES:
                resource, arrow = tables[table]
                columns = arrow.column_names
                data = arrow.to_pydict()
                rows = list(zip(*(data[c] for c in columns), strict=True))
                if len(rows) != resource.get("rows"):
                    raise StoreError(f"{folder / resource['path']}: {len(rows)} rows, its descriptor says "
                                     f"{resource.get('rows')}")
                marks = ", ".join("?" * len(columns))
                store.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608
        os.replace(tmp, store_path)
    finally:
        _remove_store(tmp)
    return descriptor


def _remove_store(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".lock"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


_READ_COPIES: dict[tuple[str, str], Path] = {}


def readable_store(folder: str | Path) -> Path:
    """A store to read the pack in `folder` from: unpacked once per process into a temporary folder that
    is removed at exit. Commands that read (status, analyze, report, export, surrogate build) take a pack
    this way, so they read exactly what they would read from the store."""
    folder = Path(folder)
    descriptor = read_descriptor(folder)
    key = (str(folder.resolve()), hashlib.sha256(json.dumps(descriptor, sort_keys=True).encode()).hexdigest())
    if key not in _READ_COPIES:
        tmp = Path(tempfile.mkdtemp(prefix="hpo-bench-pack-"))
        atexit.register(shutil.rmtree, tmp, True)
        path = tmp / f"{descriptor['hpo_bench']['experiment']['name']}.sqlite"
        unpack(folder, path)
        _READ_COPIES[key] = path
    return _READ_COPIES[key]


def pack_experiment(folder: str | Path) -> dict[str, Any]:
    """The experiment record of the pack in `folder` (name, file_hash, file_path, file_text), checked."""
    return read_descriptor(folder)["hpo_bench"]["experiment"]


__all__ = ["COLUMNS", "DESCRIPTOR", "FORMAT_VERSION", "MAX_PACK_BYTES", "MAX_TOTAL_BYTES", "TABLES", "PackSummary",
           "is_pack", "pack", "pack_experiment", "read_descriptor", "readable_store", "unpack"]
