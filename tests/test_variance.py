"""Variance decomposition over crossed seed factors, on data whose components are known."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.variance import COLUMNS, METHOD, variance_decomposition, variance_summary

FACTORS = ["split_rep", "model_rep", "optimizer_rep"]


def design(levels: tuple[int, int, int], loss, task: str = "t", optimizer: str = "o") -> pd.DataFrame:
    """One row per combination of split_rep x model_rep x optimizer_rep; loss(s, m, o) gives best_loss."""
    rows = [{"task": task, "model": "m", "optimizer": optimizer, "tuned": "all", "split_rep": s, "model_rep": m,
             "optimizer_rep": o, "best_loss": loss(s, m, o)}
            for s, m, o in itertools.product(*(range(k) for k in levels))]
    return pd.DataFrame(rows)


def component(table: pd.DataFrame, name: str, **cell) -> pd.Series:
    rows = table[table["component"] == name]
    for key, val in cell.items():
        rows = rows[rows[key] == val]
    assert len(rows) == 1
    return rows.iloc[0]


def reference(y: np.ndarray) -> dict[str, float]:
    """Method-of-moments components of a full a x b x c array, written out with axis means."""
    a, b, c = y.shape
    m = y.mean()
    ea, eb, ec = y.mean(axis=(1, 2)) - m, y.mean(axis=(0, 2)) - m, y.mean(axis=(0, 1)) - m
    ms_a, ms_b, ms_c = b * c * (ea**2).sum() / (a - 1), a * c * (eb**2).sum() / (b - 1), a * b * (ec**2).sum() / (c - 1)
    resid = y - m - ea[:, None, None] - eb[None, :, None] - ec[None, None, :]
    ms_e = (resid**2).sum() / (a * b * c - 1 - (a - 1) - (b - 1) - (c - 1))
    return {"split": (ms_a - ms_e) / (b * c), "model seed": (ms_b - ms_e) / (a * c),
            "optimizer seed": (ms_c - ms_e) / (a * b), "residual": ms_e}


def test_known_components_are_recovered():
    # 8 x 8 x 8 runs in each of R independent cells (tasks), effects drawn with known standard deviations.
    k, n_cells = 8, 60
    sd = {"split": 0.03, "model seed": 0.01, "optimizer seed": 0.02, "residual": 0.005}
    rng = np.random.default_rng(20210404)
    frames, arrays = [], []
    for r in range(n_cells):
        s, m, o = (rng.normal(0, sd[name], k) for name in ("split", "model seed", "optimizer seed"))
        y = 0.2 + s[:, None, None] + m[None, :, None] + o[None, None, :] + rng.normal(0, sd["residual"], (k, k, k))
        arrays.append(y)
        frames.append(design((k, k, k), lambda i, j, c, y=y: y[i, j, c], task=f"t{r}"))
    per_run = pd.concat(frames).sample(frac=1.0, random_state=1)  # row order must not matter
    table = variance_decomposition(per_run)
    assert list(table.columns) == COLUMNS
    assert len(table) == 4 * n_cells
    assert (table["n_runs"] == k**3).all() and (table["method"] == METHOD).all()

    # Each cell matches the array formula exactly.
    for r in (0, n_cells - 1):
        for name, expected in reference(arrays[r]).items():
            assert component(table, name, task=f"t{r}")["variance_raw"] == pytest.approx(expected, rel=1e-9)

    # Sampling error of one cell's estimate: MS_F ~ (bc s2_F + s2_E) chi2_{df_F} / df_F and MS_E ~ s2_E
    # chi2_{df_E} / df_E, independent, so Var(s2_F hat) = 2 [(bc s2_F + s2_E)^2 / df_F + s2_E^2 / df_E] / (bc)^2.
    # With 8 levels that is about 53% of s2_F per cell, so one cell cannot tell 0.03^2 from 0.02^2; the mean
    # over R cells has sqrt(R) times less error.
    df_f, df_e, bc = k - 1, k**3 - 1 - 3 * (k - 1), k * k
    s2e = sd["residual"] ** 2
    true = {name: s**2 for name, s in sd.items()}
    se = {name: np.sqrt(2 * ((bc * true[name] + s2e) ** 2 / df_f + s2e**2 / df_e)) / bc / np.sqrt(n_cells)
          for name in ("split", "model seed", "optimizer seed")}
    se["residual"] = s2e * np.sqrt(2 / df_e) / np.sqrt(n_cells)
    for name in true:
        mean = table.loc[table["component"] == name, "variance_raw"].mean()  # raw: clipping would bias the mean
        assert abs(mean - true[name]) < 3 * se[name], (name, mean, true[name], se[name])
    # The check discriminates: swapping split and optimizer seed would put each far outside 3 SE.
    assert abs(true["split"] - true["optimizer seed"]) > 3 * (se["split"] + se["optimizer seed"])

    assert (table["n_levels"][table["component"] != "residual"] == k).all()
    assert (table["n_levels"][table["component"] == "residual"] == df_e).all()
    assert table.groupby("task")["share"].sum().to_numpy() == pytest.approx(np.ones(n_cells))
    assert np.allclose(table["std"], np.sqrt(table["variance"]))


def test_loss_depending_on_split_only_is_all_split():
    values = [0.1, 0.2, 0.4]
    table = variance_decomposition(design((3, 3, 3), lambda s, m, o: values[s]))
    split = component(table, "split")
    # MS_split = 9 * sum((v - mean)^2) / 2 and MS_E = 0, so s2_split = MS_split / 9 = var(values, ddof=1).
    assert split["variance"] == pytest.approx(np.var(values, ddof=1), rel=1e-12)
    assert split["share"] == pytest.approx(1.0)
    assert split["std"] == pytest.approx(np.std(values, ddof=1))
    for name in ("model seed", "optimizer seed", "residual"):
        row = component(table, name)
        assert abs(row["variance"]) < 1e-12 and abs(row["share"]) < 1e-12
    assert component(table, "residual")["n_levels"] == 27 - 1 - 3 * 2


def test_only_optimizer_seed_varies_is_one_way():
    values = [0.31, 0.27, 0.35, 0.29, 0.30]
    table = variance_decomposition(design((1, 1, 5), lambda s, m, o: values[o]))
    assert np.isnan(component(table, "split")["variance"]) and np.isnan(component(table, "model seed")["variance"])
    assert component(table, "split")["n_levels"] == 1 and component(table, "model seed")["n_levels"] == 1
    opt = component(table, "optimizer seed")
    # No replication: df_E = 0, so the residual is not estimable and the factor's variance is MS itself.
    assert opt["variance"] == pytest.approx(np.var(values, ddof=1)) and opt["share"] == pytest.approx(1.0)
    assert opt["n_levels"] == 5 and opt["n_runs"] == 5
    residual = component(table, "residual")
    assert np.isnan(residual["variance"]) and residual["n_levels"] == 0


def test_two_factors_and_negative_estimates():
    # split x optimizer seed (model seed fixed): df_E = (a-1)(c-1); an optimizer effect smaller than the noise
    # gives a negative raw estimate, clipped to 0.
    rng = np.random.default_rng(3)
    y = rng.normal(0, 0.01, (4, 1, 6)) + np.array([0.0, 0.05, 0.1, 0.02])[:, None, None]
    y[:, :, :] -= y.mean(axis=(0, 1))[None, None, :] - 0.5  # optimizer means all equal: MS_opt = 0
    table = variance_decomposition(design((4, 1, 6), lambda s, m, o: y[s, m, o]))
    residual = component(table, "residual")
    assert residual["n_levels"] == 3 * 5
    opt = component(table, "optimizer seed")
    assert opt["variance_raw"] == pytest.approx(-residual["variance"] / 4) and opt["variance"] == 0.0
    assert opt["share"] == 0.0
    assert np.isnan(component(table, "model seed")["variance"])
    split = component(table, "split")
    assert split["share"] == pytest.approx(split["variance"] / (split["variance"] + residual["variance"]))


def test_nan_and_incomplete_cells_are_left_out():
    complete = design((2, 2, 2), lambda s, m, o: 0.1 * s + 0.01 * o, task="a")
    holed = design((2, 2, 2), lambda s, m, o: 0.1 * s, task="b")
    holed.loc[3, "best_loss"] = np.nan  # one combination without a result: no longer a full factorial
    duplicated = pd.concat([design((2, 1, 1), lambda s, m, o: 0.1 * s, task="c")] * 2)
    table = variance_decomposition(pd.concat([complete, holed, duplicated]))
    assert set(table["task"]) == {"a"}
    with pytest.raises(NotApplicable, match="complete balanced factorial"):
        variance_decomposition(pd.concat([holed, duplicated]))


def test_no_varied_factor_raises():
    per_run = pd.concat([design((1, 1, 1), lambda s, m, o: 0.2, task=t) for t in ("a", "b")])
    with pytest.raises(NotApplicable, match='seed_design = "crossed"'):
        variance_decomposition(per_run)
    with pytest.raises(NotApplicable, match='seed_design = "crossed"'):
        variance_decomposition(per_run.drop(columns="split_rep"))


def test_cells_are_independent_and_summary_averages_over_tasks():
    losses = {("t1", "o1"): lambda s, m, o: [0.1, 0.3][s],
              ("t1", "o2"): lambda s, m, o: [0.2, 0.25, 0.4][o],
              ("t2", "o1"): lambda s, m, o: [0.5, 0.1][m],
              ("t2", "o2"): lambda s, m, o: [0.1, 0.3][s] + [0.0, 0.1, 0.2][o]}
    cells = {key: design((2, 2, 3), f, task=key[0], optimizer=key[1]) for key, f in losses.items()}
    table = variance_decomposition(pd.concat(cells.values()))
    assert len(table) == 16
    for (task, optimizer), frame in cells.items():
        alone = variance_decomposition(frame)
        mine = table[(table["task"] == task) & (table["optimizer"] == optimizer)].reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, alone)
    assert component(table, "split", task="t1", optimizer="o1")["share"] == pytest.approx(1.0)
    assert component(table, "optimizer seed", task="t1", optimizer="o2")["share"] == pytest.approx(1.0)
    assert component(table, "model seed", task="t2", optimizer="o1")["share"] == pytest.approx(1.0)
    # Additive split + optimizer effects: s2_split = var([0.1, 0.3]) = 0.02, s2_opt = var([0, .1, .2]) = 0.01.
    assert component(table, "split", task="t2", optimizer="o2")["share"] == pytest.approx(2 / 3)
    assert component(table, "optimizer seed", task="t2", optimizer="o2")["variance"] == pytest.approx(0.01)

    summary = variance_summary(table)
    assert list(summary.columns) == ["model", "optimizer", "tuned", "component", "mean_share", "mean_std", "n_tasks"]
    assert len(summary) == 8
    assert list(summary["component"][:4]) == ["split", "model seed", "optimizer seed", "residual"]
    row = summary[(summary["optimizer"] == "o2") & (summary["component"] == "split")].iloc[0]
    assert row["mean_share"] == pytest.approx((0.0 + 2 / 3) / 2)
    assert row["mean_std"] == pytest.approx((0.0 + np.sqrt(0.02)) / 2, abs=1e-9)
    assert row["n_tasks"] == 2
    row = summary[(summary["optimizer"] == "o1") & (summary["component"] == "model seed")].iloc[0]
    assert row["mean_share"] == pytest.approx(0.5)
