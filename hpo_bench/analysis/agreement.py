"""Does a surrogate benchmark rank optimizers as the real one does? (issue 18)

The same optimizer experiment, run on real tasks and on their surrogates (tasks `surrogate:NAME/TASKREF`,
TASKREF the real task's reference), gives two stores. If the surrogates can stand in for the real tasks,
both rank the optimizers alike; these tables set the two rankings side by side and say how far they agree,
so a user sees how far the surrogate benchmark can be trusted before relying on it.

What is measured on what: each run's incumbent is its first full-fidelity trial with the lowest selection
loss (`run_best`), and it counts by its validation loss under the studies' metric (`metric_view`; the
optimised one unless the report asks for another), as in the other comparison tables (`tests`,
`beat_probabilities`). On the real tasks that loss is the mean over the inner CV folds; on the surrogate
tasks it is what the surrogate returned for it. Fully tuned runs only. Only the (task, model, optimizer)
cells both studies have are compared; blocks are task x model x seed on each side (the comparison tables'
blocks), and a block missing one of the compared optimizers is dropped, as there. Runs that have not
finished (status other than done or crashed: a study stopped part-way) are left out on both sides: the
best of a run's first trials is not its result.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats

from hpo_bench.analysis.best_found import metric_view, run_best
from hpo_bench.analysis.comparisons import final_matrix
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.robustness import beat_probabilities
from hpo_bench.analysis.study import Study
from hpo_bench.tasks import real_task

CELL = ["task", "model", "optimizer"]


def _finished(study: Study) -> pd.DataFrame:
    """The trials of the study's runs that are done or crashed (a crashed run's result is what it found)."""
    if study.runs.empty or "status" not in study.runs:
        return study.trials
    ended = study.runs.loc[study.runs["status"].isin(["done", "crashed"]), "run_id"]
    return study.trials[study.trials["run_id"].isin(ended)]


def matched_trials(real: Study, surrogate: Study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both studies' fully tuned trials, the surrogate's under the real task names, restricted to the
    (task, model, optimizer) cells both have. NotApplicable, with the reason, where nothing can be compared."""
    r, s = metric_view(_finished(real)), metric_view(_finished(surrogate))
    r, s = r[r["tuned"] == "all"], s[s["tuned"] == "all"]
    refs = {task: real_task(task) for task in sorted(s["task"].unique())}
    plain = [task for task, ref in refs.items() if ref is None]
    if plain:
        raise NotApplicable(
            f"the tasks of {surrogate.name or 'the study reported'} are not all surrogate tasks "
            f"(surrogate:NAME/TASKREF): {', '.join(plain[:5])}{' ...' if len(plain) > 5 else ''}; report the "
            "experiment run on the surrogates, against the real one")
    by_ref: dict[str, list[str]] = {}
    for task, ref in refs.items():
        by_ref.setdefault(ref, []).append(task)
    several = {ref: tasks for ref, tasks in by_ref.items() if len(tasks) > 1}
    if several:  # two surrogate benchmarks of one real task in one store: which one to compare is not ours to pick
        ref, tasks = next(iter(sorted(several.items())))
        raise NotApplicable(f"several surrogate tasks stand for the real task {ref} ({', '.join(tasks)}); compare "
                            "a store of one surrogate benchmark")
    metrics = sorted(set(r["metric"])), sorted(set(s["metric"]))
    if metrics[0] != metrics[1]:
        raise NotApplicable(f"the real study's metric ({', '.join(metrics[0])}) is not the surrogate study's "
                            f"({', '.join(metrics[1])})")
    s = s.assign(task=s["task"].map(refs))
    common = pd.MultiIndex.from_frame(r[CELL].drop_duplicates()).intersection(
        pd.MultiIndex.from_frame(s[CELL].drop_duplicates()))
    if common.empty:
        raise NotApplicable(
            f"no fully tuned (task, model, optimizer) in common: the real study has tasks "
            f"{', '.join(sorted(r['task'].unique()))}, the surrogate tasks stand for "
            f"{', '.join(sorted(refs.values()))}")
    r = r[pd.MultiIndex.from_frame(r[CELL]).isin(common)]
    s = s[pd.MultiIndex.from_frame(s[CELL]).isin(common)]
    return r, s


