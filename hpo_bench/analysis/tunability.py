"""Tunability as defined by Probst, Boulesteix & Bischl (2019, JMLR 20(53)), from real runs.

With losses minimised, for a model family, dataset j and seed s:
- d_j  = L_j(default) - L_j(best found tuning every hyperparameter)        (run tuned = "all")
- d_ij = L_j(default) - L_j(best found tuning only i, the others at default) (run tuned = "i")
- relative tunability d_ij / d_j, defined where d_j > 0;
- for a pair (i, i'): d_ii'j, its joint gain d_ii' - max(d_i, d_i') and interaction d_ii' - (d_i + d_i').

Best-found losses from finite runs are lower bounds of what tuning can gain, so d can come out
negative when a run never reaches the default; with `include_default = true` the default is each run's
first trial and d >= 0 by construction. Values are averaged over seeds within a dataset first, then
summarised across datasets (mean, median, std and a percentile bootstrap CI of the mean over datasets).

With a held-out test (test = "holdout"), the same d is also measured on it: the default's test loss
minus the test loss of the run's incumbent (chosen on validation), columns test_*. The validation d
selects and scores on the same folds, which favours the tuned side; the test d does not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hpo_bench.analysis.best_found import run_best
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.study import builtin_family, task_type_of
from hpo_bench.seeding import derive_rng

N_BOOTSTRAP = 2000
# Gains below this are rounding, not tuning (losses are means of fold losses, whose last bit depends on
# the order of summation); dividing by such a "gain" made relative tunabilities of 1e14.
GAIN_TOLERANCE = 1e-12


def default_losses(trials: pd.DataFrame) -> pd.DataFrame:
    """L(default) per task x model x seed: the loss of the package-default trial.

    Every run of a (task, model, seed) fits the default with the same model seed, so all its default
    trials have the same loss. The median returns that value exactly; the mean of three copies of 0.7
    is not 0.7, and that last-bit difference showed up as a "gain" of 1e-17 in a run whose best trial
    was the default itself.
    """
    d = trials[(trials["source"] == "default") & (trials["state"] == "COMPLETE")]
    if d.empty:
        raise NotApplicable("no run evaluated the package default (set include_default = true)")
    if "test_loss" not in d:
        d = d.assign(test_loss=np.nan)
    return d.groupby(["task", "model", "seed"], as_index=False).agg(default_loss=("loss", "median"),
                                                                     default_test_loss=("test_loss", "median"))


def per_dataset_gains(trials: pd.DataFrame) -> pd.DataFrame:
    """One row per task x model x optimizer x tuned x seed: default loss, best loss, gain d."""
    best = run_best(trials)
    gains = best.merge(default_losses(trials), on=["task", "model", "seed"], how="inner")
    gain = gains["default_loss"] - gains["best_loss"]
    gains["gain"] = gain.where(gain.abs() >= GAIN_TOLERANCE, 0.0)
    test_gain = gains["default_test_loss"] - gains["best_test_loss"]
    gains["test_gain"] = test_gain.where(test_gain.abs() >= GAIN_TOLERANCE, 0.0).where(test_gain.notna())
    return gains


def bootstrap_ci(values: np.ndarray, rng: np.random.Generator, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (NaN for fewer than two values)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    if len(values) < 2:
        return float("nan"), float("nan")
    means = rng.choice(values, size=(N_BOOTSTRAP, len(values)), replace=True).mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def _summary(values: pd.Series, rng: np.random.Generator) -> dict[str, float]:
    low, high = bootstrap_ci(values.to_numpy(), rng)
    return {"mean": values.mean(), "median": values.median(), "std": values.std(ddof=1), "ci_low": low,
            "ci_high": high}


def tunability_table(trials: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per model x optimizer x tuned hyperparameter(s): d and relative d, across datasets.

    Columns: tuned ("all" is the family's overall tunability d), mean, median, std, ci_low, ci_high of
    d over datasets (each dataset's value the mean over its seeds), the same for relative tunability
    (relative_*, over the relative_n_datasets datasets where d > 0), n_datasets and n_seeds. With small
    budgets a run tuning one hyperparameter can beat the run tuning all of them (its space is smaller),
    so relative tunability can exceed 1; d = 0 (tuning never beat the default) leaves it undefined.
    """
    gains = per_dataset_gains(trials)
    per_dataset = gains.groupby(["model", "optimizer", "tuned", "task"], as_index=False).agg(
        gain=("gain", "mean"), test_gain=("test_gain", "mean"), n_seeds=("seed", "nunique"))
    with_test = per_dataset["test_gain"].notna().any()
    overall = per_dataset[per_dataset["tuned"] == "all"][["model", "optimizer", "task", "gain"]].rename(
        columns={"gain": "gain_all"})
    per_dataset = per_dataset.merge(overall, on=["model", "optimizer", "task"], how="left")
    per_dataset["relative"] = per_dataset["gain"] / per_dataset["gain_all"].where(per_dataset["gain_all"] > 0)
    rows = []
    for (model, optimizer, tuned), group in per_dataset.groupby(["model", "optimizer", "tuned"], sort=True):
        # One bootstrap stream per row: a row's interval does not move with the other models reported.
        rng = derive_rng("tunability", seed, model, optimizer, tuned)
        row = {"model": model, "optimizer": optimizer, "tuned": tuned, **_summary(group["gain"], rng)}
        rel = _summary(group["relative"].dropna(), rng)
        row.update({f"relative_{k}": v for k, v in rel.items()})
        row.update(relative_n_datasets=int(group["relative"].notna().sum()), n_datasets=group["task"].nunique(),
                   n_seeds=int(group["n_seeds"].max()))
        if with_test:
            test = _summary(group["test_gain"].dropna(), rng)
            row.update({f"test_{k}": test[k] for k in ("mean", "median", "ci_low", "ci_high")})
            row["test_n_datasets"] = int(group["test_gain"].notna().sum())
        rows.append(row)
    if not rows:
        raise NotApplicable("no run has both a default trial and a best-found loss")
    return pd.DataFrame(rows)


