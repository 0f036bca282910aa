"""Every analysis table, declared once: `TABLES`.

A `Table` names a table and says how it is made (a function of the `Inputs`, or the `Step` that makes it
with others), what it needs and uses, and how the report and the manual present it: its title, the
columns worth reading, and a sentence on what it holds. `analyze` is a loop over `TABLES`; the report
shows the tables that have a title, in this order, under that title (the figures are declared beside
the report, in hpo_bench/report/registry.py, and name the tables they draw); the manual's table list
(docs/analysis.md) is made from the same declarations. Adding a table is adding one entry here.

How the loop makes a table:
- first what it needs and uses (so the order here is the report's, not the order of computation);
- a table it needs that is absent leaves it out silently: the absent table's own line says why, unless
  `why_missing` gives this table's reason for that need (`{why}`: the absent table's reason);
- `NotApplicable` raised by its maker leaves it out with that reason; a table without rows is left out as
  "no rows" (`always`: kept even so, for the tables every report and the CLI read).
A `Step` is work several tables share (fitting the surrogates), run at most once per analysis, its
NotApplicable kept and given to each of its tables; a table it did not make, or made without rows, is
left out silently, and one it gives a NotApplicable instead is left out with that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pandas as pd

from hpo_bench.analysis.agreement import agreement_tables
from hpo_bench.analysis.anytime import time_traces
from hpo_bench.analysis.best_found import (
    best_found_table,
    incumbent_traces,
    metric_view,
    optimism_table,
    reference_losses,
    regret_traces,
    run_best,
)
from hpo_bench.analysis.comparisons import rank_traces, statistical_tests
from hpo_bench.analysis.importance import importance_table
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.partial_dependence import ice_task_problem, partial_dependence_tables
from hpo_bench.analysis.probst2019 import MEASURES, check_reference, probst_tables, same_dataset_tables
from hpo_bench.analysis.robustness import beat_probabilities, robustness_table
from hpo_bench.analysis.sampling import suggestion_density
from hpo_bench.analysis.study import Study
from hpo_bench.analysis.surrogate import fit_surrogates, surrogate_tunability
from hpo_bench.analysis.tunability import pair_table, tunability_summary, tunability_table, tuning_space
from hpo_bench.analysis.variance import variance_decomposition, variance_summary
from hpo_bench.errors import HpoBenchError

# What a table may need besides other tables: the arguments of `analyze` that are there only when given.
INPUTS = ("against",)


class NotComparable(HpoBenchError):
    """`analyze(..., against=real)` asked for the agreement tables by name, and the studies cannot be
    compared: an error with the reason, not a table left out (a report without them is not what was asked)."""


@dataclass(frozen=True)
class Step:
    """Work several tables share, run at most once per analysis; `make` gives a dict of tables by name (or,
    for a step other steps build on, whatever they read). What it needs, uses and its manual entry hold
    for every table it makes."""

    name: str
    make: Callable[[Inputs], Any]
    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    why_missing: Mapping[str, str] = field(default_factory=dict)
    doc: str = ""


@dataclass(frozen=True)
class Table:
    """One table: see the module docstring for what each field does in `analyze`.

    `make`: a function of the inputs giving the table, or the Step that makes it. `needs`: the tables (or
    INPUTS) it is made from; `uses`: tables it reads where they exist. `title`: the report shows the table
    under it (no title: a CSV only); `columns`: the columns it shows (None: all); `rows`: the rows it shows
    (None: all). `doc`: what it holds, for the manual's table list (a Step's tables may share the step's).
    """

    name: str
    make: Callable[[Inputs], pd.DataFrame] | Step
    needs: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    why_missing: Mapping[str, str] = field(default_factory=dict)
    title: str = ""
    columns: tuple[str, ...] | None = None
    rows: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    doc: str = ""
    always: bool = False

    @property
    def step(self) -> Step | None:
        return self.make if isinstance(self.make, Step) else None

    @property
    def all_needs(self) -> tuple[str, ...]:
        return (*self.step.needs, *self.needs) if self.step else self.needs

    @property
    def all_uses(self) -> tuple[str, ...]:
        return (*self.step.uses, *self.uses) if self.step else self.uses

    @property
    def reasons(self) -> Mapping[str, str]:
        return {**self.step.why_missing, **self.why_missing} if self.step else self.why_missing


@dataclass
class Inputs:
    """What tables are made from: the study (its trials under the analysed metric), the options of
    `analyze`, and the tables made so far."""

    study: Study
    seed: int = 0
    metric: str | None = None  # as asked: None is the optimised one
    reference: pd.DataFrame | None = None  # an earlier reference.csv to measure regret against
    ice_task: str | None = None
    against: Study | None = None  # the real study a surrogate study is compared with
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    _done: dict[str, Any] = field(default_factory=dict)

    @property
    def trials(self) -> pd.DataFrame:
        return self.study.trials

    @property
    def tasks(self) -> pd.DataFrame:
        return self.study.tasks

    @property
    def spaces(self) -> dict:
        return self.study.spaces

    @property
    def optimised(self) -> str:
        """The metric of the trials as viewed (the asked one, or the optimised one)."""
        return str(self.trials["metric"].iloc[0])

    @cached_property
    def incumbents(self) -> pd.DataFrame:
        """The incumbent traces of every run (traces, optimism and ranks read them)."""
        return incumbent_traces(self.trials)

    def given(self, name: str) -> bool:
        """Whether a table was made, or an input (INPUTS) given."""
        return name in self.tables or (name in INPUTS and getattr(self, name) is not None)

    def run(self, step: Step) -> Any:
        """The step's result, made once; a NotApplicable it raised is raised again."""
        if step.name not in self._done:
            try:
                self._done[step.name] = step.make(self)
            except NotApplicable as why:
                self._done[step.name] = why
        done = self._done[step.name]
        if isinstance(done, NotApplicable):
            raise done
        return done


