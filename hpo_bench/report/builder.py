"""The report: every analysis table (CSV, Markdown, LaTeX), figures (PNG and SVG), index.md and a
self-contained index.html (figures embedded), with what was run and on what.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from joblib import Parallel, delayed

from hpo_bench.analysis import Study, analyze, load_study, metric_view, write_tables
from hpo_bench.analysis import partial_dependence as pdp
from hpo_bench.analysis.agreement import agreement_tables
from hpo_bench.analysis.sampling import GOOD_SHARE
from hpo_bench.analysis.surrogate import design_trials
from hpo_bench.analysis.tunability import NotApplicable
from hpo_bench.errors import HpoBenchError
from hpo_bench.report import effects
from hpo_bench.report import figures as fg
from hpo_bench.report.answer import answer
from hpo_bench.report.interactive import write_interactive
from hpo_bench.report.tables import to_latex, to_markdown
from hpo_bench.space import SearchSpace

# The tables shown in the report body, with the columns worth reading; every table is in the CSVs.
SHOWN = {
    "tunability_summary": ("Tunability per hyperparameter (Probst et al. 2019): measured by the runs and on "
                           "surrogates, against the package and the optimal default", None),
    "probst2019_agreement": ("Against Probst, Boulesteix & Bischl 2019, per family and estimate: Spearman's rho "
                             "between our and the paper's per-hyperparameter tunability (95% bootstrap CI over our "
                             "datasets) and our overall d beside the paper's (Tun.P against a package default, "
                             "Tun.O against the optimal default, Tun.O-CV against the default learned on the other "
                             "datasets; the paper: R defaults, 38 datasets, 10-fold CV, surrogates)",
                             ["model", "estimate", "paper_measure", "spearman_rho", "rho_ci_low", "rho_ci_high",
                              "n_hyperparameters", "ours_all", "paper_all", "ratio_all", "n_datasets",
                              "paper_n_datasets"]),
    "probst2019_hyperparameters": ("Against Probst et al. 2019, per hyperparameter: our mean d beside the paper's "
                                   "(Tun.P or Tun.O as the estimate's reference default says)",
                                   ["model", "estimate", "hyperparameter", "paper_name", "ours_mean", "paper_mean",
                                    "ours_rank", "paper_rank", "ours_median", "paper_median", "n_datasets"]),
    "probst2019_same_datasets": ("Against Probst et al. 2019 on the same datasets (matched by OpenML data id), per "
                                 "family: Spearman's rho over hyperparameters of the mean d, rho over datasets of "
                                 "the overall d, and our mean overall d over the paper's, each with a 95% bootstrap "
                                 "CI over the shared datasets; the estimate column says what each side measures",
                                 ["model", "estimate", "paper_measure", "datasets", "rho_hyperparameters",
                                  "rho_hyperparameters_ci_low", "rho_hyperparameters_ci_high", "rho_datasets",
                                  "rho_datasets_ci_low", "rho_datasets_ci_high", "ours_mean_all", "paper_mean_all",
                                  "ratio_of_means", "ratio_ci_low", "ratio_ci_high"]),
    "probst2019_same_datasets_per_dataset": ("Against Probst et al. 2019, per shared dataset and hyperparameter: "
                                             "our surrogate d beside the paper's, with our surrogate's out-of-fold "
                                             "R^2", ["model", "reference", "paper_dataset", "hyperparameter",
                                                     "ours_d", "paper_d", "surrogate_r2"]),
    "probst2019_tuning_space": ("Against Probst et al. 2019: tuning space, 5% and 95% quantiles of the per-dataset "
                                "optima on the surrogates, ours beside the paper's", None),
    "surrogate_vs_design": ("The surrogates against what the study measured, per dataset: the package default's "
                            "real validation loss (the surrogates never saw it) and the design's best real loss, "
                            "beside the surrogate's prediction at the default and at its optimum; d both ways; the "
                            "surrogate's out-of-fold R^2",
                            None),
    "surrogate_quality": ("Surrogates per dataset (a random forest with ranger's defaults, as the authors'): the "
                          "design it was fitted on, out-of-fold R^2 and Kendall tau (R^2 is shown, not a rule), the "
                          "observed loss range and the share of predictions clipped to it, how many design "
                          "configurations ran into the per-evaluation time limit (n_timeout: TIMEOUT trials are "
                          "left out of the design, the surrogate is fitted on completed ones only), and why a "
                          "dataset was left out", None),
    "best_found": ("Best-found loss per task, model and optimizer (over seeds): validation (inner CV, the loss "
                   "the search minimised) and, where the experiment held out a test part, the same incumbents on it",
                   ["task", "model", "optimizer", "tuned", "metric", "selected_by", "median", "q25", "q75", "iqr",
                    "n_seeds", "test_median", "test_q25", "test_q75", "n_seeds_test", "n_failed"]),
    "optimism": ("Validation optimism of the incumbent (test loss - validation loss) at the final budget", None),
    "variance_summary": ("Variance of the best-found validation loss by seed factor, mean share over tasks "
                         "(random-effects ANOVA over crossed split, model and optimizer seeds)", None),
    "variance_decomposition": ("Variance of the best-found validation loss by seed factor, per task",
                               ["task", "model", "optimizer", "tuned", "component", "variance", "share", "std",
                                "n_levels", "n_runs"]),
    "tunability": ("Tunability per hyperparameter, measured against the package default",
                   ["model", "optimizer", "tuned", "mean", "median", "std", "ci_low", "ci_high", "relative_mean",
                    "relative_median", "relative_n_datasets", "n_datasets", "n_seeds", "test_mean", "test_median",
                    "test_n_datasets"]),
    "surrogate_tunability": ("Tunability on the surrogates against the package default, the R default "
                             "(probst2019), the optimal default and the cross-validated optimal default",
                             ["model", "reference", "tuned", "datasets", "mean", "median", "ci_low", "ci_high",
                              "relative_mean", "relative_n_datasets", "n_datasets"]),
    "tunability_pairs": ("Pairs of hyperparameters: joint gain and interaction", None),
    "surrogate_pairs": ("Pairs of hyperparameters on the surrogates (a 16 x 16 grid, the others at the package or "
                        "the optimal default): d of the pair, joint gain over the better one alone, interaction",
                        None),
    "tuning_space": ("Tuning space: 5% and 95% quantiles of the best values", None),
    "optimal_defaults": ("Data-driven optimal defaults (on the surrogates)", None),
    "surrogate_tuning_space": ("Tuning space on the surrogates: 5% and 95% quantiles of the per-dataset optima",
                               None),
    "tests": ("Statistical tests at the final budget", None),
    "robustness": ("Robustness across optimizer seeds", None),
    "beat_probabilities": ("Probability that one optimizer beats another (same task, any two seeds)", None),
    "importance": ("Hyperparameter importance (Optuna fANOVA and PED-ANOVA)", None),
}
# With --against: the section "Agreement with the real benchmark", its tables and its figure.
AGREEMENT = {
    "agreement_ranks": "Mean rank of each optimizer (1 = best) on the real tasks and on their surrogates, and the "
                       "rank of those mean ranks on each side",
    "agreement_summary": "Kendall tau between the real and the surrogate ranking, over all tasks and per task, and "
                         "how far P(A beats B) moves",
    "agreement_beats": "P(A beats B) on the real tasks and on the surrogates (same task and model, any two seeds)",
}
AGREEMENT_FIGURE = "agreement"
INTERACTIVE = "interactive.html"


@dataclass
class Report:
    name: str
    out_dir: Path
    figures: dict[str, str] = field(default_factory=dict)  # name -> title
    captions: dict[str, str] = field(default_factory=dict)  # name -> what was measured on what, where written
    alts: dict[str, str] = field(default_factory=dict)  # name -> alt text, where it says more than the title
    skipped: dict[str, str] = field(default_factory=dict)  # table or figure -> why left out
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0
    against: str = ""  # with --against: what the agreement section compares, in a sentence


def _provenance(study: Study) -> list[tuple[str, str]]:
    exp, sessions, runs, trials, settings = study.experiment, study.sessions, study.runs, study.trials, study.settings
    versions = json.loads(sessions["versions"].iloc[-1]) if len(sessions) else {}
    machine = json.loads(sessions["machine"].iloc[-1]) if len(sessions) else {}
    stamp = lambda t: time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t)) if pd.notna(t) else "-"  # noqa: E731
    states = trials["state"].value_counts().to_dict()
    budgets = ", ".join(f"{b:g}" for b in sorted(runs["budget_evals"].unique()))
    holdout = (f"held-out test: a stratified {settings['test_fraction']:g} of the rows per split repetition (an "
               "official fold for OpenML tasks), scoring the default and each incumbent after a refit on the rest"
               if settings["test"] == "holdout" else "no held-out test: every loss is a validation loss")
    scores = (f"validation: mean over {settings['cv_folds']} inner CV folds (what the optimizers minimised); "
              f"{holdout}; every metric recorded per fold: {', '.join(sorted(_recorded_metrics(trials)))}")
    text_hash = hashlib.sha256(str(exp.get("file_text", "")).encode()).hexdigest()
    return [
        ("experiment", f"{exp.get('name')} ({exp.get('file_path')})"),
        # Stores bound before content hashing hold the sha256 of the file's text; say which this is.
        (f"experiment sha256 (of its {'file text' if text_hash == exp.get('file_hash') else 'keys and values'})",
         exp.get("file_hash", "")),
        ("runs", f"{len(runs)} ({', '.join(f'{n} {s}' for s, n in runs['status'].value_counts().items())})"),
        ("tasks x models x optimizers x tuned x seeds", " x ".join(str(trials[c].nunique()) for c in
                                                                   ("task", "model", "optimizer", "tuned", "seed"))),
        ("seeds", ", ".join(map(str, sorted(trials["seed"].unique())))),
        ("budget per run (full-fidelity evaluations)", budgets),
        ("trials", f"{len(trials)}: {states.get('COMPLETE', 0)} complete, {states.get('FAILED', 0)} failed, "
                   f"{states.get('TIMEOUT', 0)} timed out"),
        ("metric optimised", ", ".join(sorted(trials["metric"].unique()))),
        ("scores", scores),
        ("seed design", f"{settings['seed_design']}: " + (
            "split, model and optimizer seeds crossed" if settings["seed_design"] == "crossed" else
            "repetition s varies the optimizer and model seeds together over fixed splits")),
        ("sessions", "; ".join(f"{stamp(r.started_at)} to {stamp(r.finished_at)}" for r in sessions.itertuples())),
        ("packages (last session)", ", ".join(f"{k} {v}" for k, v in versions.items())),
        ("machine (last session)", ", ".join(f"{k}: {v}" for k, v in machine.items())),
    ]


def _recorded_metrics(trials: pd.DataFrame) -> set[str]:
    first = trials["fold_metrics"].dropna() if "fold_metrics" in trials else pd.Series(dtype=object)
    return set(json.loads(first.iloc[0])) if len(first) else set(trials["metric"])


def build_report(store_path: str | Path, reports_dir: str | Path = "reports", metric: str | None = None,
                 models: list[str] | None = None, ice_task: str | None = None,
                 against: str | Path | None = None) -> Report:
    """The report of a store; with `metric` other than the optimised one, in <reports_dir>/<name>/<metric>/.

    `models`: report these models' trials only (a study whose other runs are still going); the report's
    "What was run" says so. `ice_task`: the dataset of the ICE curves (see `analyze`). Besides index.html,
    an interactive page (interactive.html) where plotly is installed. `against`: the store of the real
    benchmark this store's surrogate benchmark stands for; the report gets a section on their agreement
    (`agreement_tables`), and HpoBenchError says why when they cannot be compared.
    """
    start = time.perf_counter()
    study = load_study(store_path, models)
    if study.trials.empty:
        raise NotApplicable("the store has no trials yet")
    provenance = _provenance(study)
    if models is not None:
        provenance.insert(1, ("models reported", f"{', '.join(models)}; not reported here: "
                                                 f"{', '.join(study.left_out) or 'none'}"))
    file_text = study.experiment.get("file_text", "")
    out_dir = Path(reports_dir) / study.name
    if metric is not None and metric not in set(study.trials["metric"]):
        out_dir = out_dir / metric
    report = Report(study.name, out_dir)
    stored = study  # the interactive page makes a view per metric from the trials as stored
    study = study.with_trials(metric_view(study.trials, metric))  # once: analyze takes the view as it is
    trials = study.trials
    agreement = _agreement(study, store_path, against, metric) if against is not None else {}
    tables, report.skipped = analyze(study, metric=metric, ice_task=ice_task)
    tables.update(agreement)
    report.tables = tables
    if agreement:
        report.against = _against_sentence(study, against, agreement)
    write_tables(tables, report.out_dir)
    (report.out_dir / "tables").mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if name in SHOWN or name in AGREEMENT:
            caption = SHOWN[name][0] if name in SHOWN else AGREEMENT[name]
            (report.out_dir / "tables" / f"{name}.md").write_text(to_markdown(table))
            (report.out_dir / "tables" / f"{name}.tex").write_text(to_latex(table, caption=caption))

    palette = fg.Palette(sorted(trials["optimizer"].unique()))
    makers = {
        "incumbent": ("Incumbent curves per task", lambda: fg.incumbent_curves(tables["traces"], palette)),
        "regret": ("Normalised regret over the budget", lambda: fg.regret_curves(tables["traces"], palette)),
        "regret_time": ("Normalised regret over recorded time",
                        lambda: fg.regret_curves(_need(tables, "time_traces"), palette, at="seconds")),
        "ranks": ("Average rank over the budget", lambda: fg.rank_curves(_need(tables, "ranks"), palette)),
        "optimism": ("Validation optimism of the incumbent over the budget",
                     lambda: fg.optimism_curves(_need(tables, "optimism"), palette)),
        "critical_difference": ("Critical difference diagram",
                                lambda: fg.critical_difference(_need(tables, "tests"), palette)),
        "best_found": ("Best-found loss per optimizer over seeds",
                       lambda: fg.best_found_boxes(tables["traces"], palette)),
        "tunability": ("Tunability per hyperparameter", lambda: fg.tunability_bars(
            tables.get("tunability"), tables.get("surrogate_tunability"))),
        "probst2019": ("Tunability per hyperparameter against Probst et al. 2019",
                       lambda: fg.probst2019_scatter(_need(tables, "probst2019_hyperparameters"),
                                                     _need(tables, "probst2019_agreement"))),
        "interactions": ("Pairwise interactions", lambda: fg.interaction_heatmap(_need(tables, "tunability_pairs"))),
        "robustness": ("Robustness across seeds", lambda: fg.robustness_spread(_need(tables, "robustness"), palette)),
    }
    described = _basic_captions(study, tables)
    if agreement:
        makers[AGREEMENT_FIGURE] = ("Mean rank on the real benchmark and on its surrogates",
                                    lambda: fg.agreement_scatter(tables["agreement_ranks"], tables["agreement_summary"],
                                                                 palette))
        overall = _overall(tables["agreement_summary"])
        text = (f"Mean rank (1 = best) of each optimizer's final incumbent by validation "
                f"{tables['agreement_ranks']['metric'].iloc[0]} within task x model x seed blocks, on the real tasks "
                f"({int(overall['n_blocks_real'])} blocks, {int(overall['n_tasks_real'])} task(s)) against on their "
                f"surrogates ({int(overall['n_blocks_surrogate'])} blocks), one point per optimizer; the dashed line "
                "is equality (points on it rank alike on both). Values: agreement_ranks.csv, agreement_summary.csv.")
        described[AGREEMENT_FIGURE] = ((lambda: text), (lambda: "A scatter of each optimizer's mean rank on the real "
                                                        "tasks against on the surrogates, with the diagonal."))
    for model in sorted(trials["model"].unique()):
        for name, (title, make, caption, alt) in _effect_figures(study, tables, model, palette).items():
            makers[name] = (title, make)
            described[name] = (caption, alt)
        # The scatter of real trials stays, after the partial dependence: measured losses beside predictions.
        makers[f"marginal_{model}"] = (f"Marginal effects of {model}'s hyperparameters",
                                       lambda m=model: fg.marginal_effects(trials, m, _space(study, m)))
    fig_dir = report.out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    # Drawing and saving is a third of a small report's time and each figure is independent: the figures
    # are drawn on every core (the same files as one after another; the makers are closures, which loky
    # pickles with cloudpickle).
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given")
        drawn = Parallel(n_jobs=max(1, min(len(makers), os.cpu_count() or 1)))(
            delayed(_draw)(make, fig_dir, name) for name, (_, make) in makers.items())
    for (name, (title, _)), why in zip(makers.items(), drawn, strict=True):
        if why is not None:
            report.skipped[f"figure {name}"] = why
            continue
        report.figures[name] = title
        if name in described:
            report.captions[name], report.alts[name] = described[name][0](), described[name][1]()
    try:
        what = "; ".join(f"{k}: {v}" for k, v in provenance[:6]) + "."
        write_interactive(stored, tables, report.out_dir, what)
    except NotApplicable as why:
        report.skipped[INTERACTIVE] = str(why)
    report.seconds = time.perf_counter() - start
    summary = answer(study, tables)
    _write_markdown(report, provenance, file_text, summary)
    _write_html(report, provenance, file_text, summary)
    return report


def _draw(make, fig_dir: Path, name: str) -> str | None:
    """Draw one figure and save it as fig_dir/name.png and .svg; why not, if it does not apply."""
    try:
        fig = make()
    except NotApplicable as why:
        return str(why)
    fig.savefig(fig_dir / f"{name}.png", bbox_inches="tight")
    fig.savefig(fig_dir / f"{name}.svg", bbox_inches="tight")
    plt.close(fig)
    return None


def _agreement(study: Study, store_path: str | Path, against: str | Path, metric: str | None) -> dict:
    """The agreement tables of `study` (run on surrogate tasks) with the real study at `against`, under the
    same metric; HpoBenchError with the reason where the two cannot be compared."""
    real = load_study(against)
    try:
        real = real.with_trials(metric_view(real.trials, metric))
        return agreement_tables(real, study)
    except NotApplicable as why:  # asked for by name: a report without the comparison is not what was asked
        raise HpoBenchError(f"{store_path} against {against}: {why}") from None


def _against_sentence(study: Study, against: str | Path, agreement: dict[str, pd.DataFrame]) -> str:
    """What the agreement section compares, on what and by which measure."""
    ranks, overall = agreement["agreement_ranks"], _overall(agreement["agreement_summary"])
    tau = ("undefined (one side ranks every optimizer alike)" if pd.isna(overall["value"])
           else f"{overall['value']:.3g} (p = {overall['p_value']:.3g})")
    return (f"The optimizers of this surrogate benchmark ({study.name}) against the same experiment on the real tasks "
            f"({against}): {len(ranks)} optimizers on the (task, model, optimizer) cells both stores have, "
            f"{int(overall['n_tasks_real'])} task(s). Each run counts by its final incumbent's validation "
            f"{ranks['metric'].iloc[0]} (on the surrogate tasks, the surrogate's value of it), ranked within "
            f"task x model x seed blocks (1 = best, ties averaged): {int(overall['n_blocks_real'])} blocks real, "
            f"{int(overall['n_blocks_surrogate'])} on the surrogates ({int(overall['n_seeds_real'])} and "
            f"{int(overall['n_seeds_surrogate'])} seeds). Kendall tau between the two mean-rank orders over all "
            f"tasks: {tau}.")


def _overall(summary: pd.DataFrame) -> pd.Series:
    """The summary's row of Kendall tau between the mean ranks over all tasks (and the counts beside it)."""
    return summary[(summary["scope"] == "all") & (summary["statistic"] == "kendall_tau_mean_rank")].iloc[0]