# The surrogate references of the summary, in its order, with their labels.
AGAINST = {"package": "package default", "probst2019": "R default (probst2019)", "optimal": "optimal default"}


def runs_default(trials: pd.DataFrame, model: str) -> str:
    """What the runs' default trials of `model` evaluated, as a label of AGAINST: the R default where they are
    the family's probst2019 default (an experiment's defaults = "probst2019"), else the package default (what
    an experiment evaluates unless told otherwise; a store does not record which)."""
    import json

    found = [json.loads(c) for c in set(trials.loc[(trials["model"] == model) & (trials["source"] == "default"),
                                                   "config"])]
    for task_type in ("classification", "regression"):  # trials do not say; a family's defaults per type do
        family = builtin_family(model, task_type)
        if family is None or not found or all(c == family.package_default() for c in found):
            continue
        if all(c == family.named_defaults().get("probst2019") for c in found):
            return AGAINST["probst2019"]
    return AGAINST["package"]


def tunability_summary(measured: pd.DataFrame | None, surrogate: pd.DataFrame | None,
                       trials: pd.DataFrame) -> pd.DataFrame:
    """The headline table: each hyperparameter's tunability by every estimate the store supports.

    Rows per model and hyperparameter ("all" first, then by name): measured by the runs against the
    package default (one row per optimizer), and on the surrogates against the package default, the R
    default of Probst et al. where the family has one, and the surrogates' optimal default. Columns: mean
    and median of d over datasets, the bootstrap CI of the mean, mean relative tunability and how many
    datasets it rests on (those where tuning everything gained), n_datasets and n_seeds. Every value is
    copied from the `tunability` and `surrogate_tunability` tables; the out-of-sample optimal default
    (`optimal_cv`) stays in the latter.
    """
    columns = ["mean", "median", "ci_low", "ci_high", "relative_mean", "relative_n_datasets", "n_datasets"]
    parts = []
    if measured is not None:
        # against the runs' own default trial: the package's, or the R default where the experiment said so
        against = measured["model"].map({m: runs_default(trials, m) for m in measured["model"].unique()})
        m = measured.assign(against=against, estimate="measured (" + measured["optimizer"] + ")")
        parts.append(m[["model", "tuned", "against", "estimate", *columns, "n_seeds"]])
        if "test_mean" in measured:  # the same incumbents on the held-out test part
            t = measured.assign(against=against, estimate="measured on test (" + measured["optimizer"] + ")",
                                relative_mean=np.nan, relative_n_datasets=np.nan)
            t = t.drop(columns=["mean", "median", "ci_low", "ci_high", "n_datasets"]).rename(columns={
                "test_mean": "mean", "test_median": "median", "test_ci_low": "ci_low", "test_ci_high": "ci_high",
                "test_n_datasets": "n_datasets"})
            parts.append(t[["model", "tuned", "against", "estimate", *columns, "n_seeds"]])
    if surrogate is not None:
        s = surrogate[surrogate["reference"].isin(list(AGAINST))]
        seeds = trials.groupby("model")["seed"].nunique().rename("n_seeds")
        # Over every dataset, and (a row of its own, not instead) over those whose surrogate fits R^2 >= 0.5.
        label = "surrogate" if "datasets" not in s else np.where(s["datasets"] == "all", "surrogate",
                                                                 "surrogate (" + s["datasets"] + ")")
        s = s.assign(against=s["reference"].map(AGAINST), estimate=label).join(seeds, on="model")
        parts.append(s[["model", "tuned", "against", "estimate", *columns, "n_seeds"]])
    if not parts:
        raise NotApplicable("neither measured nor surrogate tunability applies to this store")
    table = pd.concat(parts, ignore_index=True).rename(columns={"tuned": "hyperparameter"})
    table["_rest"] = table["hyperparameter"] != "all"  # "all" first, then by name
    # Blocks: the package default (measured, then surrogate), the R default, then the optimal default.
    table["_against"] = table["against"].map({a: i for i, a in enumerate(AGAINST.values())})
    table = table.sort_values(["model", "_against", "estimate", "_rest", "hyperparameter"], kind="stable")
    return table.drop(columns=["_rest", "_against"]).reset_index(drop=True)