def _make(table: Table, inputs: Inputs) -> pd.DataFrame | None:
    """The table, or None where its step made none of it with rows (left out silently)."""
    if table.step is None:
        return table.make(inputs)
    made = inputs.run(table.step).get(table.name)
    if isinstance(made, NotApplicable):
        raise made
    return None if made is None or made.empty else made


def make_tables(inputs: Inputs, tables: tuple[Table, ...]) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Every table that applies, in the order of `tables`, and for each one left out with a reason, why."""
    by_name = {t.name: t for t in tables}
    skipped: dict[str, str] = {}
    tried: set[str] = set()

    def make(table: Table) -> None:
        if table.name in tried:
            return
        tried.add(table.name)
        for name in (*table.all_needs, *table.all_uses):
            if name in by_name:
                make(by_name[name])
        missing = next((n for n in table.all_needs if not inputs.given(n)), None)
        if missing is not None:
            if missing in table.reasons:
                skipped[table.name] = table.reasons[missing].format(why=skipped.get(missing, f"no {missing}"))
            return
        try:
            made = _make(table, inputs)
        except NotApplicable as why:
            skipped[table.name] = str(why)
            return
        if made is not None and made.empty and not table.always:
            skipped[table.name] = "no rows"
        elif made is not None:
            inputs.tables[table.name] = made

    for table in tables:
        make(table)
    return {t.name: inputs.tables[t.name] for t in tables if t.name in inputs.tables}, skipped


# The steps: tables made together.

def _agreement(a: Inputs) -> dict[str, pd.DataFrame]:
    real = a.against.with_trials(metric_view(a.against.trials, a.metric))
    try:
        return agreement_tables(real, a.study)
    except NotApplicable as why:  # asked for by name: see NotComparable
        raise NotComparable(str(why)) from None


def _fitted(a: Inputs) -> dict:
    if a.optimised in MEASURES:  # the surrogates' tables are set beside the paper's: a damaged install fails first
        check_reference()
    return fit_surrogates(a.trials, a.tasks, a.spaces, a.seed)


FITTED = Step("fitted_surrogates", _fitted)
TUNABILITY_ONLY = {"tunability": "surrogates are fitted for a tunability study only ({why})"}

AGREEMENT = Step(
    "agreement", _agreement, needs=("against",),
    doc="with `report --against REAL` (an experiment run on surrogate tasks against the same one on the real "
        "tasks, matched by the real task's reference in `surrogate:NAME/TASKREF`, on the task x model x "
        "optimizer cells both have), in a section of the report of their own. agreement_ranks: per optimizer, its "
        "mean rank (1 = best, ties averaged; the final incumbent's validation loss under the metric, ranked within "
        "task x model x seed blocks as in `tests`) on the real tasks and on the surrogates, the rank of those mean "
        "ranks on each side, and the blocks each rests on. agreement_summary: Kendall's tau-b between the real "
        "and the surrogate mean ranks with its p-value, over all tasks and per task; over the ordered pairs, "
        "Kendall's tau between the real and the surrogate P(A beats B) (no p-value: the two directions of a pair "
        "are not independent), their mean absolute difference, and the share of pairs where both favour the same "
        "optimizer; the optimizers, tasks, seeds and blocks on each side. agreement_beats: per ordered pair "
        "(A, B), P(A beats B) as in `beat_probabilities` on the real tasks and on the surrogates, and the "
        "difference (surrogate - real)")
SURROGATES = Step(
    "surrogates", lambda a: surrogate_tunability(a.trials, a.tasks, a.spaces, a.seed, fitted=a.run(FITTED)),
    needs=("tunability",), why_missing=TUNABILITY_ONLY,
    doc="the paper's own protocol (`hpo_bench/analysis/surrogate.py`): per dataset a surrogate fitted on the "
        "random design of the fully tuned runs (random, Sobol or grid trials; never the default trial), a random "
        "forest with ranger's defaults as the authors', its predictions clipped to the observed losses, its "
        "out-of-fold R^2 and Kendall tau (5 folds) shown beside its numbers; a dataset is left out, with the "
        "reason, when its design has fewer than 20 configurations (or 10 per hyperparameter) or its package "
        "default already scores 1-AUC below 0.001; summaries over all datasets and over those with R^2 >= 0.5. "
        "On the kept surrogates, with "
        "100,000 random configurations: the optimal default (lowest mean predicted loss over datasets) and its "
        "version learned on 4/5 of the datasets and scored on the rest, d and d_i against the package default, "
        "the R default of the paper (`probst2019`), the optimal default (Tun.O) and the cross-validated one "
        "(Tun.O-CV), every per-dataset value, bootstrap CIs over datasets, the tuning space (quantiles of the "
        "per-dataset optima), pairs (`surrogate_pairs`: each pair on a 16 x 16 grid, joint gain and "
        "interaction), and per dataset the surrogates' predictions beside the real losses of the default and the "
        "design's best (`surrogate_vs_design`). `benchmarks/probst_check.py` evaluates what the surrogates chose "
        "for real (`surrogate_vs_real`)")


def _partial_dependence(a: Inputs) -> dict[str, pd.DataFrame | NotApplicable]:
    views = partial_dependence_tables(a.run(FITTED), a.run(SURROGATES), a.seed, a.ice_task)
    if views["surrogate_ice"].empty:  # why: the dataset asked for has no kept surrogate
        views["surrogate_ice"] = NotApplicable(ice_task_problem(a.run(FITTED), str(a.ice_task)) or "no rows")
    return views


PARTIAL_DEPENDENCE = Step(
    "partial_dependence", _partial_dependence,
    needs=("tunability",), why_missing=TUNABILITY_ONLY,
    doc="what the hyperparameters do, on the same surrogates (`hpo_bench/analysis/partial_dependence.py`): per "
        "family, dataset and hyperparameter the predicted loss at 25 values on the parameter's own scale (every "
        "choice of a categorical), averaged over 300 seeded random configurations of the stored space (a "
        "conditional parameter only where it is active), raw and centred on the dataset's own mean; the mean over "
        "datasets with quartiles and a 95% bootstrap CI; ICE curves of one dataset (`--ice-task`, default: the "
        "best-fitted surrogate); 2-D partial dependence of the three pairs with the largest joint gain; where "
        "the package, R and optimal defaults sit")
PROBST = Step(
    "probst2019",
    lambda a: probst_tables(a.trials, a.tables.get("surrogate_per_dataset"), a.optimised, a.seed,
                            a.tables.get("surrogate_tuning_space")),
    needs=("tunability",), uses=("surrogate_per_dataset", "surrogate_tuning_space"),
    doc="for tunability studies of the paper's six families under 1-auc, error or brier (its AUC, accuracy, "
        "Brier score; `--metric error` and `--metric brier` give the other two): per estimate (measured by the "
        "runs; on the surrogates against the package default, the R default, the optimal default and the "
        "cross-validated one) and hyperparameter, our mean d beside the paper's published Tun.P or Tun.O "
        "(shipped in `hpo_bench/reference/probst2019/`, names mapped as in `hpo_bench/analysis/probst2019.py`), "
        "with both ranks; per family and estimate, Spearman's rho between the two with a 95% bootstrap CI over "
        "our datasets, and our overall d beside the paper's (Tun.O-CV: its performance at the optimum minus at "
        "the cross-validated default); the tuning-space quantiles side by side. The paper's numbers rest on 38 "
        "datasets, 10-fold CV and its surrogates; the estimate against the R default separates the defaults from "
        "the rest")
SAME_DATASETS = Step(
    "probst2019_same_datasets",
    lambda a: same_dataset_tables(a.tables["surrogate_per_dataset"], a.tasks, a.optimised, a.seed,
                                  a.tables.get("surrogate_quality")),
    needs=("tunability", "surrogate_per_dataset"), uses=("surrogate_quality",),
    why_missing={"surrogate_per_dataset": "no surrogate tunability per dataset to set beside the paper's "
                                          "(surrogate_quality)"},
    doc="our surrogate tunability beside the authors' per-dataset results on the datasets both have (matched by "
        "OpenML data id): per shared dataset and hyperparameter our d beside the paper's, with our surrogate's "
        "R^2; per family, Spearman's rho over hyperparameters of the mean d, rho over datasets of the overall d "
        "and the ratio of means, each with a 95% bootstrap CI over the shared datasets, over all shared datasets "
        "and over those whose surrogate has R^2 >= 0.5 ([the Probst study](studies/tunability-probst2019.md))")


def final_budget(optimism: pd.DataFrame) -> pd.DataFrame:
    """The optimism at each optimizer's final budget (every budget is in optimism.csv)."""
    last = optimism.groupby(["model", "optimizer", "tuned"])["budget_evals"].transform("max")
    return optimism[optimism["budget_evals"] == last]


