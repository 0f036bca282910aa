"""Each measure on a small hand-made trials table, its expected value worked out by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from hpo_bench.analysis import Study, analyze
from hpo_bench.analysis.best_found import incumbent_traces, reference_losses, regret_traces
from hpo_bench.analysis.comparisons import holm, nemenyi_cd, rank_traces, statistical_tests
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.robustness import beat_probabilities, cvar, robustness_table
from hpo_bench.analysis.tunability import pair_table, tunability_summary, tunability_table, tuning_space


def table(rows: list[tuple]) -> pd.DataFrame:
    """Trials from (task, optimizer, tuned, seed, source, loss or None, fidelity, config) tuples."""
    out, numbers = [], {}
    for task, optimizer, tuned, seed, source, loss, fidelity, config in rows:
        run = (task, optimizer, tuned, seed)
        numbers[run] = numbers.get(run, -1) + 1
        out.append({"task": task, "model": "m", "optimizer": optimizer, "optimizer_type": optimizer,
                    "tuned": tuned, "seed": seed, "trial_number": numbers[run], "source": source,
                    "config": json.dumps(config or {}), "fidelity": fidelity, "metric": "1-auc",
                    "state": "FAILED" if loss is None else "COMPLETE", "loss": loss})
    return pd.DataFrame(out)


def run(task, tuned, default, *losses, seed=0, optimizer="random"):
    """A run with the default trial first, then optimizer trials."""
    rows = [(task, optimizer, tuned, seed, "default", default, 1.0, None)]
    return rows + [(task, optimizer, tuned, seed, "optimizer", loss, 1.0, None) for loss in losses]


# Dataset A: default 0.30; all -> 0.20 (d 0.10); x -> 0.28 (d 0.02); y never beats the default (d 0);
# x+y -> 0.22 (d 0.08). Dataset B: default 0.50; all -> 0.30 (d 0.20); x -> 0.40 (0.10); y -> 0.45 (0.05);
# x+y -> 0.35 (0.15).
TUNABILITY = table(
    run("A", "all", 0.30, 0.20, 0.25) + run("A", "x", 0.30, 0.28) + run("A", "y", 0.30, 0.35, None)
    + run("A", "x+y", 0.30, 0.22)
    + run("B", "all", 0.50, 0.30, 0.60) + run("B", "x", 0.50, 0.40) + run("B", "y", 0.50, 0.45)
    + run("B", "x+y", 0.50, 0.35))


def test_tunability_per_hyperparameter_and_relative():
    t = tunability_table(TUNABILITY).set_index("tuned")
    assert t.loc["all", "mean"] == pytest.approx(0.15) and t.loc["all", "median"] == pytest.approx(0.15)
    assert t.loc["all", "std"] == pytest.approx(math.sqrt(0.005))  # values 0.10, 0.20
    assert (t.loc["all", "ci_low"], t.loc["all", "ci_high"]) == pytest.approx((0.10, 0.20))
    assert t.loc["x", "mean"] == pytest.approx(0.06)
    assert t.loc["y", "mean"] == pytest.approx(0.025)
    assert t.loc["x", "relative_mean"] == pytest.approx((0.02 / 0.10 + 0.10 / 0.20) / 2)  # 0.35
    assert t.loc["y", "relative_mean"] == pytest.approx((0 + 0.05 / 0.20) / 2)  # 0.125
    assert (t["n_datasets"] == 2).all() and (t["n_seeds"] == 1).all()


def test_tunability_averages_seeds_within_a_dataset_first():
    trials = table(run("A", "all", 0.30, 0.20) + run("A", "all", 0.40, 0.10, seed=1) + run("B", "all", 0.5, 0.4))
    t = tunability_table(trials).set_index("tuned")
    # A: (0.10 + 0.30) / 2 = 0.20; B: 0.10 -> mean 0.15, not (0.1 + 0.3 + 0.1) / 3
    assert t.loc["all", "mean"] == pytest.approx(0.15)
    assert t.loc["all", "n_seeds"] == 2


def test_pairs_joint_gain_and_interaction():
    p = pair_table(TUNABILITY).iloc[0]
    assert (p["first"], p["second"]) == ("x", "y")
    assert p["d_pair"] == pytest.approx((0.08 + 0.15) / 2)
    # A: 0.08 - max(0.02, 0) = 0.06, B: 0.15 - 0.10 = 0.05
    assert p["joint_gain"] == pytest.approx(0.055)
    # A: 0.08 - (0.02 + 0) = 0.06, B: 0.15 - (0.10 + 0.05) = 0
    assert p["interaction"] == pytest.approx(0.03)


def test_tuning_space_quantiles_of_best_values():
    rows = []
    for task, best_x in (("A", 1.0), ("B", 2.0), ("C", 3.0)):
        rows += [(task, "random", "all", 0, "optimizer", 0.1, 1.0, {"x": best_x, "k": "a"}),
                 (task, "random", "all", 0, "optimizer", 0.5, 1.0, {"x": 10.0, "k": "b"})]
    space = tuning_space(table(rows)).set_index("parameter")
    assert space.loc["x", "low"] == pytest.approx(1.1)  # 5% of [1, 2, 3], linear interpolation
    assert space.loc["x", "high"] == pytest.approx(2.9)
    assert space.loc["k", "most_frequent"] == "a" and space.loc["k", "share"] == 1.0


def test_incumbent_trace_counts_cost_but_only_full_fidelity_losses():
    rows = [("A", "random", "all", 0, "optimizer", 0.5, 1 / 3, None)] * 3 + [
        ("A", "random", "all", 0, "optimizer", loss, 1.0, None) for loss in (0.4, 0.45, 0.3)]
    rows += [("A", "tpe", "all", 0, "optimizer", loss, 1.0, None) for loss in (0.35, 0.3)]
    trials = table(rows)
    traces = incumbent_traces(trials)
    random = traces[traces.optimizer == "random"].set_index("budget_evals")["best_loss"]
    assert np.isnan(random[1])  # three third-fidelity trials: cost 1, no full-fidelity loss yet
    assert random[2] == 0.4 and random[3] == 0.4 and random[4] == 0.3
    ref = reference_losses(trials)
    assert ref.iloc[0][["best_loss", "worst_loss"]].tolist() == [0.3, 0.45]
    scored = regret_traces(traces, ref).set_index(["optimizer", "budget_evals"])
    assert scored.loc[("random", 2), "normalized_regret"] == pytest.approx(0.1 / 0.15)
    assert scored.loc[("random", 2), "score"] == pytest.approx(0.0)  # as good as random: it is random
    assert scored.loc[("tpe", 2), "score"] == pytest.approx(100.0)  # reached the best while random had 0.4
    frozen = pd.DataFrame({"task": ["A"], "model": ["m"], "best_loss": [0.2], "worst_loss": [0.6]})
    again = reference_losses(trials, frozen)
    assert again.iloc[0][["best_loss", "source"]].tolist() == [0.2, "frozen"]


def test_robustness_spread_and_tail():
    trials = table([("A", "random", "all", s, "optimizer", loss, 1.0, None)
                    for s, loss in enumerate([0.1, 0.2, 0.3, 0.4])])
    r = robustness_table(trials).iloc[0]
    assert r["mean"] == pytest.approx(0.25) and r["std"] == pytest.approx(np.std([0.1, 0.2, 0.3, 0.4], ddof=1))
    assert r["iqr"] == pytest.approx(0.15) and r["worst"] == 0.4 and r["cvar10"] == 0.4
    assert cvar(np.arange(1, 21), 0.1) == pytest.approx(19.5)  # the worst 2 of 20


def test_probability_of_beating():
    rows = [("T1", "a", "all", 0, "optimizer", 0.1, 1.0, None), ("T1", "a", "all", 1, "optimizer", 0.3, 1.0, None),
            ("T1", "b", "all", 0, "optimizer", 0.2, 1.0, None), ("T1", "b", "all", 1, "optimizer", 0.2, 1.0, None),
            ("T2", "a", "all", 0, "optimizer", 0.1, 1.0, None), ("T2", "b", "all", 0, "optimizer", 0.3, 1.0, None),
            ("T2", "b", "all", 1, "optimizer", 0.2, 1.0, None)]
    p = beat_probabilities(table(rows)).set_index(["optimizer", "versus"])["p_beats"]
    assert p[("a", "b")] == pytest.approx((0.5 + 1.0) / 2)
    assert p[("b", "a")] == pytest.approx((0.5 + 0.0) / 2)


def test_holm_and_nemenyi():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert nemenyi_cd(3, 10) == pytest.approx(2.343 * math.sqrt(12 / 60), abs=1e-3)  # q_0.05 = 2.343 (Demsar)


def test_ranks_over_budget_and_wilcoxon():
    rows = []
    for seed in range(6):
        for optimizer, losses in (("a", [0.5, 0.1]), ("b", [0.4, 0.2 + seed / 100]), ("c", [0.4, 0.3])):
            rows += [("T", optimizer, "all", seed, "optimizer", loss, 1.0, None) for loss in losses]
    trials = table(rows)
    ranks = rank_traces(incumbent_traces(trials)).set_index(["optimizer", "budget_evals"])["mean_rank"]
    assert ranks[("a", 1)] == 3.0 and ranks[("b", 1)] == 1.5 and ranks[("c", 1)] == 1.5  # tie shares 1.5
    assert ranks[("a", 2)] == 1.0 and ranks[("b", 2)] == 2.0 and ranks[("c", 2)] == 3.0
    tests = statistical_tests(trials)
    pair = tests[(tests.test == "wilcoxon") & (tests.a == "a") & (tests.b == "b")].iloc[0]
    assert pair["p_value"] == pytest.approx(2 / 64)  # exact two-sided, a better in all 6 blocks
    friedman = tests[tests.test == "friedman"].iloc[0]
    assert friedman["statistic"] == pytest.approx(12.0)  # ranks 1, 2, 3 in every block: 6 * (3-1) = 12
    assert friedman["critical_difference"] == pytest.approx(nemenyi_cd(3, 6))


def test_analyze_says_what_it_left_out():
    trials = table([("A", "random", "all", 0, "optimizer", 0.2, 1.0, {"x": 1})])
    tables, skipped = analyze(Study(trials, pd.DataFrame(columns=["task", "n_features"]), {}))
    assert "best_found" in tables and "traces" in tables
    assert "include_default" in skipped["tunability"]
    assert "pair" in skipped["tunability_pairs"]
    assert "fewer than two optimizers" in skipped["ranks"]


def _xgboost_trials(loss_of, n=40):
    """Fully tuned random-search trials of xgboost on one task, with losses given by `loss_of(config)`."""
    from hpo_bench.models import get_model

    space = get_model("xgboost").space
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(n)]
    trials = table([("A", "random", "all", 0, "optimizer", loss_of(c), 1.0, c) for c in configs])
    trials["model"] = "xgboost"
    return trials, space


def test_importance_goes_to_the_only_parameter_that_moves_the_loss():
    from hpo_bench.analysis.importance import importance_table

    # The loss is a function of learning_rate alone, so all of its variance is its: importance 1 for it, 0 for
    # the rest (up to the forests' noise in fANOVA; PED-ANOVA compares the top quantile's density with the
    # whole, and only learning_rate's differs).
    trials, space = _xgboost_trials(lambda c: math.log(c["learning_rate"]) ** 2 / 100)
    imp = importance_table(trials, {"xgboost": space}).set_index("parameter")
    assert set(imp.index) == set(space.names)
    assert imp.loc["learning_rate", "fanova"] > 0.8
    assert imp.loc["learning_rate", "ped_anova"] == imp["ped_anova"].max()
    assert imp["fanova"].sum() == pytest.approx(1.0)


def test_importance_with_equal_losses_is_left_out_with_the_reason():
    from hpo_bench.analysis.importance import importance_table
    from hpo_bench.analysis.not_applicable import NotApplicable

    trials, space = _xgboost_trials(lambda c: 0.25)  # e.g. a model that ignores its hyperparameters
    with pytest.raises(NotApplicable, match="same loss for every configuration"):
        importance_table(trials, {"xgboost": space})


def test_a_gain_of_rounding_size_is_no_gain_and_leaves_relative_tunability_undefined():
    # A: the best loss differs from the default's only in the last bit (0.1 + 0.2 vs 0.3): d_A = 0, so
    # d_x / d_A is undefined, not 1e14. B: d = 0.20, d_x = 0.10, relative 0.5.
    trials = table(run("A", "all", 0.1 + 0.2, 0.3) + run("A", "x", 0.1 + 0.2, 0.28)
                   + run("B", "all", 0.50, 0.30) + run("B", "x", 0.50, 0.40))
    t = tunability_table(trials).set_index("tuned")
    assert t.loc["all", "mean"] == pytest.approx(0.10)  # (0 + 0.20) / 2
    assert t.loc["x", "relative_mean"] == pytest.approx(0.5)
    assert t.loc["x", "relative_n_datasets"] == 1 and t.loc["x", "n_datasets"] == 2


def test_the_default_loss_is_the_default_trials_loss_to_the_last_bit():
    from hpo_bench.analysis.tunability import default_losses

    # Three runs of one (task, seed) share the default trial's loss 0.7; their mean is not 0.7 in floats.
    trials = table(run("A", "all", 0.7, 0.6) + run("A", "x", 0.7, 0.65) + run("A", "y", 0.7, 0.8))
    assert default_losses(trials)["default_loss"].tolist() == [0.7]
    t = tunability_table(trials).set_index("tuned")
    assert t.loc["y", "mean"] == 0.0  # the best of run y is its default trial: no gain at all


def test_tunability_summary_puts_measured_and_surrogate_estimates_in_one_table():
    measured = tunability_table(TUNABILITY)
    surrogate = pd.DataFrame([
        {"model": "m", "reference": ref, "tuned": tuned, "mean": mean, "median": mean, "std": 0.0, "ci_low": mean,
         "ci_high": mean, "relative_mean": mean / 0.2, "relative_n_datasets": 2, "n_datasets": 2}
        for ref in ("package", "optimal", "optimal_cv") for tuned, mean in (("x", 0.05), ("all", 0.2))])
    t = tunability_summary(measured, surrogate, TUNABILITY)
    blocks = list(dict.fromkeys(zip(t["against"], t["estimate"], strict=True)))
    assert blocks == [("package default", "measured (random)"), ("package default", "surrogate"),
                      ("optimal default", "surrogate")]  # optimal_cv stays in surrogate_tunability
    assert list(t[t["estimate"] == "surrogate"]["hyperparameter"]) == ["all", "x"] * 2
    row = t[(t["estimate"] == "measured (random)") & (t["hyperparameter"] == "x")].iloc[0]
    assert row["mean"] == pytest.approx(0.06) and row["relative_mean"] == pytest.approx(0.35)
    assert (row["n_datasets"], row["n_seeds"], row["relative_n_datasets"]) == (2, 1, 2)
    assert (t[t["estimate"] == "surrogate"]["n_seeds"] == 1).all()
    with pytest.raises(NotApplicable):
        tunability_summary(None, None, TUNABILITY)


def test_tuning_space_counts_a_symbolic_default_as_the_number_it_stands_for():
    """random forest's max_features = "sqrt" is sqrt(p) / p of its dataset's p features, not a category."""
    rows = []
    for task, best in (("A", "sqrt"), ("B", 0.5), ("C", 0.9)):
        rows += [(task, "random", "all", 0, "optimizer", 0.1, 1.0, {"max_features": best, "bootstrap": True}),
                 (task, "random", "all", 0, "optimizer", 0.5, 1.0, {"max_features": 0.01, "bootstrap": False})]
    trials = table(rows).assign(model="random_forest")
    tasks = pd.DataFrame({"task": ["A", "B", "C"], "n_features": [16, 30, 30]})
    space = tuning_space(trials, tasks).set_index("parameter")
    assert space.loc["max_features", "low"] == pytest.approx(np.quantile([0.25, 0.5, 0.9], 0.05))
    assert space.loc["max_features", "high"] == pytest.approx(np.quantile([0.25, 0.5, 0.9], 0.95))
    assert pd.isna(space.loc["max_features", "most_frequent"])


def test_against_probst2019_ranks_agree_when_the_gains_follow_the_paper():
    """Gains ordered like the paper's ranger AUC Tun.P give rho = 1; reversed, rho = -1."""
    from hpo_bench.analysis.probst2019 import FAMILIES, probst_tables, published

    family, names = FAMILIES["random_forest"]
    paper = published("hyperparameters").query("measure == 'auc' and family == @family").set_index("hyperparameter")
    for sign in (1, -1):
        rows = []
        for task, scale in (("A", 1.0), ("B", 2.0), ("C", 3.0), ("D", 4.0), ("E", 5.0)):
            for tuned in ["all", *names]:
                gain = 0.05 * scale if tuned == "all" else scale * (0.01 + sign * paper.loc[names[tuned], "tun_p_mean"])
                rows += run(task, tuned, 0.5, 0.5 - gain)
        trials = table(rows).assign(model="random_forest")
        tables = probst_tables(trials, None, "1-auc")
        agreement = tables["probst2019_agreement"].iloc[0]
        assert agreement["spearman_rho"] == pytest.approx(sign * 1.0)
        assert agreement["rho_ci_low"] == pytest.approx(sign * 1.0) and agreement["n_hyperparameters"] == 5
        assert agreement["paper_all"] == 0.0103 and agreement["ours_all"] == pytest.approx(0.15)
        per = tables["probst2019_hyperparameters"].set_index("paper_name")
        assert per.loc["mtry", "hyperparameter"] == "max_features" and per.loc["mtry", "paper_mean"] == 0.0056
        assert pd.isna(per.loc["respect.unordered.factors", "ours_mean"])  # no counterpart here
    with pytest.raises(NotApplicable, match="logloss"):
        probst_tables(trials, None, "logloss")
    # outside a Probst-style study: 3 datasets, or no per-hyperparameter tunability
    with pytest.raises(NotApplicable, match="not a Probst-style study: 3 datasets < 5"):
        probst_tables(trials[trials["task"].isin(["A", "B", "C"])], None, "1-auc")
    with pytest.raises(NotApplicable, match="no run tuned one hyperparameter at a time"):
        probst_tables(trials[trials["tuned"] == "all"], None, "1-auc")


