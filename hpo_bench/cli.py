"""Command line: thin commands over library calls. Errors are one line and exit code 2 (--debug: traceback)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hpo_bench.errors import HpoBenchError, StoreError

EXIT_USAGE = 2


def _store_path(target: str, results_dir: str) -> Path:
    """A store path from an experiment file (results_dir/<name>.sqlite) or a store path itself."""
    path = Path(target)
    if path.suffix == ".toml":
        from hpo_bench.experiment import load_experiment

        return Path(results_dir) / f"{load_experiment(path).name}.sqlite"
    if not path.exists():
        raise StoreError(f"no result store at {target!r} (give an experiment .toml file or a .sqlite store)")
    return path


def cmd_run(args: argparse.Namespace) -> int:
    from hpo_bench.experiment import check_scheduler_address, load_experiment
    from hpo_bench.scheduler import Scheduler
    from hpo_bench.store import Store

    exp = load_experiment(args.experiment)
    if args.n_workers is not None and args.n_workers < 1:
        raise HpoBenchError(f"--n-workers {args.n_workers}: must be a positive integer")
    executor = args.executor or exp.executor
    if args.scheduler is not None:
        check_scheduler_address(args.scheduler, "--scheduler")
        if executor != "dask":
            raise HpoBenchError(f"--scheduler {args.scheduler}: needs --executor dask (the executor is {executor!r})")
    path = Path(args.results_dir) / f"{exp.name}.sqlite"
    store = Store(path)
    try:
        counts = Scheduler(exp, store, n_workers=args.n_workers, executor=executor,
                           scheduler_address=args.scheduler).run()
    except KeyboardInterrupt:
        done = store.count_trials()
        print(f"\ninterrupted: {done} trials are stored in {path}; run the same command again to continue",
              file=sys.stderr)
        return 130
    finally:
        store.close()
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"{exp.name}: runs {summary}; store {path}")
    return 1 if counts.get("crashed") else 0


def cmd_status(args: argparse.Namespace) -> int:
    from hpo_bench.store import Store

    store = Store(_store_path(args.target, args.results_dir), create=False)
    runs = store.runs()
    name = store.experiment_row().get("name", "?")
    by_status = runs["status"].value_counts().to_dict()
    print(f"{name}: {len(runs)} runs ({', '.join(f'{n} {s}' for s, n in sorted(by_status.items()))}); "
          f"{int(runs['n_trials'].sum())} trials, {int(runs['n_failed'].sum())} failed or timed out")
    if len(runs):
        table = runs.groupby(["model", "optimizer", "status"]).agg(
            runs=("run_id", "size"), trials=("n_trials", "sum"), failed=("n_failed", "sum")).reset_index()
        print(table.to_string(index=False))
    for _, row in runs[runs["status"] == "crashed"].iterrows():
        print(f"crashed: {row['run_key']}: {row['note']}")
    store.close()
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from hpo_bench.analysis import best_found_table
    from hpo_bench.store import Store

    store = Store(_store_path(args.target, args.results_dir), create=False)
    name = store.experiment_row().get("name")
    trials = store.trials()
    store.close()
    if trials.empty:
        raise StoreError(f"{args.target}: the store has no trials yet; run the experiment first")
    out_dir = Path(args.reports_dir) / name
    out_dir.mkdir(parents=True, exist_ok=True)
    table = best_found_table(trials)
    table.to_csv(out_dir / "best_found.csv", index=False, float_format="%.6g")
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20, "display.float_format", "{:.4f}".format):
        print(table.drop(columns=["best", "worst"]).to_string(index=False))
    print(f"wrote {out_dir / 'best_found.csv'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hpo_bench.store import Store

    store = Store(_store_path(args.target, args.results_dir), create=False)
    try:
        name = store.experiment_row().get("name") or store.path.stem
        out = Path(args.output) if args.output else Path(args.reports_dir) / name / f"trials.{args.format}"
        n = store.export_trials(out, args.format)
    finally:
        store.close()
    print(f"wrote {n} trials to {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpo-bench", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    # --debug is accepted after the command too; SUPPRESS keeps a top-level --debug from being reset.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", parents=[common], help="run or continue an experiment into results/<name>.sqlite")
    run.add_argument("experiment", help="experiment file (.toml)")
    run.add_argument("--results-dir", default="results", help="where stores go (default: results)")
    run.add_argument("--n-workers", type=int, default=None, help="worker processes (default: the file's)")
    run.add_argument("--executor", choices=["local", "dask"], default=None,
                     help="where evaluations run (default: the file's executor, else local)")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="Dask scheduler, e.g. tcp://HOST:8786 (default: the file's scheduler_address; "
                          "without one, a local Dask cluster of n_workers processes)")
    run.set_defaults(func=cmd_run)

    status = sub.add_parser("status", parents=[common], help="runs done and pending, failures")
    status.add_argument("target", help="experiment file (.toml) or store (.sqlite)")
    status.add_argument("--results-dir", default="results")
    status.set_defaults(func=cmd_status)

    analyze = sub.add_parser("analyze", parents=[common], help="write tables under reports/<name>/")
    analyze.add_argument("target", help="experiment file (.toml) or store (.sqlite)")
    analyze.add_argument("--results-dir", default="results")
    analyze.add_argument("--reports-dir", default="reports", help="where tables go (default: reports)")
    analyze.set_defaults(func=cmd_analyze)

    export = sub.add_parser("export", parents=[common], help="write every trial to a Parquet or CSV file")
    export.add_argument("target", help="experiment file (.toml) or store (.sqlite)")
    export.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    export.add_argument("--output", default=None, help="file to write (default: reports/<name>/trials.<format>)")
    export.add_argument("--results-dir", default="results")
    export.add_argument("--reports-dir", default="reports")
    export.set_defaults(func=cmd_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HpoBenchError as exc:
        if args.debug:
            raise
        print(f"hpo-bench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
