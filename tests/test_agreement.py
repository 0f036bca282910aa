"""The agreement of a surrogate benchmark with the real one: real stores whose losses are known functions
(tests/synthetic_store.py), the "surrogate" ones with tasks named surrogate:x/<task>."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from synthetic_store import neighbours_loss, write_store

from hpo_bench.analysis import load_study
from hpo_bench.analysis.agreement import agreement_tables
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.cli import main
from hpo_bench.tasks import real_task

TASKS = {"T0": 0.0, "T1": 0.05}
OPTIMIZERS = {"random": "random", "tpe": "tpe", "sobol": "sobol"}
# Added to every loss of a run: the optimizers' order is known (random best, sobol worst) whatever they found.
ORDER = {"random": 0.0, "tpe": 0.1, "sobol": 0.2}


def perturbed_loss(config: dict, offset: float) -> float:
    """The real loss, a little off: what a fair surrogate of it might return."""
    return neighbours_loss(config, offset) * 1.05 + 0.002


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    root = tmp_path_factory.mktemp("agreement")
    common = {"tasks": TASKS, "optimizers": OPTIMIZERS, "budget": 8, "seeds": 2, "include_default": False}
    write_store(root / "real.sqlite", "real", {"knn": neighbours_loss}, shift=lambda t, o, s: ORDER[o], **common)
    surrogate = {"task_prefix": "surrogate:x/", **common}
    write_store(root / "same.sqlite", "same", {"knn": neighbours_loss}, shift=lambda t, o, s: ORDER[o], **surrogate)
    write_store(root / "reversed.sqlite", "reversed", {"knn": neighbours_loss},
                shift=lambda t, o, s: 0.2 - ORDER[o], **surrogate)
    write_store(root / "perturbed.sqlite", "perturbed", {"knn": perturbed_loss},
                shift=lambda t, o, s: ORDER[o], **surrogate)
    return root


def _summary(tables: dict[str, pd.DataFrame], statistic: str, task: str = "") -> pd.Series:
    s = tables["agreement_summary"]
    return s[(s["statistic"] == statistic) & (s["task"] == task)].iloc[0]


def test_surrogate_task_names_give_the_real_reference():
    assert real_task("surrogate:optimizer-comparison/openml:data/15") == "openml:data/15"
    assert real_task("surrogate:x/T0") == "T0"
    for plain in ("openml:data/15", "surrogate:", "surrogate:x", "surrogate:/T0", "T0"):
        assert real_task(plain) is None, plain


def test_identical_studies_agree_exactly(stores):
    real = load_study(stores / "real.sqlite")
    tables = agreement_tables(real, load_study(stores / "same.sqlite"))
    ranks = tables["agreement_ranks"].set_index("optimizer")
    np.testing.assert_array_equal(ranks["mean_rank_real"], ranks["mean_rank_surrogate"])
    assert ranks["rank_real"].to_dict() == {"random": 1.0, "tpe": 2.0, "sobol": 3.0}
    assert (ranks["n_blocks_real"] == 4).all() and (ranks["n_blocks_surrogate"] == 4).all()  # 2 tasks x 2 seeds
    assert set(ranks["metric"]) == {"1-auc"}
    overall = _summary(tables, "kendall_tau_mean_rank")
    assert overall["value"] == pytest.approx(1.0)
    assert (overall["n_optimizers"], overall["n_tasks_real"], overall["n_seeds_surrogate"]) == (3, 2, 2)
    for task in TASKS:  # the per-task rows are under the real task names
        assert _summary(tables, "kendall_tau_mean_rank", task)["value"] == pytest.approx(1.0)
    beats = tables["agreement_beats"]
    assert len(beats) == 6 and (beats["difference"] == 0).all()
    assert _summary(tables, "kendall_tau_p_beats")["value"] == pytest.approx(1.0)
    assert _summary(tables, "mean_abs_diff_p_beats")["value"] == 0
    assert _summary(tables, "same_winner_share")["value"] == 1


def test_a_reversed_order_gives_tau_minus_one(stores):
    tables = agreement_tables(load_study(stores / "real.sqlite"), load_study(stores / "reversed.sqlite"))
    ranks = tables["agreement_ranks"].set_index("optimizer")
    assert ranks["rank_surrogate"].to_dict() == {"random": 3.0, "tpe": 2.0, "sobol": 1.0}
    assert _summary(tables, "kendall_tau_mean_rank")["value"] == pytest.approx(-1.0)
    assert _summary(tables, "kendall_tau_mean_rank", "T1")["value"] == pytest.approx(-1.0)
    assert _summary(tables, "same_winner_share")["value"] == 0
    # random always beats sobol on the real tasks and always loses to it on the surrogates
    pair = tables["agreement_beats"].set_index(["optimizer", "versus"]).loc[("random", "sobol")]
    assert (pair["p_beats_real"], pair["p_beats_surrogate"], pair["difference"]) == (1.0, 0.0, -1.0)


def test_p_beats_matches_a_hand_computation(tmp_path):
    """Two optimizers, two tasks, two seeds; every run's best loss is the shift (the loss is 0 everywhere)."""
    real = {("T0", "a"): [0.1, 0.3], ("T0", "b"): [0.2, 0.2], ("T1", "a"): [0.1, 0.1], ("T1", "b"): [0.1, 0.4]}
    sur = {("T0", "a"): [0.1, 0.1], ("T0", "b"): [0.2, 0.2], ("T1", "a"): [0.3, 0.3], ("T1", "b"): [0.1, 0.2]}
    common = {"tasks": {"T0": 0.0, "T1": 0.0}, "optimizers": {"a": "random", "b": "random"}, "budget": 2,
              "seeds": 2, "include_default": False}
    flat = {"knn": lambda config, offset: 0.0}
    write_store(tmp_path / "r.sqlite", "r", flat, shift=lambda t, o, s: real[t, o][s], **common)
    write_store(tmp_path / "s.sqlite", "s", flat, shift=lambda t, o, s: sur[t, o][s], task_prefix="surrogate:x/",
                **common)
    tables = agreement_tables(load_study(tmp_path / "r.sqlite"), load_study(tmp_path / "s.sqlite"))
    beats = tables["agreement_beats"].set_index(["optimizer", "versus"])
    # Real, a against b: T0 pairs (.1<.2, .1<.2, .3>.2, .3>.2) = 2/4; T1 (.1=.1 half, .1<.4, half, .1<.4) = 3/4.
    assert beats.loc[("a", "b"), "p_beats_real"] == pytest.approx((0.5 + 0.75) / 2)
    assert beats.loc[("b", "a"), "p_beats_real"] == pytest.approx(1 - 0.625)
    # Surrogate: T0 a wins all four, T1 none.
    assert beats.loc[("a", "b"), "p_beats_surrogate"] == pytest.approx(0.5)
    assert beats.loc[("a", "b"), "difference"] == pytest.approx(-0.125)
    assert (beats["n_tasks_real"] == 2).all()
    # Ranks per block, real: T0 (1, 2), (2, 1); T1 (1.5, 1.5), (1, 2) -> a 5.5/4; surrogate: a 1, 1, 2, 2.
    ranks = tables["agreement_ranks"].set_index("optimizer")
    assert ranks.loc["a", "mean_rank_real"] == pytest.approx(1.375)
    assert ranks.loc["a", "mean_rank_surrogate"] == ranks.loc["b", "mean_rank_surrogate"] == 1.5
    # The surrogate ranks both alike: no order to compare, so tau is undefined rather than made up.
    assert math.isnan(_summary(tables, "kendall_tau_mean_rank")["value"])
    assert _summary(tables, "mean_abs_diff_p_beats")["value"] == pytest.approx(0.125)
    assert _summary(tables, "same_winner_share")["value"] == 0  # a favoured on the real tasks, a tie on the surrogates