def test_importance_of_a_large_group_is_a_seeded_sample_and_says_how_many_of_how_many(monkeypatch):
    import hpo_bench.analysis.importance as importance

    monkeypatch.setattr(importance, "MAX_TRIALS", 25)
    trials, space = _xgboost_trials(lambda c: math.log(c["learning_rate"]) ** 2 / 100)
    first = importance.importance_table(trials, {"xgboost": space}, seed=3)
    assert (first["n_trials"] == 25).all() and (first["n_available"] == 40).all()
    pd.testing.assert_frame_equal(first, importance.importance_table(trials, {"xgboost": space}, seed=3))
    other = importance.importance_table(trials, {"xgboost": space}, seed=4)
    assert not np.allclose(first["ped_anova"], other["ped_anova"])  # another seed, another sample


def test_a_study_of_some_models_holds_only_their_runs(tmp_path):
    """`load_study(..., models)` (a report's --models while other families still run) keeps those models'
    runs too, so the report's summary states their budgets only (it said "31/201/501" for 31/501)."""
    from synthetic_store import alpha_loss, neighbours_loss, write_store

    from hpo_bench.analysis import load_study

    path = write_store(tmp_path / "two.sqlite", "two", {"knn": neighbours_loss, "elastic_net": alpha_loss},
                       {"T0": 0.0}, {"random": "random"}, budget=3)
    study = load_study(path, ["knn"])
    assert set(study.runs["model"]) == {"knn"} and set(study.trials["model"]) == {"knn"}
    assert study.left_out == ("elastic_net",)
    assert set(load_study(path).runs["model"]) == {"knn", "elastic_net"}