def _rank_matrix(trials: pd.DataFrame, optimizers: list[str]) -> pd.DataFrame:
    """Blocks x `optimizers` of the rank of each run's final incumbent in its block (1 = lowest loss, ties
    share the average rank): `statistical_tests`' ranking, over the blocks that have all of `optimizers`."""
    return final_matrix(trials)[optimizers].dropna().rank(axis=1, method="average")


def _tau(x: pd.Series, y: pd.Series) -> tuple[float, float]:
    """Kendall's tau-b between two vectors on the same index and its two-sided p-value (NaN where either is
    constant: no order to compare)."""
    x, y = x.to_numpy(dtype=float), y.loc[x.index].to_numpy(dtype=float)
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return np.nan, np.nan
    result = stats.kendalltau(x, y)
    return float(result.statistic), float(result.pvalue)


def _counts(ranks: pd.DataFrame, side: str) -> dict[str, int]:
    blocks = ranks.index.to_frame(index=False)
    return {f"n_tasks_{side}": blocks["task"].nunique(), f"n_seeds_{side}": blocks["seed"].nunique(),
            f"n_blocks_{side}": len(blocks)}


def agreement_tables(real: Study, surrogate: Study) -> dict[str, pd.DataFrame]:
    """The agreement of `surrogate` (an experiment run on surrogate tasks) with `real` (the same experiment
    on the real tasks), as three tables; see the module docstring for what is measured on what.

    - agreement_ranks, one row per optimizer: `mean_rank_real` and `mean_rank_surrogate`, the mean over
      each side's blocks of the optimizer's rank in the block (1 = best; ties averaged); `rank_real` and
      `rank_surrogate`, the rank of that mean rank among the optimizers (1 = best mean rank, ties averaged);
      `n_blocks_*`, the blocks each mean rests on; `metric`, and `selected_by` (the metric that chose each
      run's incumbent, as in best_found).
    - agreement_summary, one row per statistic and scope (`all` tasks, or one `task`, by its real name):
      `kendall_tau_mean_rank`: Kendall's tau-b between the real and the surrogate mean-rank vectors over the
      optimizers (per task: the mean ranks over that task's model x seed blocks), with scipy's two-sided
      p-value (NaN where one side ranks every optimizer alike); and, scope all, over the ordered pairs of
      agreement_beats: `kendall_tau_p_beats`, Kendall's tau-b between the real and the surrogate P(A beats
      B) (no p-value: the entries of (A, B) and (B, A) add up to 1 on each side, so they are not independent
      observations); `mean_abs_diff_p_beats`, the mean of |P_surrogate - P_real| over the pairs; and
      `same_winner_share`, the share of unordered pairs where both sides favour the same optimizer (P above
      1/2 on both, below on both, or 1/2 on both). With each: the optimizers compared and, per side, the
      tasks, seeds and blocks of its ranks (P(A beats B) uses every seed of a task x model, also of a block
      dropped for missing an optimizer).
    - agreement_beats, one row per ordered pair (A, B): P(A beats B) (`beat_probabilities`: over tasks x
      models, the share of seed pairs in which A's incumbent has the lower loss, ties 1/2) real and
      surrogate, their difference (surrogate - real) and the tasks x models each rests on.

    Raises NotApplicable when the surrogate study's tasks are not surrogate tasks, when no cell is in both,
    or when fewer than two optimizers have a complete block on both sides.
    """
    r, s = matched_trials(real, surrogate)
    r_matrix, s_matrix = final_matrix(r), final_matrix(s)
    optimizers = sorted(set(r_matrix.columns) & set(s_matrix.columns))
    if len(optimizers) < 2:
        raise NotApplicable(f"fewer than two optimizers with results on both sides ({', '.join(optimizers)})")
    r_ranks, s_ranks = _rank_matrix(r, optimizers), _rank_matrix(s, optimizers)
    if r_ranks.empty or s_ranks.empty:
        raise NotApplicable(f"no task x model x seed block has all of {', '.join(optimizers)} on the "
                            f"{'real' if r_ranks.empty else 'surrogate'} side")
    metric = str(r["metric"].iloc[0])
    chosen = pd.concat([run_best(r), run_best(s)]).groupby("optimizer")["selected_by"].agg(
        lambda v: ", ".join(sorted(set(v.dropna()))))

    ranks = pd.DataFrame({"optimizer": optimizers, "mean_rank_real": r_ranks.mean().to_numpy(),
                          "mean_rank_surrogate": s_ranks.mean().to_numpy()})
    ranks["rank_real"] = ranks["mean_rank_real"].rank(method="average")
    ranks["rank_surrogate"] = ranks["mean_rank_surrogate"].rank(method="average")
    ranks["n_blocks_real"], ranks["n_blocks_surrogate"] = len(r_ranks), len(s_ranks)
    ranks["metric"] = metric
    ranks["selected_by"] = ranks["optimizer"].map(chosen)
    ranks = ranks.sort_values(["mean_rank_real", "optimizer"], kind="stable").reset_index(drop=True)

    base = {"n_optimizers": len(optimizers)}
    rows = []
    tau, p = _tau(ranks["mean_rank_real"], ranks["mean_rank_surrogate"])
    rows.append({"scope": "all", "task": "", "statistic": "kendall_tau_mean_rank", "value": tau, "p_value": p,
                 **base, **_counts(r_ranks, "real"), **_counts(s_ranks, "surrogate")})
    r_tasks, s_tasks = r_ranks.groupby(level="task"), s_ranks.groupby(level="task")
    for task in sorted(set(r_tasks.groups) & set(s_tasks.groups)):
        r_task, s_task = r_tasks.get_group(task), s_tasks.get_group(task)
        tau, p = _tau(r_task.mean(), s_task.mean())
        rows.append({"scope": "task", "task": task, "statistic": "kendall_tau_mean_rank", "value": tau, "p_value": p,
                     **base, **_counts(r_task, "real"), **_counts(s_task, "surrogate")})

    beats = _beats(r, s, optimizers)
    counts = {**_counts(r_ranks, "real"), **_counts(s_ranks, "surrogate")}
    tau, _ = _tau(beats["p_beats_real"], beats["p_beats_surrogate"])
    unordered = beats[beats["optimizer"] < beats["versus"]]
    same = np.sign(unordered["p_beats_real"] - 0.5) == np.sign(unordered["p_beats_surrogate"] - 0.5)
    for statistic, value in (("kendall_tau_p_beats", tau),
                             ("mean_abs_diff_p_beats", float(beats["difference"].abs().mean())),
                             ("same_winner_share", float(same.mean()))):
        rows.append({"scope": "all", "task": "", "statistic": statistic, "value": value, "p_value": np.nan, **base,
                     **counts})
    summary = pd.DataFrame(rows)
    summary.insert(len(summary.columns), "metric", metric)
    return {"agreement_ranks": ranks, "agreement_summary": summary, "agreement_beats": beats}


def _beats(r: pd.DataFrame, s: pd.DataFrame, optimizers: list[str]) -> pd.DataFrame:
    """P(A beats B) on both sides for every ordered pair of `optimizers`."""
    keep = lambda t: t[t["optimizer"].isin(optimizers)]  # noqa: E731
    real, sur = beat_probabilities(keep(r)), beat_probabilities(keep(s))
    pairs = pd.DataFrame(list(itertools.permutations(optimizers, 2)), columns=["optimizer", "versus"])
    out = pairs.merge(real.rename(columns={"p_beats": "p_beats_real", "n_tasks": "n_tasks_real"}),
                      on=["optimizer", "versus"], how="left").merge(
        sur.rename(columns={"p_beats": "p_beats_surrogate", "n_tasks": "n_tasks_surrogate"}),
        on=["optimizer", "versus"], how="left")
    out["difference"] = out["p_beats_surrogate"] - out["p_beats_real"]
    return out[["optimizer", "versus", "p_beats_real", "p_beats_surrogate", "difference", "n_tasks_real",
                "n_tasks_surrogate"]]


__all__ = ["agreement_tables", "matched_trials"]