def _basic_captions(study: Study, tables: dict[str, pd.DataFrame]) -> dict[str, tuple]:
    """Caption and alt text of the figures of runs and their incumbents: name -> (caption, alt), each a
    function called once the figure is drawn. Every caption says what was measured on what: validation
    or held-out test, the metric, and the tasks, seeds and budget it rests on."""
    trials = study.trials
    metric = ", ".join(sorted(trials["metric"].unique()))
    full = trials[trials["tuned"] == "all"]
    n_tasks, n_seeds = full["task"].nunique(), full["seed"].nunique()
    optimizers = ", ".join(sorted(full["optimizer"].unique()))
    budgets = sorted({int(b) for b in study.runs.get("budget_evals", pd.Series(dtype=float)).dropna()})
    budget = ("/".join(map(str, budgets)) or "?") + " evaluations"
    seconds = sorted({float(b) for b in study.runs.get("budget_seconds", pd.Series(dtype=float)).dropna()})
    if seconds:  # a time budget: whichever is spent first stops a run
        budget += " or " + "/".join(f"{b:g}" for b in seconds) + " s of recorded time"
    basis = (f"validation {metric} (mean over {study.settings.get('cv_folds')} inner CV folds) of the fully tuned "
             f"runs: {n_tasks} task{'s' * (n_tasks != 1)} x {full['model'].nunique()} model(s) x {n_seeds} "
             f"seed{'s' * (n_seeds != 1)}, budget {budget} per run, optimizers {optimizers}")
    incumbent = "the incumbent (lowest validation loss so far; selected_by in best_found says by which metric)"

    def plain(text: str) -> tuple:
        return (lambda: text), (lambda: text.split(". ")[0] + ".")

    captions = {
        "incumbent": plain(f"Loss of {incumbent} against evaluations spent, per task and model: median over "
                           f"seeds (line) and interquartile range (band); {basis}. Values: traces.csv."),
        "regret": plain(f"Normalised regret of {incumbent} against evaluations spent: 0 = the best loss any run "
                        "reached on that task and model, 1 = the worst (reference.csv), median and interquartile "
                        f"range over tasks, models and seeds, symlog axis; {basis}. Values: traces.csv."),
        "regret_time": plain(f"Normalised regret of {incumbent} against recorded time per run (fit and predict "
                             "times over the folds plus the optimizer's own ask and tell time; no harness or queue "
                             "time), log axis; a run without a full-fidelity result yet counts as 1, one that ended "
                             "earlier keeps its last incumbent; 0 and 1 as in "
                             "the regret figure, median and interquartile range over tasks, models and seeds; "
                             f"{basis}. Values: time_traces.csv."),
        "ranks": plain(f"Average rank of each optimizer's incumbent (1 = best) against evaluations spent, over "
                       f"task x model x seed blocks; {basis}. Values: ranks.csv."),
        "optimism": plain("Validation optimism: the held-out test loss of the incumbent minus its validation loss, "
                          "against evaluations spent (> 0: the validation folds flattered it); median and "
                          f"interquartile range over runs; test part: {study.settings.get('test_fraction')} of the "
                          f"rows, never seen by the search; {basis}. Values: optimism.csv."),
        "critical_difference": plain("Critical difference diagram at the final budget: average rank of each "
                                     "optimizer's final incumbent over task x model x seed blocks, Friedman test "
                                     "and Nemenyi critical difference (alpha 0.05); a bar joins optimizers whose "
                                     f"ranks differ by less than it; {basis}. Values: tests.csv."),
        "best_found": plain("Validation loss of each run's final incumbent (one point per seed, box = quartiles) "
                            f"per optimizer, per task and model; {basis}. Values: best_found.csv, traces.csv."),
        "tunability": plain("Tunability per hyperparameter: d = validation loss of the default minus that of the "
                            "best configuration found tuning that hyperparameter alone ('all': every one jointly), "
                            "mean over datasets with a 95% bootstrap CI over datasets; measured by the runs "
                            "(seeds averaged within a dataset) and, where present, on the surrogates against "
                            "each reference default, measured and surrogate bars in panels of their own (each its "
                            "own axis), the legend naming each bar's estimate; "
                            f"{basis}. Values: tunability.csv, surrogate_tunability.csv."),
        "probst2019": plain("Our mean tunability per hyperparameter (validation, datasets of this study) against "
                            "the published Tun.P / Tun.O of Probst, Boulesteix & Bischl 2019 (38 datasets, 10-fold "
                            "CV, their surrogates), one marker per estimate, y = x dashed; Spearman's rho with its "
                            f"95% bootstrap CI over our datasets in the legend; {basis}. Values: "
                            "probst2019_hyperparameters.csv, probst2019_agreement.csv."),
        "interactions": plain("Interaction of each pair of hyperparameters tuned jointly, d_ii' - (d_i + d_i'), "
                              f"mean over datasets (red: more than additive); {basis}. Values: "
                              "tunability_pairs.csv."),
        "robustness": plain("Spread of the final incumbent's validation loss over seeds, one point per task x "
                            "model, bar = median: standard deviation (left) and CVaR 10%, the mean of the worst "
                            f"10% of seeds (right); {basis}. Values: robustness.csv."),
    }
    for model in sorted(trials["model"].unique()):
        captions[f"marginal_{model}"] = plain(
            f"Measured validation {metric} of every fully tuned optimizer trial of {model} against each "
            "hyperparameter's value (log axis for log parameters), scaled per task to 0 = its best and 1 = its "
            f"worst complete trial; real trials, not surrogate predictions; {basis}.")
    return captions


