"""Matplotlib figures from the analysis tables. Each function returns a Figure or raises NotApplicable.

One colour per optimizer everywhere (`Palette`), labelled axes with units and scales, legends outside
the data.
"""

from __future__ import annotations

import json
import math

import matplotlib

matplotlib.use("Agg")  # files only; no display is needed or wanted

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from hpo_bench.analysis.not_applicable import NotApplicable  # noqa: E402
from hpo_bench.analysis.surrogate import ALL_DATASETS  # noqa: E402
from hpo_bench.space import Categorical, SearchSpace  # noqa: E402

plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "axes.grid": True, "grid.alpha": 0.3,
                     "axes.spines.top": False, "axes.spines.right": False, "font.size": 9})


class Palette:
    """A fixed colour per optimizer label (sorted), the same in every figure of a report."""

    def __init__(self, optimizers: list[str]) -> None:
        colors = plt.get_cmap("tab10").colors + plt.get_cmap("Dark2").colors
        self.colors = {name: colors[i % len(colors)] for i, name in enumerate(sorted(optimizers))}

    def __getitem__(self, optimizer: str):
        return self.colors[optimizer]


def _grid(n: int, width: float = 4.0, height: float = 3.0, cols: int = 3) -> tuple[Figure, list]:
    if n == 0:  # e.g. a store whose every trial failed: the report goes on without this figure
        raise NotApplicable("nothing to plot (no panel has a complete trial)")
    cols = min(cols, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 1.5, height * rows + 0.6), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _legend(fig: Figure, axes: list, palette: Palette, names: list[str]) -> None:
    handles = [plt.Line2D([], [], color=palette[n], lw=2) for n in names]
    fig.legend(handles, names, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, title="optimizer")


def _metric(frame: pd.DataFrame) -> str:
    return ", ".join(sorted(frame["metric"].unique())) if "metric" in frame else "loss"


def incumbent_curves(traces: pd.DataFrame, palette: Palette) -> Figure:
    """Median best-found loss over seeds with the interquartile band, per task and model."""
    full = traces[traces["tuned"] == "all"]
    panels = sorted(full.groupby(["task", "model"]).groups)
    fig, axes = _grid(len(panels))
    optimizers = sorted(full["optimizer"].unique())
    for ax, (task, model) in zip(axes, panels, strict=True):
        panel = full[(full["task"] == task) & (full["model"] == model)]
        for opt in optimizers:
            stats = panel[panel["optimizer"] == opt].groupby("budget_evals")["best_loss"].quantile(
                [0.25, 0.5, 0.75]).unstack()
            if stats.empty:
                continue
            ax.plot(stats.index, stats[0.5], color=palette[opt], lw=1.6)
            ax.fill_between(stats.index, stats[0.25], stats[0.75], color=palette[opt], alpha=0.18, lw=0)
        ax.set_title(f"{task} | {model}", fontsize=9)
        ax.set_xlabel("budget (full-fidelity evaluations)")
        ax.set_ylabel(f"best-found loss ({_metric(panel)})")
    _legend(fig, axes, palette, optimizers)
    fig.suptitle("Incumbent: median over seeds, band = interquartile range", fontsize=10)
    fig.tight_layout()
    return fig


