"""Every figure of the report, declared once: `FIGURES`.

A `Figure` names a figure and gives its title, the function that draws it, its caption and alt text, and
the analysis tables it draws (by the names of hpo_bench/analysis/registry.py, where the tables are
declared). The report builder draws them in this order: the figures of the whole study, then each model's
in turn (`per_model`: one figure per model, named `<name>_<model>`, "{model}" in the title standing for it).
A figure whose table was left out is left out, saying which table; adding a figure is adding one entry here.

Every caption says what was measured on what: validation or held-out test, the metric, and the tasks,
seeds and budget it rests on, and where its values are written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from matplotlib.figure import Figure as MplFigure

from hpo_bench.analysis import Study
from hpo_bench.analysis import partial_dependence as pdp
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.sampling import GOOD_SHARE
from hpo_bench.analysis.surrogate import design_trials
from hpo_bench.report import effects
from hpo_bench.report import figures as fg
from hpo_bench.space import SearchSpace


@dataclass(frozen=True)
class Context:
    """What a figure is drawn and described from: the study (trials under the reported metric), every
    table of the analysis, the optimizers' colours, and for a figure per model, the model."""

    study: Study
    tables: dict[str, pd.DataFrame]
    palette: fg.Palette
    model: str = ""

    @property
    def trials(self) -> pd.DataFrame:
        return self.study.trials

    @property
    def space(self) -> SearchSpace:
        """The space the model's fully tuned runs searched, as stored with them."""
        if self.model not in self.study.spaces:
            raise NotApplicable(f"no fully tuned run of {self.model}")
        return self.study.spaces[self.model]


@dataclass(frozen=True)
class Figure:
    """One figure (one per model with `per_model`). `caption` and `alt` are called once it is drawn (they may
    read what it drew); `alt` defaults to the caption's first sentence. `needs`: the tables it draws; without
    one it is left out, saying so. `only_with`: a table without which it is not drawn at all, nor listed as
    left out (the agreement figure: only with `report --against`)."""

    name: str
    title: str
    draw: Callable[[Context], MplFigure]
    caption: Callable[[Context], str]
    alt: Callable[[Context], str] | None = None
    needs: tuple[str, ...] = ()
    per_model: bool = False
    only_with: str = ""

    def file_name(self, model: str = "") -> str:
        return f"{self.name}_{model}" if self.per_model else self.name

    def alt_text(self, c: Context) -> str:
        return self.alt(c) if self.alt is not None else self.caption(c).split(". ")[0] + "."


def _metric(c: Context) -> str:
    return ", ".join(sorted(c.trials["metric"].unique()))


def basis(c: Context) -> str:
    """What the figures of runs and their incumbents rest on: metric, folds, tasks, models, seeds, budget."""
    trials, study = c.trials, c.study
    full = trials[trials["tuned"] == "all"]
    n_tasks, n_seeds = full["task"].nunique(), full["seed"].nunique()
    optimizers = ", ".join(sorted(full["optimizer"].unique()))
    budgets = sorted({int(b) for b in study.runs.get("budget_evals", pd.Series(dtype=float)).dropna()})
    budget = ("/".join(map(str, budgets)) or "?") + " evaluations"
    seconds = sorted({float(b) for b in study.runs.get("budget_seconds", pd.Series(dtype=float)).dropna()})
    if seconds:  # a time budget: whichever is spent first stops a run
        budget += " or " + "/".join(f"{b:g}" for b in seconds) + " s of recorded time"
    return (f"validation {_metric(c)} (mean over {study.settings.get('cv_folds')} inner CV folds) of the fully tuned "
            f"runs: {n_tasks} task{'s' * (n_tasks != 1)} x {full['model'].nunique()} model(s) x {n_seeds} "
            f"seed{'s' * (n_seeds != 1)}, budget {budget} per run, optimizers {optimizers}")


INCUMBENT = "the incumbent (lowest validation loss so far; selected_by in best_found says by which metric)"


