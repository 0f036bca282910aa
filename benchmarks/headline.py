"""Print the README's headline tables from committed reports, so the README's numbers are the reports'.

    python benchmarks/headline.py tunability reports/tunability-random-forest
    python benchmarks/headline.py optimizers reports/optimizer-comparison
    python benchmarks/headline.py seeds reports/seeds-and-test
    python benchmarks/headline.py probst reports/tunability-probst2019
    python benchmarks/headline.py same reports/tunability-probst2019
    python benchmarks/headline.py defaults reports/tunability-probst2019
    python benchmarks/headline.py readme reports/tunability-probst2019

`tunability`: one row per hyperparameter from tunability_summary.csv: measured d against the package
default (mean, 95% CI, median, relative) and the surrogates' d against the package and the optimal
default. `optimizers`: mean rank and median best-found loss per optimizer from tests.csv and
best_found.csv. `seeds`: validation and test loss of the final incumbent and their difference per
optimizer (optimism.csv), and the share of the best-found loss's variance per seed factor
(variance_summary.csv). `probst`: per family, our overall Tun.P / Tun.O / Tun.O-CV on the surrogates
beside the paper's, Spearman's rho of the per-hyperparameter values with its CI (probst2019_agreement.csv),
and the datasets kept (surrogate_quality.csv); then per hyperparameter, ours against the R default beside
the paper's Tun.P (probst2019_hyperparameters.csv). `same`: per family and estimate, on the datasets both
have (matched by OpenML id), our mean overall d beside the paper's and their ratio, Spearman's rho over
hyperparameters and over datasets, each with its 95% bootstrap CI over the shared datasets
(probst2019_same_datasets.csv). `defaults`: per family, on the shared datasets, the R default's real AUC,
its AUC on our surrogates and on the paper's, and d on our surrogates beside d measured by the runs
(surrogate_vs_design.csv, probst2019_same_datasets_per_dataset.csv). `readme`: the README's table, one row per
family: `same`'s Tun.P row over all shared datasets and `defaults`' d measured by the runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def _g(x: float) -> str:
    return "" if pd.isna(x) else f"{x:.2g}" if abs(x) >= 1e-3 or x == 0 else f"{x:.1e}"


def tunability(report: Path) -> str:
    t = pd.read_csv(report / "tunability_summary.csv")
    measured = t[t["estimate"].str.startswith("measured (")].set_index("hyperparameter")  # validation
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
    top = ranks.index[0]

    def p_holm(a: str, b: str) -> str:  # the pairwise Wilcoxon signed-rank test, Holm-corrected
        row = pairs[((pairs["a"] == a) & (pairs["b"] == b)) | ((pairs["a"] == b) & (pairs["b"] == a))]
        return f"{row['p_holm'].iloc[0]:.2g}" if len(row) else "-"

    against = [top] + (["random"] if "random" in ranks.index and top != "random" else [])
    lines = ["| optimizer | mean rank | " + " | ".join(f"p_holm vs {a}" for a in against) + " | "
             + " | ".join(best.index) + " |",
             "| --- | ---: | " + " | ".join("---:" for _ in [*against, *best.index]) + " |"]
    for opt, rank in ranks.items():
        lines.append(f"| {opt} | {rank:.2f} | " + " | ".join(p_holm(opt, a) for a in against) + " | "
                     + " | ".join(f"{best.loc[t, opt]:.4f}" for t in best.index) + " |")
    lines.append("")
    lines.append(f"Friedman p = {friedman['p_value']:.2g} over {int(friedman['n_blocks'])} task x seed blocks; "
                 f"Nemenyi critical difference {friedman['critical_difference']:.2f} ranks; p_holm: pairwise "
                 "Wilcoxon signed-rank over the same blocks, Holm-corrected over all pairs.")
    return "\n".join(lines)


def seeds(report: Path) -> str:
    optimism = pd.read_csv(report / "optimism.csv")
    final = optimism[optimism["budget_evals"] == optimism.groupby("optimizer")["budget_evals"].transform("max")]
    lines = ["| optimizer | validation 1-AUC (mean) | test 1-AUC (mean) | optimism, mean | optimism, median "
             "[IQR] | runs |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in final.sort_values("optimizer").itertuples():
        lines.append(f"| {r.optimizer} | {r.validation_mean:.4f} | {r.test_mean:.4f} | {r.optimism_mean:+.4f} | "
                     f"{r.optimism_median:+.4f} [{r.optimism_q25:+.4f}, {r.optimism_q75:+.4f}] | {r.n_runs} |")
    variance = pd.read_csv(report / "variance_summary.csv")
    shares = variance.pivot_table(index="optimizer", columns="component", values="mean_share")
    components = ["split", "model seed", "optimizer seed", "residual"]
    lines += ["", "| optimizer | " + " | ".join(f"share: {c}" for c in components) + " | tasks |",
              "| --- | " + " | ".join("---:" for _ in components) + " | ---: |"]
    n_tasks = variance.groupby("optimizer")["n_tasks"].max()
    for opt, row in shares.iterrows():
        lines.append(f"| {opt} | " + " | ".join(f"{row[c]:.2f}" for c in components) + f" | {n_tasks[opt]} |")
    return "\n".join(lines)


def probst(report: Path) -> str:
    agreement = pd.read_csv(report / "probst2019_agreement.csv")
    quality = pd.read_csv(report / "surrogate_quality.csv")
    kept = quality.groupby("model")["kept"].agg(["sum", "count"])
    lines = ["| family (paper's) | estimate | ours, overall d | paper | ours / paper | Spearman rho [95% CI] | "
             "datasets (kept of run) |", "| --- | --- | ---: | ---: | ---: | --- | ---: |"]
    for r in agreement.itertuples():
        rho = (f"{r.spearman_rho:.2f} [{r.rho_ci_low:.2f}, {r.rho_ci_high:.2f}]" if pd.notna(r.spearman_rho)
               else "")
        used = (f"{int(kept.loc[r.model, 'sum'])} of {int(kept.loc[r.model, 'count'])}"
                if r.estimate.startswith("surrogate") and r.model in kept.index else f"{r.n_datasets}")
        lines.append(f"| {r.model} ({r.family}) | {r.estimate}: {r.paper_measure} | {_g(r.ours_all)} | "
                     f"{_g(r.paper_all)} | {r.ratio_all:.2f} | {rho} | {used} |")
    hyper = pd.read_csv(report / "probst2019_hyperparameters.csv")
    hyper = hyper[(hyper["estimate"] == "surrogate (probst2019)") & hyper["hyperparameter"].notna()
                  & (hyper["hyperparameter"] != "all")]
    lines += ["", "| family | hyperparameter (paper's name) | ours vs R default: mean d (rank) | paper Tun.P "
              "(rank) |", "| --- | --- | ---: | ---: |"]
    for r in hyper.sort_values(["model", "paper_rank"]).itertuples():
        lines.append(f"| {r.model} | {r.hyperparameter} ({r.paper_name}) | {_g(r.ours_mean)} ({r.ours_rank:g}) | "
                     f"{_g(r.paper_mean)} ({r.paper_rank:g}) |")
    return "\n".join(lines)


def _ci(row: pd.Series, name: str, interval: str) -> str:
    """`row[name]` with its 95% CI; `interval`: the prefix of the CI columns."""
    value, low, high = row[name], row[f"{interval}_ci_low"], row[f"{interval}_ci_high"]
    return "" if pd.isna(value) else f"{value:.2f} [{_g(low)}, {_g(high)}]"


def same(report: Path) -> str:
    table = pd.read_csv(report / "probst2019_same_datasets.csv")

    lines = ["| family (paper's) | ours against | datasets | ours, mean d | paper, mean d | ours / paper [95% CI] | "
             "rho over hyperparameters [95% CI] | rho over datasets [95% CI] |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for _, r in table.iterrows():
        against = "R default: Tun.P" if r["reference"] == "probst2019" else "optimal default: Tun.O"
        lines.append(f"| {r['model']} ({r['family']}) | {against} | {r['datasets']} | {_g(r['ours_mean_all'])} | "
                     f"{_g(r['paper_mean_all'])} | {_ci(r, 'ratio_of_means', 'ratio')} | "
                     f"{_ci(r, 'rho_hyperparameters', 'rho_hyperparameters')} | "
                     f"{_ci(r, 'rho_datasets', 'rho_datasets')} |")
    return "\n".join(lines)


def defaults(report: Path) -> str:
    """Per family, on the shared datasets against the R default: what the R default scores for real and
    on our surrogates, beside what the paper's surrogates say it scores (AUC); and d on the surrogates beside
    d measured by the runs (the design's best real loss against the default's real loss)."""
    versus = pd.read_csv(report / "surrogate_vs_design.csv")
    per = pd.read_csv(report / "probst2019_same_datasets_per_dataset.csv")
    per = per[(per["reference"] == "probst2019") & (per["hyperparameter"] == "all")]
    lines = ["| family (paper's) | shared datasets | R default, real AUC (ours) | R default on our surrogates | "
             "R default on the paper's surrogates | d on our surrogates | d measured by our runs | paper's d |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for model, rows in per.groupby("model"):
        ours = versus[(versus["model"] == model) & versus["task"].isin(rows["task"])]
        real, predicted = 1 - ours["measured_default"].mean(), 1 - ours["predicted_default"].mean()
        lines.append(f"| {model} ({rows['family'].iloc[0]}) | {len(ours)} | {real:.3f} | {predicted:.3f} | "
                     f"{rows['paper_at_default'].mean():.3f} | {_g(ours['d_surrogate'].mean())} | "
                     f"{_g(ours['d_measured'].mean())} | {_g(rows['paper_d'].mean())} |")
    return "\n".join(lines)


def readme(report: Path) -> str:
    """Per family, against the R default on every shared dataset: `same`'s numbers and d measured by the runs."""
    table = pd.read_csv(report / "probst2019_same_datasets.csv")
    table = table[(table["reference"] == "probst2019") & table["datasets"].str.endswith("shared with the paper")]
    versus = pd.read_csv(report / "surrogate_vs_design.csv")
    per = pd.read_csv(report / "probst2019_same_datasets_per_dataset.csv")
    lines = ["| family (paper's) | shared datasets | ours, mean d | paper, mean d | ours / paper [95% CI] | "
             "rho over hyperparameters [95% CI] | d measured by our runs |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for _, r in table.iterrows():
        tasks = per.loc[(per["model"] == r["model"]) & (per["reference"] == "probst2019"), "task"].unique()
        measured = versus.loc[(versus["model"] == r["model"]) & versus["task"].isin(tasks), "d_measured"].mean()
        lines.append(f"| {r['model']} ({r['family']}) | {r['n_datasets']} | {_g(r['ours_mean_all'])} | "
                     f"{_g(r['paper_mean_all'])} | {_ci(r, 'ratio_of_means', 'ratio')} | "
                     f"{_ci(r, 'rho_hyperparameters', 'rho_hyperparameters')} | {_g(measured)} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["tunability", "optimizers", "seeds", "probst", "same", "defaults",
                                           "readme"])
    parser.add_argument("report", type=Path, help="a report folder, e.g. reports/tunability-random-forest")
    args = parser.parse_args()
    print({"tunability": tunability, "optimizers": optimizers, "seeds": seeds, "probst": probst,
           "same": same, "defaults": defaults, "readme": readme}[args.kind](
        args.report))
