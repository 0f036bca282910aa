"""Command line: thin commands over library calls. Errors are one line and exit code 2 (--debug: traceback)."""

from __future__ import annotations

import argparse
import math
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from hpo_bench.errors import HpoBenchError

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a Ctrl-C
# The failures a bad input or a bad environment (a full disk, read-only media, a damaged store) can
# cause: `main` turns each into one line and exit 2. Anything else is a bug and keeps its traceback.
EXPECTED_ERRORS = (HpoBenchError, sqlite3.Error, OSError, UnicodeDecodeError, MemoryError)
METRIC_HELP = ("a recorded metric to report (default: the optimised one; another goes to <reports-dir>/<name>/"
               "<metric>/). Grid, random and Sobol runs' incumbents are their best trials under it; other "
               "optimizers' are the optimised metric's incumbents, scored in it")
ICE_HELP = ("the dataset of the surrogate ICE curves (default: per model, the one whose surrogate has the highest "
            "out-of-fold R^2)")
MODELS_HELP = ("only these models' trials (default: all), e.g. the families of a study whose other runs are still "
               "going; the report says which")


def _store_path(target: str, results_dir: str) -> Path:
    """A store path from an experiment file (results_dir/<name>.sqlite, else its pack results_dir/<name>/),
    a pack folder (unpacked to a temporary store) or a store path itself."""
    return _target(target, results_dir)[0]


_SAID: set[str] = set()  # notes already printed: a command resolves its TARGET more than once


def _note(text: str) -> None:
    if text not in _SAID:
        _SAID.add(text)
        print(f"hpo-bench: note: {text}", file=sys.stderr)


def _target(target: str, results_dir: str) -> tuple[Path, Any]:
    """(store path, the Experiment of an experiment file or None) for a command's TARGET argument."""
    from hpo_bench.api import resolve_target

    found = resolve_target(target, results_dir)
    for note in found.notes:
        _note(note)
    return found.path, found.experiment


def _open_store(target: str, results_dir: str) -> Any:
    """The store TARGET names, opened read-only, with a line for each note (hpo_bench.api.open_target)."""
    from hpo_bench.api import open_target

    store, notes = open_target(target, results_dir)
    for note in notes:
        _note(note)
    return store


def _check_dir(option: str, value: str | None) -> None:
    """An output folder option that names an existing file is refused before anything is done."""
    if value is not None and Path(value).exists() and not Path(value).is_dir():
        raise HpoBenchError(f"{option} {value}: is a file, not a folder")