def pair_table(trials: pd.DataFrame) -> pd.DataFrame:
    """Per model x optimizer x pair (i, i'): mean d_ii', joint gain and interaction across datasets."""
    if not (trials["tuned"].str.count(r"\+") == 1).any():
        raise NotApplicable("no run tunes a pair of hyperparameters (tune = [\"pairs\"] or [[\"a\", \"b\"]])")
    gains = per_dataset_gains(trials)
    per_dataset = gains.groupby(["model", "optimizer", "tuned", "task"], as_index=False).agg(gain=("gain", "mean"))
    pairs = per_dataset[per_dataset["tuned"].str.count(r"\+") == 1]
    single = per_dataset.set_index(["model", "optimizer", "tuned", "task"])["gain"]
    rows = []
    for _, r in pairs.iterrows():
        first, second = r["tuned"].split("+")
        d1 = single.get((r["model"], r["optimizer"], first, r["task"]), np.nan)
        d2 = single.get((r["model"], r["optimizer"], second, r["task"]), np.nan)
        rows.append({"model": r["model"], "optimizer": r["optimizer"], "first": first, "second": second,
                     "task": r["task"], "d_pair": r["gain"], "d_first": d1, "d_second": d2,
                     "joint_gain": r["gain"] - max(d1, d2), "interaction": r["gain"] - (d1 + d2)})
    per_task = pd.DataFrame(rows)
    return per_task.groupby(["model", "optimizer", "first", "second"], as_index=False).agg(
        d_pair=("d_pair", "mean"), d_first=("d_first", "mean"), d_second=("d_second", "mean"),
        joint_gain=("joint_gain", "mean"), interaction=("interaction", "mean"), n_datasets=("task", "nunique"))


def tuning_space(trials: pd.DataFrame, tasks: pd.DataFrame | None = None, low: float = 0.05,
                 high: float = 0.95) -> pd.DataFrame:
    """Probst's tuning space: the 5% and 95% quantiles of each numeric hyperparameter's best values.

    The best configuration of every fully tuned run (one per dataset and seed) gives one value per
    hyperparameter where it is active; categorical ones report their most frequent best choice. A
    numeric hyperparameter whose package default is symbolic (random forest's max_features = "sqrt")
    counts that value as the number it stands for on its dataset (the family's `concrete`), so the
    default does not turn the column categorical. A model from outside hpo-bench keeps its values as
    stored (its `concrete` is code, which reading a store does not import).
    """
    import json

    from hpo_bench.models import DataShape

    full = trials[(trials["tuned"] == "all") & (trials["state"] == "COMPLETE") & np.isclose(trials["fidelity"], 1)]
    if full.empty:
        raise NotApplicable("no fully tuned run has a complete trial")
    select = full["select_loss"] if "select_loss" in full else full["loss"]
    full = full.assign(_select=select).sort_values("trial_number", kind="stable")
    best = full.loc[full.groupby(["task", "model", "optimizer", "seed"])["_select"].idxmin()]
    n_features = {} if tasks is None else dict(zip(tasks["task"], tasks["n_features"], strict=True))
    rows = []
    task_type = task_type_of(tasks)
    for (model, optimizer), group in best.groupby(["model", "optimizer"]):
        family = builtin_family(model, task_type)
        concrete = family.concrete if family is not None else lambda config, shape: config
        configs = pd.DataFrame([concrete(json.loads(c), DataShape(0, int(n_features.get(task, 1)), 0))
                                for c, task in zip(group["config"], group["task"], strict=True)])
        for name in configs.columns:
            values = configs[name].dropna()
            numeric = pd.to_numeric(values, errors="coerce")
            if values.map(lambda v: isinstance(v, bool)).any() or numeric.isna().any():
                counts = values.astype(str).value_counts()
                rows.append({"model": model, "optimizer": optimizer, "parameter": name, "low": np.nan,
                             "high": np.nan, "most_frequent": counts.index[0], "share": counts.iloc[0] / len(values),
                             "n_best": len(values)})
            else:
                rows.append({"model": model, "optimizer": optimizer, "parameter": name,
                             "low": numeric.quantile(low), "high": numeric.quantile(high), "most_frequent": None,
                             "share": np.nan, "n_best": len(values)})
    return pd.DataFrame(rows)