def test_studies_that_cannot_be_compared_say_why(stores, tmp_path):
    real = load_study(stores / "real.sqlite")
    with pytest.raises(NotApplicable, match="not all surrogate tasks .* T0, T1"):
        agreement_tables(real, real)
    write_store(tmp_path / "other.sqlite", "other", {"knn": neighbours_loss}, {"U0": 0.0}, OPTIMIZERS, budget=4,
                include_default=False, task_prefix="surrogate:x/")
    with pytest.raises(NotApplicable, match="no fully tuned .* in common.*tasks T0, T1.*stand for U0"):
        agreement_tables(real, load_study(tmp_path / "other.sqlite"))


def test_report_against_the_real_store_has_the_section(stores, tmp_path):
    assert main(["report", str(stores / "perturbed.sqlite"), "--against", str(stores / "real.sqlite"),
                 "--reports-dir", str(tmp_path / "with")]) == 0
    assert main(["report", str(stores / "perturbed.sqlite"), "--reports-dir", str(tmp_path / "without")]) == 0
    out = tmp_path / "with" / "perturbed"
    expected = agreement_tables(load_study(stores / "real.sqlite"), load_study(stores / "perturbed.sqlite"))
    for name, table in expected.items():
        written = pd.read_csv(out / f"{name}.csv")
        if "task" in written:  # the rows over all tasks have none (an empty field)
            written["task"] = written["task"].fillna("")
        assert list(written.columns) == list(table.columns)
        pd.testing.assert_frame_equal(written, table, check_dtype=False, rtol=1e-5)
        assert (out / "tables" / f"{name}.md").exists() and (out / "tables" / f"{name}.tex").exists()
    # The order is in the shift, which the perturbation does not touch: the surrogates rank as the real tasks.
    assert _summary(expected, "kendall_tau_mean_rank")["value"] == pytest.approx(1.0)
    assert (out / "figures" / "agreement.png").stat().st_size > 1000
    md = (out / "index.md").read_text()
    start = md.index("## Agreement with the real benchmark")
    end = md.index("\n## ", start) + 1  # the next section
    section = md[start:end]
    assert "figures/agreement.png" in section and "validation 1-auc" in section and "(the study real)" in section
    assert section.count("| optimizer | mean_rank_real |") == 1 and "| kendall_tau_mean_rank |" in section
    assert md.count("figures/agreement.png") == 1  # in its section, not again among the figures
    html = (out / "index.html").read_text()
    assert len(re.findall(r"<h2[^>]*>Agreement with the real benchmark</h2>", html)) == 1 and html.count("<table") >= 3
    # Without --against nothing else changes: the report is the one with the section and its lines in the
    # contents taken out.
    without = (tmp_path / "without" / "perturbed" / "index.md").read_text()
    contents = md[:start].splitlines(keepends=True)
    agreement_entry = contents.index("- [Agreement with the real benchmark](#agreement-with-the-real-benchmark)\n")
    del contents[agreement_entry:agreement_entry + 4]  # the section and its three tables
    assert "".join(contents) + md[end:] == without
    assert not (tmp_path / "without" / "perturbed" / "agreement_ranks.csv").exists()


