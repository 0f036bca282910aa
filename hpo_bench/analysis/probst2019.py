"""A tunability study's numbers beside Probst, Boulesteix & Bischl's published ones (JMLR 20(53), 2019).

The paper's results ship with hpo-bench (hpo_bench/reference/probst2019, with their source). For each of
its six families that a store tuned, and the metrics it reports (AUC, accuracy, Brier score: our 1-auc,
error and brier), two tables:
- `probst2019_hyperparameters`: per hyperparameter (and "all", the overall tunability), our d against the
  package default beside the paper's Tun.P, with both ranks;
- `probst2019_agreement`: per family and estimate, Spearman's rho between our and the paper's
  per-hyperparameter Tun.P, a percentile bootstrap CI over our datasets (measured estimates; the
  surrogate table keeps no per-dataset values), and our overall d against the paper's.
The paper's defaults are the R packages' and its numbers come from surrogates on 38 datasets with
10-fold CV; a store's come from its own defaults, datasets and budget. The tables put the numbers side by
side; they do not say which of those differences is responsible.
"""

from __future__ import annotations

import warnings
from importlib import resources

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from hpo_bench.analysis.tunability import N_BOOTSTRAP, NotApplicable, per_dataset_gains

# hpo-bench family -> (the paper's learner, our hyperparameter -> the paper's). docs/models.md has each
# mapping; parameters without a counterpart on the other side (ranger's respect.unordered.factors,
# our kNN's weights and p) are listed but left out of rho.
FAMILIES: dict[str, tuple[str, dict[str, str]]] = {
    "elastic_net": ("glmnet", {"alpha": "alpha", "lambda": "lambda"}),
    "decision_tree": ("rpart", {"cp": "cp", "maxdepth": "maxdepth", "minbucket": "minbucket",
                                "minsplit": "minsplit"}),
    "knn": ("kknn", {"n_neighbors": "k"}),
    "svm": ("svm", {"kernel": "kernel", "C": "cost", "gamma": "gamma", "degree": "degree"}),
    "random_forest": ("ranger", {"n_estimators": "num.trees", "bootstrap": "replace", "max_samples": "sample.fraction",
                                 "max_features": "mtry", "min_samples_leaf_exp": "min.node.size"}),
    "xgboost": ("xgboost", {"n_estimators": "nrounds", "learning_rate": "eta", "subsample": "subsample",
                            "booster": "booster", "max_depth": "max_depth", "min_child_weight": "min_child_weight",
                            "colsample_bytree": "colsample_bytree", "colsample_bylevel": "colsample_bylevel",
                            "reg_lambda": "lambda", "reg_alpha": "alpha"}),
}
MEASURES = {"1-auc": "auc", "error": "accuracy", "brier": "brier"}  # our loss -> the paper's measure


def published(name: str) -> pd.DataFrame:
    """One of the paper's tables: overall, hyperparameters, tuning_space or defaults."""
    path = resources.files("hpo_bench") / "reference" / "probst2019" / f"{name}.csv"
    with resources.as_file(path) as file:
        return pd.read_csv(file)


def _rho(ours: np.ndarray, paper: np.ndarray) -> float:
    keep = ~np.isnan(ours) & ~np.isnan(paper)
    if keep.sum() < 3 or np.ptp(ours[keep]) == 0 or np.ptp(paper[keep]) == 0:
        return float("nan")  # rho of fewer than three pairs, or of a constant, says nothing
    return float(spearmanr(ours[keep], paper[keep]).statistic)