def overall(summary: pd.DataFrame) -> pd.Series:
    """The agreement summary's row of Kendall tau between the mean ranks over all tasks (and the counts)."""
    return summary[(summary["scope"] == "all") & (summary["statistic"] == "kendall_tau_mean_rank")].iloc[0]


def _agreement_caption(c: Context) -> str:
    ranks, o = c.tables["agreement_ranks"], overall(c.tables["agreement_summary"])
    return (f"Mean rank (1 = best) of each optimizer's final incumbent by validation {ranks['metric'].iloc[0]} within "
            f"task x model x seed blocks, on the real tasks ({int(o['n_blocks_real'])} blocks, "
            f"{int(o['n_tasks_real'])} task(s)) against on their surrogates ({int(o['n_blocks_surrogate'])} blocks), "
            "one point per optimizer; the dashed line is equality (points on it rank alike on both). Values: "
            "agreement_ranks.csv, agreement_summary.csv.")


# What a model's surrogates rest on, for the captions of the figures drawn on them.
def surrogates(c: Context) -> str:
    trials, model = c.trials, c.model
    q = c.tables["surrogate_quality"]
    q = q[q["model"] == model]
    kept, left = q[q["kept"]], q[~q["kept"]]
    seeds = sorted(design_trials(trials[trials["model"] == model])["seed"].unique())
    seeds = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
    learners = ", ".join(f"{name.replace('_', ' ')} on {n}" for name, n in kept["learner"].value_counts().items())
    out = (f"validation {_metric(c)} (mean over {c.study.settings.get('cv_folds')} inner CV folds) as predicted by "
           f"surrogates, one per dataset, fitted on the random design of the fully tuned runs (median "
           f"{q['n_design'].median():.0f} configurations per dataset, {seeds}; {learners}, chosen by out-of-fold "
           f"R^2, median {kept['r2'].median():.2f}); {len(kept)} of {len(q)} datasets kept")
    if len(left):
        out += f" (left out by the quality rule, see surrogate_quality: {', '.join(left['task'])})"
    return out


def _marks_note(c: Context) -> str:
    marks, model = c.tables["surrogate_marks"], c.model
    notes = [f"{m.hyperparameter}: {m.kind} default {m.note}" for m in marks[marks["model"] == model].itertuples()
             if m.note]
    named = sorted(set(marks.loc[marks["model"] == model, "kind"]) - {"package", "optimal"})
    out = f"; named defaults ({', '.join(named)}) dotted grey" if named else ""
    return out + (f". Placing: {'; '.join(notes)}" if notes else "")


def _conditional(c: Context) -> str:
    names = [f"{p.name} (when {p.condition.parent} = {'/'.join(map(str, p.condition.values))})"
             for p in c.study.spaces.get(c.model) or [] if p.condition]
    return (f"; a conditional hyperparameter over the configurations where it is active only: {', '.join(names)}"
            if names else "")


def _pd_caption(c: Context) -> str:
    return (f"Partial dependence of {c.model}'s {surrogates(c)}. Each curve: the surrogate's prediction averaged "
            f"over {pdp.N_CONFIGS} random configurations from the stored space (the same for every dataset), "
            f"the hyperparameter set to each of up to {pdp.N_VALUES} values on its own scale (log-spaced on log "
            f"axes; every choice of a categorical){_conditional(c)}. Grey: one dataset's curve minus its own mean "
            "over the values; blue: their mean with a 95% percentile bootstrap CI over datasets (categoricals: "
            "points with that interval). Vertical lines: package default solid black, optimal default on the "
            f"surrogates dashed red{_marks_note(c)}. Green: the tuning space, 5% to 95% quantiles of the "
            "per-dataset optima (a categorical: the most frequent optimum). Predictions, not measurements: "
            "surrogate_vs_design sets them beside the real losses; every value drawn is in "
            "surrogate_partial_dependence(_summary).csv.")