@pytest.mark.parametrize("kind", ["missing", "not a store", "not surrogate tasks"])
def test_a_bad_against_exits_2_with_one_line(stores, tmp_path, capsys, kind):
    target, against = stores / "perturbed.sqlite", tmp_path / "nowhere.sqlite"
    if kind == "not a store":
        against = tmp_path / "notes.txt"
        against.write_text("not a store\n")
    elif kind == "not surrogate tasks":  # the real store reported against the surrogate one: the wrong way round
        target, against = stores / "real.sqlite", stores / "same.sqlite"
    capsys.readouterr()
    assert main(["report", str(target), "--against", str(against), "--reports-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("hpo-bench: error: "), err
    assert str(against) in err
    if kind != "not surrogate tasks":
        assert "--against" in err and (".sqlite" in err or "store" in err)
    else:
        assert "surrogate:NAME/TASKREF" in err
    assert not (tmp_path / "r").exists()  # refused before any report was made


def test_unfinished_runs_are_left_out_on_both_sides(stores, tmp_path):
    # A study stopped part-way: the best of a run's first trials is not its result, so its runs do not count.
    import shutil
    import sqlite3

    shutil.copy(stores / "real.sqlite", tmp_path / "real.sqlite")
    with sqlite3.connect(tmp_path / "real.sqlite") as db:
        db.execute("UPDATE runs SET status = 'pending' WHERE seed = 1")
    tables = agreement_tables(load_study(tmp_path / "real.sqlite"), load_study(stores / "same.sqlite"))
    ranks = tables["agreement_ranks"]
    assert (ranks["n_blocks_real"] == 2).all() and (ranks["n_blocks_surrogate"] == 4).all()
