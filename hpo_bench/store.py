"""The result store: one SQLite file per experiment, append-only, every finished trial committed at once.

WAL mode lets `status` and `analyze` read while a run writes. The driver is the only writer.
Configurations and per-fold losses are JSON text, so any SQLite client can read a store.
"""

from __future__ import annotations

import json
import platform
import socket
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from hpo_bench.errors import StoreError
from hpo_bench.evaluation import TrialResult, TrialState
from hpo_bench.experiment import Experiment, RunSpec
from hpo_bench.space import config_key

SCHEMA_VERSION = 2
_PACKAGES = ("hpo-bench", "numpy", "pandas", "scipy", "scikit-learn", "xgboost", "xgboost-cpu", "openml",
             "matplotlib", "optuna", "hyperopt", "dask", "distributed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiment (
    id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, file_path TEXT, file_text TEXT NOT NULL,
    file_hash TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_id INTEGER PRIMARY KEY, started_at REAL NOT NULL, finished_at REAL, versions TEXT NOT NULL,
    machine TEXT NOT NULL, command TEXT);
CREATE TABLE IF NOT EXISTS tasks (
    task TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, source TEXT, n_rows INTEGER, n_features INTEGER,
    n_classes INTEGER, n_categorical INTEGER, ids TEXT, splits_official INTEGER, split_seed INTEGER,
    n_folds INTEGER);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY, run_key TEXT UNIQUE NOT NULL, task TEXT NOT NULL, model TEXT NOT NULL,
    optimizer TEXT NOT NULL, optimizer_type TEXT NOT NULL, optimizer_options TEXT NOT NULL,
    tuned TEXT NOT NULL, seed INTEGER NOT NULL, optimizer_seed INTEGER NOT NULL, model_seed INTEGER NOT NULL,
    budget_evals REAL NOT NULL, space TEXT NOT NULL, space_fingerprint TEXT NOT NULL,
    task_fingerprint TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', note TEXT,
    finished_at REAL, split_seed INTEGER, split_rep INTEGER, model_rep INTEGER, optimizer_rep INTEGER,
    adaptive INTEGER);
CREATE TABLE IF NOT EXISTS trials (
    run_id INTEGER NOT NULL REFERENCES runs(run_id), trial_number INTEGER NOT NULL,
    source TEXT NOT NULL, config TEXT NOT NULL, fidelity REAL NOT NULL, state TEXT NOT NULL,
    metric TEXT NOT NULL, loss REAL, fold_losses TEXT NOT NULL, fit_time_s REAL, predict_time_s REAL,
    error TEXT, info TEXT NOT NULL, submitted_at REAL, finished_at REAL NOT NULL, session_id INTEGER,
    fold_metrics TEXT, PRIMARY KEY (run_id, trial_number));
CREATE TABLE IF NOT EXISTS test_scores (
    run_id INTEGER NOT NULL REFERENCES runs(run_id), trial_number INTEGER NOT NULL, state TEXT NOT NULL,
    metrics TEXT NOT NULL, fit_time_s REAL, predict_time_s REAL, error TEXT, finished_at REAL NOT NULL,
    session_id INTEGER, PRIMARY KEY (run_id, trial_number));
