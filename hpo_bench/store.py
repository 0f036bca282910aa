"""The result store: one SQLite file per experiment, append-only, each batch of finished trials committed at once.

WAL mode lets `status` and `analyze` read while a run writes. The driver is the only writer, and a run
lock (`RunLock`, <store>.lock) keeps a second `hpo-bench run` off a store that one is writing.
Readers open the store read-only (SQLite's mode=ro; immutable=1 when its folder is not writable, where
WAL mode could not create its -shm file, or when no run has it open), so a finished store on read-only
media can be read, and reading leaves no file behind.
Configurations and per-fold losses are JSON text, so any SQLite client can read a store.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from hpo_bench.atomic import written_whole
from hpo_bench.errors import StoreError
from hpo_bench.settings import check_name
from hpo_bench.space import config_key
from hpo_bench.trial import RunSpec, TrialRecord, TrialResult, TrialState

SCHEMA_VERSION = 4
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
    n_folds INTEGER, task_type TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY, run_key TEXT UNIQUE NOT NULL, task TEXT NOT NULL, model TEXT NOT NULL,
    optimizer TEXT NOT NULL, optimizer_type TEXT NOT NULL, optimizer_options TEXT NOT NULL,
    tuned TEXT NOT NULL, seed INTEGER NOT NULL, optimizer_seed INTEGER NOT NULL, model_seed INTEGER NOT NULL,
    budget_evals REAL NOT NULL, space TEXT NOT NULL, space_fingerprint TEXT NOT NULL,
    task_fingerprint TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending', note TEXT,
    finished_at REAL, split_seed INTEGER, split_rep INTEGER, model_rep INTEGER, optimizer_rep INTEGER,
    adaptive INTEGER, budget_seconds REAL);
CREATE TABLE IF NOT EXISTS trials (
    run_id INTEGER NOT NULL REFERENCES runs(run_id), trial_number INTEGER NOT NULL,
    source TEXT NOT NULL, config TEXT NOT NULL, fidelity REAL NOT NULL, state TEXT NOT NULL,
    metric TEXT NOT NULL, loss REAL, fold_losses TEXT NOT NULL, fit_time_s REAL, predict_time_s REAL,
    error TEXT, info TEXT NOT NULL, submitted_at REAL, finished_at REAL NOT NULL, session_id INTEGER,
    fold_metrics TEXT, optimizer_time_s REAL, PRIMARY KEY (run_id, trial_number));
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
# Schema 2 -> 3: time budgets. Each trial's optimizer time (its ask and the tells before it) and each
# run's budget_seconds; NULL in older rows (no optimizer time recorded, no time budget).
_MIGRATE_2_TO_3 = """
ALTER TABLE trials ADD COLUMN optimizer_time_s REAL;
ALTER TABLE runs ADD COLUMN budget_seconds REAL;
UPDATE meta SET value = '3' WHERE key = 'schema_version';
"""
# Schema 3 -> 4: regression. Each task's type; every task stored before was a classification task.
_MIGRATE_3_TO_4 = """
ALTER TABLE tasks ADD COLUMN task_type TEXT;
UPDATE tasks SET task_type = 'classification';
UPDATE meta SET value = '4' WHERE key = 'schema_version';
"""
# From version -> its script to the next.
_MIGRATIONS = {"1": _MIGRATE_1_TO_2, "2": _MIGRATE_2_TO_3, "3": _MIGRATE_3_TO_4}

RUN_STATUSES = ("pending", "done", "crashed")
EXPORT_FORMATS = ("parquet", "csv")


class ExperimentFile(Protocol):
    """What the store records of an experiment: its file. hpo_bench.experiment.Experiment is one; the store
    does not import the parser, which imports the registries (and a user's model to check it)."""

    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def text(self) -> str: ...
    @property
    def file_hash(self) -> str: ...
    @property
    def text_hash(self) -> str: ...


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


class RunLock:
    """At most one run writes a store: an exclusive flock on <store>.lock, held for the run's life.

    Two runs on one store would evaluate the same trials, and the second would die on the first's rows.
    The kernel releases a flock when its holder dies however it dies (SIGKILL included), so a lock left
    by a dead run is taken over by the next one. The file names its holder (pid and host) for the
    message a second run gives. A lock file naming another host that is not flocked here cannot be told
    apart from a live run on a file system whose locks do not reach across hosts: it is refused, and
    the message says which file to remove.
    """

    def __init__(self, store_path: str | Path) -> None:
        self.path = Path(f"{store_path}.lock")
        self.store_path = Path(store_path)
        self._fd: int | None = None
        self.took_over: str | None = None  # the holder of a stale lock taken over, for the run's log

    def acquire(self) -> RunLock:
        if self._fd is not None:
            return self
        host = socket.gethostname()
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_fd(fd) or "a process that is starting"
                os.close(fd)
                raise StoreError(f"{self.store_path}: another run is writing this store ({holder}; lock "
                                 f"{self.path}); wait for it to finish or stop it, then run again") from None
            # The holder before us may have removed the file between our open and our flock: then we hold
            # the lock of a file nobody else will see. Open again until the locked file is the one there.
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        # A lock file that names a holder but is not flocked was left by a run that died without
        # releasing it (SIGKILL, a crash): on this host the kernel has dropped its flock, so it is dead
        # (a live process of that pid is another one: the pid was reused) and the lock is taken over.
        previous = _read_fd(fd)
        if previous:
            fields = previous.split()  # "pid N on HOST since ...", or a description of a garbage file
            if fields[0] == "pid" and len(fields) > 3 and fields[3] != host:
                os.close(fd)
                raise StoreError(f"{self.store_path}: the lock {self.path} names a run on another host "
                                 f"({previous}); if no run is going there, remove the lock file and run again")
            self.took_over = previous
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {host} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode(), 0)
        self._fd = fd
        return self

    def holder(self) -> str | None:
        """The run writing the store ("pid N on HOST since ..."), if one is alive on this host, else None.

        Read from the lock file without taking the lock: even a moment's flock here would make a run that
        starts at that moment refuse to start. A pid reused since by another process reads as alive;
        this is for display (status --watch), never for deciding who may write."""
        try:
            text = self.path.read_text(errors="replace").strip()
        except (FileNotFoundError, PermissionError):
            return None
        fields = text.split()  # "pid N on HOST since ..."
        if len(fields) < 4 or fields[0] != "pid" or not fields[1].isdigit() or fields[3] != socket.gethostname():
            return None
        try:
            os.kill(int(fields[1]), 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # alive, another user's
            pass
        return text

    def release(self) -> None:
        if self._fd is None:
            return
        # Removed while still locked, so a run that opens it after this finds a new file (see acquire).
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_fd(fd: int) -> str:
    """The holder a lock file names ("pid N on HOST since ..."), or a description of what else it holds:
    a lock file may be anything (damaged, or written by another program), and its bytes are never echoed
    to a terminal as they are (escape sequences would drive it)."""
    data = os.pread(fd, 512, 0)
    text = data.decode("utf-8", errors="replace").strip()
    fields = text.split()
    if not text or (text.isprintable() and len(fields) >= 4 and fields[0] == "pid" and fields[1].isdigit()
                    and fields[2] == "on"):
        return text
    return f"a lock file hpo-bench did not write ({len(data)} bytes that do not name a holder)"


class Store:
    def __init__(self, path: str | Path, *, create: bool = True, read_only: bool | None = None) -> None:
        """Open (create=True: or make) the store at `path`; read-only (the default without create) when
        nothing is written: status, analyze, report and export."""
        self.path = Path(path)
        self.read_only = (not create) if read_only is None else read_only
        self.session_id: int | None = None
        self._lock: RunLock | None = None
        if self.path.is_dir():
            raise StoreError(f"{self.path}: is a folder, not a result store (a .sqlite file)")
        if not create and not self.path.exists():
            raise StoreError(f"no result store at {str(self.path)!r}")
        if self.read_only:
            # mode=ro still needs WAL mode's -shm file (it creates one, and a -wal, and leaves both behind).
            # immutable=1 needs neither: where the folder is not writable (read-only media), and where no
            # -wal file exists, i.e. no run has the store open, so there is no writer to share memory with.
            # (Immutable skips a -wal file's contents: on read-only media, trials a killed run left in its
            # -wal are not seen until the store is opened where it can be written.)
            uri = self.path.absolute().as_uri() + "?mode=ro"
            wal = Path(f"{self.path}-wal")
            if not os.access(self.path.absolute().parent, os.W_OK) or not wal.exists():
                uri += "&immutable=1"
            self.uri = uri
            self.db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        else:
            self.uri = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            except (OSError, sqlite3.OperationalError) as exc:  # a folder that is a file, read-only media
                reason = getattr(exc, "strerror", None) or str(exc)
                raise StoreError(f"{self.path}: cannot create or open the result store there ({reason})") from None
        self.db.row_factory = sqlite3.Row
        try:
            self._open(create and not self.read_only)
        except sqlite3.DatabaseError as exc:  # another program's file, garbage, a truncated store
            self.db.close()
            raise StoreError(f"{self.path}: not a readable hpo-bench store ({exc})") from None

    def lock_run(self) -> RunLock:
        """Take the run lock of this store (once; released by close): a second writer exits 2 at once."""
        if self._lock is None:
            self._lock = RunLock(self.path).acquire()
        return self._lock

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
        if version is not None and version[0] in _MIGRATIONS:
            self._migrate(version[0])
            version = (str(SCHEMA_VERSION),)
        if version is None or version[0] != str(SCHEMA_VERSION):
            raise StoreError(f"{self.path}: not an hpo-bench store of schema version {SCHEMA_VERSION}")

    def _migrate(self, version: str) -> None:
        """Schema `version` -> the current one in one transaction, also when the store was opened to be
        read: through a writable connection then."""
        script, v = "", version
        while v in _MIGRATIONS:
            script, v = script + _MIGRATIONS[v], str(int(v) + 1)
        if not self.read_only:
            self.db.executescript("BEGIN;" + script + _SCHEMA + "COMMIT;")
            return
        try:
            with sqlite3.connect(self.path, timeout=30.0, isolation_level=None) as db:
                db.executescript("BEGIN;" + script + _SCHEMA + "COMMIT;")
            db.close()
            # A read-only connection (immutable=1 above all) keeps the schema it read: open it again to see
            # the upgraded tables.
            self.db.close()
            self.db = sqlite3.connect(self.uri, uri=True, timeout=30.0, isolation_level=None)
            self.db.row_factory = sqlite3.Row
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{self.path}: a store of schema version {version} that cannot be upgraded to "
                             f"{SCHEMA_VERSION} here ({exc}); copy it to a writable folder") from None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside is committed together at the end (rolled back if it raises).

        The scheduler stores each batch of results this way: one commit per batch instead of one per
        trial. What a crash leaves uncommitted was never stored, so a resumed run asks it again."""
        self.db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- experiment and session -------------------------------------------------------------------
    def bind_experiment(self, exp: ExperimentFile) -> None:
        """Record the experiment file, or check that the store was made by the same file."""
        row = self.db.execute("SELECT name, file_hash, file_path FROM experiment").fetchone()
        if row is None:
            self.db.execute("INSERT INTO experiment VALUES (1, ?, ?, ?, ?, ?)",
                            (exp.name, exp.path, exp.text, exp.file_hash, time.time()))
        elif row["file_hash"] not in (exp.file_hash, exp.text_hash):  # text_hash: stores bound to the text
            raise StoreError(
                f"{self.path} holds results of a different version of the experiment file (sha256 "
                f"{row['file_hash'][:12]} from {row['file_path']}, this one {exp.file_hash[:12]}); "
                "use another --results-dir or remove the store to start over")

    def experiment_row(self) -> dict[str, Any]:
        row = self.db.execute("SELECT * FROM experiment").fetchone()
        return dict(row) if row else {}

    def experiment_name(self) -> str:
        """The recorded experiment's name, checked as an experiment file's is: it names output folders,
        and a store may come from elsewhere (a name such as "/etc" or ".." would write outside them)."""
        row = self.experiment_row()
        if not row:
            raise StoreError(f"{self.path}: the store has no experiment yet; run the experiment first")
        return check_name(row.get("name"), f"{self.path} (the experiment name stored in it)")

    def check_file(self, exp: ExperimentFile) -> str | None:
        """A one-line note when `exp`'s file is not the one the store was made with, else None."""
        row = self.experiment_row()
        if row and row.get("file_hash") not in (exp.file_hash, exp.text_hash):
            return (f"{exp.path} has changed since {self.path} was made (sha256 {str(row.get('file_hash'))[:12]} "
                    f"in the store, {exp.file_hash[:12]} now): what follows is of the file the store recorded")
        return None

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
        """One row per session, with `last_trial_at`: when its last trial finished (NULL: none), which is
        when a session stopped by Ctrl-C or a kill, and so without finished_at, last did work."""
        return pd.read_sql_query(
            "SELECT s.*, (SELECT MAX(t.finished_at) FROM trials t WHERE t.session_id = s.session_id) AS last_trial_at "
            "FROM sessions s ORDER BY s.session_id", self.db)

    def version_differences(self, current: dict[str, str] | None = None) -> dict[str, tuple[list[str], str | None]]:
        """Packages whose version in this environment (`current`, default package_versions()) is not the
        one every session of the store recorded: name -> (versions recorded, version here or None when
        not installed). A package the store never recorded is not a difference (an extra installed
        since, say dask, changes no trial)."""
        current = package_versions() if current is None else current
        recorded: dict[str, set[str]] = {}
        for (text,) in self.db.execute("SELECT versions FROM sessions"):
            for name, version in json.loads(text or "{}").items():
                recorded.setdefault(name, set()).add(version)
        return {name: (sorted(versions), current.get(name)) for name, versions in sorted(recorded.items())
                if versions != {current.get(name)}}

    def version_note(self) -> str | None:
        """One line when this environment's packages differ from those the store's trials were made
        with (new trials may then differ from stored ones), else None."""
        differences = self.version_differences()
        if not differences:
            return None
        listed = "; ".join(f"{name} {'/'.join(stored)} in the store, {here or 'not installed'} here"
                           for name, (stored, here) in differences.items())
        return (f"{self.path} was made with other package versions ({listed}): trials made here may differ "
                "from the stored ones (README, 'Same versions, same trials': pip install -c reports/constraints.txt)")

    # -- tasks and runs ---------------------------------------------------------------------------
    def add_task(self, summary: dict[str, Any], split_seed: int, n_folds: int) -> None:
        row = self.db.execute("SELECT fingerprint FROM tasks WHERE task = ?", (summary["name"],)).fetchone()
        if row is not None:
            if row["fingerprint"] != summary["fingerprint"]:
                raise StoreError(f"task {summary['name']!r} has changed since this store was made (fingerprint "
                                 f"{row['fingerprint']} stored, {summary['fingerprint']} now)")
            return
        self.db.execute(
            "INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (summary["name"], summary["fingerprint"], summary["source"], summary["n_rows"],
             summary["n_features"], summary["n_classes"], summary["n_categorical"], json.dumps(summary["ids"]),
             int(summary["splits_official"]), split_seed, n_folds, summary["task_type"]))

    def ensure_run(self, spec: RunSpec, *, optimizer_type: str, optimizer_options: dict[str, Any],
                   optimizer_seed: int, model_seed: int, budget_evals: float, space_json: str,
                   space_fingerprint: str, task_fingerprint: str, split_seed: int | None = None,
                   adaptive: bool | None = None, budget_seconds: float | None = None) -> int:
        row = self.db.execute("SELECT run_id FROM runs WHERE run_key = ?", (spec.key,)).fetchone()
        if row is not None:
            return int(row["run_id"])
        cur = self.db.execute(
            "INSERT INTO runs (run_key, task, model, optimizer, optimizer_type, optimizer_options, tuned, seed, "
            "optimizer_seed, model_seed, budget_evals, space, space_fingerprint, task_fingerprint, split_seed, "
            "split_rep, model_rep, optimizer_rep, adaptive, budget_seconds) "
            f"VALUES ({', '.join('?' * 20)})",
            (spec.key, spec.task, spec.model, spec.optimizer, optimizer_type,
             json.dumps(optimizer_options, sort_keys=True), spec.tuned, spec.seed, optimizer_seed, model_seed,
             budget_evals, space_json, space_fingerprint, task_fingerprint, split_seed, spec.split_rep,
             spec.model_rep, spec.optimizer_rep, None if adaptive is None else int(adaptive), budget_seconds))
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
        """Append one finished trial; committed at once (autocommit) unless inside `transaction()`."""
        r = trial.result
        self.db.execute(
            "INSERT INTO trials (run_id, trial_number, source, config, fidelity, state, metric, loss, fold_losses, "
            "fit_time_s, predict_time_s, error, info, submitted_at, finished_at, session_id, fold_metrics, "
            "optimizer_time_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, trial.trial_number, trial.source, config_key(trial.config), trial.fidelity, str(r.state),
             r.metric, r.loss, json.dumps(r.fold_losses), r.fit_time_s, r.predict_time_s, r.error,
             json.dumps(trial.info, sort_keys=True, default=str), trial.submitted_at, trial.finished_at,
             self.session_id, json.dumps(r.fold_metrics), trial.optimizer_time_s))

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
            "COALESCE(SUM(t.state != 'COMPLETE'), 0) AS n_failed, "
            "MIN(CASE WHEN t.state = 'COMPLETE' THEN t.loss END) AS best_loss, MAX(t.metric) AS metric "
            "FROM runs r LEFT JOIN trials t USING (run_id) GROUP BY r.run_id ORDER BY r.run_id", self.db)

    def run_settings(self) -> pd.DataFrame:
        """Every recorded column of every run, in run order: its key and labels, the optimizer's type,
        options (JSON) and seeds, the budget, the space it searched (JSON, SearchSpace.from_json), status."""
        return pd.read_sql_query("SELECT * FROM runs ORDER BY run_id", self.db)

    def tasks(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM tasks ORDER BY task", self.db)

    def run_spaces(self) -> pd.DataFrame:
        """The spaces the runs searched: one row per model, tuned label and space fingerprint, with the
        space's JSON (SearchSpace.from_json) and how many runs searched it."""
        return pd.read_sql_query(
            "SELECT model, tuned, space_fingerprint, MIN(space) AS space, COUNT(*) AS n_runs FROM runs "
            "GROUP BY model, tuned, space_fingerprint ORDER BY model, tuned, space_fingerprint", self.db)

    def trials(self, params: bool = False, **filters: Any) -> pd.DataFrame:
        """All trials joined with their run (task, model, optimizer, seed); filters on those columns.

        `params`: also one column `params_<name>` per hyperparameter (as Optuna's trials_dataframe), empty
        where a trial's configuration lacks it (another family's, or an inactive conditional one). A
        column may mix types (random forest's max_features is "sqrt" or a fraction); `config` stays.
        """
        allowed = {"task", "model", "optimizer", "tuned", "seed", "state", "source", "run_id"}
        unknown = set(filters) - allowed
        if unknown:
            raise ValueError(f"unknown trial filter(s) {sorted(unknown)} (allowed: {sorted(allowed)})")
        where, values = _where(filters)
        df = pd.read_sql_query(
            "SELECT r.task, r.model, r.optimizer, r.optimizer_type, r.tuned, r.seed, r.split_rep, r.model_rep, "
            "r.optimizer_rep, r.adaptive, t.*, s.state AS test_state, s.metrics AS test_metrics FROM trials t "
            "JOIN runs r USING (run_id) LEFT JOIN test_scores s ON s.run_id = t.run_id AND "
            f"s.trial_number = t.trial_number {where} ORDER BY t.run_id, t.trial_number", self.db, params=values)
        if params and len(df):
            configs = pd.DataFrame([json.loads(c) for c in df["config"]], index=df.index)
            df = df.join(configs.add_prefix("params_"))
        return df

    def export_trials(self, path: str | Path, fmt: str) -> int:
        """Write every trial with its run (and the experiment's name and file hash) to Parquet or CSV.

        Configurations, per-fold losses and info stay JSON text, as in the store: configurations of
        different model families have different keys, and one column per hyperparameter would mix types
        (random forest's max_features is "sqrt" or a fraction). An existing `path` is refused, as by every
        export. Returns the number of trials written.
        """
        if fmt not in EXPORT_FORMATS:
            raise StoreError(f"export format {fmt!r}: must be one of {list(EXPORT_FORMATS)}")
        if Path(path).exists() or Path(path).is_symlink():  # the rule of every exporter (hpo_bench.export)
            raise StoreError(f"{path}: already exists; an export never overwrites (remove it, or export elsewhere)")
        df = self.trials()
        row = self.experiment_row()
        df.insert(0, "experiment", row.get("name"))
        df.insert(1, "experiment_sha256", row.get("file_hash"))
        # Written whole or not at all (hpo_bench/atomic.py): a kill or a full disk leaves no truncated file.
        with written_whole(path) as partial:
            if fmt == "parquet":
                # pyarrow is a dependency (also openml's); the index is a row number, not data.
                df.to_parquet(partial, index=False, engine="pyarrow")
            else:
                df.to_csv(partial, index=False)
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
                       submitted_at=row["submitted_at"], finished_at=row["finished_at"],
                       optimizer_time_s=row["optimizer_time_s"])
