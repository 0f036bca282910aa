"""The Python API: what the command line does, as library calls (re-exported from `hpo_bench`).

```python
import hpo_bench

exp = hpo_bench.load_experiment("benchmarks/quickstart.toml")   # or hpo_bench.Experiment.from_dict({...})
summary = hpo_bench.run(exp, results_dir="results")              # resumes when the store exists
with hpo_bench.open_store(summary.store_path) as store:
    trials = store.trials(params=True)                            # one params_<name> column per hyperparameter
tables = hpo_bench.analyze(summary.store_path)                   # the tables `hpo-bench analyze` writes
hpo_bench.report(summary.store_path, reports_dir="reports")      # reports/<name>/index.html and index.md
summary.trials(); summary.analysis(); summary.report()           # the same, as methods of what run returns
hpo_bench.export_trials(summary.store_path, "trials.parquet")    # also export_optuna, export_mlflow
hpo_bench.status(summary.store_path).best                        # what `hpo-bench status` shows, as tables
```
The listings of the command line are here too: `model_families`, `model_space`, `model_details`,
`optimizer_types`, `stored_tasks`, `surrogate_benchmarks`; and its other commands: `export_as` (any format, to
the default path), `pack_results`, `unpack_results`, `pull_tasks`, `import_tasks`.
Every call validates its input as the command line does and raises one of hpo_bench.errors' exceptions
with the value, the rule and where it came from; the CLI turns those into exit code 2.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hpo_bench.errors import ExperimentError, HpoBenchError, StoreError
from hpo_bench.experiment import (
    CLUSTER_EXECUTORS,
    EXECUTORS,
    INLINE_NO_TIME_LIMIT,
    MAX_WORKERS,
    Experiment,
    check_scheduler_address,
    inline_time_limit_refused,
    load_experiment,
)
from hpo_bench.store import Store

# How run()'s keyword options are spelt in messages; the CLI passes its flags' spelling instead.
_OPTION_NAMES = {"n_workers": "n_workers", "scheduler_address": "scheduler_address", "executor": "executor",
                 "models": "models"}


@dataclass(frozen=True)
class RunSummary:
    """What a run (or a resumed one) left: the store and how many of the experiment's runs ended how."""

    name: str
    store_path: Path
    counts: dict[str, int]  # runs by status: done, crashed, pending (another sitting's models)
    n_trials: int  # trials in the store, of every sitting

    @property
    def ok(self) -> bool:
        """No run crashed (a crashed run's optimizer raised; its trials so far are stored)."""
        return not self.counts.get("crashed")

    def trials(self, *, params: bool = True) -> Any:
        """Every trial of the store as a DataFrame (`Store.trials`); `params`: one params_<name> column per
        hyperparameter beside the configuration's JSON."""
        with open_store(self.store_path) as store:
            return store.trials(params=params)

    def analysis(self, **options: Any) -> Analysis:
        """The store's analysis tables (`hpo_bench.analyze`, with the same keyword options)."""
        return analyze(self.store_path, **options)

    def report(self, reports_dir: str | Path = "reports", **options: Any) -> Any:
        """Write the store's report to reports_dir/<name>/ and return it (`hpo_bench.report`, same options)."""
        return report(self.store_path, reports_dir=reports_dir, **options)


def as_experiment(experiment: Experiment | Mapping[str, Any] | str | Path) -> Experiment:
    """An Experiment from itself, a mapping (Experiment.from_dict) or an experiment file's path."""
    if isinstance(experiment, Experiment):
        return experiment
    if isinstance(experiment, Mapping):
        return Experiment.from_dict(experiment)
    return load_experiment(experiment)


def check_run_options(exp: Experiment, *, n_workers: int | None, executor: str | None,
                      scheduler_address: str | None, models: list[str] | None,
                      names: Mapping[str, str] = _OPTION_NAMES) -> str:
    """Check run()'s options against the experiment; return the executor to use. `names` spells each
    option as the caller knows it (the CLI's flags), so that the message names what was given."""
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int)
                                  or not 1 <= n_workers <= MAX_WORKERS):
        # repr and type: n_workers='2' is a string, which the message must not print as 2
        given = repr(n_workers) if not isinstance(n_workers, int) or isinstance(n_workers, bool) else n_workers
        kind = "" if type(n_workers) is int else f" (a {type(n_workers).__name__})"
        raise HpoBenchError(f"{names['n_workers']} {given}{kind}: must be a positive integer (at most {MAX_WORKERS:,})")
    executor = executor or exp.executor
    if executor not in EXECUTORS:
        raise HpoBenchError(f"{names['executor']} {executor}: must be 'local', 'inline', 'dask' or 'ray'")
    if inline_time_limit_refused(executor, exp.time_limit_s, exp.tasks):
        raise HpoBenchError(f"{names['executor']} inline: the experiment sets time_limit_s = {exp.time_limit_s:g}, "
                            f"and {INLINE_NO_TIME_LIMIT}")
    if scheduler_address is not None:
        if executor not in CLUSTER_EXECUTORS:
            raise HpoBenchError(f"{names['scheduler_address']} {scheduler_address}: needs the dask or ray executor "
                                f"(the executor is {executor!r})")
        check_scheduler_address(scheduler_address, names["scheduler_address"], executor)
    if executor == "ray":
        import importlib.util

        if importlib.util.find_spec("ray") is None:  # say so before any store is opened
            raise ExperimentError(f"{names['executor']} ray: needs Ray, which is not installed: "
                                  "pip install 'hpo-bench[ray]'")
    if models is not None:
        unknown = [m for m in models if m not in exp.models]
        if not models or unknown:
            raise HpoBenchError(f"{names['models']} {','.join(models)}: name models of the experiment, "
                                f"comma-separated ({', '.join(exp.models)})")
    return executor


