"""A tunability study's numbers beside Probst, Boulesteix & Bischl's published ones (JMLR 20(53), 2019).

The paper's results ship with hpo-bench (hpo_bench/reference/probst2019, with their source). For each of
its six families that a store tuned, and the metrics it reports (AUC, accuracy, Brier score: our 1-auc,
error and brier), three tables:
- `probst2019_hyperparameters`: per estimate and hyperparameter (and "all", the overall tunability), our
  mean d beside the paper's: Tun.P for estimates against a package default (measured by the runs, or on
  the surrogates against the Python package's default or against the R default the paper used), Tun.O
  for the surrogates' optimal default; with both ranks;
- `probst2019_agreement`: per family and estimate, Spearman's rho between our and the paper's
  per-hyperparameter means, a percentile bootstrap CI of rho over our datasets, and our overall d beside
  the paper's (for the cross-validated optimal default, Tun.O-CV: the paper's performance at the optimum
  minus that at the default learned on the other datasets);
- `probst2019_tuning_space`: the 5% and 95% quantiles of the per-dataset optima, ours (on the surrogates)
  beside the paper's.
The paper's numbers come from surrogates on 38 datasets with 10-fold CV; a store's come from its own
datasets, CV and budget. The tables put the numbers side by side; which difference is responsible is for
a measurement to say (the surrogate estimate against the R defaults separates the defaults).
"""

from __future__ import annotations

import warnings
from importlib import resources

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from hpo_bench.analysis.tunability import N_BOOTSTRAP, NotApplicable, per_dataset_gains
from hpo_bench.tuning import ALL

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
# A Probst-style study, the only kind the comparison is computed for: tunability per hyperparameter (runs
# tuning one at a time, or surrogates that passed their quality rules) on at least this many datasets.
# Rho's CI resamples datasets, and n datasets have C(2n-1, n) distinct resamples: 10 for 3, 126 for 5.
MIN_DATASETS = 5


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


# estimate -> (the reference default of our d, the paper's column it is compared with)
SURROGATE_ESTIMATES = {"package": ("package default", "tun_p"), "probst2019": ("R default (probst2019)", "tun_p"),
                       "optimal": ("optimal default", "tun_o"), "optimal_cv": ("optimal default, cross-validated",
                                                                              "tun_o_cv")}


def _estimates(trials: pd.DataFrame, surrogate: pd.DataFrame | None, model: str) -> list[tuple[str, str, str,
                                                                                               pd.DataFrame]]:
    """(estimate, against, paper column, task x tuned table of d) for one model."""
    out = []
    gains = per_dataset_gains(trials[trials["model"] == model])
    per_dataset = gains.groupby(["optimizer", "tuned", "task"], as_index=False).agg(gain=("gain", "mean"))
    for optimizer, group in per_dataset.groupby("optimizer"):
        out.append((f"measured ({optimizer})", "package default", "tun_p",
                    group.pivot_table(index="task", columns="tuned", values="gain")))
    if surrogate is not None:
        for reference, (against, column) in SURROGATE_ESTIMATES.items():
            part = surrogate[(surrogate["model"] == model) & (surrogate["reference"] == reference)]
            if not part.empty:
                out.append((f"surrogate ({reference})", against, column,
                            part.pivot_table(index="task", columns="tuned", values="d")))
    return out


def _paper_overall(row: pd.Series, column: str) -> tuple[float, float]:
    """The paper's overall mean and median for a column; Tun.O-CV only as a mean (from performances)."""
    if column == "tun_o_cv":
        return float(row["perf_at_optimum"] - row["perf_at_cv_optimal_default"]), float("nan")
    return float(row[f"{column}_mean"]), float(row[f"{column}_median"])


