"""Figures of what the hyperparameters do: partial dependence, ICE, pair heatmaps, where optimizers sampled.

Each takes analysis tables (hpo_bench/analysis/partial_dependence.py, sampling.py) and the space the
model's runs searched, and returns a Figure or raises NotApplicable. Every drawn series carries a gid
("mean:<parameter>", "dataset:<parameter>:<task>", ...) so that tests can read back what was drawn.

Marks, the same in every figure: package default solid black, the family's named defaults (Probst et
al.'s R defaults) dotted grey, the optimal default (on the surrogates) dashed red; the tuning space (5%
to 95% quantiles of the per-dataset optima on the surrogates) shaded green.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.sampling import GOOD
from hpo_bench.report.figures import Palette, _grid, plt
from hpo_bench.space import Categorical, SearchSpace

MARK_STYLE = {"package": {"color": "black", "ls": "-", "lw": 1.2},
              "optimal": {"color": "tab:red", "ls": "--", "lw": 1.2}}
NAMED_STYLE = {"color": "dimgrey", "ls": ":", "lw": 1.2}  # any named default (probst2019)
SPACE_COLOR = "tab:green"
PHASE_STYLE = {"early": {"color": "tab:blue", "alpha": 0.45}, "late": {"color": "navy", "alpha": 0.9},
               "good": {"color": "black", "alpha": 1.0}}


def _of(table: pd.DataFrame, model: str, name: str | None = None) -> pd.DataFrame:
    rows = table[table["model"] == model]
    return rows if name is None else rows[rows["hyperparameter"] == name]


def _x(param, values) -> np.ndarray:
    """Where values sit on a panel's x axis: the value itself, or a categorical's choice index."""
    if isinstance(param, Categorical):
        names = [str(c) for c in param.choices]
        return np.array([names.index(str(v)) for v in values], dtype=float)
    return np.asarray(values, dtype=float)


def _label(param) -> str:
    condition = f" (when {param.condition.parent} = {'/'.join(map(str, param.condition.values))})" \
        if param.condition else ""
    return f"{param.name}{' (log scale)' if getattr(param, 'log', False) else ''}{condition}"


def _marks_and_space(ax, param, marks: pd.DataFrame, tuning: pd.DataFrame | None) -> None:
    """The defaults as vertical lines and the tuning space as a shaded span (the most frequent optimum's
    choice for a categorical)."""
    if tuning is not None and not tuning.empty:
        t = tuning.iloc[0]
        if isinstance(param, Categorical):
            if pd.notna(t["most_frequent"]) and str(t["most_frequent"]) in map(str, param.choices):
                i = _x(param, [t["most_frequent"]])[0]
                ax.axvspan(i - 0.4, i + 0.4, color=SPACE_COLOR, alpha=0.12, lw=0, gid=f"space:{param.name}")
        elif pd.notna(t["low"]) and pd.notna(t["high"]):
            ax.axvspan(float(t["low"]), float(t["high"]), color=SPACE_COLOR, alpha=0.12, lw=0,
                       gid=f"space:{param.name}")
    for m in marks.itertuples():
        style = MARK_STYLE.get(m.kind, NAMED_STYLE)
        x = _x(param, [m.value])[0]
        ax.axvline(x, **style, gid=f"mark:{m.kind}:{param.name}", zorder=4)
        if getattr(m, "note", ""):  # placed elsewhere than it says (0 below a log range, "1/n"): say what it is
            ax.annotate(m.stated, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -8),
                        textcoords="offset points", fontsize=7, color=style["color"])


def _legend(fig: Figure, marks: pd.DataFrame, extra: list[tuple], space: bool = True) -> None:
    handles = [plt.Line2D([], [], **style) for _, style in extra]
    labels = [label for label, _ in extra]
    for kind in dict.fromkeys(marks["kind"]):
        handles.append(plt.Line2D([], [], **MARK_STYLE.get(kind, NAMED_STYLE)))
        labels.append(f"{kind} default")
    if space:
        handles.append(plt.Rectangle((0, 0), 1, 1, color=SPACE_COLOR, alpha=0.25))
        labels.append("tuning space (5%-95% of per-dataset optima)")
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False, fontsize=8)


def partial_dependence_figure(per_task: pd.DataFrame, summary: pd.DataFrame, marks: pd.DataFrame,
                              tuning_space: pd.DataFrame | None, model: str, space: SearchSpace) -> Figure:
    """One panel per hyperparameter: each dataset's centred partial dependence (thin), their mean with its
    95% bootstrap CI over datasets, the defaults and the tuning space. Categoricals: points with intervals."""
    mine = _of(summary, model)
    params = [p for p in space if p.name in set(mine["hyperparameter"])]
    if not params:
        raise NotApplicable(f"no partial dependence of {model} (no kept surrogate)")
    fig, axes = _grid(len(params), width=3.4, height=2.7, cols=4)
    # One y range for every panel: a hyperparameter that does nothing then looks flat beside one that
    # matters, instead of each panel blowing its own noise up to full height.
    drawn = np.concatenate([_of(per_task, model)["centred"], mine["ci_low"], mine["ci_high"]]).astype(float)
    low, high = np.nanmin(drawn), np.nanmax(drawn)
    pad = 0.05 * (high - low) or 1e-6
    rng = np.random.default_rng(0)  # jitter of the categorical points only
    for ax, param in zip(axes, params, strict=True):
        ax.set_ylim(low - pad, high + pad)
        s = _of(summary, model, param.name)
        curves = _of(per_task, model, param.name)
        x = _x(param, s["value"])
        if isinstance(param, Categorical):
            for task, c in curves.groupby("task", sort=True):
                ax.plot(_x(param, c["value"]) + rng.uniform(-0.15, 0.15, len(c)), c["centred"], "o", ms=2.5,
                        color="grey", alpha=0.45, gid=f"dataset:{param.name}:{task}")
            err = np.vstack([s["mean"] - s["ci_low"], s["ci_high"] - s["mean"]]).clip(min=0)
            ax.errorbar(x, s["mean"], yerr=np.nan_to_num(err), fmt="none", color="tab:blue", capsize=4, lw=1.6,
                        zorder=5, gid=f"band:{param.name}")
            ax.plot(x, s["mean"], "o", color="tab:blue", ms=6, zorder=6, gid=f"mean:{param.name}")
            ax.set_xticks(range(len(param.choices)), [str(c) for c in param.choices])
            ax.set_xlim(-0.6, len(param.choices) - 0.4)
        else:
            for task, c in curves.groupby("task", sort=True):
                ax.plot(c["value"].astype(float), c["centred"], color="grey", lw=0.7, alpha=0.45,
                        gid=f"dataset:{param.name}:{task}")
            ax.fill_between(x, s["ci_low"].astype(float), s["ci_high"].astype(float), color="tab:blue", alpha=0.25,
                            lw=0, gid=f"band:{param.name}")
            ax.plot(x, s["mean"], color="tab:blue", lw=2, zorder=5, gid=f"mean:{param.name}")
            if param.log:
                ax.set_xscale("log")
            ax.set_xlim(param.low, param.high)
        _marks_and_space(ax, param, _of(marks, model, param.name),
                         None if tuning_space is None else tuning_space[(tuning_space["model"] == model)
                                                                        & (tuning_space["parameter"] == param.name)])
        ax.axhline(0, color="black", lw=0.5, alpha=0.5)
        ax.set_xlabel(_label(param), fontsize=8)
        ax.set_ylabel("predicted loss - dataset mean")
    _legend(fig, _of(marks, model), [("one dataset", {"color": "grey", "lw": 0.7}),
                                     ("mean, 95% bootstrap CI over datasets", {"color": "tab:blue", "lw": 2})])
    fig.suptitle(f"{model}: partial dependence of the validation loss on each hyperparameter (surrogates, "
                 f"{int(mine['n_datasets'].iloc[0])} datasets)", fontsize=10)
    fig.tight_layout()
    return fig


def ice_figure(ice: pd.DataFrame, per_task: pd.DataFrame, marks: pd.DataFrame, model: str,
               space: SearchSpace) -> Figure:
    """ICE curves of one dataset: one thin line per sampled configuration, the partial dependence over the
    whole sample thick (uncentred: that dataset's predicted loss)."""
    mine = _of(ice, model)
    if mine.empty:
        raise NotApplicable(f"no ICE curves of {model} (its surrogates leave the chosen dataset out)")
    task = mine["task"].iloc[0]
    params = [p for p in space if p.name in set(mine["hyperparameter"])]
    fig, axes = _grid(len(params), width=3.4, height=2.7, cols=4)
    for ax, param in zip(axes, params, strict=True):
        lines = _of(mine, model, param.name)
        for k, c in lines.groupby("configuration", sort=True):
            ax.plot(_x(param, c["value"]), c["predicted_loss"], color="grey", lw=0.6, alpha=0.35,
                    marker="o" if isinstance(param, Categorical) else None, ms=2, gid=f"ice:{param.name}:{k}")
        pd_curve = per_task[(per_task["model"] == model) & (per_task["task"] == task)
                            & (per_task["hyperparameter"] == param.name)]
        ax.plot(_x(param, pd_curve["value"]), pd_curve["predicted_loss"], color="tab:orange", lw=2.2, zorder=5,
                marker="o" if isinstance(param, Categorical) else None, gid=f"pd:{param.name}")
        if isinstance(param, Categorical):
            ax.set_xticks(range(len(param.choices)), [str(c) for c in param.choices])
        elif param.log:
            ax.set_xscale("log")
        _marks_and_space(ax, param, _of(marks, model, param.name), None)
        ax.set_xlabel(_label(param), fontsize=8)
        ax.set_ylabel("predicted validation loss")
    _legend(fig, _of(marks, model), [("one sampled configuration (ICE)", {"color": "grey", "lw": 0.6}),
                                     ("partial dependence (mean over the sample)", {"color": "tab:orange", "lw": 2})],
            space=False)
    fig.suptitle(f"{model} on {task}: ICE curves on the surrogate", fontsize=10)
    fig.tight_layout()
    return fig


def _axis(param, values: list) -> tuple[list, callable]:
    """A heatmap axis: its grid values in order, and where any value sits on it (the grid index, linear
    in the unit coordinate, which is the parameter's own scale)."""
    grid = list(dict.fromkeys(values))
    if isinstance(param, Categorical):
        names = [str(g) for g in grid]
        return grid, lambda v: names.index(str(v))
    units = [param.to_unit(g) for g in grid]
    return grid, lambda v: float(np.interp(param.to_unit(v), units, range(len(grid))))


def _ticks(grid: list, param) -> tuple[list[int], list[str]]:
    if isinstance(param, Categorical):
        return list(range(len(grid))), [str(g) for g in grid]
    at = sorted(set(np.linspace(0, len(grid) - 1, 5).round().astype(int)))
    return at, [f"{float(grid[i]):.3g}" for i in at]


def pair_heatmaps(pairs: pd.DataFrame, marks: pd.DataFrame, model: str, space: SearchSpace) -> Figure:
    """Two-dimensional partial dependence (centred per dataset, mean over datasets) of the pairs with the
    largest joint gain, the package default (star) and the optimal default (circle) marked."""
    mine = _of(pairs, model) if "model" in pairs else pairs.iloc[:0]
    keys = list(dict.fromkeys(zip(mine["first"], mine["second"], strict=True)))
    if not keys:
        raise NotApplicable(f"no pair of {model}'s hyperparameters")
    fig, axes = _grid(len(keys), width=4.2, height=3.6, cols=3)
    for ax, (first, second) in zip(axes, keys, strict=True):
        cells = mine[(mine["first"] == first) & (mine["second"] == second)]
        p1, p2 = space[first], space[second]
        xs, x_at = _axis(p1, list(cells["first_value"]))
        ys, y_at = _axis(p2, list(cells["second_value"]))
        grid = cells["mean"].to_numpy(dtype=float).reshape(len(xs), len(ys)).T  # rows: second, columns: first
        bound = np.nanmax(np.abs(grid)) or 1.0
        image = ax.imshow(grid, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound,
                          gid=f"pair:{first}:{second}")
        ax.grid(False)
        ax.set_xticks(*_ticks(xs, p1))
        ax.set_yticks(*_ticks(ys, p2))
        ax.set_xlabel(_label(p1), fontsize=8)
        ax.set_ylabel(_label(p2), fontsize=8)
        fig.colorbar(image, ax=ax, label="predicted loss - dataset mean")
        for m_kind, marker in (("package", "*"), ("optimal", "o")):
            at = marks[(marks["model"] == model) & (marks["kind"] == m_kind)].set_index("hyperparameter")["value"]
            if first in at and second in at:
                ax.plot(x_at(at[first]), y_at(at[second]), marker=marker, ms=11 if marker == "*" else 8,
                        mfc=MARK_STYLE[m_kind]["color"], mec="white", ls="none", gid=f"mark:{m_kind}:{first}:{second}")
        ax.set_title(f"joint gain {cells['joint_gain'].iloc[0]:.3g}", fontsize=8)
    handles = [plt.Line2D([], [], marker="*", ms=11, mfc="black", mec="white", ls="none"),
               plt.Line2D([], [], marker="o", ms=8, mfc="tab:red", mec="white", ls="none")]
    fig.legend(handles, ["package default", "optimal default"], loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=2, frameon=False, fontsize=8)
    fig.suptitle(f"{model}: pairs of the largest joint gain, two-dimensional partial dependence (surrogates, "
                 f"{int(mine['n_datasets'].iloc[0])} datasets)", fontsize=10)
    fig.tight_layout()
    return fig


def sampling_figure(density: pd.DataFrame, model: str, space: SearchSpace, palette: Palette) -> Figure:
    """Rows: optimizers; columns: hyperparameters. Each panel: the share of the optimizer's suggestions per
    bin of the parameter's scale, early and late in the budget, beside that of the good configurations."""
    mine = density[density["model"] == model]
    optimizers = sorted(set(mine["optimizer"]) - {GOOD})
    params = [p for p in space if p.name in set(mine["hyperparameter"])]
    if not optimizers or not params:
        raise NotApplicable(f"no suggestions of {model}")
    fig, grid = plt.subplots(len(optimizers), len(params), figsize=(1.9 * len(params) + 1.5,
                                                                    1.35 * len(optimizers) + 1.2), squeeze=False)
    for j, param in enumerate(params):
        cells = mine[mine["hyperparameter"] == param.name]
        good = cells[cells["phase"] == "good"]
        for i, optimizer in enumerate(optimizers):
            ax = grid[i, j]
            for phase in ("early", "late"):
                part = cells[(cells["optimizer"] == optimizer) & (cells["phase"] == phase)]
                if len(part):
                    ax.stairs(part["share"].to_numpy(), [*part["unit_low"], part["unit_high"].iloc[-1]],
                              fill=phase == "early", lw=1.2, gid=f"{phase}:{optimizer}:{param.name}",
                              **PHASE_STYLE[phase])
            if len(good):
                ax.stairs(good["share"].to_numpy(), [*good["unit_low"], good["unit_high"].iloc[-1]], ls="--", lw=1,
                          gid=f"good:{optimizer}:{param.name}", **PHASE_STYLE["good"])
            ax.set_xlim(0, 1)
            ax.grid(False)
            ax.tick_params(labelsize=6)
            if isinstance(param, Categorical):
                n = len(param.choices)
                ax.set_xticks([(k + 0.5) / n for k in range(n)], [str(c) for c in param.choices])
            else:
                ax.set_xticks([0, 0.5, 1], [f"{param.from_unit(u):.3g}" for u in (0, 0.5, 1)])
            if i == 0:
                ax.set_title(param.name + (" (log)" if getattr(param, "log", False) else ""), fontsize=8)
            if j == 0:
                ax.set_ylabel(optimizer, fontsize=8, color=palette[optimizer])
    handles = [plt.Rectangle((0, 0), 1, 1, **PHASE_STYLE["early"]), plt.Line2D([], [], **PHASE_STYLE["late"]),
               plt.Line2D([], [], ls="--", **PHASE_STYLE["good"])]
    fig.legend(handles, ["suggestions, first half of the budget", "suggestions, second half",
                         "good configurations (best 10% per task, every optimizer)"], loc="upper center",
               bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False, fontsize=8)
    fig.suptitle(f"{model}: where each optimizer sampled (share of its suggestions per bin of each "
                 "hyperparameter's scale)", fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["ice_figure", "pair_heatmaps", "partial_dependence_figure", "sampling_figure"]