def _pd_alt(c: Context) -> str:
    s = c.tables["surrogate_partial_dependence_summary"]
    s = s[s["model"] == c.model]
    spans = s.groupby("hyperparameter", sort=False)["mean"].agg(lambda v: v.max() - v.min()).sort_values(
        ascending=False)
    ranked = ", ".join(f"{name} {span:.3g}" for name, span in spans.items())
    return (f"{len(spans)} panels, one per hyperparameter of {c.model}: predicted validation loss against the "
            "hyperparameter's value, one grey curve per dataset, a blue mean curve with a shaded band, "
            "vertical lines at the defaults and a green span for the tuning space. Range of the mean curve, "
            f"largest first: {ranked}.")


def _ice_caption(c: Context) -> str:
    ice, model = c.tables["surrogate_ice"], c.model
    task = ice.loc[ice["model"] == model, "task"].iloc[0]
    q = c.tables["surrogate_quality"].set_index(["model", "task"]).loc[(model, task)]
    return (f"ICE curves of {model} on {task} (surrogate R^2 {q['r2']:.2f}; by default the dataset of the "
            f"highest R^2, another with --ice-task): the first {pdp.N_ICE} of the {pdp.N_CONFIGS} sampled "
            "configurations, each with one hyperparameter moved over its values (grey), and the partial "
            f"dependence over all {pdp.N_CONFIGS} (orange); {surrogates(c)}. Uncentred. Parallel curves: the "
            "hyperparameter acts alone; curves that cross or change shape: it interacts with the others.")


def _pairs_caption(c: Context) -> str:
    measured = surrogates(c)
    return (f"Two-dimensional partial dependence of the {pdp.N_PAIRS} pairs of {c.model}'s hyperparameters with "
            "the largest joint gain on the surrogates (surrogate_pairs against the package default: d of tuning "
            "the pair minus d of the better one alone, mean over datasets): a grid of their values (16 per "
            f"numeric axis, every choice of a categorical), averaged over {pdp.N_PAIR_CONFIGS} of the sampled "
            "configurations, centred per dataset and averaged over datasets; blank: never active together. "
            f"Star: package default; circle: optimal default. {measured[0].upper()}{measured[1:]}.")


def _sampling_caption(c: Context) -> str:
    trials, model = c.trials, c.model
    full = trials[(trials["model"] == model) & (trials["tuned"] == "all")]
    return (f"Where each optimizer sampled {model}'s hyperparameters: the share of its suggestions (every "
            "trial it asked for, in any state and at any fidelity; not the default trial) per bin of each "
            "hyperparameter's own scale (log for log parameters; one bin per choice), pooled over "
            f"{full['task'].nunique()} tasks and {full['seed'].nunique()} seeds, in the first half of each "
            "run's budget (filled) and the second (line), beside the best "
            f"{GOOD_SHARE:.0%} of each task's complete full-fidelity trials of every optimizer by validation "
            f"{_metric(c)} (dashed). Measured trials, no surrogate; every share is in suggestion_density.csv.")