def probst_tables(trials: pd.DataFrame, surrogate: pd.DataFrame | None, metric: str,
                  seed: int = 0) -> dict[str, pd.DataFrame]:
    """The two comparison tables for the families of the paper in `trials` (see the module docstring)."""
    measure = MEASURES.get(metric)
    if measure is None:
        raise NotApplicable(f"Probst et al. report AUC, accuracy and Brier score; metric {metric!r} has no "
                            f"counterpart (use --metric with one of {list(MEASURES)})")
    models = [m for m in sorted(trials["model"].unique()) if m in FAMILIES]
    if not models:
        raise NotApplicable(f"no model of the paper's six families ({', '.join(FAMILIES)})")
    gains = per_dataset_gains(trials)
    per_dataset = gains.groupby(["model", "optimizer", "tuned", "task"], as_index=False).agg(gain=("gain", "mean"))
    per_dataset["estimate"] = "measured (" + per_dataset["optimizer"] + ")"
    hyper, overall = published("hyperparameters"), published("overall")
    rng = np.random.default_rng(seed)
    rows, agreement = [], []
    for model in models:
        family, names = FAMILIES[model]
        paper = hyper[(hyper["measure"] == measure) & (hyper["family"] == family)].set_index("hyperparameter")
        paper_all = overall[(overall["measure"] == measure) & (overall["family"] == family)]
        if paper.empty or paper_all.empty:
            continue  # the source lacks it (xgboost's Brier score)
        estimates = {}
        for estimate, group in per_dataset[per_dataset["model"] == model].groupby("estimate"):
            table = group.pivot_table(index="task", columns="tuned", values="gain")
            estimates[estimate] = (table, len(table))
        if surrogate is not None:
            sur = surrogate[(surrogate["model"] == model) & (surrogate["reference"] == "package")]
            if not sur.empty:  # one row of dataset means: no per-dataset values to resample
                estimates["surrogate"] = (sur.set_index("tuned")["mean"].to_frame().T, int(sur["n_datasets"].max()))
        ours_names = list(names)
        paper_only = [p for p in paper.index if p not in names.values()]
        for estimate, (table, n_datasets) in estimates.items():
            ours = np.array([table[n].mean() if n in table else np.nan for n in ours_names])
            theirs = np.array([paper.loc[names[n], "tun_p_mean"] if names[n] in paper.index else np.nan
                               for n in ours_names])
            ours_rank = pd.Series(ours).rank(ascending=False).to_numpy()
            paper_rank = pd.Series(theirs).rank(ascending=False).to_numpy()
            for i, name in enumerate(ours_names):
                rows.append({"model": model, "family": family, "measure": measure, "estimate": estimate,
                             "hyperparameter": name, "paper_name": names[name], "ours_mean": ours[i],
                             "ours_median": table[name].median() if name in table else np.nan,
                             "paper_mean": theirs[i], "paper_median": paper.loc[names[name], "tun_p_median"]
                             if names[name] in paper.index else np.nan,
                             "ours_rank": ours_rank[i], "paper_rank": paper_rank[i], "n_datasets": n_datasets})
            for p in paper_only:
                rows.append({"model": model, "family": family, "measure": measure, "estimate": estimate,
                             "hyperparameter": None, "paper_name": p, "paper_mean": paper.loc[p, "tun_p_mean"],
                             "paper_median": paper.loc[p, "tun_p_median"], "paper_rank": np.nan,
                             "n_datasets": n_datasets})
            ours_all = table["all"].mean() if "all" in table else np.nan
            paper_mean_all = float(paper_all["tun_p_mean"].iloc[0])
            rows.append({"model": model, "family": family, "measure": measure, "estimate": estimate,
                         "hyperparameter": "all", "paper_name": "all", "ours_mean": ours_all,
                         "ours_median": table["all"].median() if "all" in table else np.nan,
                         "paper_mean": paper_mean_all, "paper_median": float(paper_all["tun_p_median"].iloc[0]),
                         "n_datasets": n_datasets})
            low = high = np.nan
            if estimate != "surrogate" and len(table) >= 2:
                values = table.reindex(columns=ours_names).to_numpy(dtype=float)
                draws = rng.integers(len(table), size=(N_BOOTSTRAP, len(table)))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # a resample whose column is all NaN
                    rhos = np.array([_rho(np.nanmean(values[d], axis=0), theirs) for d in draws])
                if np.isfinite(rhos).sum() >= N_BOOTSTRAP // 2:
                    low, high = np.nanquantile(rhos, [0.025, 0.975])
            agreement.append({"model": model, "family": family, "measure": measure, "estimate": estimate,
                              "spearman_rho": _rho(ours, theirs), "rho_ci_low": low, "rho_ci_high": high,
                              "n_hyperparameters": int((~np.isnan(ours) & ~np.isnan(theirs)).sum()),
                              "n_datasets": n_datasets, "ours_all": ours_all, "paper_all": paper_mean_all,
                              "ratio_all": ours_all / paper_mean_all, "paper_n_datasets": int(
                                  paper_all["n_datasets"].iloc[0])})
    if not agreement:
        raise NotApplicable(f"the paper's tables have no {measure} numbers for {', '.join(models)}")
    return {"probst2019_hyperparameters": pd.DataFrame(rows), "probst2019_agreement": pd.DataFrame(agreement)}