def run(experiment: Experiment | Mapping[str, Any] | str | Path, *, results_dir: str | Path = "results",
        task_store: str | Path | None = None, n_workers: int | None = None, executor: str | None = None,
        scheduler_address: str | None = None, models: list[str] | None = None,
        progress: bool | TextIO | None = None, _names: Mapping[str, str] = _OPTION_NAMES) -> RunSummary:
    """Run (or continue) every run of an experiment into `results_dir/<name>.sqlite`.

    Tasks are read from the local task store (`task_store`, default as the CLI's) and never downloaded;
    every task and split is checked before the store is written. `models` runs only those models' runs
    (a sitting). `progress`: True writes progress lines to stderr, a text stream writes them there, False
    nothing; by default (None) they go to stderr when it is a terminal.
    A KeyboardInterrupt stops the run with every finished trial stored and raises Interrupted (how many, and
    where); calling run again continues.
    """
    from hpo_bench.scheduler import Scheduler, prepare_tasks
    from hpo_bench.tasks import TaskStore, check_tasks_available

    exp = as_experiment(experiment)
    executor = check_run_options(exp, n_workers=n_workers, executor=executor, scheduler_address=scheduler_address,
                                 models=models, names=_names)
    address = scheduler_address if scheduler_address is not None else (
        exp.scheduler_address if executor == exp.executor else None)
    if address is not None:
        check_reachable(address, executor, _names["scheduler_address"] if scheduler_address is not None
                        else f"{exp.path}: scheduler_address")
    if Path(results_dir).exists() and not Path(results_dir).is_dir():
        raise StoreError(f"results_dir {results_dir}: is a file, not a folder (the store goes in it)")
    tasks = TaskStore(task_store)
    check_tasks_available(exp.tasks, tasks)  # before the result store exists or any run starts
    prepared = prepare_tasks(exp, tasks)  # splits made and checked (enough rows per class) likewise
    if progress is None:
        progress = sys.stderr.isatty()
    out = sys.stderr if progress is True else progress or io.StringIO()
    path = Path(results_dir) / f"{exp.name}.sqlite"
    resume_from_pack(exp, path, out)
    try:
        with Store(path) as store:
            note = store.version_note()  # a resumed store made with other versions: its new trials may differ
            if note:
                print(f"hpo-bench: note: {note}", file=out)
            counts = Scheduler(exp, store, n_workers=n_workers, out=out, task_store=tasks, executor=executor,
                               scheduler_address=scheduler_address, prepared=prepared, models=models).run()
            return RunSummary(exp.name, path, counts, store.count_trials())
    except KeyboardInterrupt:
        if not path.exists():
            raise
        with Store(path, create=False) as store:
            raise Interrupted(path, store.count_trials()) from None


class Interrupted(KeyboardInterrupt):
    """`run` stopped by Ctrl-C (or SIGTERM from the command line) after its store was opened: every finished
    trial is stored (`n_trials` in `store_path`), and calling run again continues. A KeyboardInterrupt, so
    code that catches that still does."""

    def __init__(self, store_path: Path, n_trials: int) -> None:
        super().__init__(f"interrupted: {n_trials} trials are stored in {store_path}")
        self.store_path, self.n_trials = store_path, n_trials


# How long a run waits for a cluster's scheduler or head to answer before it gives up (and writes nothing).
CONNECT_TIMEOUT_S = 10.0


def check_reachable(address: str, executor: str, name: str) -> None:
    """A cluster address whose host does not answer on its port within CONNECT_TIMEOUT_S is refused before
    any store is made: the libraries' own clients retry for minutes and leave a store with no trial."""
    import socket

    scheme, _, rest = address.rpartition("://")
    if address == "auto" or scheme == "ucx":  # Ray finds its own head; UCX is not TCP
        return
    host, _, port = rest.rpartition(":")
    what = "Ray head" if executor == "ray" else "Dask scheduler"
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise HpoBenchError(f"{name} {address}: cannot reach the {what} within {CONNECT_TIMEOUT_S:g} s ({reason}); "
                            "nothing was run or written") from None