def regret_curves(traces: pd.DataFrame, palette: Palette, at: str = "budget_evals") -> Figure:
    """Normalised regret aggregated over tasks, models and seeds: median and interquartile band, over
    evaluations spent (`at` = "budget_evals") or recorded seconds ("seconds", a log axis). Over seconds a
    run without an incumbent yet counts as the worst (1): runs reach their first full-fidelity result at
    different times, and a median over only those that have one would start low and jump."""
    full = traces[(traces["tuned"] == "all")]
    if at == "seconds":
        none_yet = full["best_loss"].isna() & (full["ref_worst"] > full["ref_best"])
        full = full.assign(normalized_regret=full["normalized_regret"].mask(none_yet, 1.0))
    full = full.dropna(subset=["normalized_regret"])
    if full.empty:
        raise NotApplicable("no normalised regret (every task has a single loss value)")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    optimizers = sorted(full["optimizer"].unique())
    for opt in optimizers:
        stats = full[full["optimizer"] == opt].groupby(at)["normalized_regret"].quantile(
            [0.25, 0.5, 0.75]).unstack()
        ax.plot(stats.index, stats[0.5], color=palette[opt], lw=1.8, label=opt)
        ax.fill_between(stats.index, stats[0.25], stats[0.75], color=palette[opt], alpha=0.15, lw=0)
    # Late in a search the optimizers differ by hundredths of the span, invisible on a linear axis; symlog
    # spreads them out and still draws a regret of exactly 0 (the best seen) as 0, where log could not.
    ax.set_yscale("symlog", linthresh=1e-3, linscale=0.5)
    ax.set_ylim(0, 1.05)
    if at == "seconds":
        ax.set_xscale("log")
        ax.set_xlabel("recorded time per run, s (fit + predict + the optimizer's ask and tell), log scale")
    else:
        ax.set_xlabel("budget (full-fidelity evaluations)")
    ax.set_ylabel("normalised regret (0 = best seen, 1 = worst)\nsymlog scale, linear below 0.001")
    ax.set_title(f"Normalised regret over {full[['task', 'model']].drop_duplicates().shape[0]} task x model, "
                 "median and IQR over tasks and seeds", fontsize=9)
    ax.legend(title="optimizer", frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def optimism_curves(optimism: pd.DataFrame, palette: Palette) -> Figure:
    """Validation optimism of the incumbent over the budget: test loss - validation loss, per optimizer."""
    full = optimism[optimism["tuned"] == "all"]
    if full.empty:
        raise NotApplicable("no fully tuned run has held-out test scores")
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for opt in sorted(full["optimizer"].unique()):
        part = full[full["optimizer"] == opt].groupby("budget_evals").agg(
            median=("optimism_median", "mean"), q25=("optimism_q25", "mean"), q75=("optimism_q75", "mean"))
        ax.plot(part.index, part["median"], color=palette[opt], lw=1.8, label=opt)
        ax.fill_between(part.index, part["q25"], part["q75"], color=palette[opt], alpha=0.15, lw=0)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlabel("budget (full-fidelity evaluations)")
    ax.set_ylabel(f"optimism: test - validation {_metric(full)}\n(> 0: validation flattered the incumbent)")
    ax.set_title(f"Validation optimism of the incumbent, median and IQR over {int(full['n_runs'].max())} runs "
                 "(task x seed)", fontsize=9)
    ax.legend(title="optimizer", frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def rank_curves(ranks: pd.DataFrame, palette: Palette) -> Figure:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for opt, group in ranks.groupby("optimizer"):
        ax.plot(group["budget_evals"], group["mean_rank"], color=palette[opt], lw=1.8, label=opt)
    k = ranks["optimizer"].nunique()
    ax.set_ylim(k + 0.2, 0.8)  # rank 1 (best) on top
    ax.set_xlabel("budget (full-fidelity evaluations)")
    ax.set_ylabel("average rank (1 = best)")
    ax.set_title(f"Average rank over {int(ranks['n_blocks'].max())} task x model x seed blocks", fontsize=9)
    ax.legend(title="optimizer", frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig


def critical_difference(tests: pd.DataFrame, palette: Palette) -> Figure:
    """Demsar's diagram: average ranks at the final budget; a bar joins optimizers within the CD."""
    friedman = tests[tests["test"] == "friedman"]
    if friedman.empty:
        raise NotApplicable("the Friedman test needs at least three optimizers")
    pairs = tests[tests["test"] == "wilcoxon"]
    ranks = pd.concat([pairs.set_index("a")["mean_rank_a"], pairs.set_index("b")["mean_rank_b"]])
    ranks = ranks[~ranks.index.duplicated()].sort_values()
    cd = float(friedman["critical_difference"].iloc[0])
    k = len(ranks)
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.32 * k))
    ax.set_xlim(1, k)
    ax.set_ylim(-(k + 1), 2.2)
    ax.axis("off")
    ax.hlines(0, 1, k, color="black", lw=1)
    for r in range(1, k + 1):
        ax.vlines(r, 0, 0.25, color="black", lw=1)
        ax.text(r, 0.45, str(r), ha="center", va="bottom", fontsize=9)
    ax.hlines(1.6, 1, 1 + cd, color="black", lw=2)
    ax.text(1 + cd / 2, 1.75, f"CD = {cd:.2f} (Nemenyi, alpha 0.05)", ha="center", va="bottom", fontsize=8)
    for i, (name, rank) in enumerate(ranks.items()):
        y = -(i + 1)
        left = i < math.ceil(k / 2)
        x_text = 1 - 0.05 * k if left else k + 0.05 * k
        ax.plot([rank, rank, x_text], [0, y, y], color=palette[name], lw=1.2, clip_on=False)
        ax.text(x_text, y, f"{name} ({rank:.2f})", ha="right" if left else "left", va="center", fontsize=9,
                color=palette[name])
    cliques, ordered = [], list(ranks.items())
    for i in range(k):
        j = i
        while j + 1 < k and ordered[j + 1][1] - ordered[i][1] <= cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in cliques):
            cliques.append((i, j))
    for n, (i, j) in enumerate(cliques):
        y = -0.35 - 0.22 * n
        ax.hlines(y, ordered[i][1] - 0.03, ordered[j][1] + 0.03, color="black", lw=3)
    fig.suptitle(f"Critical difference diagram, final budget, {int(friedman['n_blocks'].iloc[0])} blocks; "
                 f"Friedman p = {float(friedman['p_value'].iloc[0]):.3g}", fontsize=9)
    fig.subplots_adjust(left=0.2, right=0.8, top=0.85, bottom=0.02)
    return fig


