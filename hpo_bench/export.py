"""Export a result store to other tools: Optuna's storage (one study per run, for optuna-dashboard and
Optuna's own analysis) and MLflow's tracking (one parent run per run, one child run per trial).

Exports read the store and run nothing: no optimizer is built, no model family is imported and nothing is
evaluated (an import contract in pyproject.toml checks it). Each run's trials are converted in the space
stored with that run, never in a family's space of today's code.

An export never overwrites: an output that exists (a non-empty folder, for MLflow) is refused, and an
export that fails leaves nothing behind. MLflow is optional (`pip install "hpo-bench[mlflow]"`) and is
imported only when an MLflow export is asked for.
"""

from __future__ import annotations

import datetime
import json
import logging
import math
import os
import sqlite3
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from hpo_bench.atomic import is_partial, written_whole
from hpo_bench.errors import HpoBenchError
from hpo_bench.settings import recorded_settings
from hpo_bench.space import Categorical, Float, Int, Parameter, SearchSpace
from hpo_bench.store import Store

MLFLOW_INSTALL = 'pip install "hpo-bench[mlflow]"'
SQLITE_URL = "sqlite:///"
# MLflow refuses a tag value longer than 8000 characters; an error text (a traceback) can be longer.
_MAX_TAG_CHARS = 5000
_MLFLOW_RUN_STATUS = {"done": "FINISHED", "crashed": "FAILED", "pending": "KILLED"}  # pending: stopped before done


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: where (a file, or for MLflow its tracking URI), how many runs and trials
    (n_runs None: a Parquet or CSV file of trials, which has no runs of its own)."""

    output: str
    n_runs: int | None
    n_trials: int


@dataclass(frozen=True)
class _Run:
    row: dict[str, Any]  # the runs table's row: key, labels, optimizer type and options, seeds, status
    space: SearchSpace  # the space the run searched, as stored with it
    trials: list[dict[str, Any]]  # in trial order; JSON columns decoded, missing values None


def run_label(run: dict[str, Any]) -> str:
    """A run's name in other tools: the fields of its key (task|model|optimizer|seed|tuned, unique in the
    store), the seed labelled: "sklearn:iris|xgboost|random|all|seed=0"."""
    return f"{run['task']}|{run['model']}|{run['optimizer']}|{run['tuned']}|seed={run['seed']}"


def study_name(experiment: str, run: dict[str, Any]) -> str:
    """The Optuna study of a run: the experiment's name and the run's label, unique beyond one store too."""
    return f"{experiment}|{run_label(run)}"


# -- reading the store ------------------------------------------------------------------------------------
def _read(store: Store) -> tuple[dict[str, Any], list[_Run]]:
    """(the experiment: name, sha256 and metric; every run with its space and trials)."""
    name = store.experiment_name()  # also refuses a store without an experiment
    row = store.experiment_row()
    metric = recorded_settings(row.get("file_text", ""), str(store.path))["metric"]
    experiment = {"name": name, "sha256": row.get("file_hash"), "metric": metric}
    trials = store.trials()
    by_run = {run_id: group for run_id, group in trials.groupby("run_id", sort=False)} if len(trials) else {}
    runs = []
    for run in store.run_settings().to_dict("records"):
        run = {k: _plain(v) for k, v in run.items()}
        group = by_run.get(run["run_id"], trials.iloc[:0])
        runs.append(_Run(row=run, space=SearchSpace.from_json(run["space"]),
                         trials=[_trial(t) for t in group.to_dict("records")]))
    return experiment, runs


def _plain(value: Any) -> Any:
    """A Python value from a DataFrame cell: None for a missing one (NaN), numpy scalars as Python's."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def _trial(row: dict[str, Any]) -> dict[str, Any]:
    t = {k: _plain(v) for k, v in row.items()}
    for column in ("config", "fold_losses", "fold_metrics", "info", "test_metrics"):
        t[column] = json.loads(t[column]) if t[column] is not None else None
    return t


def _read_from(store: Store | str | Path) -> tuple[dict[str, Any], list[_Run]]:
    """_read of a store, or of the store at a path (opened read-only here and closed again)."""
    if isinstance(store, Store):
        return _read(store)
    with Store(store, create=False) as opened:
        return _read(opened)


def _sqlite_file(output: str | Path, what: str) -> Path:
    """The SQLite file an output names: a path, or an sqlite:/// URL of one."""
    text = str(output)
    if text.startswith(SQLITE_URL):
        return Path(text[len(SQLITE_URL):])
    if "://" in text:
        raise HpoBenchError(f"{text}: {what} writes a local SQLite file: give its path or an {SQLITE_URL}PATH URL")
    return Path(text)