FIGURES: tuple[Figure, ...] = (
    Figure("incumbent", "Incumbent curves per task",
           lambda c: fg.incumbent_curves(c.tables["traces"], c.palette),
           lambda c: f"Loss of {INCUMBENT} against evaluations spent, per task and model: median over seeds (line) "
                     f"and interquartile range (band); {basis(c)}. Values: traces.csv.", needs=("traces",)),
    Figure("regret", "Normalised regret over the budget", lambda c: fg.regret_curves(c.tables["traces"], c.palette),
           lambda c: f"Normalised regret of {INCUMBENT} against evaluations spent: 0 = the best loss any run reached "
                     "on that task and model, 1 = the worst (reference.csv), median and interquartile range over "
                     f"tasks, models and seeds, symlog axis; {basis(c)}. Values: traces.csv.", needs=("traces",)),
    Figure("regret_time", "Normalised regret over recorded time",
           lambda c: fg.regret_curves(c.tables["time_traces"], c.palette, at="seconds"),
           lambda c: f"Normalised regret of {INCUMBENT} against recorded time per run (fit and predict times over "
                     "the folds plus the optimizer's own ask and tell time; no harness or queue time), log axis; a "
                     "run without a full-fidelity result yet counts as 1, one that ended earlier keeps its last "
                     "incumbent; 0 and 1 as in the regret figure, median and interquartile range over tasks, models "
                     f"and seeds; {basis(c)}. Values: time_traces.csv.", needs=("time_traces",)),
    Figure("ranks", "Average rank over the budget", lambda c: fg.rank_curves(c.tables["ranks"], c.palette),
           lambda c: f"Average rank of each optimizer's incumbent (1 = best) against evaluations spent, over task x "
                     f"model x seed blocks; {basis(c)}. Values: ranks.csv.", needs=("ranks",)),
    Figure("optimism", "Validation optimism of the incumbent over the budget",
           lambda c: fg.optimism_curves(c.tables["optimism"], c.palette),
           lambda c: "Validation optimism: the held-out test loss of the incumbent minus its validation loss, against "
                     "evaluations spent (> 0: the validation folds flattered it); median and interquartile range "
                     f"over runs; test part: {c.study.settings.get('test_fraction')} of the rows, never seen by the "
                     f"search; {basis(c)}. Values: optimism.csv.", needs=("optimism",)),
    Figure("critical_difference", "Critical difference diagram",
           lambda c: fg.critical_difference(c.tables["tests"], c.palette),
           lambda c: "Critical difference diagram at the final budget: average rank of each optimizer's final "
                     "incumbent over task x model x seed blocks, Friedman test and Nemenyi critical difference "
                     "(alpha 0.05); a bar joins optimizers whose ranks differ by less than it; "
                     f"{basis(c)}. Values: tests.csv.", needs=("tests",)),
    Figure("best_found", "Best-found loss per optimizer over seeds",
           lambda c: fg.best_found_boxes(c.tables["traces"], c.palette),
           lambda c: "Validation loss of each run's final incumbent (one point per seed, box = quartiles) per "
                     f"optimizer, per task and model; {basis(c)}. Values: best_found.csv, traces.csv.",
           needs=("traces",)),
    Figure("tunability", "Tunability per hyperparameter",
           lambda c: fg.tunability_bars(c.tables.get("tunability"), c.tables.get("surrogate_tunability")),
           lambda c: "Tunability per hyperparameter: d = validation loss of the default minus that of the best "
                     "configuration found tuning that hyperparameter alone ('all': every one jointly), mean over "
                     "datasets with a 95% bootstrap CI over datasets; measured by the runs (seeds averaged within a "
                     "dataset) and, where present, on the surrogates against each reference default, measured and "
                     "surrogate bars in panels of their own (each its own axis), the legend naming each bar's "
                     f"estimate; {basis(c)}. Values: tunability.csv, surrogate_tunability.csv."),
    Figure("probst2019", "Tunability per hyperparameter against Probst et al. 2019",
           lambda c: fg.probst2019_scatter(c.tables["probst2019_hyperparameters"], c.tables["probst2019_agreement"]),
           lambda c: "Our mean tunability per hyperparameter (validation, datasets of this study) against the "
                     "published Tun.P / Tun.O of Probst, Boulesteix & Bischl 2019 (38 datasets, 10-fold CV, their "
                     "surrogates), one marker per estimate, y = x dashed; Spearman's rho with its 95% bootstrap CI "
                     f"over our datasets in the legend; {basis(c)}. Values: probst2019_hyperparameters.csv, "
                     "probst2019_agreement.csv.", needs=("probst2019_hyperparameters", "probst2019_agreement")),
    Figure("interactions", "Pairwise interactions", lambda c: fg.interaction_heatmap(c.tables["tunability_pairs"]),
           lambda c: "Interaction of each pair of hyperparameters tuned jointly, d_ii' - (d_i + d_i'), mean over "
                     f"datasets (red: more than additive); {basis(c)}. Values: tunability_pairs.csv.",
           needs=("tunability_pairs",)),
    Figure("robustness", "Robustness across seeds", lambda c: fg.robustness_spread(c.tables["robustness"], c.palette),
           lambda c: "Spread of the final incumbent's validation loss over seeds, one point per task x model, bar = "
                     "median: standard deviation (left) and CVaR 10%, the mean of the worst 10% of seeds (right); "
                     f"{basis(c)}. Values: robustness.csv.", needs=("robustness",)),
    Figure("agreement", "Mean rank on the real benchmark and on its surrogates",
           lambda c: fg.agreement_scatter(c.tables["agreement_ranks"], c.tables["agreement_summary"], c.palette),
           _agreement_caption, lambda c: "A scatter of each optimizer's mean rank on the real tasks against on the "
                                         "surrogates, with the diagonal.",
           only_with="agreement_ranks"),
    Figure("partial_dependence", "Partial dependence of {model}'s hyperparameters (surrogates)",
           lambda c: effects.partial_dependence_figure(
               c.tables["surrogate_partial_dependence"], c.tables["surrogate_partial_dependence_summary"],
               c.tables["surrogate_marks"], c.tables.get("surrogate_tuning_space"), c.model, c.space),
           _pd_caption, _pd_alt, per_model=True,
           needs=("surrogate_partial_dependence", "surrogate_partial_dependence_summary", "surrogate_marks")),
    Figure("pairs", "Pairs of {model}'s hyperparameters with the largest joint gain (surrogates)",
           lambda c: effects.pair_heatmaps(c.tables["surrogate_partial_dependence_pairs"], c.tables["surrogate_marks"],
                                           c.model, c.space),
           _pairs_caption, lambda c: f"Heatmaps of the predicted loss over pairs of {c.model}'s hyperparameters, red "
                                     "worse and blue better than the dataset mean, defaults marked.",
           per_model=True, needs=("surrogate_partial_dependence_pairs", "surrogate_marks")),
    Figure("ice", "ICE curves of {model}'s hyperparameters on one dataset (surrogate)",
           lambda c: effects.ice_figure(c.tables["surrogate_ice"], c.tables["surrogate_partial_dependence"],
                                        c.tables["surrogate_marks"], c.model, c.space),
           _ice_caption, lambda c: f"Panels per hyperparameter of {c.model}: many thin grey curves of the predicted "
                                   "loss of single configurations, one thick orange average curve, defaults marked.",
           per_model=True, needs=("surrogate_ice", "surrogate_partial_dependence", "surrogate_marks")),
    Figure("sampling", "Where the optimizers sampled {model}'s hyperparameters",
           lambda c: effects.sampling_figure(c.tables["suggestion_density"], c.model, c.space, c.palette),
           _sampling_caption,
           lambda c: f"A grid of histograms of {c.model}'s hyperparameters, one row per optimizer "
                     f"({', '.join(sorted(c.trials['optimizer'].unique()))}), early and late suggestions against the "
                     "good configurations.", per_model=True, needs=("suggestion_density",)),
    # The scatter of real trials stays, after the partial dependence: measured losses beside predictions.
    Figure("marginal", "Marginal effects of {model}'s hyperparameters",
           lambda c: fg.marginal_effects(c.trials, c.model, c.space),
           lambda c: f"Measured validation {_metric(c)} of every fully tuned optimizer trial of {c.model} against "
                     "each hyperparameter's value (log axis for log parameters), scaled per task to 0 = its best and "
                     f"1 = its worst complete trial; real trials, not surrogate predictions; {basis(c)}.",
           per_model=True),
)


__all__ = ["FIGURES", "INCUMBENT", "Context", "Figure", "basis", "overall", "surrogates"]