def best_found_boxes(traces: pd.DataFrame, palette: Palette) -> Figure:
    """Best-found loss of each seed, per optimizer (box and points), per task and model.

    `traces`: the incumbent traces; each run's last row is its incumbent at the end of the budget.
    """
    final = traces.loc[traces.groupby(["task", "model", "optimizer", "tuned", "seed"])["budget_evals"].idxmax()]
    full = final[final["tuned"] == "all"].dropna(subset=["best_loss"])
    panels = sorted(full.groupby(["task", "model"]).groups)
    fig, axes = _grid(len(panels))
    optimizers = sorted(full["optimizer"].unique())
    rng = np.random.default_rng(0)  # jitter of the points only
    for ax, (task, model) in zip(axes, panels, strict=True):
        panel = full[(full["task"] == task) & (full["model"] == model)]
        data = [panel.loc[panel["optimizer"] == o, "best_loss"].to_numpy() for o in optimizers]
        box = ax.boxplot(data, patch_artist=True, widths=0.55, showfliers=False, medianprops={"color": "black"})
        for patch, opt in zip(box["boxes"], optimizers, strict=True):
            patch.set(facecolor=palette[opt], alpha=0.35, edgecolor=palette[opt])
        for i, (values, opt) in enumerate(zip(data, optimizers, strict=True), start=1):
            ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=12, color=palette[opt], zorder=3)
        ax.set_xticks(range(1, len(optimizers) + 1), optimizers, rotation=30, ha="right")
        ax.set_title(f"{task} | {model}", fontsize=9)
        ax.set_ylabel(f"best-found loss ({_metric(panel)})")
    fig.suptitle("Best-found loss at the end of the budget, one point per seed", fontsize=10)
    fig.tight_layout()
    return fig