def _refuse_existing(path: Path) -> None:
    if path.exists() or path.is_symlink():
        raise HpoBenchError(f"{path}: already exists; an export never overwrites (remove it, or export elsewhere)")


def _time(seconds: float | None, fallback: float) -> datetime.datetime:
    # Optuna keeps local, naive datetimes (datetime.now()); so do we, from the store's epoch seconds.
    return datetime.datetime.fromtimestamp(seconds if seconds is not None else fallback)


# -- Optuna -----------------------------------------------------------------------------------------------
def distribution(p: Parameter) -> optuna.distributions.BaseDistribution:
    """Optuna's distribution of one of our parameters (ranges and log scale as they are)."""
    if isinstance(p, Float):
        return optuna.distributions.FloatDistribution(p.low, p.high, log=p.log)
    if isinstance(p, Int):
        return optuna.distributions.IntDistribution(p.low, p.high, log=p.log)
    if isinstance(p, Categorical):
        return optuna.distributions.CategoricalDistribution(p.choices)
    raise TypeError(f"{p!r} is not a Float, Int or Categorical")


def _split_config(space: SearchSpace, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the values that are a point of the run's space, the others): a parameter held fixed (a run tuning a
    subset), or a package default outside the range or symbolic (random forest's max_features "sqrt")
    cannot be an Optuna param of its distribution. Inactive conditional parameters are not in `config`."""
    params, outside = {}, {}
    for name, value in config.items():
        if name in space and space[name].check(value) is None:
            p = space[name]
            params[name] = float(value) if isinstance(p, Float) else int(value) if isinstance(p, Int) else value
        else:
            outside[name] = value
    return params, outside


def optuna_trial(space: SearchSpace, t: dict[str, Any]) -> optuna.trial.FrozenTrial:
    """One stored trial as an Optuna trial: COMPLETE with its loss, or FAIL (failed, timed out) without one."""
    params, outside = _split_config(space, t["config"])
    # Optuna itself stores an objective that returned NaN as FAIL; a COMPLETE trial here always has a loss.
    complete = t["state"] == "COMPLETE" and t["loss"] is not None
    attrs = {"trial_number": t["trial_number"], "state": t["state"], "source": t["source"], "fidelity": t["fidelity"],
             "fold_losses": t["fold_losses"], "fold_metrics": t["fold_metrics"], "fit_time_s": t["fit_time_s"],
             "predict_time_s": t["predict_time_s"], "error": t["error"], "info": t["info"] or None,
             "outside_space": outside or None, "test_state": t["test_state"], "test_metrics": t["test_metrics"]}
    trial = optuna.trial.create_trial(
        state=optuna.trial.TrialState.COMPLETE if complete else optuna.trial.TrialState.FAIL,
        value=t["loss"] if complete else None, params=params,
        distributions={name: distribution(space[name]) for name in params},
        user_attrs={k: v for k, v in attrs.items() if v is not None})
    trial.datetime_start = _time(t["submitted_at"], t["finished_at"])  # when the driver submitted it
    trial.datetime_complete = _time(t["finished_at"], t["finished_at"])
    return trial


def _integral(value: Any) -> Any:
    """A whole number stored as REAL (budget_evals, which may be fractional) as an int: 6, not 6.0."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _study_attrs(experiment: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    attrs = {"experiment": experiment["name"], "experiment_sha256": experiment["sha256"], "run_key": run["run_key"],
             "task": run["task"], "model": run["model"], "optimizer": run["optimizer"],
             "optimizer_type": run["optimizer_type"], "optimizer_options": json.loads(run["optimizer_options"]),
             "tuned": run["tuned"], "seed": run["seed"], "optimizer_seed": run["optimizer_seed"],
             "model_seed": run["model_seed"], "metric": experiment["metric"],
             "budget_evals": _integral(run["budget_evals"]),
             "status": run["status"], "note": run["note"]}
    return {k: v for k, v in attrs.items() if v is not None}


@contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Libraries' INFO lines (a line per study created, per database migration) off while exporting."""
    levels = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def export_optuna(store: Store | str | Path, output: str | Path) -> ExportSummary:
    """Every run of the store as one Optuna study (direction minimize) in a new SQLite file `output`."""
    out = _sqlite_file(output, "an Optuna export")
    _refuse_existing(out)
    experiment, runs = _read_from(store)
    # Optuna commits every trial and attribute on its own, and on a file each commit waits for the disk
    # (the quickstart's 240 trials: 17 s here, 5 s in memory). The studies are built in memory instead, and SQLite's
    # backup API writes them out at once, to a partial file renamed when complete (hpo_bench/atomic.py):
    # `output` is a whole export or absent. (An in-memory database is one connection, per thread, which
    # raw_connection gives.)
    with _quiet("optuna"):
        storage = optuna.storages.RDBStorage("sqlite:///:memory:")
        for run in runs:
            study = optuna.create_study(storage=storage, study_name=study_name(experiment["name"], run.row),
                                        direction="minimize")
            # The objective's name: optuna-dashboard otherwise labels it "Objective 0". (Optuna marks the
            # method experimental since 3.2; its warning would print once per exported study.)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.set_metric_names([f"validation {experiment['metric']}"])
            for key, value in _study_attrs(experiment, run.row).items():
                study.set_user_attr(key, value)
            study.add_trials([optuna_trial(run.space, t) for t in run.trials])
    memory = storage.engine.raw_connection()
    try:
        with written_whole(out) as partial:
            target = sqlite3.connect(partial)
            try:
                memory.driver_connection.backup(target)
            finally:
                target.close()
    finally:
        memory.close()
        storage.engine.dispose()
    return ExportSummary(str(out), len(runs), sum(len(r.trials) for r in runs))


# -- MLflow -----------------------------------------------------------------------------------------------
def _mlflow_client() -> Any:
    """MLflow's MlflowClient class; mlflow is imported here only, as it is an optional extra."""
    # MLflow 3 sends usage telemetry unless told not to; hpo-bench uses no network but OpenML's, when asked.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise HpoBenchError(f"exporting to MLflow needs mlflow-skinny (or mlflow): {MLFLOW_INSTALL}") from None
    return MlflowClient


def _mlflow_target(output: str | Path) -> tuple[Path, bool]:
    """(the SQLite file of the tracking store, whether `output` named a folder for it)."""
    text = str(output)
    if "://" in text:
        db = _sqlite_file(text, "an MLflow export")
        _refuse_existing(db)
        return db, False
    folder = Path(text)
    if folder.exists() and not folder.is_dir():
        raise HpoBenchError(f"{folder}: is a file; an MLflow export writes a folder (or give an {SQLITE_URL}PATH URL)")
    if folder.is_dir() and any(not is_partial(p.name) for p in folder.iterdir()):  # a killed export's leftovers
        # block nothing (hpo_bench/atomic.py)
        raise HpoBenchError(f"{folder}: is not empty; an export never overwrites (remove it, or export elsewhere)")
    return folder / "mlflow.db", True


def export_mlflow(store: Store | str | Path, output: str | Path) -> ExportSummary:
    """The store as one MLflow experiment (named as the hpo-bench experiment) in a new local tracking store.

    `output`: a folder (new, or empty) that gets `mlflow.db`, or an sqlite:///PATH URL of a new file. Each
    run is a parent MLflow run (params: its labels, seeds and optimizer options; metrics: best_loss,
    n_trials, n_failed), each trial a child run of it (params: the configuration; metrics: loss, per-fold
    losses and metrics, times; tags: state, source, error). The summary's output is the tracking URI.
    """
    MlflowClient = _mlflow_client()  # first: importing mlflow sets its loggers' levels, which _quiet sets after
    db, is_folder = _mlflow_target(output)
    uri = SQLITE_URL + str(db.absolute())
    experiment, runs = _read_from(store)
    made_folder = is_folder and not db.parent.exists()
    try:
        # Written to a partial file renamed to `db` when complete: a kill leaves no database that is half
        # an export (nor a folder the next export would refuse as not empty).
        with written_whole(db) as partial:
            _mlflow_write(MlflowClient, partial, db.parent, experiment, runs)
    except BaseException:
        if made_folder:
            with suppress(OSError):
                db.parent.rmdir()
        raise
    return ExportSummary(uri, len(runs), sum(len(r.trials) for r in runs))