def _stop_on_signals() -> dict[int, Any]:
    """SIGTERM (kill, a batch system's stop) ends a run as Ctrl-C does: what is stored stays, and one line
    says how to continue. The first signal interrupts; later ones are ignored while the run winds down
    (its workers are killed at once), so quick repeated Ctrl-C cannot turn a clean stop into a traceback.
    Returns the handlers to put back."""
    def interrupt(signum: int, frame: object) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt

    try:
        return {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread (main() called from a thread): signals stay as they are
        return {}


def cmd_run(args: argparse.Namespace) -> int:
    previous = _stop_on_signals()
    code = EXIT_INTERRUPTED
    try:
        code = _run(args)
        return code
    except KeyboardInterrupt:  # before any store was opened
        print("\ninterrupted before any trial was run", file=sys.stderr)
        return code
    except BaseException:
        code = EXIT_USAGE
        raise
    finally:
        # The handlers go back unless the run was interrupted: that process is ending, and a Ctrl-C that
        # comes late (the third of three quick ones) must not kill it on its way out.
        if code != EXIT_INTERRUPTED:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def _run(args: argparse.Namespace) -> int:
    from hpo_bench.api import Interrupted, run
    from hpo_bench.experiment import load_experiment

    _check_dir("--results-dir", args.results_dir)
    exp = load_experiment(args.experiment)
    models = None if args.models is None else [m.strip() for m in args.models.split(",") if m.strip()]
    names = {"n_workers": "--n-workers", "executor": "--executor", "scheduler_address": "--scheduler",
             "models": "--models"}
    try:
        summary = run(exp, results_dir=args.results_dir, task_store=args.task_store, n_workers=args.n_workers,
                      executor=args.executor, scheduler_address=args.scheduler, models=models, progress=True,
                      _names=names)
    except Interrupted as stop:
        print(f"\n{stop}; run the same command again to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary.counts.items()))
    print(f"{exp.name}: runs {counts}; store {summary.store_path}")
    return 0 if summary.ok else 1


def cmd_status(args: argparse.Namespace) -> int:
    if args.interval is not None and not args.watch:
        raise HpoBenchError(f"--interval {args.interval}: only with --watch")
    path, exp = _target(args.target, args.results_dir)
    if exp is not None and not path.exists():  # before the first run: nothing done yet is not an error
        print(f"{exp.name}: 0 of {len(exp.runs())} runs done, 0 trials; no store yet at {path} "
              f"(hpo-bench run {args.target} starts it)")
        return 0
    store = _open_store(args.target, args.results_dir)
    if not args.watch:
        from hpo_bench.api import status

        print(_status_text(status(store)))
        store.close()
        return 0
    return _watch(store, args.interval or 10.0)


def _status_text(st: Any) -> str:
    """A store's status (hpo_bench.api.Status) as `status` prints it."""
    import pandas as pd

    lines = [f"{st.name}: {len(st.runs)} runs ({', '.join(f'{n} {s}' for s, n in st.by_status.items())}); "
             f"{st.n_trials} trials, {st.n_failed} failed or timed out"]
    if st.n_test_scores:
        lines.append(f"held-out test scores: {st.n_test_scores} (default and incumbents), {st.n_test_scores_failed} "
                     "failed or timed out")
    if len(st.runs):
        lines.append(st.cells.to_string(index=False))
        best = st.best
        if len(best):
            lines.append(f"\nbest so far (validation {st.metric}, over the runs with trials):")
            with pd.option_context("display.float_format", "{:.4f}".format, "display.width", 160):
                lines.append(best.to_string(index=False))
    lines.extend(f"crashed: {key}: {note}" for key, note in st.crashed)
    return "\n".join(lines)


def _watch(store: Any, interval: float) -> int:
    """Print the status every `interval` seconds until Ctrl-C, until every run is done or crashed, or
    until the run that was writing the store stops. The store is opened afresh each time: a read-only
    connection opened while no run held the store may be immutable, and would not see new trials."""
    from hpo_bench.api import status
    from hpo_bench.store import RunLock, Store

    path = store.path
    seen_writer = False
    try:
        while True:
            writer = RunLock(path).holder()  # before reading: a view after the writer stopped is its last
            seen_writer = seen_writer or writer is not None
            st = status(store)
            store.close()
            clear = "\033[H\033[J" if sys.stdout.isatty() else ""
            who = f"a run is writing ({writer})" if writer else "no run is writing"
            print(f"{clear}{time.strftime('%H:%M:%S')} {path}: {who}\n{_status_text(st)}\n", flush=True)
            if st.finished or (seen_writer and writer is None):
                return 0
            time.sleep(interval)
            store = Store(path, create=False)
    except KeyboardInterrupt:
        return 0


def _check_metric(metric: str | None) -> None:
    from hpo_bench.api import check_metric

    check_metric(metric, "--metric")


def cmd_analyze(args: argparse.Namespace) -> int:
    import pandas as pd

    from hpo_bench.api import analyze, read_reference

    _check_metric(args.metric)
    _check_dir("--reports-dir", args.reports_dir)
    reference = None if not args.reference else read_reference(args.reference, "--reference")
    _open_store(args.target, args.results_dir).close()  # one line if the experiment file has changed
    result = analyze(_store_path(args.target, args.results_dir), metric=args.metric,
                     models=_model_list(args.models), reference=reference, reports_dir=args.reports_dir,
                     ice_task=args.ice_task)
    best = result.tables["best_found"]
    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(best.drop(columns=["best", "worst"]).to_string(index=False))
    print(f"wrote {len(result.tables)} tables to {result.out_dir}: {', '.join(sorted(result.tables))}")
    for table, why in sorted(result.skipped.items()):
        print(f"left out {table}: {why}")
    return 0


def _model_list(value: str | None) -> list[str] | None:
    return None if value is None else [m.strip() for m in value.split(",") if m.strip()]


def cmd_report(args: argparse.Namespace) -> int:
    _check_metric(args.metric)
    _check_dir("--reports-dir", args.reports_dir)
    _open_store(args.target, args.results_dir).close()  # one line if the experiment file has changed
    from hpo_bench.api import report as make_report

    against = None if args.against is None else _against(args.against, args.results_dir)
    report = make_report(_store_path(args.target, args.results_dir), reports_dir=args.reports_dir,
                         metric=args.metric, models=_model_list(args.models), ice_task=args.ice_task, against=against,
                         svg=args.svg)
    interactive = "" if "interactive.html" in report.skipped else " and interactive.html"
    print(f"wrote {report.out_dir / 'index.html'}, index.md{interactive}: {len(report.figures)} figures, "
          f"{len(report.tables)} tables in {report.seconds:.1f} s")
    if report.skipped:  # one line: the reasons, one per line, are in the report's "Left out" section
        print(f"left out {len(report.skipped)} tables and figures this study's design does not support (why: "
              f"\"Left out\" in {report.out_dir / 'index.md'}): {', '.join(sorted(report.skipped))}")
    return 0


def _against(value: str, results_dir: str) -> Path:
    """The store `--against VALUE` names (an experiment file's store, or a store), checked before any report
    is made: a bad value is one line naming it."""
    from hpo_bench.api import check_against

    try:
        path = _store_path(value, results_dir)
    except HpoBenchError as exc:
        raise HpoBenchError(f"--against {value}: {exc}") from None
    return check_against(path, "--against", value)


def cmd_surrogate_build(args: argparse.Namespace) -> int:
    from hpo_bench.surrogates import build_surrogates
    from hpo_bench.tasks import TaskStore

    start = time.perf_counter()
    store = _open_store(args.target, args.results_dir)  # one line if the experiment file has changed
    store.close()
    path = _store_path(args.target, args.results_dir)
    name = args.name or path.stem
    meta = build_surrogates(path, name, TaskStore(args.task_store), trials=args.trials, seed=args.seed,
                            replace=args.replace, progress=lambda line: print(line, file=sys.stderr))
    for ref, entry in meta["tasks"].items():
        for model, info in entry["families"].items():
            if not info["kept"]:
                print(f"{ref} x {model}: left out: {info['reason']}")
                continue
            q, metric = info["quality"], info["metrics"][0]
            best = (f", held-out best ranked {q['best_held_out_rank']} of {q['n_held_out_full']}"
                    if "best_held_out_rank" in q else "")
            print(f"{ref} x {model}: {info['n_trials']} trials; held out {q['n_held_out']}: "
                  f"R^2 {q[f'r2_{metric}']:.3f}, Kendall tau {q[f'kendall_tau_{metric}']:.3f} ({metric}){best}")
    print(f"surrogate {name!r} ({args.trials} trials of {args.target}) in {time.perf_counter() - start:.1f} s; "
          f"task store: {TaskStore(args.task_store).root}")
    return 0


def cmd_surrogate_list(args: argparse.Namespace) -> int:
    from hpo_bench.api import surrogate_benchmarks
    from hpo_bench.tasks import TaskStore

    found = surrogate_benchmarks(args.task_store)
    if not found:
        print(f"no surrogates in {TaskStore(args.task_store).root}; make one with `hpo-bench surrogate build STORE`")
        return 0
    for meta in found:
        source = meta["source"]
        print(f"{meta['name']}: from {source['experiment']} ({source['store']}, {meta['trials']} trials), built "
              f"{meta['built_at']}")
        for ref, entry in meta["tasks"].items():
            models = [m for m, info in entry["families"].items() if info["kept"]]
            print(f"  {ref}: {', '.join(models) or 'no model kept'}")
    return 0


def cmd_tasks_pull(args: argparse.Namespace) -> int:
    from hpo_bench.api import pull_tasks
    from hpo_bench.tasks import TaskStore

    for ref, pulled in pull_tasks(args.task or (), args.data or (), args.suite or (), task_store=args.task_store,
                                  server=args.openml_server, replace=args.replace):
        if isinstance(pulled, Exception):
            print(f"{ref}: failed: {pulled}", file=sys.stderr)
        else:
            print(f"{ref}: {pulled.status}: {pulled.entry.key} ({pulled.entry.meta['name']}): "
                  f"{pulled.entry.describe()}")
    print(f"task store: {TaskStore(args.task_store).root}")
    return 0


def cmd_tasks_import(args: argparse.Namespace) -> int:
    from hpo_bench.api import import_tasks
    from hpo_bench.tasks import TaskStore

    start = time.perf_counter()
    results = import_tasks(args.path, target=args.target, task_type=args.task_type,
                           categorical=[c.strip() for c in (args.categorical or "").split(",") if c.strip()],
                           name=args.name, openml_data_id=args.openml_data_id, openml_task_id=args.openml_task_id,
                           replace=args.replace, task_store=args.task_store)
    for r in results:
        print(f"{r.entry.key}: {r.status}: {r.entry.describe()}")
    root = TaskStore(args.task_store).root
    print(f"{len(results)} task(s) in {time.perf_counter() - start:.1f} s; task store: {root}")
    return 0


def cmd_tasks_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from hpo_bench.api import stored_tasks
    from hpo_bench.tasks import TaskStore

    root = TaskStore(args.task_store).root
    table = stored_tasks(args.task_store)
    if table.empty:
        print(f"the task store {root} is empty: fill it with `hpo-bench tasks pull` or `hpo-bench tasks import`")
        return 0
    with pd.option_context("display.width", 200, "display.max_rows", None, "display.max_columns", 20):
        print(table.to_string(index=False))
    print(f"{len(table)} task(s) in {root}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from hpo_bench.api import format_value, model_details, model_families
    from hpo_bench.models import get_model

    if args.action is None:
        if args.format != "text" or args.output is not None:
            raise HpoBenchError("models: --format and --output are for one family's space: 'hpo-bench models show "
                                "NAME --format configspace'")
        if args.name is not None:
            raise HpoBenchError(f"models {args.name}: did you mean 'hpo-bench models show {args.name}'?")
        rows = model_families()
        width = max(len(r.name) for r in rows)
        tasks = {r.name: ", ".join(r.obj.task_types()) for r in rows if r.problem is None}
        tasks_width = max(len("tasks"), *map(len, tasks.values()))
        print(f"{'family':<{width}}  params  fidelity     scaled  {'tasks':<{tasks_width}}  library")
        for r in rows:
            if r.problem is not None:
                print(f"{r.name:<{width}}  not usable: {r.problem}")
                continue
            family = r.obj
            origin = f"  [plugin: {r.plugin.origin}]" if r.plugin else ""
            print(f"{r.name:<{width}}  {len(family.space):>6}  {family.fidelity_param or '-':<11}  "
                  f"{'yes' if family.needs_scaling else 'no':<6}  {tasks[r.name]:<{tasks_width}}  "
                  f"{family.library}{origin}")
        print("\nlibrary: the classifier's where a family has one; 'hpo-bench models show NAME' prints a family's "
              "space and every task type's library and defaults; ranges and sources: docs/models.md; a family of "
              "your own: docs/plugins.md")
        return 0
    if args.name is None:
        raise HpoBenchError("models show: give a family name, e.g. 'hpo-bench models show svm'")
    if args.format == "configspace":
        return _write_configspace(get_model(args.name), args.output)
    if args.output is not None:
        raise HpoBenchError("models show: --output writes ConfigSpace JSON; add --format configspace")
    d = model_details(args.name)
    print(f"{d.name}: {d.library}")
    print(f"fidelity parameter: {d.fidelity_param or 'none'}; features standardised: "
          f"{'yes' if d.needs_scaling else 'no'}; tasks: {', '.join(d.task_types)}; "
          f"default = the library's default as run")
    columns = ["name", "type", "range", "scale", "default", "condition"]
    widths = {c: max(len(c), *(len(r[c]) for r in d.space)) for c in columns}
    print("  ".join(f"{c:<{widths[c]}}" for c in columns).rstrip())
    for row in d.space:
        print("  ".join(f"{row[c]:<{widths[c]}}" for c in columns).rstrip())

    def settings(config: dict[str, Any]) -> str:
        return ", ".join(f"{k} = {format_value(v)}" for k, v in config.items())

    if d.default_outside_space:
        print("the default also sets: " + settings(d.default_outside_space))
    for kind, config in d.named_defaults.items():
        print(f"defaults = {kind!r}: " + settings(config))
    for v in d.variants:
        space = "the same space" if v.same_space else f"its own space of {v.n_params}"
        print(f"the default for {v.task_type} ({v.library}; {space}; fidelity parameter: "
              f"{v.fidelity_param or 'none'}): " + settings(v.default))
        for kind, config in v.named_defaults.items():
            print(f"the default {kind!r} for {v.task_type}: " + settings(config))
    return 0


def _write_configspace(family: Any, output: str | None) -> int:
    """The family's space as ConfigSpace JSON, to stdout or a file (an experiment's `spaces` reads it back)."""
    from hpo_bench.configspace import to_configspace_json

    text = to_configspace_json(family.space, name=family.name)
    if output is None:
        sys.stdout.write(text)
        return 0
    out = Path(output)
    if out.is_dir():
        raise HpoBenchError(f"--output {out}: is a folder; give the file to write, e.g. {out}/{family.name}.json")
    out.write_text(text, encoding="utf-8")
    print(f"wrote the space of {family.name} ({len(family.space)} parameters) to {out} as ConfigSpace JSON")
    return 0


def cmd_optimizers(args: argparse.Namespace) -> int:
    """Every optimizer type, built-in then from entry points, with what it does, its options and defaults."""
    from hpo_bench.api import optimizer_types
    from hpo_bench.plugins import OPTIMIZER_GROUP

    for r in optimizer_types():
        if r.problem is not None:
            print(f"{r.name}: not usable: {r.problem}")
            continue
        cls = r.obj
        line = f"{r.name}: {cls.summary}"
        if r.library_version is not None:
            line += f" [{cls.library} {r.library_version}]"
        if r.missing:
            line += f" [not usable here: {', '.join(r.missing)} not installed]"
        if r.plugin is not None:
            line += f" [plugin: {r.plugin.origin}]"
        print(line)
        for key, opt in cls.options.items():
            types = "|".join(t.__name__ for t in (opt.types or (type(opt.default),)))
            print(f"    {key} = {opt.default!r} ({types}): {opt.help}")
    print('\nan optimizer of your own: type = "package.module:Class", or an entry point in the group '
          f"{OPTIMIZER_GROUP} (docs/plugins.md)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hpo_bench.api import export_as

    store = _open_store(args.target, args.results_dir)
    start = time.perf_counter()
    try:
        summary = export_as(store, args.format, args.output, args.reports_dir)
    finally:
        store.close()
    if summary.n_runs is None:
        print(f"wrote {summary.n_trials} trials to {summary.output}")
    else:
        print(f"wrote {summary.n_runs} runs, {summary.n_trials} trials to {summary.output} ({args.format}) in "
              f"{time.perf_counter() - start:.1f} s")
    return 0


def cmd_results_pack(args: argparse.Namespace) -> int:
    from hpo_bench.api import pack_results
    from hpo_bench.packs import MAX_PACK_BYTES

    summary = pack_results(args.target, results_dir=args.results_dir, output=args.output)
    what = f"rewrote {', '.join(summary.changed)}" if summary.changed else "unchanged"
    print(f"packed {summary.rows['trials']:,} trials of {summary.store} into {summary.folder}/ "
          f"({summary.n_bytes / 2**20:.2f} MiB; {what})")
    if summary.n_bytes > MAX_PACK_BYTES:
        _note(f"{summary.folder} is larger than a committed pack may be ({MAX_PACK_BYTES / 2**20:.0f} MiB): "
              "publish it elsewhere, or say in the README how its trials are regenerated")
    return 0


def cmd_results_unpack(args: argparse.Namespace) -> int:
    from hpo_bench.api import unpack_results

    out, descriptor = unpack_results(args.folder, args.output)
    print(f"unpacked {descriptor['hpo_bench']['n_trials']:,} trials of {Path(args.folder)}/ into {out}")
    return 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive number of seconds")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:  # numpy's and scikit-learn's seeds are 32-bit unsigned integers
        raise argparse.ArgumentTypeError(f"{text!r}: must be an integer from 0 to 2^32 - 1")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse with the project's rule for bad input: one line naming the problem, exit 2 (argparse's
    own prints the whole usage first). Subcommands' parsers are of this class too."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"hpo-bench: error: {message} (see '{self.prog} --help')\n")


_OUTPUTS = (("output", "--output"), ("reports_dir", "--reports-dir"), ("results_dir", "--results-dir"),
            ("task_store", "--task-store"))


def _one_line(exc: BaseException, args: argparse.Namespace) -> str:
    """The message of an expected failure, on one line, naming what it concerns where the error does not."""
    if isinstance(exc, HpoBenchError):
        text = str(exc)
    elif isinstance(exc, sqlite3.Error):
        target = getattr(args, "target", None) or getattr(args, "experiment", None)
        text = (f"the result store of {target}: SQLite: {exc} (a damaged or truncated store, or a full or "
                "read-only disk?)")
    elif isinstance(exc, UnicodeDecodeError):
        text = f"a file that should be text is not UTF-8 ({exc.reason} at byte {exc.start})"
    elif isinstance(exc, OSError):
        names = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None)
        if not names:  # a write that failed (a full disk) without naming its file: name where output went
            names = next((f"{option} {getattr(args, attr)}" for attr, option in _OUTPUTS if getattr(args, attr, None)),
                         "")
        text = f"{names}: {exc.strerror or exc}" if names else str(exc) or type(exc).__name__
    elif isinstance(exc, MemoryError):
        text = "out of memory (is a size in the input, such as seeds or budget_evals, far too large?)"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())  # one line, whatever a library put in its message


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="hpo-bench", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    # --debug is accepted after the command too; SUPPRESS keeps a top-level --debug from being reset.
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    # Where tasks are kept; runs read only there. Default: $HPO_BENCH_TASK_STORE, else the user's cache.
    task_store = _Parser(add_help=False)
    task_store.add_argument("--task-store", default=None, metavar="DIR",
                            help="the local task store (default: $HPO_BENCH_TASK_STORE, else "
                                 "$XDG_CACHE_HOME/hpo-bench/tasks, else ~/.cache/hpo-bench/tasks)")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common, task_store],
                         help="run or continue an experiment into results/<name>.sqlite")
    run.add_argument("experiment", help="experiment file (.toml)")
    run.add_argument("--results-dir", default="results", help="where stores go (default: results)")
    run.add_argument("--n-workers", type=int, default=None, help="worker processes (default: the file's)")
    run.add_argument("--models", default=None, metavar="A,B",
                     help="work on these models' runs only this time (default: all); the others stay as they are")
    run.add_argument("--executor", choices=["local", "inline", "dask", "ray"], default=None,
                     help="where evaluations run (default: the file's executor, else local)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="the cluster to join: a Dask scheduler, e.g. tcp://HOST:8786, or with --executor ray a "
                          "Ray head, e.g. HOST:6379 (default: the file's scheduler_address; without one, a local "
                          "Dask cluster or Ray of n_workers processes)")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", parents=[common], help="runs done and pending, failures")
    status.add_argument("target", help="experiment file (.toml), store (.sqlite) or pack folder (results/<name>/)")
    status.add_argument("--results-dir", default="results")
    status.add_argument("--watch", action="store_true",
                        help="print again every --interval seconds until the run writing the store stops")
    status.add_argument("--interval", type=_positive_seconds, default=None, help="seconds between views (10)")
    status.set_defaults(func=cmd_status)

    analyze = sub.add_parser("analyze", parents=[common], help="write tables under reports/<name>/")
    analyze.add_argument("target", help="experiment file (.toml), store (.sqlite) or pack folder (results/<name>/)")
    analyze.add_argument("--results-dir", default="results")
    analyze.add_argument("--reports-dir", default="reports", help="where tables go (default: reports)")
    analyze.add_argument("--reference", help="a frozen reference.csv (task, model, best_loss, worst_loss) for regret")
    analyze.add_argument("--metric", default=None, help=METRIC_HELP)
    analyze.add_argument("--models", default=None, metavar="A,B", help=MODELS_HELP)
    analyze.add_argument("--ice-task", default=None, metavar="TASK", help=ICE_HELP)
    analyze.set_defaults(func=cmd_analyze)

    report = sub.add_parser("report", parents=[common], help="write reports/<name>/index.html and index.md")
    report.add_argument("target", help="experiment file (.toml), store (.sqlite) or pack folder (results/<name>/)")
    report.add_argument("--results-dir", default="results")
    report.add_argument("--reports-dir", default="reports", help="where reports go (default: reports)")
    report.add_argument("--metric", default=None, help=METRIC_HELP)
    report.add_argument("--models", default=None, metavar="A,B", help=MODELS_HELP)
    report.add_argument("--ice-task", default=None, metavar="TASK", help=ICE_HELP)
    report.add_argument("--against", default=None, metavar="REAL",
                        help="the real benchmark (its experiment file or store) that this surrogate benchmark's "
                             "experiment stands for: adds a section on how far their optimizer rankings agree")
    report.add_argument("--svg", action="store_true",
                        help="also write each figure as SVG (vector graphics, for a paper) beside its PNG")
    report.set_defaults(func=cmd_report)
    tasks = sub.add_parser("tasks", parents=[common], help="the local task store: pull, import, list")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", required=True)
    pull = tasks_sub.add_parser("pull", parents=[common, task_store],
                                help="download OpenML tasks, datasets or suites into the task store")
    pull.add_argument("--task", type=int, action="append", default=[], metavar="ID", help="an OpenML task id")
    pull.add_argument("--data", type=int, action="append", default=[], metavar="ID", help="an OpenML dataset id")
    pull.add_argument("--suite", action="append", default=[], metavar="NAME",
                      help="OpenML-CC18, OpenML-CTR23 or probst-38 (bundled), or a suite name or id on the server")
    pull.add_argument("--openml-server", default=None, metavar="URL",
                      help="default: $HPO_BENCH_OPENML_SERVER, else https://www.openml.org/api/v1/xml")
    pull.add_argument("--replace", action="store_true", help="download again what the store already has")
    pull.set_defaults(func=cmd_tasks_pull)
    imp = tasks_sub.add_parser("import", parents=[common, task_store],
                               help="a data file (CSV/TSV, gzipped or not, ARFF, Parquet) or a manifest of them")
    imp.add_argument("path", help="the data file, or a manifest .csv with columns name, file, target, ...")
    imp.add_argument("--target", default=None, help="the label column (required for a data file)")
    imp.add_argument("--task-type", choices=["classification", "regression"], default=None,
                     help="regression: the target is a number (default: classification; a manifest has a "
                     "task_type column instead)")
    imp.add_argument("--categorical", default=None, metavar="A,B", help="categorical columns, comma-separated")
    imp.add_argument("--name", default=None, help="the task's name in the store (default: the file name)")
    imp.add_argument("--openml-data-id", type=int, default=None, metavar="ID")
    imp.add_argument("--openml-task-id", type=int, default=None, metavar="ID")
    imp.add_argument("--replace", action="store_true", help="replace a stored task of the same name")
    imp.set_defaults(func=cmd_tasks_import)
    lst = tasks_sub.add_parser("list", parents=[common, task_store], help="the tasks in the store")
    lst.set_defaults(func=cmd_tasks_list)
    surrogate = sub.add_parser("surrogate", parents=[common],
                               help="surrogate benchmarks fitted on a store's real trials: build, list")
    surrogate_sub = surrogate.add_subparsers(dest="surrogate_command", required=True)
    build = surrogate_sub.add_parser("build", parents=[common, task_store],
                                     help="fit surrogates of every task x model of a store: tasks surrogate:NAME/TASK")
    build.add_argument("target", help="experiment file (.toml), store (.sqlite) or pack folder whose trials to fit on")
    build.add_argument("--name", default=None, help="the surrogates' name (default: the store's file name)")
    build.add_argument("--trials", choices=["design", "all"], default="design",
                       help="design (default): the trials of random, Sobol and grid runs; all: every complete trial "
                            "(adds multi-fidelity optimizers' low-fidelity trials)")
    build.add_argument("--seed", type=_seed, default=0, help="the forests' and the held-out split's seed (default 0)")
    build.add_argument("--replace", action="store_true", help="rebuild a surrogate of the same name")
    build.add_argument("--results-dir", default="results")
    build.set_defaults(func=cmd_surrogate_build)
    slist = surrogate_sub.add_parser("list", parents=[common, task_store], help="the surrogates in the task store")
    slist.set_defaults(func=cmd_surrogate_list)
    models = sub.add_parser("models", parents=[common], help="list the model families, or show one's space")
    models.add_argument("action", nargs="?", choices=["show"], help="show NAME: the family's search space")
    models.add_argument("name", nargs="?", help="a family name (or module:ATTRIBUTE)")
    models.add_argument("--format", choices=["text", "configspace"], default="text",
                        help="show: a table (default) or ConfigSpace JSON, which an experiment's [spaces] reads "
                             "(needs ConfigSpace: pip install \"hpo-bench[configspace]\")")
    models.add_argument("--output", default=None, metavar="FILE",
                        help="show --format configspace: write to FILE instead of stdout")
    models.set_defaults(func=cmd_models)
    optimizers = sub.add_parser("optimizers", parents=[common],
                                help="list the optimizer types with their options and defaults")
    optimizers.set_defaults(func=cmd_optimizers)
    export = sub.add_parser("export", parents=[common],
                            help="every trial to a Parquet or CSV file, an Optuna storage or an MLflow tracking store")
    export.add_argument("target", help="experiment file (.toml), store (.sqlite) or pack folder (results/<name>/)")
    # the formats of hpo_bench.api.EXPORT_FILES (not imported here: --help stays fast)
    export.add_argument("--format", choices=["parquet", "csv", "optuna", "mlflow"], default="parquet",
                        help="parquet (default), csv, optuna (one study per run, for optuna-dashboard) or mlflow "
                             '(one parent run per run, a child per trial; needs pip install "hpo-bench[mlflow]")')
    export.add_argument("--output", default=None,
                        help="file to write; for mlflow a new or empty folder (it gets mlflow.db); optuna and mlflow "
                             "also take an sqlite:///PATH URL. No format overwrites: an existing file (a non-empty "
                             "folder for mlflow) is refused (default: reports/<name>/trials.<format>, optuna.db or "
                             "mlflow/)")
    export.add_argument("--results-dir", default="results")
    export.add_argument("--reports-dir", default="reports")
    export.set_defaults(func=cmd_export)
    results = sub.add_parser("results", parents=[common],
                             help="packs, the published form of a store (results/<name>/): pack, unpack")
    results_sub = results.add_subparsers(dest="results_command", required=True)
    rpack = results_sub.add_parser("pack", parents=[common],
                                   help="write a store's tables as Parquet + datapackage.json (updates the "
                                        "pack of the same experiment; byte-identical when nothing changed)")
    rpack.add_argument("target", help="experiment file (.toml; its store results/<name>.sqlite) or store (.sqlite)")
    rpack.add_argument("--output", default=None, metavar="DIR",
                       help="the pack folder (default: the store's folder/<name>/, e.g. results/<name>/)")
    rpack.add_argument("--results-dir", default="results")
    rpack.set_defaults(func=cmd_results_pack)
    runpack = results_sub.add_parser("unpack", parents=[common],
                                     help="a pack back into a store (exact: every row, float and JSON text)")
    runpack.add_argument("folder", help="the pack folder (results/<name>/)")
    runpack.add_argument("--output", default=None, metavar="STORE",
                         help="the new store (default: beside the folder, <name>.sqlite); never overwritten")
    runpack.set_defaults(func=cmd_results_unpack)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    _SAID.clear()  # once per command, not per process (tests and scripts call main several times)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:  # `run` says what is stored; another command has nothing to keep
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except EXPECTED_ERRORS as exc:
        if args.debug:
            raise
        print(f"hpo-bench: error: {_one_line(exc, args)}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