def tunability_bars(tunability: pd.DataFrame | None, surrogate: pd.DataFrame | None) -> Figure:
    """Mean tunability per hyperparameter with 95% bootstrap CIs: measured, and on surrogates.

    Measured and surrogate estimates get panels of their own, each with its own axis: surrogates predict
    gains over the whole space and can be ten times the measured ones, which then vanished beside them.
    """
    series = []
    if tunability is not None:
        for (model, opt), g in tunability.groupby(["model", "optimizer"]):
            series.append((model, "measured", f"measured, package default ({opt})", g))
    if surrogate is not None:
        # Every dataset's surrogate; the rows over the well-fitted ones only are in the table, not drawn twice
        surrogate = surrogate[surrogate["datasets"] == ALL_DATASETS] if "datasets" in surrogate else surrogate
        for (model, ref), g in surrogate.groupby(["model", "reference"]):
            series.append((model, "surrogates", f"surrogate, {ref.replace('_', ' ')} default", g))
    if not series:
        raise NotApplicable("no tunability table")
    panels = sorted({(s[0], s[1]) for s in series}, key=lambda p: (p[0], p[1] != "measured"))
    fig, axes = _grid(len(panels), width=6.5, height=4.2, cols=2)
    colors = plt.get_cmap("Set2").colors
    labels = sorted({s[2] for s in series})
    for ax, (model, kind) in zip(axes, panels, strict=True):
        mine = [s for s in series if s[0] == model and s[1] == kind]
        params = sorted({t for *_, g in mine for t in g["tuned"] if "+" not in t and t != "all"})
        params = ["all", *params]
        height = 0.8 / len(mine)
        for i, (_, _, label, g) in enumerate(mine):
            g = g.set_index("tuned").reindex(params)
            y = np.arange(len(params)) + i * height
            err = np.vstack([g["mean"] - g["ci_low"], g["ci_high"] - g["mean"]]).clip(min=0)
            ax.barh(y, g["mean"], height=height, color=colors[labels.index(label) % len(colors)], label=label,
                    xerr=np.nan_to_num(err), error_kw={"lw": 0.8, "capsize": 2})
        ax.set_yticks(np.arange(len(params)) + 0.4 - height / 2, params)
        ax.invert_yaxis()
        ax.axvline(0, color="black", lw=0.8)
        ax.set_xlabel("tunability d = L(default) - L(tuned) (loss units)")
        ax.set_title(f"{model}: {kind}", fontsize=10)
        ax.legend(fontsize=7, frameon=False, loc="lower right")
    fig.suptitle("Tunability per hyperparameter ('all' = every hyperparameter jointly), 95% bootstrap CI",
                 fontsize=10)
    fig.tight_layout()
    return fig


def interaction_heatmap(pairs: pd.DataFrame) -> Figure:
    models = sorted(pairs["model"].unique())
    fig, axes = _grid(len(models), width=5.5, height=4.8, cols=2)
    for ax, model in zip(axes, models, strict=True):
        g = pairs[pairs["model"] == model].groupby(["first", "second"])["interaction"].mean()
        names = sorted(set(g.index.get_level_values(0)) | set(g.index.get_level_values(1)))
        m = np.full((len(names), len(names)), np.nan)
        for (a, b), v in g.items():
            m[names.index(a), names.index(b)] = m[names.index(b), names.index(a)] = v
        bound = np.nanmax(np.abs(m)) or 1.0
        image = ax.imshow(m, cmap="RdBu_r", vmin=-bound, vmax=bound)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_yticks(range(len(names)), names)
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="interaction d_ii' - (d_i + d_i') (loss units)")
        ax.set_title(model, fontsize=10)
    fig.suptitle("Pairwise interaction of hyperparameters (mean over datasets)", fontsize=10)
    fig.tight_layout()
    return fig


