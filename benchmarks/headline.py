"""Print the README's headline tables from committed reports, so the README's numbers are the reports'.

    python benchmarks/headline.py tunability reports/tunability-random-forest
    python benchmarks/headline.py optimizers reports/optimizer-comparison

`tunability`: one row per hyperparameter from tunability_summary.csv: measured d against the package
default (mean, 95% CI, median, relative) and the surrogates' d against the package and the optimal
default. `optimizers`: mean rank and median best-found loss per optimizer from tests.csv and
best_found.csv.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def _g(x: float) -> str:
    return "" if pd.isna(x) else f"{x:.2g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.1e}"


def tunability(report: Path) -> str:
    t = pd.read_csv(report / "tunability_summary.csv")
    measured = t[t["estimate"].str.startswith("measured")].set_index("hyperparameter")
    package = t[(t["estimate"] == "surrogate") & (t["against"] == "package default")].set_index("hyperparameter")
    optimal = t[(t["estimate"] == "surrogate") & (t["against"] == "optimal default")].set_index("hyperparameter")
    lines = ["| hyperparameter | d, mean [95% CI] | d, median | relative d | surrogate d vs package default "
             "(relative) | surrogate d vs optimal default (relative) |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, m in measured.iterrows():
        cells = [f"{_g(m['mean'])} [{_g(m['ci_low'])}, {_g(m['ci_high'])}]", _g(m["median"]), _g(m["relative_mean"])]
        for s in (package, optimal):
            cells.append(f"{_g(s.loc[name, 'mean'])} ({_g(s.loc[name, 'relative_mean'])})" if name in s.index else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    first = measured.iloc[0]
    lines.append("")
    lines.append(f"{int(first['n_datasets'])} datasets x {int(first['n_seeds'])} seeds; relative d rests on the "
                 f"{int(first['relative_n_datasets'])} datasets where tuning everything beat the default "
                 f"({int(package['relative_n_datasets'].iloc[0])} on the surrogates).")
    return "\n".join(lines)


def optimizers(report: Path) -> str:
    tests = pd.read_csv(report / "tests.csv")
    friedman = tests[tests["test"] == "friedman"].iloc[0]
    pairs = tests[tests["test"] == "wilcoxon"]
    ranks = pd.concat([pairs.set_index("a")["mean_rank_a"], pairs.set_index("b")["mean_rank_b"]])
    ranks = ranks[~ranks.index.duplicated()].sort_values()
    best = pd.read_csv(report / "best_found.csv")
    best = best[best["tuned"] == "all"].pivot_table(index="task", columns="optimizer", values="median")
    lines = ["| optimizer | mean rank | " + " | ".join(best.index) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in best.index) + " |"]
    for opt, rank in ranks.items():
        lines.append(f"| {opt} | {rank:.2f} | " + " | ".join(f"{best.loc[t, opt]:.4f}" for t in best.index) + " |")
    lines.append("")
    lines.append(f"Friedman p = {friedman['p_value']:.2g} over {int(friedman['n_blocks'])} task x seed blocks; "
                 f"Nemenyi critical difference {friedman['critical_difference']:.2f} ranks.")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["tunability", "optimizers"])
    parser.add_argument("report", type=Path, help="a report folder, e.g. reports/tunability-random-forest")
    args = parser.parse_args()
    print(tunability(args.report) if args.kind == "tunability" else optimizers(args.report))