def resume_from_pack(exp: Experiment, path: Path, out: TextIO) -> None:
    """A sitting on a machine without the store: where `path` is absent and its folder holds the pack of
    this experiment (results/<name>/), the pack is unpacked into `path` and the run replays it as usual.
    A pack of another experiment file is refused before anything is written."""
    from hpo_bench.packs import is_pack, pack_experiment, unpack

    folder = path.parent / exp.name
    if path.exists() or not is_pack(folder):
        return
    recorded = pack_experiment(folder)
    if recorded.get("file_hash") not in (exp.file_hash, exp.text_hash):
        raise StoreError(f"{folder}: the pack holds results of a different version of the experiment file (sha256 "
                         f"{str(recorded.get('file_hash'))[:12]} from {recorded.get('file_path')}, this one "
                         f"{exp.file_hash[:12]}); use another --results-dir or move the pack away to start over")
    descriptor = unpack(folder, path)
    print(f"hpo-bench: note: continuing from the pack {folder}/ ({descriptor['hpo_bench']['n_trials']:,} trials "
          f"unpacked into {path})", file=out)


def store_path(target: str | Path) -> Path:
    """The store to read for `target`: a store (.sqlite) itself, or a pack folder (results/<name>/) unpacked
    once per process into a temporary store, so that every reader reads a pack as it reads a store."""
    from hpo_bench.packs import readable_store

    return readable_store(target) if Path(target).is_dir() else Path(target)


def open_store(path: str | Path) -> Store:
    """An existing result store or pack folder, read-only (a context manager); a missing or foreign file
    raises StoreError."""

    if not Path(path).exists():
        raise StoreError(f"no result store at {str(path)!r}")
    return Store(store_path(path), create=False)


@dataclass(frozen=True)
class Target:
    """What a command's TARGET names: the store to read, the Experiment of an experiment file (None for a
    store or a pack), and notes to show (a pack read in place of an absent store)."""

    path: Path
    experiment: Experiment | None
    notes: tuple[str, ...] = ()


def resolve_target(target: str | Path, results_dir: str | Path = "results") -> Target:
    """The store of an experiment file (results_dir/<name>.sqlite, else its pack results_dir/<name>/), a pack
    folder (unpacked to a temporary store) or a store path itself; StoreError when there is none."""
    from hpo_bench.packs import is_pack, readable_store

    path = Path(target)
    if path.suffix == ".toml":
        # Readers run nothing: the optimizers are not built (a peer library may not be installed here).
        exp = load_experiment(path, build_optimizers=False)
        store, pack = Path(results_dir) / f"{exp.name}.sqlite", Path(results_dir) / exp.name
        if not store.exists() and is_pack(pack):
            return Target(readable_store(pack), exp, (f"reading the pack {pack}/ ({store} is absent)",))
        return Target(store, exp)
    if path.is_dir():
        return Target(readable_store(path), None)
    if not path.exists():
        raise StoreError(f"no result store at {str(target)!r} (give an experiment .toml file, a .sqlite store or a "
                         "pack folder)")
    return Target(path, None)


def open_target(target: str | Path, results_dir: str | Path = "results") -> tuple[Store, list[str]]:
    """The store `target` names (resolve_target), opened read-only, and the notes to show: the pack read in its
    place; given an experiment file, that it differs from the one the store recorded (the results are of the
    recorded file); that this environment's package versions are not those the store's trials were made with."""
    found = resolve_target(target, results_dir)
    store = Store(found.path, create=False)
    notes = list(found.notes)
    if found.experiment is not None:
        notes.append(store.check_file(found.experiment))
    notes.append(store.version_note())
    return store, [n for n in notes if n]


# What an export writes without an output named, under <reports-dir>/<name>/: a file, or MLflow's folder.
EXPORT_FILES = {"parquet": "trials.parquet", "csv": "trials.csv", "optuna": "optuna.db", "mlflow": "mlflow"}


def check_export_output(out: Path, fmt: str, name: str = "output") -> None:
    """Where an export cannot write (a folder where a file goes, a file where a folder goes, a file that exists:
    no export overwrites) is refused before anything is written; `name` spells the option as given."""
    if out.is_dir() and fmt != "mlflow":
        raise HpoBenchError(f"{name} {out}: is a folder; give the file to write, e.g. {out}/{EXPORT_FILES[fmt]}")
    existing = next((a for a in out.parents if a.exists()), None)
    if existing is not None and not existing.is_dir():
        raise HpoBenchError(f"{name} {out}: {existing} is a file, not a folder")
    if fmt != "mlflow" and (out.exists() or out.is_symlink()):  # one rule for every format
        raise HpoBenchError(f"{name} {out}: already exists; an export never overwrites (remove it, or export "
                            "elsewhere)")