def marginal_effects(trials: pd.DataFrame, model_name: str, space: SearchSpace) -> Figure:
    """Loss against each hyperparameter's value over every fully tuned trial (log axis for log scales).

    `space`: the one the model's fully tuned runs searched, as stored with them. Losses are scaled per task
    to [0, 1] (best to worst complete trial) so tasks share an axis.
    """
    full = trials[(trials["model"] == model_name) & (trials["tuned"] == "all") & (trials["state"] == "COMPLETE")
                  & (trials["source"] == "optimizer")].copy()
    if len(full) < 5:
        raise NotApplicable(f"fewer than 5 complete fully tuned trials of {model_name}")
    span = full.groupby("task")["loss"].transform(lambda s: (s.max() - s.min()) or 1.0)
    full["scaled"] = (full["loss"] - full.groupby("task")["loss"].transform("min")) / span
    configs = pd.DataFrame([json.loads(c) for c in full["config"]], index=full.index)
    fig, axes = _grid(len(space), width=3.2, height=2.6, cols=4)
    for ax, param in zip(axes, space, strict=True):
        if param.name not in configs:
            ax.set_visible(False)
            continue
        values = configs[param.name]
        mask = values.notna()
        if isinstance(param, Categorical):
            choices = [str(c) for c in param.choices]
            x = values[mask].map(lambda v, names=choices: names.index(str(v)))
            ax.scatter(x + np.random.default_rng(0).uniform(-0.2, 0.2, mask.sum()), full.loc[mask, "scaled"], s=6,
                       alpha=0.35, color="tab:blue")
            ax.set_xticks(range(len(choices)), choices)
        else:
            # A value the space cannot place was held at a default, not sampled (the probst2019 svm's polynomial
            # kernel runs with e1071's gamma "auto", 1/p): left out of the scatter and counted in the label.
            numbers = pd.to_numeric(values[mask], errors="coerce")
            held = {str(v) for v in values[mask][numbers.isna()]}
            placed = numbers.notna()
            ax.scatter(numbers[placed], full.loc[placed[placed].index, "scaled"], s=6, alpha=0.35,
                       color="tab:blue")
            if param.log:
                ax.set_xscale("log")
            if held:
                ax.set_title(f"{int((~placed).sum())} trials held at {', '.join(sorted(held))}: not shown",
                             fontsize=8)
        ax.set_xlabel(f"{param.name}{' (log scale)' if getattr(param, 'log', False) else ''}")
        ax.set_ylabel("scaled loss (0 = task best)")
    fig.suptitle(f"{model_name}: loss against each hyperparameter, every fully tuned trial", fontsize=10)
    fig.tight_layout()
    return fig