def _mlflow_write(MlflowClient: Any, db: Path, folder: Path, experiment: dict[str, Any],  # noqa: N803
                  runs: list[_Run]) -> None:
    """The MLflow tracking store of the export in the SQLite file `db`, every connection to it closed."""
    # MLflow commits every call on its own: in WAL mode a commit is one write to the log instead of
    # several to the journal and the file, which makes the export 2 to 3 times faster.
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    with _quiet("mlflow", "alembic"):
        client = MlflowClient(tracking_uri=SQLITE_URL + str(db.absolute()))
        try:
            exp_id = client.create_experiment(
                experiment["name"], artifact_location=(folder / "artifacts").absolute().as_uri(),
                tags={"hpo_bench.experiment_sha256": str(experiment["sha256"]), "metric": experiment["metric"]})
            for run in runs:
                _mlflow_run(client, exp_id, run)
        finally:
            # MLflow keeps a pool of connections to the file: closed here, so that the file renamed next
            # has no -wal or -shm beside it under its old name, and no connection writes to it later.
            client._tracking_client.store.engine.dispose()
    # Everything into the file itself before it is renamed: no -wal file goes with it.
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()


def _mlflow_run(client: Any, exp_id: str, run: _Run) -> None:
    """One hpo-bench run as a parent MLflow run and each of its trials as a child run, logged in batches."""
    from mlflow.entities import Metric, Param

    row, trials = run.row, run.trials
    start = min((_start(t) for t in trials), default=None)
    end = max([t["finished_at"] for t in trials] + ([row["finished_at"]] if row["finished_at"] else []),
              default=None)
    tags = {k: str(row[k])[:_MAX_TAG_CHARS] for k in ("run_key", "status", "note") if row[k] is not None}
    parent = client.create_run(exp_id, start_time=_ms(start), run_name=run_label(row), tags=tags).info.run_id
    params = {k: _integral(row[k]) for k in ("task", "model", "optimizer", "optimizer_type", "tuned", "seed",
                                             "optimizer_seed", "model_seed", "budget_evals")}
    params.update({f"optimizer_options.{k}": v for k, v in json.loads(row["optimizer_options"]).items()})
    losses = [t["loss"] for t in trials if t["state"] == "COMPLETE" and _number(t["loss"])]
    summary = {"n_trials": len(trials), "n_failed": sum(t["state"] != "COMPLETE" for t in trials)}
    if losses:
        summary["best_loss"] = min(losses)
    stamp = _ms(end) if end is not None else int(time.time() * 1000)
    client.log_batch(parent, params=[Param(k, str(v)) for k, v in params.items()],
                     metrics=[Metric(k, float(v), stamp, 0) for k, v in summary.items()])
    for t in trials:
        tags = {"mlflow.parentRunId": parent, "state": t["state"], "source": t["source"]}
        if t["error"]:
            tags["error"] = t["error"][:_MAX_TAG_CHARS]
        child = client.create_run(exp_id, start_time=_ms(_start(t)), run_name=f"trial {t['trial_number']}",
                                  tags=tags).info.run_id
        finished = _ms(t["finished_at"])
        client.log_batch(child, params=[Param(k, str(v)) for k, v in t["config"].items()],
                         metrics=[Metric(k, v, finished, 0) for k, v in _child_metrics(t).items()])
        client.set_terminated(child, "FINISHED" if t["state"] == "COMPLETE" else "FAILED", end_time=finished)
    client.set_terminated(parent, _MLFLOW_RUN_STATUS.get(row["status"], "KILLED"), end_time=stamp)


def _start(t: dict[str, Any]) -> float:
    return t["submitted_at"] if t["submitted_at"] is not None else t["finished_at"]


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _child_metrics(t: dict[str, Any]) -> dict[str, float]:
    """A trial's numbers by MLflow metric name: loss, loss_fold_<k>, <metric>_fold_<k>, times, test_<metric>."""
    metrics: dict[str, Any] = {"fidelity": t["fidelity"], "fit_time_s": t["fit_time_s"],
                               "predict_time_s": t["predict_time_s"]}
    if t["state"] == "COMPLETE":
        metrics["loss"] = t["loss"]
    for k, value in enumerate(t["fold_losses"] or []):
        metrics[f"loss_fold_{k}"] = value
    for name, values in (t["fold_metrics"] or {}).items():
        for k, value in enumerate(values):
            metrics[f"{name}_fold_{k}"] = value
    for name, value in (t["test_metrics"] or {}).items():
        metrics[f"test_{name}"] = value
    return {k: float(v) for k, v in metrics.items() if _number(v)}


EXPORTERS = {"optuna": export_optuna, "mlflow": export_mlflow}

__all__ = ["EXPORTERS", "MLFLOW_INSTALL", "ExportSummary", "distribution", "export_mlflow", "export_optuna",
           "optuna_trial", "run_label", "study_name"]