def _effect_figures(study: Study, tables: dict[str, pd.DataFrame], model: str, palette: fg.Palette) -> dict:
    """The figures of what `model`'s hyperparameters do: name -> (title, make, caption, alt), the caption
    and alt text made once the figure was drawn (they read the tables it drew)."""
    trials = study.trials
    metric = ", ".join(sorted(trials["metric"].unique()))
    folds = study.settings.get("cv_folds")
    space = study.spaces.get(model)
    need = lambda name: _need(tables, name)  # noqa: E731

    def surrogates() -> str:
        q = need("surrogate_quality")
        q = q[q["model"] == model]
        kept, left = q[q["kept"]], q[~q["kept"]]
        seeds = sorted(design_trials(trials[trials["model"] == model])["seed"].unique())
        seeds = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
        learners = ", ".join(f"{name.replace('_', ' ')} on {n}" for name, n in kept["learner"].value_counts().items())
        out = (f"validation {metric} (mean over {folds} inner CV folds) as predicted by surrogates, one per "
               f"dataset, fitted on the random design of the fully tuned runs (median {q['n_design'].median():.0f} "
               f"configurations per dataset, {seeds}; {learners}, chosen by out-of-fold R^2, median "
               f"{kept['r2'].median():.2f}); {len(kept)} of {len(q)} datasets kept")
        if len(left):
            out += f" (left out by the quality rule, see surrogate_quality: {', '.join(left['task'])})"
        return out

    def marks_note() -> str:
        marks = need("surrogate_marks")
        notes = [f"{m.hyperparameter}: {m.kind} default {m.note}" for m in marks[marks["model"] == model].itertuples()
                 if m.note]
        named = sorted(set(marks.loc[marks["model"] == model, "kind"]) - {"package", "optimal"})
        out = f"; named defaults ({', '.join(named)}) dotted grey" if named else ""
        return out + (f". Placing: {'; '.join(notes)}" if notes else "")

    def conditional() -> str:
        names = [f"{p.name} (when {p.condition.parent} = {'/'.join(map(str, p.condition.values))})"
                 for p in space or [] if p.condition]
        return (f"; a conditional hyperparameter over the configurations where it is active only: {', '.join(names)}"
                if names else "")

    def pd_caption() -> str:
        return (f"Partial dependence of {model}'s {surrogates()}. Each curve: the surrogate's prediction averaged "
                f"over {pdp.N_CONFIGS} random configurations from the stored space (the same for every dataset), "
                f"the hyperparameter set to each of up to {pdp.N_VALUES} values on its own scale (log-spaced on log "
                f"axes; every choice of a categorical){conditional()}. Grey: one dataset's curve minus its own mean "
                "over the values; blue: their mean with a 95% percentile bootstrap CI over datasets (categoricals: "
                "points with that interval). Vertical lines: package default solid black, optimal default on the "
                f"surrogates dashed red{marks_note()}. Green: the tuning space, 5% to 95% quantiles of the "
                "per-dataset optima (a categorical: the most frequent optimum). Predictions, not measurements: "
                "surrogate_vs_design sets them beside the real losses; every value drawn is in "
                "surrogate_partial_dependence(_summary).csv.")

    def pd_alt() -> str:
        s = need("surrogate_partial_dependence_summary")
        s = s[s["model"] == model]
        spans = s.groupby("hyperparameter", sort=False)["mean"].agg(lambda v: v.max() - v.min()).sort_values(
            ascending=False)
        ranked = ", ".join(f"{name} {span:.3g}" for name, span in spans.items())
        return (f"{len(spans)} panels, one per hyperparameter of {model}: predicted validation loss against the "
                "hyperparameter's value, one grey curve per dataset, a blue mean curve with a shaded band, "
                "vertical lines at the defaults and a green span for the tuning space. Range of the mean curve, "
                f"largest first: {ranked}.")

    def ice_caption() -> str:
        ice = need("surrogate_ice")
        task = ice.loc[ice["model"] == model, "task"].iloc[0]
        q = need("surrogate_quality").set_index(["model", "task"]).loc[(model, task)]
        return (f"ICE curves of {model} on {task} (surrogate R^2 {q['r2']:.2f}; by default the dataset of the "
                f"highest R^2, another with --ice-task): the first {pdp.N_ICE} of the {pdp.N_CONFIGS} sampled "
                "configurations, each with one hyperparameter moved over its values (grey), and the partial "
                f"dependence over all {pdp.N_CONFIGS} (orange); {surrogates()}. Uncentred. Parallel curves: the "
                "hyperparameter acts alone; curves that cross or change shape: it interacts with the others.")

    def pairs_caption() -> str:
        measured = surrogates()
        return (f"Two-dimensional partial dependence of the {pdp.N_PAIRS} pairs of {model}'s hyperparameters with "
                "the largest joint gain on the surrogates (surrogate_pairs against the package default: d of tuning "
                "the pair minus d of the better one alone, mean over datasets): a grid of their values (16 per "
                f"numeric axis, every choice of a categorical), averaged over {pdp.N_PAIR_CONFIGS} of the sampled "
                "configurations, centred per dataset and averaged over datasets; blank: never active together. "
                f"Star: package default; circle: optimal default. {measured[0].upper()}{measured[1:]}.")

    def sampling_caption() -> str:
        full = trials[(trials["model"] == model) & (trials["tuned"] == "all")]
        return (f"Where each optimizer sampled {model}'s hyperparameters: the share of its suggestions (every "
                "trial it asked for, in any state and at any fidelity; not the default trial) per bin of each "
                "hyperparameter's own scale (log for log parameters; one bin per choice), pooled over "
                f"{full['task'].nunique()} tasks and {full['seed'].nunique()} seeds, in the first half of each "
                "run's budget (filled) and the second (line), beside the best "
                f"{GOOD_SHARE:.0%} of each task's complete full-fidelity trials of every optimizer by validation "
                f"{metric} (dashed). Measured trials, no surrogate; every share is in suggestion_density.csv.")

    def sampling_alt() -> str:
        return (f"A grid of histograms of {model}'s hyperparameters, one row per optimizer "
                f"({', '.join(sorted(trials['optimizer'].unique()))}), early and late suggestions against the "
                "good configurations.")

    return {
        f"partial_dependence_{model}": (
            f"Partial dependence of {model}'s hyperparameters (surrogates)", lambda: effects.partial_dependence_figure(
                need("surrogate_partial_dependence"), need("surrogate_partial_dependence_summary"),
                need("surrogate_marks"), tables.get("surrogate_tuning_space"), model, _space(study, model)),
            pd_caption, pd_alt),
        f"pairs_{model}": (
            f"Pairs of {model}'s hyperparameters with the largest joint gain (surrogates)",
            lambda: effects.pair_heatmaps(need("surrogate_partial_dependence_pairs"), need("surrogate_marks"), model,
                                          _space(study, model)),
            pairs_caption, lambda: f"Heatmaps of the predicted loss over pairs of {model}'s hyperparameters, "
                                   "red worse and blue better than the dataset mean, defaults marked."),
        f"ice_{model}": (
            f"ICE curves of {model}'s hyperparameters on one dataset (surrogate)",
            lambda: effects.ice_figure(need("surrogate_ice"), need("surrogate_partial_dependence"),
                                       need("surrogate_marks"), model, _space(study, model)),
            ice_caption, lambda: f"Panels per hyperparameter of {model}: many thin grey curves of the predicted "
                                 "loss of single configurations, one thick orange average curve, defaults marked."),
        f"sampling_{model}": (
            f"Where the optimizers sampled {model}'s hyperparameters",
            lambda: effects.sampling_figure(need("suggestion_density"), model, _space(study, model), palette),
            sampling_caption, sampling_alt),
    }