def probst_tables(trials: pd.DataFrame, surrogate: pd.DataFrame | None, metric: str, seed: int = 0,
                  surrogate_space: pd.DataFrame | None = None) -> dict[str, pd.DataFrame]:
    """The comparison tables for the families of the paper in `trials` (see the module docstring).

    `surrogate`: the per-dataset surrogate tunability (`surrogate_per_dataset`), `surrogate_space` the
    surrogates' tuning space (`surrogate_tuning_space`); either may be None.
    """
    measure = MEASURES.get(metric)
    if measure is None:
        raise NotApplicable(f"Probst et al. report AUC, accuracy and Brier score of classifiers; metric {metric!r} "
                            f"has no counterpart (classification: use --metric with one of {list(MEASURES)}; "
                            "regression tunability has no published reference)")
    models = [m for m in sorted(trials["model"].unique()) if m in FAMILIES]
    if not models:
        raise NotApplicable(f"no model of the paper's six families ({', '.join(FAMILIES)})")
    one_at_a_time = bool(set(trials.loc[trials["model"].isin(models), "tuned"]) - {ALL})
    if not one_at_a_time and (surrogate is None or surrogate.empty):
        raise NotApplicable("not a Probst-style study: the paper compares tunability per hyperparameter, and no run "
                            "tuned one hyperparameter at a time (tune = \"each\") and no surrogate passed its rules")
    n_datasets = trials.loc[trials["model"].isin(models), "task"].nunique()
    if n_datasets < MIN_DATASETS:
        raise NotApplicable(f"not a Probst-style study: {n_datasets} datasets < {MIN_DATASETS} (rho's bootstrap CI "
                            "resamples datasets)")
    hyper, overall = published("hyperparameters"), published("overall")
    rng = np.random.default_rng(seed)
    rows, agreement = [], []
    for model in models:
        family, names = FAMILIES[model]
        paper = hyper[(hyper["measure"] == measure) & (hyper["family"] == family)].set_index("hyperparameter")
        paper_all = overall[(overall["measure"] == measure) & (overall["family"] == family)]
        if paper.empty or paper_all.empty:
            continue  # the source lacks it (xgboost's Brier score)
        paper_row = paper_all.iloc[0]
        ours_names = list(names)
        paper_only = [p for p in paper.index if p not in names.values()]
        for estimate, against, column, table in _estimates(trials, surrogate, model):
            base = {"model": model, "family": family, "measure": measure, "estimate": estimate, "against": against,
                    "n_datasets": len(table)}
            per_parameter = column != "tun_o_cv"  # the paper gives Tun.O-CV overall only
            theirs = np.array([paper.loc[names[n], f"{column}_mean"] if per_parameter and names[n] in paper.index
                               else np.nan for n in ours_names])
            ours = np.array([table[n].mean() if n in table else np.nan for n in ours_names])
            if per_parameter:
                ours_rank = pd.Series(ours).rank(ascending=False).to_numpy()
                paper_rank = pd.Series(theirs).rank(ascending=False).to_numpy()
                for i, name in enumerate(ours_names):
                    rows.append({**base, "hyperparameter": name, "paper_name": names[name], "ours_mean": ours[i],
                                 "ours_median": table[name].median() if name in table else np.nan,
                                 "paper_mean": theirs[i], "paper_median": paper.loc[names[name], f"{column}_median"]
                                 if names[name] in paper.index else np.nan,
                                 "ours_rank": ours_rank[i], "paper_rank": paper_rank[i]})
                for p in paper_only:
                    rows.append({**base, "hyperparameter": None, "paper_name": p,
                                 "paper_mean": paper.loc[p, f"{column}_mean"],
                                 "paper_median": paper.loc[p, f"{column}_median"], "paper_rank": np.nan})
            paper_mean_all, paper_median_all = _paper_overall(paper_row, column)
            ours_all = table["all"].mean() if "all" in table else np.nan
            rows.append({**base, "hyperparameter": "all", "paper_name": "all", "ours_mean": ours_all,
                         "ours_median": table["all"].median() if "all" in table else np.nan,
                         "paper_mean": paper_mean_all, "paper_median": paper_median_all})
            low = high = np.nan
            if per_parameter and len(table) >= 2:
                values = table.reindex(columns=ours_names).to_numpy(dtype=float)
                draws = rng.integers(len(table), size=(N_BOOTSTRAP, len(table)))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # a resample whose column is all NaN
                    rhos = np.array([_rho(np.nanmean(values[d], axis=0), theirs) for d in draws])
                if np.isfinite(rhos).sum() >= N_BOOTSTRAP // 2:
                    low, high = np.nanquantile(rhos, [0.025, 0.975])
            agreement.append({**base, "paper_measure": {"tun_p": "Tun.P", "tun_o": "Tun.O",
                                                        "tun_o_cv": "Tun.O-CV"}[column],
                              "spearman_rho": _rho(ours, theirs) if per_parameter else np.nan,
                              "rho_ci_low": low, "rho_ci_high": high,
                              "n_hyperparameters": int((~np.isnan(ours) & ~np.isnan(theirs)).sum()),
                              "ours_all": ours_all, "paper_all": paper_mean_all,
                              "ratio_all": ours_all / paper_mean_all if paper_mean_all else np.nan,
                              "paper_n_datasets": int(paper_row["n_datasets"])})
    if not agreement:
        raise NotApplicable(f"the paper's tables have no {measure} numbers for {', '.join(models)}")
    out = {"probst2019_hyperparameters": pd.DataFrame(rows), "probst2019_agreement": pd.DataFrame(agreement)}
    if surrogate_space is not None:
        space = _tuning_space_table(surrogate_space, measure)
        if not space.empty:
            out["probst2019_tuning_space"] = space
    return out


def _tuning_space_table(ours: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Our surrogate tuning space beside the paper's, hyperparameter by hyperparameter."""
    paper = published("tuning_space")
    paper = paper[paper["measure"] == measure]
    rows = []
    for r in ours.itertuples():
        if r.model not in FAMILIES:
            continue
        family, names = FAMILIES[r.model]
        name = names.get(r.parameter)
        match = paper[(paper["family"] == family) & (paper["hyperparameter"] == name)]
        p = match.iloc[0] if len(match) else None
        rows.append({"model": r.model, "family": family, "measure": measure, "hyperparameter": r.parameter,
                     "paper_name": name, "ours_low": r.low, "ours_high": r.high,
                     "paper_q05": pd.to_numeric(p["q05"], errors="coerce") if p is not None else np.nan,
                     "paper_q95": pd.to_numeric(p["q95"], errors="coerce") if p is not None else np.nan,
                     "ours_most_frequent": r.most_frequent, "ours_share": r.share,
                     "paper_levels": (p["levels"] if p is not None and isinstance(p["levels"], str)
                                      else (f"{p['q05']} .. {p['q95']}" if p is not None and
                                            pd.isna(pd.to_numeric(p["q05"], errors="coerce")) else None)),
                     "n_datasets": r.n_datasets})
    return pd.DataFrame(rows)