def robustness_spread(robustness: pd.DataFrame, palette: Palette) -> Figure:
    full = robustness[(robustness["tuned"] == "all") & (robustness["n_seeds"] > 1)]
    if full.empty:
        raise NotApplicable("no run configuration has more than one seed")
    optimizers = sorted(full["optimizer"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, column, label in ((axes[0], "std", "standard deviation over seeds"),
                              (axes[1], "cvar10", "CVaR 10% (mean of the worst seeds)")):
        for i, opt in enumerate(optimizers, start=1):
            values = full.loc[full["optimizer"] == opt, column].to_numpy()
            ax.scatter(np.full(len(values), i) + np.random.default_rng(i).uniform(-0.12, 0.12, len(values)),
                       values, color=palette[opt], s=16)
            ax.hlines(np.median(values), i - 0.3, i + 0.3, color=palette[opt], lw=2)
        ax.set_xticks(range(1, len(optimizers) + 1), optimizers, rotation=30, ha="right")
        ax.set_ylabel(f"{label} (loss units)")
    fig.suptitle("Robustness across optimizer seeds: one point per task x model, bar = median", fontsize=10)
    fig.tight_layout()
    return fig


def probst2019_scatter(hyper: pd.DataFrame, agreement: pd.DataFrame) -> Figure:
    """Per family: our mean d per hyperparameter against the paper's (Tun.P, or Tun.O for the optimal
    default), one marker per estimate, with rho and its CI in the legend. The line is y = x."""
    rows = hyper[hyper["hyperparameter"].notna() & (hyper["hyperparameter"] != "all")]
    rows = rows[rows["ours_mean"].notna() & rows["paper_mean"].notna()]
    if rows.empty:
        raise NotApplicable("no hyperparameter has both our and the paper's tunability")
    models = sorted(rows["model"].unique())
    fig, axes = _grid(len(models), width=4.2, height=3.6, cols=3)
    markers = dict(zip(sorted(rows["estimate"].unique()), "osD^vP", strict=False))
    colors = plt.get_cmap("Set1").colors
    rho = agreement.set_index(["model", "estimate"])
    for ax, model in zip(axes, models, strict=True):
        mine = rows[rows["model"] == model]
        top = max(mine["ours_mean"].max(), mine["paper_mean"].max()) * 1.1 or 1.0
        ax.plot([0, top], [0, top], color="grey", lw=0.8)
        for i, (estimate, g) in enumerate(mine.groupby("estimate")):
            r = rho.loc[(model, estimate)]
            label = (f"{estimate}: rho {r['spearman_rho']:.2f} [{r['rho_ci_low']:.2f}, {r['rho_ci_high']:.2f}]"
                     if np.isfinite(r["spearman_rho"]) else f"{estimate}: rho undefined")
            ax.scatter(g["paper_mean"], g["ours_mean"], marker=markers.get(estimate, "o"), s=22,
                       color=colors[i % len(colors)], label=label)
            if estimate == "surrogate (probst2019)":
                for p in g.itertuples():
                    ax.annotate(p.paper_name, (p.paper_mean, p.ours_mean), fontsize=6, alpha=0.8,
                                xytext=(2, 2), textcoords="offset points")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_xlabel("Probst et al. 2019, mean over 38 datasets")
        ax.set_ylabel("ours, mean over datasets")
        ax.set_title(f"{model} ({mine['family'].iloc[0]}), {mine['measure'].iloc[0]}", fontsize=9)
        ax.legend(fontsize=6, frameon=False, loc="upper left")
    fig.suptitle("Tunability per hyperparameter, ours against the paper's (the line is equality)", fontsize=10)
    fig.tight_layout()
    return fig


def agreement_scatter(ranks: pd.DataFrame, summary: pd.DataFrame, palette: Palette) -> Figure:
    """Mean rank of each optimizer on the real benchmark (x) against on its surrogates (y), one point per
    optimizer, with the line of equality: points on it are ranked alike by both."""
    k = len(ranks)
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    ax.plot([1, k], [1, k], color="grey", lw=0.8, ls="--", label="equal mean ranks")
    for row in ranks.itertuples():
        ax.scatter(row.mean_rank_real, row.mean_rank_surrogate, color=palette[row.optimizer], s=36, zorder=3,
                   label=row.optimizer)
        ax.annotate(row.optimizer, (row.mean_rank_real, row.mean_rank_surrogate), fontsize=7, xytext=(4, 3),
                    textcoords="offset points")
    pad = 0.2
    ax.set_xlim(1 - pad, k + pad)  # both axes alike, so that the equality line is the diagonal
    ax.set_ylim(1 - pad, k + pad)
    ax.set_aspect("equal")
    overall = summary[(summary["scope"] == "all") & (summary["statistic"] == "kendall_tau_mean_rank")].iloc[0]
    ax.set_xlabel(f"mean rank on the real tasks (1 = best; {int(overall['n_blocks_real'])} blocks)")
    ax.set_ylabel(f"mean rank on the surrogates ({int(overall['n_blocks_surrogate'])} blocks)")
    tau = "undefined" if pd.isna(overall["value"]) else f"{overall['value']:.2f} (p = {overall['p_value']:.3g})"
    ax.set_title(f"Mean rank, real against surrogate; Kendall tau {tau}", fontsize=9)
    ax.legend(frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.tight_layout()
    return fig