def _space(study: Study, model: str) -> SearchSpace:
    """The space `model`'s fully tuned runs searched, as stored with them."""
    if model not in study.spaces:
        raise NotApplicable(f"no fully tuned run of {model}")
    return study.spaces[model]


def _need(tables: dict[str, pd.DataFrame], name: str) -> pd.DataFrame:
    if name not in tables:
        raise NotApplicable(f"the {name} table was left out")
    return tables[name]


def _shown(report: Report, skip: tuple[str, ...] = ()):
    for name, (title, columns) in SHOWN.items():
        if name in report.tables and name not in skip:
            table = report.tables[name]
            if name == "optimism":  # the final budget of each optimizer; every budget is in optimism.csv
                last = table.groupby(["model", "optimizer", "tuned"])["budget_evals"].transform("max")
                table = table[table["budget_evals"] == last]
            yield name, title, table[[c for c in columns if c in table]] if columns else table


# The table and figure that follow the summary, before the metadata (see _sections).
LEAD = "best_found"


def _slug(title: str) -> str:
    """The anchor GitHub gives a Markdown heading (lower case, punctuation dropped, spaces as hyphens); the
    HTML page uses the same ids, so that one contents list serves both."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def left_out_lines(skipped: dict[str, str]) -> list[str]:
    """One line per reason: analyses left out for the same reason (twelve surrogate tables) share it."""
    by_reason: dict[str, list[str]] = {}
    for name, why in sorted(skipped.items()):
        # a figure left out because its table was joins that table's line: the reason is the table's
        table = why.removeprefix("the ").removesuffix(" table was left out")
        by_reason.setdefault(skipped.get(table, why) if table != why else why, []).append(name)
    return [f"{', '.join(names)}: {why}" for why, names in by_reason.items()]


def _sections(report: Report) -> list[tuple[str, list[str]]]:
    """(section title, its subsection titles) in page order, for the contents list of both pages."""
    out = [("Summary", []), ("Best-found loss", [])]
    if report.against:
        out.append(("Agreement with the real benchmark", list(AGREEMENT.values())))
    out.append(("What was run", []))
    figures = [t for n, t in report.figures.items() if n not in (AGREEMENT_FIGURE, LEAD)]
    if figures:
        out.append(("Figures", figures))
    out.append(("Tables", [title for _, title, _ in _shown(report, (LEAD,))]))
    if report.skipped:
        out.append(("Left out", []))
    return out


def _write_markdown(report: Report, provenance: list[tuple[str, str]], file_text: str,
                    summary: list[str]) -> None:
    lines = [f"# hpo-bench report: {report.name}", "", "## Summary", ""]
    for paragraph in summary:
        lines += [paragraph, ""]
    lines += ["Contents:", ""]
    for title, subsections in _sections(report):
        lines.append(f"- [{title}](#{_slug(title)})")
        lines += [f"  - [{sub}](#{_slug(sub)})" for sub in subsections]
    lines += ["", "## Best-found loss", ""]
    for name, title, table in _shown(report):
        if name == LEAD:
            lines += [f"*{title}*", "", to_markdown(table), ""]
    lines += _markdown_figure(report, LEAD) if LEAD in report.figures else []
    if report.against:
        lines += ["## Agreement with the real benchmark", "", report.against, ""]
        lines += _markdown_figure(report, AGREEMENT_FIGURE) if AGREEMENT_FIGURE in report.figures else []
        for name, title in AGREEMENT.items():
            lines += [f"### {title}", "", to_markdown(report.tables[name]), ""]
    lines += ["## What was run", ""]
    lines += [f"- **{k}**: {v}" for k, v in provenance]
    lines += ["", "```toml", file_text.strip(), "```", ""]
    if (report.out_dir / INTERACTIVE).exists() and INTERACTIVE not in report.skipped:
        lines += [f"Interactive page (pick task, model, optimizer and metric): [{INTERACTIVE}]({INTERACTIVE})", ""]
    if any(n not in (AGREEMENT_FIGURE, LEAD) for n in report.figures):
        lines += ["## Figures", ""]
    for name in report.figures:
        if name not in (AGREEMENT_FIGURE, LEAD):  # in their own sections above
            lines += _markdown_figure(report, name)
    lines += ["## Tables", "", "Every table is also in this folder as CSV, and under tables/ as Markdown and LaTeX.",
              ""]
    for _, title, table in _shown(report, (LEAD,)):
        lines += [f"### {title}", "", to_markdown(table), ""]
    if report.skipped:
        lines += ["## Left out", ""] + [f"- {line}" for line in left_out_lines(report.skipped)]
    (report.out_dir / "index.md").write_text("\n".join(lines) + "\n")


def _markdown_figure(report: Report, name: str) -> list[str]:
    title = report.figures[name]
    alt = report.alts.get(name, title).replace("[", "(").replace("]", ")")
    lines = [f"### {title}", "", f"![{alt}](figures/{name}.png)", ""]
    return lines + ([f"*{report.captions[name]}*", ""] if name in report.captions else [])


# max-width and the scrolling boxes: the page fits a 1,300 px laptop window; a table wider than the page
# scrolls inside its own box (div.wide), and long unbroken values (hashes, package lists) wrap.
_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;
overflow-wrap:anywhere}.wide{overflow-x:auto;max-width:100%;margin:0.5em 0 1.5em}
table{border-collapse:collapse;font-size:13px;overflow-wrap:normal}th,td{padding:3px 8px;
border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee}figure{margin:0 0 1.5em}figcaption{font-size:13px;color:#444;
max-width:1000px}pre{background:#f7f7f7;padding:1em;overflow-x:auto}dt{font-weight:600}dd{margin:0 0 .4em 1em}
.summary p{font-size:16px;line-height:1.45;max-width:1000px}nav ul{margin:0 0 1em;font-size:14px}
nav li li{display:inline;margin-right:1em}"""