# The report shows the tables with a title in this order (the agreement tables in their own section, and
# best_found first, beside its figure); a table is made after those it needs and uses.
TABLES: tuple[Table, ...] = (
    Table("agreement_ranks", AGREEMENT,
          title="Mean rank of each optimizer (1 = best) on the real tasks and on their surrogates, and the rank of "
                "those mean ranks on each side"),
    Table("agreement_summary", AGREEMENT,
          title="Kendall tau between the real and the surrogate ranking, over all tasks and per task, and how far "
                "P(A beats B) moves"),
    Table("agreement_beats", AGREEMENT,
          title="P(A beats B) on the real tasks and on the surrogates (same task and model, any two seeds)"),
    Table("tunability_summary",
          lambda a: tunability_summary(a.tables["tunability"], a.tables.get("surrogate_tunability"), a.trials),
          needs=("tunability",), uses=("surrogate_tunability",),
          title="Tunability per hyperparameter (Probst et al. 2019): measured by the runs and on surrogates, "
                "against the package and the optimal default",
          doc="the headline table: each hyperparameter's tunability by every estimate the store supports, measured "
              "by the runs against their default trial (and on the held-out test) and on the surrogates against "
              "the package, the R and the optimal default; every value copied from `tunability` and "
              "`surrogate_tunability`"),
    Table("probst2019_agreement", PROBST,
          title="Against Probst, Boulesteix & Bischl 2019, per family and estimate: Spearman's rho between our and "
                "the paper's per-hyperparameter tunability (95% bootstrap CI over our datasets) and our overall d "
                "beside the paper's (Tun.P against a package default, Tun.O against the optimal default, Tun.O-CV "
                "against the default learned on the other datasets; the paper: R defaults, 38 datasets, 10-fold "
                "CV, surrogates)",
          columns=("model", "estimate", "paper_measure", "spearman_rho", "rho_ci_low", "rho_ci_high",
                   "n_hyperparameters", "ours_all", "paper_all", "ratio_all", "n_datasets", "paper_n_datasets")),
    Table("probst2019_hyperparameters", PROBST,
          title="Against Probst et al. 2019, per hyperparameter: our mean d beside the paper's (Tun.P or Tun.O as "
                "the estimate's reference default says)",
          columns=("model", "estimate", "hyperparameter", "paper_name", "ours_mean", "paper_mean", "ours_rank",
                   "paper_rank", "ours_median", "paper_median", "n_datasets")),
    Table("probst2019_same_datasets", SAME_DATASETS,
          title="Against Probst et al. 2019 on the same datasets (matched by OpenML data id), per family: "
                "Spearman's rho over hyperparameters of the mean d, rho over datasets of the overall d, and our "
                "mean overall d over the paper's, each with a 95% bootstrap CI over the shared datasets; the "
                "estimate column says what each side measures",
          columns=("model", "estimate", "paper_measure", "datasets", "rho_hyperparameters",
                   "rho_hyperparameters_ci_low", "rho_hyperparameters_ci_high", "rho_datasets", "rho_datasets_ci_low",
                   "rho_datasets_ci_high", "ours_mean_all", "paper_mean_all", "ratio_of_means", "ratio_ci_low",
                   "ratio_ci_high")),
    Table("probst2019_same_datasets_per_dataset", SAME_DATASETS,
          title="Against Probst et al. 2019, per shared dataset and hyperparameter: our surrogate d beside the "
                "paper's, what the reference default scores on each side (ours predicted by our surrogate, on the "
                "paper's scale: AUC, accuracy or -Brier), and our surrogate's out-of-fold R^2",
          columns=("model", "reference", "paper_dataset", "hyperparameter", "ours_d", "paper_d", "ours_at_default",
                   "paper_at_default", "surrogate_r2")),
    Table("probst2019_tuning_space", PROBST,
          title="Against Probst et al. 2019: tuning space, 5% and 95% quantiles of the per-dataset optima on the "
                "surrogates, ours beside the paper's"),
    Table("surrogate_vs_design", SURROGATES,
          title="The surrogates against what the study measured, per dataset: the real validation loss of the "
                "default the runs evaluated (column default: package, or the R default probst2019; the surrogates "
                "never saw it) and the design's best real loss, beside the surrogate's prediction at that default "
                "and at its optimum; d both ways; the surrogate's out-of-fold R^2"),
    Table("surrogate_quality", SURROGATES,
          title="Surrogates per dataset (a random forest with ranger's defaults, as the authors'): the design it "
                "was fitted on, out-of-fold R^2 and Kendall tau (R^2 is shown, not a rule), the observed loss range "
                "and the share of predictions clipped to it, how many design configurations ran into the "
                "per-evaluation time limit (n_timeout: TIMEOUT trials are left out of the design, the surrogate is "
                "fitted on completed ones only), and why a dataset was left out"),
    Table("best_found", lambda a: best_found_table(a.trials), always=True,
          title="Best-found loss per task, model and optimizer (over seeds): validation (inner CV, the loss the "
                "search minimised) and, where the experiment held out a test part, the same incumbents on it",
          columns=("task", "model", "optimizer", "tuned", "metric", "selected_by", "median", "q25", "q75", "iqr",
                   "n_seeds", "test_median", "test_q25", "test_q75", "n_seeds_test", "n_failed"),
          doc="per task x model x optimizer x tuned: median, quartiles, IQR, best and worst of the best-found "
              "validation loss over seeds; `selected_by` (the metric that chose each incumbent); with a held-out "
              "test, `test_median`, `test_q25`, `test_q75` and `n_seeds_test` of the same incumbents"),
    Table("reference", lambda a: reference_losses(a.trials, a.reference), always=True,
          doc="the best and worst loss per task x model that regret is measured against; pass an earlier one back "
              "with `--reference` so scores do not move when optimizers are added"),
    Table("traces", lambda a: regret_traces(a.incumbents, a.tables["reference"]), needs=("reference",),
          always=True,
          doc="the incumbent of every run after each unit of budget (full-fidelity evaluations; lower-fidelity "
              "losses cost budget but never become the incumbent), its regret, normalised regret, and Bayesmark's "
              "normalised score against random search"),
    Table("time_traces", lambda a: regret_traces(time_traces(a.trials), a.tables["reference"], at="seconds"),
          needs=("reference",),
          doc="the same at log-spaced times of recorded time (fit and predict times plus the optimizer's own), "
              "for stores that record optimizer times ([time budgets](time-budgets.md))"),
    Table("optimism", lambda a: optimism_table(a.incumbents), rows=final_budget,
          title="Validation optimism of the incumbent (test loss - validation loss) at the final budget",
          doc="with a held-out test: per model x optimizer x tuned and budget, the incumbent's test loss minus its "
              "validation loss (mean, median, quartiles), over how many runs, tasks and seeds; the report shows "
              "the final budget"),
    Table("variance_summary", lambda a: variance_summary(a.tables["variance_decomposition"]),
          needs=("variance_decomposition",),
          title="Variance of the best-found validation loss by seed factor, mean share over tasks (random-effects "
                "ANOVA over crossed split, model and optimizer seeds)",
          doc="`variance_decomposition`'s shares and standard deviations averaged over tasks, with the tasks each "
              "rests on"),
    Table("variance_decomposition", lambda a: variance_decomposition(run_best(a.trials)),
          title="Variance of the best-found validation loss by seed factor, per task",
          columns=("task", "model", "optimizer", "tuned", "component", "variance", "share", "std", "n_levels",
                   "n_runs"),
          doc="with `seed_design = \"crossed\"`: per task x model x optimizer, the variance of the best-found loss "
              "due to the split, the model seed, the optimizer seed and the residual (random-effects ANOVA with "
              "main effects, method-of-moments estimates, negative ones set to 0; after Bouthillier et al. 2021, "
              "\"Accounting for variance in machine learning benchmarks\"), with the levels and runs each rests on"),
    Table("tunability", lambda a: tunability_table(a.trials, a.seed),
          title="Tunability per hyperparameter, measured against the package default",
          columns=("model", "optimizer", "tuned", "mean", "median", "std", "ci_low", "ci_high", "relative_mean",
                   "relative_median", "relative_n_datasets", "n_datasets", "n_seeds", "test_mean", "test_median",
                   "test_n_datasets"),
          doc="Probst, Boulesteix & Bischl (2019): d = L(default) - L(best found tuning all), d_i the same tuning "
              "only i (others at the package default), relative d_i / d; mean, median, std and a 95% bootstrap CI "
              "over datasets (seeds averaged within a dataset first), with the numbers of datasets and seeds; with "
              "a held-out test, the same d on it (`test_*`: the default's test loss minus the validation-chosen "
              "incumbent's)"),
    Table("surrogate_tunability", SURROGATES,
          title="Tunability on the surrogates against the package default, the R default (probst2019), the "
                "optimal default and the cross-validated optimal default",
          columns=("model", "reference", "tuned", "datasets", "mean", "median", "ci_low", "ci_high", "relative_mean",
                   "relative_n_datasets", "n_datasets")),
    Table("surrogate_per_dataset", SURROGATES),
    Table("tunability_pairs", lambda a: pair_table(a.trials),
          title="Pairs of hyperparameters: joint gain and interaction",
          doc="for runs tuning two hyperparameters jointly: d_ii', joint gain d_ii' - max(d_i, d_i'), interaction "
              "d_ii' - (d_i + d_i')"),
    Table("surrogate_pairs", SURROGATES,
          title="Pairs of hyperparameters on the surrogates (a 16 x 16 grid, the others at the package or the "
                "optimal default): d of the pair, joint gain over the better one alone, interaction"),
    Table("tuning_space", lambda a: tuning_space(a.trials, a.tasks),
          title="Tuning space: 5% and 95% quantiles of the best values",
          doc="5% and 95% quantiles of each hyperparameter's best values (most frequent choice for categoricals; a "
              "symbolic default such as random forest's `max_features = \"sqrt\"` counts as the number it stands "
              "for on its dataset)"),
    Table("optimal_defaults", SURROGATES, title="Data-driven optimal defaults (on the surrogates)"),
    Table("surrogate_tuning_space", SURROGATES,
          title="Tuning space on the surrogates: 5% and 95% quantiles of the per-dataset optima"),
    Table("surrogate_partial_dependence", PARTIAL_DEPENDENCE),
    Table("surrogate_partial_dependence_summary", PARTIAL_DEPENDENCE),
    Table("surrogate_ice", PARTIAL_DEPENDENCE),
    Table("surrogate_partial_dependence_pairs", PARTIAL_DEPENDENCE),
    Table("surrogate_marks", PARTIAL_DEPENDENCE),
    Table("tests", lambda a: statistical_tests(a.trials), title="Statistical tests at the final budget",
          doc="Friedman test and Nemenyi critical difference, pairwise Wilcoxon signed-rank tests with Holm's "
              "correction, at the final budget"),
    Table("ranks", lambda a: rank_traces(a.incumbents),
          doc="average rank of each optimizer over the budget (blocks: task x model x seed)"),
    Table("robustness", lambda a: robustness_table(a.trials), title="Robustness across optimizer seeds",
          doc="spread of the best-found loss over seeds: std, IQR, worst case, CVaR at 10%"),
    Table("beat_probabilities", lambda a: beat_probabilities(a.trials),
          title="Probability that one optimizer beats another (same task, any two seeds)",
          doc="P(A beats B): over tasks, the share of seed pairs in which A's best-found loss is lower"),
    Table("importance", lambda a: importance_table(a.trials, a.spaces, a.seed),
          title="Hyperparameter importance (Optuna fANOVA and PED-ANOVA)",
          doc="fANOVA and PED-ANOVA importance from `optuna.importance` on the fully tuned trials, per task x model "
              "x optimizer; a group of more than 800 trials is a seeded sample of 800 (`n_trials` of "
              "`n_available`): fANOVA's time grows faster than its trials, 23 s for 1,000 and 82 s for 2,000 on "
              "xgboost's space"),
    Table("suggestion_density", lambda a: suggestion_density(a.trials, a.spaces),
          doc="where each optimizer sampled: per model, parameter and bin, its suggestions in the first and second "
              "half of its budget beside the best 10% of each task's trials (with two or more optimizers on a "
              "model)"),
)


__all__ = ["AGREEMENT", "INPUTS", "TABLES", "Inputs", "NotComparable", "Step", "Table", "final_budget",
           "make_tables"]
