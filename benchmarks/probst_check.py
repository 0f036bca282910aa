"""Real runs beside the surrogates: evaluate for real what a tunability study's surrogates chose.

    python benchmarks/probst_check.py make reports/tunability-probst2019 benchmarks/tunability-probst2019.toml
    hpo-bench run benchmarks/tunability-probst2019-check.toml
    python benchmarks/probst_check.py compare reports/tunability-probst2019 \
        results/tunability-probst2019.sqlite results/tunability-probst2019-check.sqlite

A family that finishes after the check ran gets a check file of its own (`make ... --models knn` writes
tunability-probst2019-check-knn.toml), and `compare` takes every check store.

`make` writes a check experiment beside the study's file: the same tasks, CV, held-out test and time limit;
the R defaults of Probst et al. as each run's default trial (`defaults = "probst2019"`), then, listed
(`[configs]`, never told to an optimizer), the surrogates' optimal default, the cross-validated defaults and
every dataset's surrogate optimum (each evaluated on every dataset); the budget is exactly those, so no
optimizer ever asks. `compare` writes surrogate_vs_real.csv (per model, task and configuration: predicted,
measured validation and held-out test loss) and surrogate_vs_real_tunability.csv (d on the surrogates
against d measured) into the study's report folder and prints the second.
"""

from __future__ import annotations

import argparse
import json
import tomllib
from pathlib import Path

import pandas as pd

from hpo_bench.analysis import metric_view
from hpo_bench.analysis.surrogate import surrogate_vs_real
from hpo_bench.store import Store


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def make(report: Path, study_file: Path, models: list[str] | None = None) -> Path:
    study = tomllib.loads(study_file.read_text())
    defaults = pd.read_csv(report / "optimal_defaults.csv")
    if models is not None:  # a family that finished after the others' check ran: a check file of its own
        unknown = sorted(set(models) - set(defaults.model))
        if unknown:
            raise SystemExit(f"--models: {unknown} not in {report}/optimal_defaults.csv")
        defaults = defaults[defaults.model.isin(models)]
    configs: dict[str, list[str]] = {}
    for model, group in defaults.groupby("model", sort=False):
        unique = list(dict.fromkeys(group["config"]))  # the cross-validated defaults repeat per task
        configs[model] = ["{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in json.loads(c).items()) + " }"
                          for c in unique]
    name = f"{study['name']}-check" + ("" if models is None else "-" + "-".join(models))
    out = study_file.with_name(f"{name}.toml")
    keep = {k: study[k] for k in ("cv_folds", "metric", "test", "test_fraction", "time_limit_s", "n_workers")
            if k in study}
    lines = [f"# Made by benchmarks/probst_check.py from {report}/optimal_defaults.csv: the configurations the",
             f"# surrogates of {study['name']} chose, evaluated for real; the R defaults as each run's default.",
             f"name = {json.dumps(name)}", f"tasks = {json.dumps(study['tasks'])}",
             f"models = {json.dumps(list(configs))}",
             "budget_evals = { " + ", ".join(f"{m} = {len(c) + 1}" for m, c in configs.items()) + " }",
             "seeds = 1", "include_default = true", 'defaults = "probst2019"']
    lines += [f"{k} = {_toml_value(v)}" for k, v in keep.items()]
    lines += ["", "[configs]"] + [f"{m} = [{', '.join(c)}]" for m, c in configs.items()]
    lines += ["", "[optimizers]", "random = {}  # never asks: the budget is the default and the listed configurations"]
    out.write_text("\n".join(lines) + "\n")
    return out


def compare(report: Path, study_store: Path, check_stores: list[Path]) -> str:
    with Store(study_store, create=False) as store:
        study = metric_view(store.trials())
    checks = []
    for path in check_stores:  # one per check file: the first families' and those made later
        with Store(path, create=False) as store:
            runs = store.runs()
            if not (runs["status"] == "done").all():  # a run still refitting: its test column is not complete
                raise SystemExit(f"{path}: {int((runs['status'] != 'done').sum())} runs are not done yet "
                                 "(held-out refits pending); run the check to its end first")
            checks.append(metric_view(store.trials()))
    check = pd.concat(checks, ignore_index=True)
    if check.duplicated(["task", "model", "config"]).any():
        raise SystemExit("the check stores evaluate some configurations twice: give each family's once")
    tables = surrogate_vs_real(study, check, pd.read_csv(report / "optimal_defaults.csv"),
                               pd.read_csv(report / "surrogate_per_dataset.csv"))
    for name, table in tables.items():
        table.to_csv(report / f"{name}.csv", index=False, float_format="%.6g")
    return tables["surrogate_vs_real_tunability"].to_string(index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("report", type=Path)
    m.add_argument("study_file", type=Path)
    m.add_argument("--models", default=None, help="comma-separated: a check file of these families only")
    c = sub.add_parser("compare")
    c.add_argument("report", type=Path)
    c.add_argument("study_store", type=Path)
    c.add_argument("check_store", type=Path, nargs="+")
    args = parser.parse_args()
    if args.command == "make":
        print(make(args.report, args.study_file, None if args.models is None else args.models.split(",")))
    else:
        print(compare(args.report, args.study_store, args.check_store))


if __name__ == "__main__":
    main()