def _html_table(table: pd.DataFrame) -> str:
    return ("<div class='wide'>" + table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0)
            + "</div>")


def _h(level: int, title: str) -> str:
    return f"<h{level} id='{_slug(title)}'>{html.escape(title)}</h{level}>"


def _write_html(report: Report, provenance: list[tuple[str, str]], file_text: str, summary: list[str]) -> None:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
             f"content='width=device-width, initial-scale=1'><title>hpo-bench: {html.escape(report.name)}"
             f"</title><style>{_CSS}</style></head><body>", f"<h1>hpo-bench report: {html.escape(report.name)}</h1>",
             "<section class='summary'>", _h(2, "Summary")]
    parts += [f"<p>{html.escape(p)}</p>" for p in summary]
    parts.append("</section><nav><strong>Contents</strong><ul>")
    for title, subsections in _sections(report):
        subs = "".join(f"<li><a href='#{_slug(s)}'>{html.escape(s)}</a></li>" for s in subsections)
        parts.append(f"<li><a href='#{_slug(title)}'>{html.escape(title)}</a>{f'<ul>{subs}</ul>' if subs else ''}</li>")
    parts += ["</ul></nav>", _h(2, "Best-found loss")]
    for name, title, table in _shown(report):
        if name == LEAD:
            parts += [f"<p><em>{html.escape(title)}</em></p>", _html_table(table)]
    if LEAD in report.figures:
        parts.append(_html_figure(report, LEAD))
    if report.against:
        parts += [_h(2, "Agreement with the real benchmark"), f"<p>{html.escape(report.against)}</p>"]
        if AGREEMENT_FIGURE in report.figures:
            parts.append(_html_figure(report, AGREEMENT_FIGURE))
        for name, title in AGREEMENT.items():
            parts += [_h(3, title), _html_table(report.tables[name])]
    parts += [_h(2, "What was run"), "<dl>"]
    parts += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in provenance]
    parts += ["</dl>", f"<pre>{html.escape(file_text)}</pre>"]
    if INTERACTIVE not in report.skipped:
        parts.append(f"<p>Interactive page (pick task, model, optimizer and metric): <a href='{INTERACTIVE}'>"
                     f"{INTERACTIVE}</a></p>")
    if any(n not in (AGREEMENT_FIGURE, LEAD) for n in report.figures):
        parts.append(_h(2, "Figures"))
    parts += [_html_figure(report, name) for name in report.figures if name not in (AGREEMENT_FIGURE, LEAD)]
    parts.append(_h(2, "Tables"))
    for _, title, table in _shown(report, (LEAD,)):
        parts += [_h(3, title), _html_table(table)]
    if report.skipped:
        parts.append(_h(2, "Left out") + "<ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in left_out_lines(report.skipped)]
        parts.append("</ul>")
    parts.append("</body></html>")
    (report.out_dir / "index.html").write_text("\n".join(parts))


def _html_figure(report: Report, name: str) -> str:
    title = report.figures[name]
    data = base64.b64encode((report.out_dir / "figures" / f"{name}.png").read_bytes()).decode()
    caption = f"<figcaption>{html.escape(report.captions[name])}</figcaption>" if name in report.captions else ""
    return (f"<figure>{_h(3, title)}<img alt='{html.escape(report.alts.get(name, title))}' "
            f"src='data:image/png;base64,{data}'>{caption}</figure>")