@dataclass(frozen=True)
class Analysis:
    """The tables of a store's analysis, what was left out and why, and where the tables were written."""

    tables: dict[str, Any]  # name -> pandas.DataFrame
    skipped: dict[str, str]  # table -> why it is not there
    out_dir: Path | None


def check_metric(metric: str | None, name: str = "metric") -> None:
    """A metric to report must be one that every trial records; `name` spells the option as given."""
    from hpo_bench.evaluation import ALL_METRICS  # not at the top: it imports scikit-learn, slow for --help

    if metric is not None and metric not in ALL_METRICS:
        raise HpoBenchError(f"{name} {metric}: must be one of {list(ALL_METRICS)}")


def check_against(path: str | Path, name: str = "against", value: str | None = None) -> Path:
    """The real benchmark's store to compare a surrogate benchmark with, opened once to check it is one;
    `name` and `value` spell the option and what was given (an experiment file names its store)."""

    try:
        with open_store(path) as real:
            real.experiment_name()
            if not real.count_trials():
                raise StoreError(f"{real.path}: the store has no trials yet")
    except StoreError as exc:
        raise StoreError(f"{name} {value or path}: {exc}; it names the real benchmark to compare with, by its result "
                         "store (.sqlite), its pack folder or its experiment file (.toml)") from None
    return store_path(path)


