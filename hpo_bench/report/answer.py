"""The report's first section: in words, what was compared on what, who was best by how much, and how sure
that is, from the tables the analysis made (nothing is computed here that the tables do not hold, except
the mean ranks and the per-block differences of the final incumbents, which `final_matrix` gives).

A reader who opens a report wants the answer before the metadata: the sentences name the optimizers, the
tasks, models, seeds and budget, the loss and whether it is validation or held-out test, the metric that
chose each incumbent, the test used with its p-value, and P(A beats B).
"""

from __future__ import annotations

import pandas as pd

from hpo_bench.analysis import Study
from hpo_bench.analysis.comparisons import final_matrix
from hpo_bench.analysis.tunability import NotApplicable

ALPHA = 0.05  # the level the sentence reads a p-value against; the tests table holds every p-value


def _names(values: list[str], limit: int = 6) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def answer(study: Study, tables: dict[str, pd.DataFrame]) -> list[str]:
    """The paragraphs of the report's summary (plain text, one sentence group each)."""
    trials = study.trials
    full = trials[trials["tuned"] == "all"]
    if full.empty:  # a store of one-at-a-time runs only: the comparison is per hyperparameter
        full = trials
    optimizers = sorted(full["optimizer"].unique())
    tasks, models = sorted(full["task"].unique()), sorted(full["model"].unique())
    metric = ", ".join(sorted(full["metric"].unique()))
    budgets = sorted({int(b) for b in study.runs.get("budget_evals", pd.Series(dtype=float)).dropna()})
    budget = "/".join(map(str, budgets)) or "?"
    default = " (the package default first)" if (trials["source"] == "default").any() else ""
    folds = study.settings.get("cv_folds")
    selected = tables["best_found"].get("selected_by", pd.Series(dtype=str)).dropna().unique()
    chooser = ", ".join(sorted(map(str, selected))) or metric
    what = (f"Compared: {_plural(len(optimizers), 'optimizer')} ({', '.join(optimizers)}) tuning "
            f"{_plural(len(models), 'model')} ({', '.join(models)}) on {_plural(len(tasks), 'task')} "
            f"({_names(tasks)}), {_plural(full['seed'].nunique(), 'seed')} each, with a budget of {budget} "
            f"full-fidelity evaluations per run{default}. Every number below is a validation loss: {metric}, the "
            f"mean over {folds} inner CV folds, the loss the optimizers minimised; each run's incumbent is its "
            f"trial with the lowest validation {chooser}.")
    if study.settings.get("test") == "holdout":
        what += (" A held-out test part scored each incumbent too (test_* columns of the best-found table); the "
                 "verdict below uses validation losses.")
    else:
        what += " The experiment held out no test part."
    paragraphs = [what]
    if len(optimizers) < 2:
        paragraphs.append(f"One optimizer only ({optimizers[0]}): nothing to compare; the best-found table below "
                          "gives its final incumbents.")
        return paragraphs
    try:
        matrix = final_matrix(trials)
    except (NotApplicable, KeyError):
        matrix = pd.DataFrame()
    if len(matrix) < 2:
        paragraphs.append("Fewer than two task x model x seed blocks in which every optimizer has a result: no "
                          "verdict; the best-found table below gives each optimizer's incumbents.")
        return paragraphs
    ranks = matrix.rank(axis=1, method="average").mean().sort_values()
    best, runner = str(ranks.index[0]), str(ranks.index[1])
    diff = (matrix[best] - matrix[runner]).median()
    # A mean over folds differs in its last bits with the order of summation: -3.7e-17 is a tie, not a gain.
    said = "0 (in the median block they tie)" if abs(diff) < 1e-12 else f"{diff:+.3g}"
    n = len(matrix)
    ranked = ", ".join(f"{o} {r:.2f}" for o, r in ranks.items())
    paragraphs.append(
        f"Best: {best}, with the lowest mean rank of its final incumbent over {n} task x model x seed blocks "
        f"(1 = best; {ranked}). The median per-block difference in best-found validation {metric} to the "
        f"runner-up, {best} minus {runner}, is {said}.")
    paragraphs.append(_sureness(tables, best, runner, n))
    return paragraphs


def _sureness(tables: dict[str, pd.DataFrame], best: str, runner: str, n: int) -> str:
    """How sure: the test, its p-value (Holm-adjusted among the pairs) and P(best beats the runner-up)."""
    parts = []
    tests = tables.get("tests")
    if tests is not None:
        friedman = tests[tests["test"] == "friedman"]
        if len(friedman):
            parts.append(f"Friedman test over all optimizers: p = {friedman['p_value'].iloc[0]:.3g}.")
        pair = tests[(tests["test"] == "wilcoxon") & (((tests["a"] == best) & (tests["b"] == runner))
                                                      | ((tests["a"] == runner) & (tests["b"] == best)))]
        if len(pair):
            row = pair.iloc[0]
            holm = f", Holm-adjusted over {int((tests['test'] == 'wilcoxon').sum())} pairs p = {row['p_holm']:.3g}" \
                if (tests["test"] == "wilcoxon").sum() > 1 else ""
            parts.append(f"Wilcoxon signed-rank test of {best} against {runner} over the {n} blocks: "
                         f"p = {row['p_value']:.3g}{holm}.")
            p = row["p_holm"] if pd.notna(row["p_holm"]) else row["p_value"]
            verdict = (f"below {ALPHA:g}: the difference is unlikely to be luck" if p < ALPHA else
                       f"not below {ALPHA:g}: these runs do not tell {best} and {runner} apart")
            parts.append(f"That is {verdict}.")
    beats = tables.get("beat_probabilities")
    if beats is not None:
        row = beats[(beats["optimizer"] == best) & (beats["versus"] == runner)]
        if len(row):
            parts.append(f"P({best} beats {runner}) = {row['p_beats'].iloc[0]:.2f} (same task and model, any two "
                         f"seeds, mean over {int(row['n_tasks'].iloc[0])} task x model cells; 0.5 = a coin flip).")
    return " ".join(parts) or "No test applies to these runs (see Left out)."