"""
# Schema 1 -> 2: every metric per fold, the seed factors and split seed of each run, held-out test
# scores. Columns are added (NULL in the old rows, which analysis reads as "not recorded"), so a store
# made before keeps every trial and can be continued.
_MIGRATE_1_TO_2 = """
ALTER TABLE trials ADD COLUMN fold_metrics TEXT;
ALTER TABLE runs ADD COLUMN split_seed INTEGER;
ALTER TABLE runs ADD COLUMN split_rep INTEGER;
ALTER TABLE runs ADD COLUMN model_rep INTEGER;
ALTER TABLE runs ADD COLUMN optimizer_rep INTEGER;
ALTER TABLE runs ADD COLUMN adaptive INTEGER;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
"""

RUN_STATUSES = ("pending", "done", "crashed")
EXPORT_FORMATS = ("parquet", "csv")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def machine_info() -> dict[str, Any]:
    import os

    return {"hostname": socket.gethostname(), "platform": platform.platform(), "machine": platform.machine(),
            "processor": platform.processor(), "cpu_count": os.cpu_count()}


@dataclass(frozen=True)
class TrialRecord:
    """A finished trial as stored: what was asked, at which fidelity, and what came back."""

    trial_number: int
    source: str  # "optimizer" or "default"
    config: dict[str, Any]
    fidelity: float
    result: TrialResult
    info: dict[str, Any]
    submitted_at: float | None
    finished_at: float


class Store:
    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise StoreError(f"no result store at {str(self.path)!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        try:
            self._open(create)
        except sqlite3.DatabaseError as exc:  # another program's file, garbage, a truncated store
            self.db.close()
            raise StoreError(f"{self.path}: not a readable hpo-bench store ({exc})") from None
        self.session_id: int | None = None

    def _open(self, create: bool) -> None:
        if create:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        try:
            version = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        except sqlite3.OperationalError:  # an SQLite file without our tables
            version = None
        if version is not None and version[0] == "1":
            self.db.executescript("BEGIN;" + _MIGRATE_1_TO_2 + _SCHEMA + "COMMIT;")
            version = ("2",)
        if version is None or version[0] != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: not an hpo-bench store of schema version {SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- experiment and session -------------------------------------------------------------------
    def bind_experiment(self, exp: Experiment) -> None:
        """Record the experiment file, or check that the store was made by the same file."""
        row = self.db.execute("SELECT name, file_hash, file_path FROM experiment").fetchone()
        if row is None:
            self.db.execute("INSERT INTO experiment VALUES (1, ?, ?, ?, ?, ?)",
                            (exp.name, exp.path, exp.text, exp.file_hash, time.time()))
        elif row["file_hash"] != exp.file_hash:
            raise StoreError(
                f"{self.path} holds results of a different version of the experiment file (sha256 "
                f"{row['file_hash'][:12]} from {row['file_path']}, this one {exp.file_hash[:12]}); "
                "use another --results-dir or remove the store to start over")

    def experiment(self) -> Experiment:
        from hpo_bench.experiment import parse_experiment

        row = self.db.execute("SELECT file_text, file_path FROM experiment").fetchone()
        if row is None:
            raise StoreError(f"{self.path}: the store has no experiment yet")
        return parse_experiment(row["file_text"], where=row["file_path"])

    def experiment_row(self) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM experiment").fetchone()
        return dict(row) if row else {}

    def start_session(self, command: str) -> int:
        cur = self.db.execute(
            "INSERT INTO sessions (started_at, versions, machine, command) VALUES (?, ?, ?, ?)",
            (time.time(), json.dumps(package_versions()), json.dumps(machine_info()), command))
        self.session_id = cur.lastrowid
        return self.session_id

    def finish_session(self) -> None:
        if self.session_id is not None:
            self.db.execute("UPDATE sessions SET finished_at = ? WHERE session_id = ?",
                            (time.time(), self.session_id))

    def sessions(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM sessions ORDER BY session_id", self.db)

    # -- tasks and runs ---------------------------------------------------------------------------
    def add_task(self, summary: dict[str, Any], split_seed: int, n_folds: int) -> None:
        row = self.db.execute("SELECT fingerprint FROM tasks WHERE task = ?", (summary["name"],)).fetchone()
        if row is not None:
            if row["fingerprint"] != summary["fingerprint"]:
                raise StoreError(f"task {summary['name']!r} has changed since this store was made (fingerprint "
                                 f"{row['fingerprint']} stored, {summary['fingerprint']} now)")
            return
        self.db.execute(
            "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (summary["name"], summary["fingerprint"], summary["source"], summary["n_rows"],
             summary["n_features"], summary["n_classes"], summary["n_categorical"], json.dumps(summary["ids"]),
             int(summary["splits_official"]), split_seed, n_folds))

    def ensure_run(self, spec: RunSpec, *, optimizer_type: str, optimizer_options: dict[str, Any],
                   optimizer_seed: int, model_seed: int, budget_evals: float, space_json: str,
                   space_fingerprint: str, task_fingerprint: str, split_seed: int | None = None,
                   adaptive: bool | None = None) -> int:
        row = self.db.execute("SELECT run_id FROM runs WHERE run_key = ?", (spec.key,)).fetchone()
        if row is not None:
            return int(row["run_id"])
        cur = self.db.execute(
            "INSERT INTO runs (run_key, task, model, optimizer, optimizer_type, optimizer_options, tuned, seed, "
            "optimizer_seed, model_seed, budget_evals, space, space_fingerprint, task_fingerprint, split_seed, "
            "split_rep, model_rep, optimizer_rep, adaptive) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?)",
            (spec.key, spec.task, spec.model, spec.optimizer, optimizer_type,
             json.dumps(optimizer_options, sort_keys=True), spec.tuned, spec.seed, optimizer_seed, model_seed,
             budget_evals, space_json, space_fingerprint, task_fingerprint, split_seed, spec.split_rep,
             spec.model_rep, spec.optimizer_rep, None if adaptive is None else int(adaptive)))
        return int(cur.lastrowid)

    def run_status(self, run_id: int) -> tuple[str, str | None]:
        row = self.db.execute("SELECT status, note FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return row["status"], row["note"]

    def finish_run(self, run_id: int, status: str, note: str | None = None) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"run status {status!r} not in {RUN_STATUSES}")
        self.db.execute("UPDATE runs SET status = ?, note = ?, finished_at = ? WHERE run_id = ?",
                        (status, note, time.time(), run_id))

    # -- trials -----------------------------------------------------------------------------------
    def add_trial(self, run_id: int, trial: TrialRecord) -> None:
        """Append one finished trial and commit it (autocommit): a crash after this loses nothing."""
        r = trial.result
        self.db.execute(
            "INSERT INTO trials (run_id, trial_number, source, config, fidelity, state, metric, loss, fold_losses, "
            "fit_time_s, predict_time_s, error, info, submitted_at, finished_at, session_id, fold_metrics) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, trial.trial_number, trial.source, config_key(trial.config), trial.fidelity, str(r.state),
             r.metric, r.loss, json.dumps(r.fold_losses), r.fit_time_s, r.predict_time_s, r.error,
             json.dumps(trial.info, sort_keys=True, default=str), trial.submitted_at, trial.finished_at,
             self.session_id, json.dumps(r.fold_metrics)))

    def add_test_score(self, run_id: int, trial_number: int, result: TrialResult) -> None:
        """The held-out test score of a trial's configuration (refitted on the outer training part)."""
        metrics = {name: values[0] for name, values in result.fold_metrics.items() if values}
        self.db.execute(
            "INSERT INTO test_scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, trial_number, str(result.state), json.dumps(metrics), result.fit_time_s, result.predict_time_s,
             result.error, time.time(), self.session_id))

    def tested_trials(self, run_id: int) -> set[int]:
        rows = self.db.execute("SELECT trial_number FROM test_scores WHERE run_id = ?", (run_id,))
        return {int(row[0]) for row in rows}

    def run_trials(self, run_id: int) -> list[TrialRecord]:
        rows = self.db.execute("SELECT * FROM trials WHERE run_id = ? ORDER BY trial_number", (run_id,))
        return [_record(row) for row in rows]

    def runs(self) -> pd.DataFrame:
        return pd.read_sql_query(
            "SELECT r.run_id, r.run_key, r.task, r.model, r.optimizer, r.optimizer_type, r.tuned, r.seed, "
            "r.budget_evals, r.status, r.note, r.task_fingerprint, COUNT(t.trial_number) AS n_trials, "
            "COALESCE(SUM(t.fidelity), 0) AS used_evals, "
            "COALESCE(SUM(t.state != 'COMPLETE'), 0) AS n_failed "
            "FROM runs r LEFT JOIN trials t USING (run_id) GROUP BY r.run_id ORDER BY r.run_id", self.db)

    def tasks(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM tasks ORDER BY task", self.db)

    def trials(self, **filters: Any) -> pd.DataFrame:
        """All trials joined with their run (task, model, optimizer, seed); filters on those columns."""
        allowed = {"task", "model", "optimizer", "tuned", "seed", "state", "source", "run_id"}
        unknown = set(filters) - allowed
        if unknown:
            raise ValueError(f"unknown trial filter(s) {sorted(unknown)} (allowed: {sorted(allowed)})")
        where, params = _where(filters)
        df = pd.read_sql_query(
            "SELECT r.task, r.model, r.optimizer, r.optimizer_type, r.tuned, r.seed, r.split_rep, r.model_rep, "
            "r.optimizer_rep, r.adaptive, t.*, s.state AS test_state, s.metrics AS test_metrics FROM trials t "
            "JOIN runs r USING (run_id) LEFT JOIN test_scores s ON s.run_id = t.run_id AND "
            f"s.trial_number = t.trial_number {where} ORDER BY t.run_id, t.trial_number", self.db, params=params)
        return df

    def export_trials(self, path: str | Path, fmt: str) -> int:
        """Write every trial with its run (and the experiment's name and file hash) to Parquet or CSV.

        Configurations, per-fold losses and info stay JSON text, as in the store: configurations of
        different model families have different keys, and one column per hyperparameter would mix types
        (random forest's max_features is "sqrt" or a fraction). Returns the number of trials written.
        """
        if fmt not in EXPORT_FORMATS:
            raise StoreError(f"export format {fmt!r}: must be one of {list(EXPORT_FORMATS)}")
        df = self.trials()
        row = self.experiment_row()
        df.insert(0, "experiment", row.get("name"))
        df.insert(1, "experiment_sha256", row.get("file_hash"))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "parquet":
            # pyarrow is a dependency (also openml's); the index is a row number, not data.
            df.to_parquet(path, index=False, engine="pyarrow")
        else:
            df.to_csv(path, index=False)
        return len(df)

    def count_trials(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM trials").fetchone()[0])

    def count_test_scores(self) -> tuple[int, int]:
        """(held-out test scores stored, of which not COMPLETE)."""
        row = self.db.execute("SELECT COUNT(*), COALESCE(SUM(state != 'COMPLETE'), 0) FROM test_scores").fetchone()
        return int(row[0]), int(row[1])


def _where(filters: dict[str, Any]) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for key, value in filters.items():
        column = f"t.{key}" if key in {"state", "source", "run_id"} else f"r.{key}"
        values = list(value) if isinstance(value, Iterable) and not isinstance(value, str) else [value]
        clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
        params.extend(values)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _record(row: sqlite3.Row) -> TrialRecord:
    result = TrialResult(state=TrialState(row["state"]), metric=row["metric"], loss=row["loss"],
                         fold_losses=json.loads(row["fold_losses"]), fit_time_s=row["fit_time_s"],
                         predict_time_s=row["predict_time_s"], error=row["error"],
                         fold_metrics=json.loads(row["fold_metrics"] or "{}"))
    return TrialRecord(trial_number=row["trial_number"], source=row["source"], config=json.loads(row["config"]),
                       fidelity=row["fidelity"], result=result, info=json.loads(row["info"]),
                       submitted_at=row["submitted_at"], finished_at=row["finished_at"])