def read_reference(path: str | Path, name: str = "reference") -> Any:
    """A reference.csv (the best and worst losses per task and model of an earlier analysis), checked."""
    import pandas as pd

    try:
        reference = pd.read_csv(path)
    except OSError as exc:
        raise HpoBenchError(f"{name} {path}: cannot read it: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # pandas' ParserError and EmptyDataError are ValueErrors
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise HpoBenchError(f"{name} {path}: not a CSV file ({reason})") from None
    missing = {"task", "model", "best_loss", "worst_loss"} - set(reference.columns)
    if missing:
        raise HpoBenchError(f"{name} {path}: missing column(s) {sorted(missing)} (a reference.csv written by an "
                            "earlier analyze has them)")
    return reference


def analyze(store: str | Path, *, metric: str | None = None, models: list[str] | None = None,
            reference: Any = None, reports_dir: str | Path | None = None, ice_task: str | None = None) -> Analysis:
    """Every analysis table of a store (`hpo-bench analyze`). `metric`: a recorded metric other than the
    optimised one; `models`: only these models' trials; `reference`: a DataFrame or the path of an earlier
    reference.csv to scale losses by; `reports_dir`: also write the tables to reports_dir/<name>/ (a
    metric other than the optimised one to reports_dir/<name>/<metric>/); `ice_task`: the dataset of the
    surrogate ICE curves (default: per family, the one whose surrogate has the highest R^2)."""
    from hpo_bench.analysis import analyze as analyze_study
    from hpo_bench.analysis import load_study, write_tables

    check_metric(metric)
    if isinstance(reference, (str, Path)):
        reference = read_reference(reference)
    open_store(store).close()  # a missing or foreign store raises here
    store = store_path(store)
    study = load_study(store, models)
    if study.trials.empty:
        raise StoreError(f"{store}: the store has no trials yet; run the experiment first")
    tables, skipped = analyze_study(study, reference, metric=metric, ice_task=ice_task)
    out_dir = None
    if reports_dir is not None:
        out_dir = Path(reports_dir) / study.name
        if metric is not None and metric not in set(study.trials["metric"]):
            out_dir = out_dir / metric  # beside the optimised metric's tables, not over them
        write_tables(tables, out_dir)
    return Analysis(tables, skipped, out_dir)


def report(store: str | Path, *, reports_dir: str | Path = "reports", metric: str | None = None,
           models: list[str] | None = None, ice_task: str | None = None, against: str | Path | None = None,
           svg: bool = False) -> Any:
    """Write reports_dir/<name>/index.html and index.md with every table and figure, and interactive.html
    where plotly is installed (`hpo-bench report`); returns the Report (its folder, figures, tables, and
    what was left out and why). `ice_task`: as for `analyze`. `against`: the store of the real benchmark
    that `store`'s surrogate benchmark stands for; the report gets a section on how far they agree. `svg`:
    each figure also as SVG (vector, for papers) beside its PNG."""
    from hpo_bench.analysis.not_applicable import NotApplicable
    from hpo_bench.report import build_report

    check_metric(metric)
    open_store(store).close()  # a missing or foreign store raises here, before any folder is made
    store = store_path(store)
    if against is not None:
        against = check_against(against)
    try:
        return build_report(Path(store), Path(reports_dir), metric=metric, models=models, ice_task=ice_task,
                            against=None if against is None else Path(against), svg=svg)
    except NotApplicable as why:
        raise StoreError(f"{store}: {why}; run the experiment first") from None


def export_trials(store: str | Path, output: str | Path, fmt: str | None = None) -> int:
    """Every trial of a store or pack folder, with its run, to a new Parquet or CSV file (`hpo-bench export`);
    `fmt` "parquet" or "csv", by default from the file's suffix. An existing `output` is refused, as by
    every export. Returns the number of trials written."""
    fmt = fmt or {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}.get(Path(output).suffix.lower())
    if fmt is None:
        raise HpoBenchError(f"output {output}: say fmt='parquet' or 'csv' (or end the name in .parquet or .csv)")
    with open_store(store) as opened:
        return opened.export_trials(output, fmt)


def export_optuna(store: str | Path, output: str | Path) -> Any:
    """Every run of a store (or pack folder) as an Optuna study in a new SQLite file (`hpo_bench.export`)."""
    from hpo_bench.export import export_optuna as export

    return export(store_path(_existing(store)), output)


def export_mlflow(store: str | Path, output: str | Path) -> Any:
    """The store (or pack folder) as an MLflow experiment in a new local tracking store (`hpo_bench.export`)."""
    from hpo_bench.export import export_mlflow as export

    return export(store_path(_existing(store)), output)


def export_as(store: Store, fmt: str, output: str | Path | None = None, reports_dir: str | Path = "reports") -> Any:
    """`hpo-bench export`: every trial of an open store in `fmt` (parquet, csv, optuna, mlflow) to `output`,
    by default <reports_dir>/<experiment name>/ + EXPORT_FILES[fmt]. An existing file is refused before
    anything is written. Returns an hpo_bench.export.ExportSummary (n_runs is None for parquet and csv,
    which write trials only)."""
    from hpo_bench.export import EXPORTERS, ExportSummary

    if fmt not in EXPORT_FILES:
        raise HpoBenchError(f"format {fmt}: must be one of {list(EXPORT_FILES)}")
    if output is None:
        name = store.experiment_name() if store.experiment_row() else store.path.stem
        output = Path(reports_dir) / name / EXPORT_FILES[fmt]
    # An sqlite:/// URL is checked by the export and kept as text: a Path would make sqlite:////abs/x.db the
    # relative path sqlite:/abs/x.db.
    if fmt in ("parquet", "csv") or "://" not in str(output):
        output = Path(output)
        check_export_output(output, fmt, "--output")
    if fmt in ("parquet", "csv"):
        return ExportSummary(str(output), None, store.export_trials(output, fmt))
    return EXPORTERS[fmt](store, output)


def pack_results(target: str | Path, *, results_dir: str | Path = "results",
                 output: str | Path | None = None) -> Any:
    """`hpo-bench results pack`: the store of an experiment file (results_dir/<name>.sqlite) or a store
    (.sqlite) itself, packed into `output` (default results_dir/<name>/); an hpo_bench.packs.PackSummary."""
    from hpo_bench.packs import pack

    path = Path(target)
    if path.suffix == ".toml":
        name = load_experiment(path, build_optimizers=False).name
        path = Path(results_dir) / f"{name}.sqlite"
        if not path.is_file():
            raise StoreError(f"{target}: its store {path} does not exist; run the experiment first")
    elif not path.is_file():
        raise StoreError(f"no result store at {str(target)!r} (give an experiment .toml file or a .sqlite store)")
    return pack(path, output)


def unpack_results(folder: str | Path, output: str | Path | None = None) -> tuple[Path, dict[str, Any]]:
    """`hpo-bench results unpack`: the pack in `folder` as a new store at `output` (default beside the folder,
    <name>.sqlite; never overwritten). Returns the store's path and the pack's descriptor."""
    from hpo_bench.packs import pack_experiment, unpack

    folder = Path(folder)
    out = Path(output) if output is not None else folder.parent / f"{pack_experiment(folder)['name']}.sqlite"
    return out, unpack(folder, out)


def _existing(path: str | Path) -> str | Path:
    if not Path(path).exists():
        raise StoreError(f"no result store at {str(path)!r}")
    return path


def add_task(data: Any, *, name: str, target: str | None = None, y: Any = None,
             categorical: list[str] | None = None, task_type: str = "classification",
             task_store: str | Path | None = None, replace: bool = False) -> str:
    """Put a task made from a pandas DataFrame into the local task store and return its name, the reference
    an experiment's `tasks` takes. Either `data` holds the target column `target`, or `data` is X (a
    DataFrame or a 2-D array) and `y` the target (a Series or 1-D array, one value per row).

    The checks are a file import's (`hpo-bench tasks import`): no missing or NaN target, at least two
    classes, unique column names, a numeric finite target for regression; a failure raises TaskError with
    the value. The same data under the same name again is a no-op; other data under a name the store
    holds is refused unless `replace`.
    """
    import numpy as np
    import pandas as pd

    from hpo_bench.errors import TaskError
    from hpo_bench.tasks import TaskStore
    from hpo_bench.tasks.files import store_task, task_from_frame

    where = f"add_task(name={name!r})"
    if (not isinstance(name, str) or not name or name.startswith(".")
            or not all(c.isalnum() or c in "-_." for c in name)):
        raise TaskError(f"add_task name {name!r}: use letters, digits, '-', '_' or '.', not starting with '.' "
                        "(it names a folder of the task store)")
    if y is None:
        if not isinstance(data, pd.DataFrame):
            raise TaskError(f"{where}: data is {type(data).__name__}; give a pandas DataFrame with target=COLUMN, "
                            "or X and y=")
        if target is None:
            raise TaskError(f"{where}: say which column is the target: target=COLUMN (or give X and y=)")
        frame = data
    else:
        if target is not None and target != getattr(y, "name", target):
            raise TaskError(f"{where}: target={target!r} with y named {getattr(y, 'name', None)!r}: give one or "
                            "the other")
        X = data if isinstance(data, pd.DataFrame) else pd.DataFrame(np.asarray(data))
        if X.ndim != 2:
            raise TaskError(f"{where}: X has shape {np.shape(data)}; it must be 2-D (rows x features)")
        target = str(target or getattr(y, "name", None) or "target")
        values = np.asarray(y)
        if values.ndim != 1 or len(values) != len(X):
            raise TaskError(f"{where}: y has shape {values.shape}, X has {len(X)} rows; y must be 1-D, one value "
                            "per row")
        if target in map(str, X.columns):
            raise TaskError(f"{where}: the target's name {target!r} is also a column of X; name y otherwise "
                            "(y.name) or give target=")
        frame = X.reset_index(drop=True).assign(**{target: pd.Series(values).to_numpy()})
    task = task_from_frame(frame, target=target, name=name, where=where, categorical=categorical,
                           task_type=task_type)
    store_task(TaskStore(task_store), task, {"kind": "dataframe"}, replace=replace, where=where,
               again="give another name, or replace=True")
    return name


# -- what the command line lists and shows --------------------------------------------------------
@dataclass(frozen=True)
class Status:
    """A store's progress (`hpo-bench status`): runs by status, trials and failures per model and optimizer,
    the best validation loss so far per task, model and optimizer, and the runs that crashed."""

    name: str  # the experiment's, "?" for a store without one
    runs: Any  # pandas.DataFrame, one row per run (Store.runs)
    n_test_scores: int  # held-out test scores stored (the default and the incumbents)
    n_test_scores_failed: int  # of which failed or timed out

    @property
    def by_status(self) -> dict[str, int]:
        """Runs per status (done, pending, crashed, ...), by status name."""
        return dict(sorted(self.runs["status"].value_counts().items()))

    @property
    def n_trials(self) -> int:
        return int(self.runs["n_trials"].sum())

    @property
    def n_failed(self) -> int:
        """Trials that failed or timed out."""
        return int(self.runs["n_failed"].sum())

    @property
    def cells(self) -> Any:
        """Per model, optimizer and status: runs, trials and failed trials (a DataFrame)."""
        return self.runs.groupby(["model", "optimizer", "status"]).agg(
            runs=("run_id", "size"), trials=("n_trials", "sum"), failed=("n_failed", "sum")).reset_index()

    @property
    def best(self) -> Any:
        """Per task, model and optimizer, over the seeds' runs that have trials: runs done, runs, trials, the best
        validation loss of any run and the median of the runs' bests (a DataFrame; empty before any trial)."""
        started = self.runs[self.runs["n_trials"] > 0]
        return started.groupby(["task", "model", "optimizer"]).agg(
            runs_done=("status", lambda s: int((s == "done").sum())), runs=("run_id", "size"),
            trials=("n_trials", "sum"), best=("best_loss", "min"), median_best=("best_loss", "median")).reset_index()

    @property
    def metric(self) -> str:
        """The metric(s) the best losses are in."""
        started = self.runs[self.runs["n_trials"] > 0]
        return ", ".join(sorted(started["metric"].dropna().unique())) or "loss"

    @property
    def crashed(self) -> list[tuple[str, str]]:
        """(run key, why) of each crashed run."""
        rows = self.runs[self.runs["status"] == "crashed"]
        return list(zip(rows["run_key"], rows["note"], strict=True))

    @property
    def finished(self) -> bool:
        """Every run is done or crashed: nothing is left to run."""
        return bool(len(self.runs)) and bool(self.runs["status"].isin(["done", "crashed"]).all())


def status(store: Store | str | Path) -> Status:
    """The progress of a store (an open Store, a store's path or a pack folder), as `hpo-bench status` shows it."""
    if not isinstance(store, Store):
        with open_store(store) as opened:
            return status(opened)
    n_tests, n_tests_failed = store.count_test_scores()
    return Status(store.experiment_row().get("name", "?"), store.runs(), n_tests, n_tests_failed)


@dataclass(frozen=True)
class Listed:
    """A model family or an optimizer type as `hpo-bench models` / `hpo-bench optimizers` list it: a built-in,
    or a plugin (an entry point), which may be unusable (`problem` says why)."""

    name: str
    obj: Any  # the ModelFamily, or the optimizer class; None when the plugin cannot be used
    plugin: Any = None  # the hpo_bench.plugins.Plugin it comes from; None: built in
    problem: str | None = None
    library_version: str | None = None  # an optimizer's peer library: its installed version, or "not installed"
    missing: tuple[str, ...] = ()  # modules an optimizer needs that cannot be imported here


def model_families() -> list[Listed]:
    """Every model family: the built-ins, then the plugins'."""
    from hpo_bench.models import MODELS, get_model
    from hpo_bench.plugins import MODEL_GROUP, loaded_plugins

    return [*(Listed(name, family) for name, family in MODELS.items()),
            *(Listed(p.name, family, p, why) for p, family, why in loaded_plugins(MODEL_GROUP, get_model))]


def optimizer_types() -> list[Listed]:
    """Every optimizer type: the built-ins by name, then the plugins', with the version of a peer library
    (a peer runs at the defaults of the version installed) and what it needs that is not installed here."""
    from importlib import metadata

    from hpo_bench.optimizers import OPTIMIZERS, get_optimizer
    from hpo_bench.plugins import OPTIMIZER_GROUP, loaded_plugins, missing_modules

    rows = [(name, OPTIMIZERS[name], None, None) for name in sorted(OPTIMIZERS)]
    rows += [(p.name, cls, p, why) for p, cls, why in loaded_plugins(OPTIMIZER_GROUP, get_optimizer)]
    out = []
    for name, cls, plugin, why in rows:
        version = None
        if cls is not None and cls.library:
            try:
                version = metadata.version(cls.library)
            except metadata.PackageNotFoundError:
                version = "not installed"
        missing = tuple(missing_modules(getattr(cls, "requires", ()))) if cls is not None else ()
        out.append(Listed(name, cls, plugin, why, version, missing))
    return out


def format_value(value: object) -> str:
    """A hyperparameter's value as the listings print it: floats compactly, powers of two as 2^k (the papers'
    ranges are written that way)."""
    import math

    if isinstance(value, float):
        if value > 0 and math.log2(value).is_integer() and abs(math.log2(value)) >= 4:
            return f"2^{int(math.log2(value))}"
        return f"{value:g}"
    return str(value)


def model_space(name: str) -> list[dict[str, str]]:
    """One row per hyperparameter of the family `name` (`hpo-bench models show`): name, type, range, scale,
    default (as run), and the condition under which it is active."""
    from hpo_bench.models import get_model
    from hpo_bench.space import Categorical

    family = get_model(name)
    default = family.package_default()
    rows = []
    for p in family.space:
        if isinstance(p, Categorical):
            kind, values, scale = "categorical", "{" + ", ".join(map(str, p.choices)) + "}", ""
        else:
            cast = float if p.kind == "float" else int
            kind, values, scale = p.kind, f"[{format_value(cast(p.low))}, {format_value(cast(p.high))}]", (
                "log" if p.log else "linear")
        condition = ""
        if p.condition is not None:
            condition = f"{p.condition.parent} in {{{', '.join(map(str, p.condition.values))}}}"
        rows.append({"name": p.name, "type": kind, "range": values, "scale": scale,
                     "default": format_value(default[p.name]) if p.name in default else "(inactive)",
                     "condition": condition})
    return rows


@dataclass(frozen=True)
class TaskVariant:
    """A family's model for one more task type (a classifier's regressor): its library, whether it keeps the
    family's space (else its size), fidelity parameter, default as run and named defaults."""

    task_type: str
    library: str
    same_space: bool
    n_params: int
    fidelity_param: str | None
    default: dict[str, Any]
    named_defaults: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class ModelDetails:
    """What `hpo-bench models show NAME` prints of a family: its library, fidelity parameter, whether features
    are standardised, task types, one row per hyperparameter (model_space), what its default sets beyond the
    space, its named defaults (e.g. probst2019) and its models for other task types."""

    name: str
    library: str
    fidelity_param: str | None
    needs_scaling: bool
    task_types: tuple[str, ...]
    space: list[dict[str, str]]
    default_outside_space: dict[str, Any]
    named_defaults: dict[str, dict[str, Any]]
    variants: list[TaskVariant]


def model_details(name: str) -> ModelDetails:
    """The family `name` as `hpo-bench models show` prints it (ModelDetails)."""
    from hpo_bench.models import get_model

    family = get_model(name)
    variants = []
    for task_type in family.task_types():
        variant = family.for_task(task_type)
        if variant is not family:
            variants.append(TaskVariant(task_type, variant.library, variant.space == family.space, len(variant.space),
                                        variant.fidelity_param, variant.package_default(), variant.named_defaults()))
    return ModelDetails(family.name, family.library, family.fidelity_param, family.needs_scaling,
                        tuple(family.task_types()), model_space(name),
                        {k: v for k, v in family.package_default().items() if k not in family.space},
                        family.named_defaults(), variants)


def pull_tasks(tasks: Sequence[int] = (), data: Sequence[int] = (), suites: Sequence[str] = (), *,
               task_store: str | Path | None = None, server: str | None = None,
               replace: bool = False) -> Iterator[tuple[str, Any]]:
    """`hpo-bench tasks pull`: OpenML tasks, datasets and the members of suites into the task store, one at a
    time (a generator, so a long pull shows each as it lands): yields (reference, Pulled) for each that landed
    or was already there, and (reference, TaskError) for one that failed, and goes on. A single reference that
    fails, or a server that cannot be reached, raises at once; failures among several raise one TaskError at
    the end naming them."""
    from hpo_bench.errors import TaskError
    from hpo_bench.tasks import TaskStore
    from hpo_bench.tasks.openml import Puller

    if not (tasks or data or suites):
        raise TaskError("tasks pull: name at least one --task ID, --data ID or --suite NAME")
    puller = Puller(TaskStore(task_store), server=server)
    refs = puller.refs(tasks, data, suites)
    failed = []
    for ref in refs:
        try:
            pulled = puller.pull(ref, replace=replace)
        except TaskError as exc:
            if len(refs) == 1 or str(exc).startswith("cannot reach"):
                raise
            failed.append(ref)
            yield ref, exc
            continue
        yield ref, pulled
    if failed:
        raise TaskError(f"{len(failed)} of {len(refs)} could not be pulled: {', '.join(failed)} (reasons above)")


def import_tasks(path: str | Path, *, target: str | None = None, task_type: str | None = None,
                 categorical: Sequence[str] = (), name: str | None = None, openml_data_id: int | None = None,
                 openml_task_id: int | None = None, replace: bool = False,
                 task_store: str | Path | None = None) -> list[Any]:
    """`hpo-bench tasks import`: a data file (with its `target` column) or, without a target, a manifest (a .csv
    with the columns name, file, target: each row a task) into the task store; one Imported per task."""
    from hpo_bench.errors import TaskError
    from hpo_bench.tasks import TaskStore
    from hpo_bench.tasks.files import import_file, import_manifest, is_manifest

    store = TaskStore(task_store)
    if target is not None:
        return [import_file(store, path, target=target, categorical=list(categorical), name=name,
                            openml_data_id=openml_data_id, openml_task_id=openml_task_id, replace=replace,
                            task_type=task_type or "classification")]
    if not is_manifest(path):
        raise TaskError(f"{path}: give --target COLUMN for a data file (a manifest is a .csv file with the columns "
                        "name, file, target)")
    if task_type is not None:
        raise TaskError(f"--task-type {task_type}: applies to a data file; a manifest gives each row's type in its "
                        "task_type column")
    return import_manifest(store, path, replace=replace)


def stored_tasks(task_store: str | Path | None = None) -> Any:
    """The tasks of the local task store (`hpo-bench tasks list`), one row each (a DataFrame; empty if none)."""
    import pandas as pd

    from hpo_bench.tasks import TaskStore

    rows = []
    for e in TaskStore(task_store).entries():
        m, s = e.meta, e.meta["splits"]
        rows.append({"name": e.key, "dataset": m["name"], "rows": m["n_rows"], "features": m["n_features"],
                     "categorical": len(m["categorical"]),
                     "type": m.get("task_type", "classification"),
                     "classes": "-" if m.get("task_type") == "regression" else m["n_classes"],
                     "openml_task": e.ids.get("openml_task_id", "-"), "openml_data": e.ids.get("openml_data_id", "-"),
                     "splits": f"official {s['n_repeats']}x{s['n_folds']}" if s["official"] else "generated",
                     "source": m["source"]["kind"], "fingerprint": m["checksum"]["fingerprint"]})
    return pd.DataFrame(rows)


def surrogate_benchmarks(task_store: str | Path | None = None) -> list[dict[str, Any]]:
    """The descriptors (surrogate.json) of every surrogate benchmark in the task store, by name."""
    from hpo_bench.tasks import TaskStore, list_surrogates

    return list_surrogates(TaskStore(task_store))
