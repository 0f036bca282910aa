"""The contract every registered optimizer keeps (hpo_bench.testing), and what is particular to some of them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wilcoxon

from hpo_bench.errors import ExperimentError, OptimizerExhausted, StoreError
from hpo_bench.models import MODELS
from hpo_bench.optimizers import OPTIMIZERS, get_optimizer
from hpo_bench.testing import check_optimizer, drive, toy_result
from hpo_bench.trial import TrialResult, TrialState

SPACE = MODELS["xgboost"].space  # int, log, categorical and conditional parameters
N_ASKS = 16
# Shorter start-up phases than the defaults, so that a short test reaches every model's own phase.
FAST = {"gp": {"n_initial": 5}, "tpe": {"n_startup": 5}, "optuna-tpe": {"n_startup_trials": 5},
        "optuna-gp": {"n_startup_trials": 5}, "hyperopt-tpe": {"n_startup_jobs": 5},
        # SMAC's initial design is at most n_trials / 4 (4 of 16) for smac-hpo and smac-bb already; smac-hb's
        # n_trials is SMAC's count of Hyperband trials in the budget (78 for 16 evaluations, so 19 initial).
        "smac-hb": {"n_configs": 5}, "ray-optuna": {"n_startup_trials": 5}, "ray-hyperopt": {"n_initial_points": 5}}
CASES = [(name, FAST.get(name, {})) for name in sorted(OPTIMIZERS)] + [("tpe", {"n_startup": 5, "multivariate": True})]


@pytest.fixture
def one_blas_thread():
    """SMAC's black-box facade fits a Gaussian process with numpy at every ask: with OpenBLAS's own threads on 2
    cores shared with other work, smac-bb's contract checks took 242 s (user 245 s) where one thread took 63 s,
    measured back to back. One BLAS thread in this process for the test, so for both sides of any comparison."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


def make(name: str, seed: int, budget: float = N_ASKS, **options):
    try:
        return get_optimizer(name)(SPACE, seed=seed, budget_evals=budget, **options)
    except ExperimentError as exc:
        if "needs the package" in str(exc):  # an optional library (torch for optuna-gp) is not installed
            pytest.skip(str(exc))
        raise


# SMAC's facades fit their own random forest (smac-hpo) or Gaussian process (smac-bb) at every ask: their runs of
# the contract checks took 36 s and 68 s on 2 cores, irreducibly (the checks are the plugin authors'), so slow.
SLOW_CASES = {"smac-bb", "smac-hpo"}


@pytest.mark.parametrize("name, options", [
    pytest.param(n, o, marks=[pytest.mark.slow] if n in SLOW_CASES else [],
                 id=f"{n}{'-mv' if o.get('multivariate') else ''}") for n, o in CASES])
def test_contract(name, options, request):
    """hpo_bench.testing's checks, exactly as a plugin's author runs them, on every built-in optimizer."""
    if name.startswith("smac"):
        request.getfixturevalue("one_blas_thread")
    try:
        history = check_optimizer(get_optimizer(name), SPACE, options)
    except ExperimentError as exc:
        if "needs the package" in str(exc):  # an optional library (torch for optuna-gp) is not installed
            pytest.skip(str(exc))
        raise
    assert len(history) >= 8
    if name not in ("grid", "halving", "hyperband"):  # 16 grid points or one bracket may miss a branch
        assert {s.config["booster"] for s, _ in history} == {"gbtree", "gblinear"}, "both branches explored"


# GP slow: 20 seeds x 25 asks, each fitting the GP (23 s on 2 idle cores, 98 s on busy ones); the power below
# says why it keeps 20 seeds. TPE, seconds, stays in the default tier.
@pytest.mark.parametrize("name", [pytest.param("gp", marks=pytest.mark.slow), "tpe"])
def test_model_based_search_beats_random_on_a_smooth_objective(name):
    """With failures and batches aside: the models find lower losses than random draws do, as a paired one-sided
    Wilcoxon test over 20 seeds at the 5% level. Three seeds and their medians were not enough: the GP's path
    follows BLAS rounding, and OpenBLAS's kernel for the CPU changed seed 0's best loss from 0.567 to 0.487
    (OPENBLAS_CORETYPE=SkylakeX), which alone decided a median of three against random search."""
    def best(opt_name, seed, **options):
        history = drive(make(opt_name, seed, budget=25, **options), n_asks=25, fail_every=0)
        return min(r.loss for _, r in history)

    # Power, computed rather than guessed (issue 36), to see whether fewer seeds would do: the 20 paired
    # differences of best losses (ours - random) on this machine, resampled with replacement, n seeds at a time
    # (20,000 draws), under the exact signed-rank null. GP won 15 of 20 (p = 0.0014): power at n = 8, 10, 12,
    # 16, 20 seeds is 0.58, 0.71, 0.79, 0.90, 0.96. TPE won 17 (0.79, 0.88, 0.94, 0.98, 1.00). Below 20 the GP
    # case would fail one BLAS change in ten or more, and TPE's 20 seeds cost seconds: both keep 20.
    seeds = range(20)
    ours = [best(name, seed, **FAST[name]) for seed in seeds]
    rand = [best("random", seed) for seed in seeds]
    assert wilcoxon(ours, rand, alternative="less").pvalue < 0.05, (ours, rand)


def test_grid_covers_the_budget_and_runs_out():
    opt = get_optimizer("grid")(SPACE, seed=0, budget_evals=50)
    assert SPACE.grid_size(opt.n_points_used) >= 50 > SPACE.grid_size(opt.n_points_used - 1)
    small = get_optimizer("grid")(MODELS["random_forest"].space, seed=0, budget_evals=10, n_points=1)
    seen = [small.ask().config for _ in range(len(small.configs))]
    assert len(seen) == 2  # one point per numeric dimension, both bootstrap choices
    with pytest.raises(OptimizerExhausted):
        small.ask()
    # Built when the experiment file is read, so constructing it costs nothing: the grid comes at the first ask.
    big = get_optimizer("grid")(SPACE, seed=0, budget_evals=1_000_000)
    assert "configs" not in big.__dict__ and SPACE.grid_size(big.n_points_used) >= 1_000_000


def test_unknown_or_badly_typed_options_are_refused():
    with pytest.raises(ExperimentError, match=r"unknown option\(s\) \['points'\]"):
        get_optimizer("grid")(SPACE, seed=0, budget_evals=5, points=3)
    with pytest.raises(ExperimentError, match="n_points = 'x' must be int"):
        get_optimizer("grid")(SPACE, seed=0, budget_evals=5, n_points="x")
    with pytest.raises(ExperimentError, match=r"unknown optimizer type 'bayes' \(allowed: gp, grid, halving, "):
        get_optimizer("bayes")
    with pytest.raises(ExperimentError, match="option gamma = 1.5 must be in"):
        get_optimizer("tpe")(SPACE, seed=0, budget_evals=5, gamma=1.5)
    with pytest.raises(ExperimentError, match="option batch_size = 0 must be >= 1"):
        get_optimizer("random")(SPACE, seed=0, budget_evals=5, batch_size=0)


def test_gp_encodes_categoricals_one_hot_and_inactive_outside_the_cube():
    from hpo_bench.optimizers.gp import GPFeatures

    features = GPFeatures(SPACE)
    linear = {"n_estimators": 10, "learning_rate": 0.1, "subsample": 0.5, "booster": "gblinear", "reg_lambda": 1.0,
              "reg_alpha": 1.0}
    row = features.transform(SPACE.encode(linear))[0]
    assert len(row) == len(SPACE) + 1  # booster: two one-hot columns
    booster_cols = [c for c, (i, choice) in enumerate(features.columns) if SPACE.parameters[i].name == "booster"]
    assert row[booster_cols].tolist() == [0.0, 1.0]
    depth_col = next(c for c, (i, _) in enumerate(features.columns) if SPACE.parameters[i].name == "max_depth")
    assert row[depth_col] == -0.5


def test_peers_tell_failures_as_failures():
    optuna = pytest.importorskip("optuna")
    opt = make("optuna-tpe", 0)
    s = opt.ask()
    opt.tell(s, TrialResult.failed("1-auc", "boom"))
    assert opt.study.trials[0].state == optuna.trial.TrialState.FAIL and opt.study.trials[0].value is None
    pytest.importorskip("hyperopt")
    hopt = make("hyperopt-tpe", 0)
    s = hopt.ask()
    hopt.tell(s, TrialResult.failed("1-auc", "boom"))
    assert hopt.trials.trials[0]["result"] == {"status": "fail"}


def test_an_optimizer_that_raises_is_not_replaced():
    """A broken library call surfaces: no adapter catches it and carries on with something else."""
    pytest.importorskip("optuna")
    opt = make("optuna-tpe", 0)
    s = opt.ask()
    with pytest.raises(KeyError):
        opt.tell(s.__class__(s.config, s.fidelity, {"optuna_trial": 99}), TrialResult.failed("1-auc", "boom"))


def test_cli_lists_every_optimizer_with_its_options_and_defaults(capsys):
    from hpo_bench.cli import main

    assert main(["optimizers"]) == 0
    out = capsys.readouterr().out
    for name, cls in OPTIMIZERS.items():
        assert f"\n{name}: {cls.summary}" in "\n" + out
        for key, opt in cls.options.items():
            assert f"    {key} = {opt.default!r} (" in out


# -- through the scheduler: budgets in fidelities, batches, resume ---------------------------------------
def _store_trials(path):
    from hpo_bench.store import Store

    store = Store(path, create=False)
    try:
        trials, runs = store.trials(), store.runs()
    finally:
        store.close()
    columns = ["optimizer", "seed", "trial_number", "source", "config", "fidelity", "state", "loss", "fold_losses",
               "info"]
    return trials[columns].sort_values(columns[:3]).reset_index(drop=True), runs


def _available(name: str) -> bool:
    try:
        get_optimizer(name)(SPACE, seed=0, budget_evals=1)
    except ExperimentError:
        return False
    return True


@pytest.mark.usefixtures("one_blas_thread")  # SMAC's facades ask in this process
def test_every_optimizer_runs_within_its_budget_through_the_scheduler(write_experiment, tmp_path):
    import json

    from hpo_bench.cli import main
    from hpo_bench.space import config_key

    labels = {name: "{}" for name in sorted(OPTIMIZERS) if _available(name)}
    labels.update({"halving": "{ max_resources = 9 }", "hyperband": "{ max_resources = 9 }",
                   "gp": "{ n_initial = 3 }", "tpe": "{ n_startup = 3 }", "optuna-tpe": "{ n_startup_trials = 3 }",
                   "hyperopt-tpe": "{ n_startup_jobs = 3 }"})
    labels = {k: v for k, v in labels.items() if k in OPTIMIZERS and _available(k)}
    exp = write_experiment(models='["optimizer_families:TINY_FOREST"]', budget_evals=6, seeds=1, cv_folds=2,
                           optimizers="\n".join(f'"{k}" = {v}' for k, v in labels.items()))
    assert main(["run", str(exp), "--results-dir", str(tmp_path)]) == 0
    trials, runs = _store_trials(tmp_path / "tiny.sqlite")
    assert (runs.status == "done").all(), runs[runs.status != "done"][["optimizer", "note"]]
    assert sorted(runs.optimizer) == sorted(labels)
    from optimizer_families import TINY_FOREST

    for optimizer, group in trials.groupby("optimizer"):
        assert group.fidelity.sum() <= 6 + 1e-9, optimizer  # the budget, in full-fidelity evaluations
        assert group.trial_number.tolist() == list(range(len(group)))
        for config in group[group.source == "optimizer"].config:
            config = json.loads(config)
            assert config_key(TINY_FOREST.space.validate(config)) == config_key(config)
    halving = trials[(trials.optimizer == "halving") & (trials.source == "optimizer")]
    info = halving["info"].map(json.loads)
    assert sorted(set(halving.fidelity)) == pytest.approx([1 / 9, 3 / 9, 1.0])
    assert {i["rung"] for i in info} == {0, 1, 2} and all("bracket" in i and "candidate" in i for i in info)
    # a rung-1 trial is a promoted rung-0 candidate: the same configuration, at the higher fidelity
    first = halving[info.map(lambda i: i["bracket"] == 0)]
    rung0 = set(first[first.fidelity < 0.2].config)
    assert set(first[(first.fidelity > 0.2) & (first.fidelity < 1)].config) <= rung0


def test_batches_are_deterministic_and_resume_after_losing_trials_in_flight(write_experiment, tmp_path):
    import shutil
    import sqlite3

    from hpo_bench.cli import main

    exp = write_experiment(
        models='["optimizer_families:TINY_FOREST"]', budget_evals=8, seeds=1, cv_folds=2, n_workers=2,
        optimizers='tpe = { batch_size = 3, n_startup = 3 }\ngp = { batch_size = 2, n_initial = 3 }\n'
                   'halving = { batch_size = 9, max_resources = 9 }\nrandom = { batch_size = 4 }')
    for d in ("a", "b"):
        assert main(["run", str(exp), "--results-dir", str(tmp_path / d)]) == 0
    a, _ = _store_trials(tmp_path / "a" / "tiny.sqlite")
    b, _ = _store_trials(tmp_path / "b" / "tiny.sqlite")
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(a, b)  # two workers, batches: the same trials whoever finished first
    assert len(a[a.optimizer == "tpe"]) == 8 and len(a[a.optimizer == "gp"]) == 8

    # As if the driver died with trials in flight: some stored trials vanish (a gap inside the last
    # batch, the default of one run, the tail of others) and the runs are pending again.
    def crash_copy(name: str, lost: dict[str, tuple[int, ...]]):
        crashed = tmp_path / name
        shutil.copytree(tmp_path / "b", crashed)
        with sqlite3.connect(crashed / "tiny.sqlite") as db:
            for optimizer, numbers in lost.items():
                run_id = db.execute("SELECT run_id FROM runs WHERE optimizer = ?", (optimizer,)).fetchone()[0]
                db.executemany("DELETE FROM trials WHERE run_id = ? AND trial_number = ?",
                               [(run_id, n) for n in numbers])
            db.execute("UPDATE runs SET status = 'pending', note = NULL")
        return crashed

    # batches: tpe 1-3, 4-6, 7; gp 1-2, ..., 7; random 1-4, 5-7;
    # halving (budget 8): 1-9, 10-12, 13, 14-22, 23-25, 26, 27-35
    assert a[a.optimizer == "halving"].trial_number.max() == 35
    crashed = crash_copy("crashed", {"tpe": (5, 7), "gp": (6, 7), "halving": (0, 30, 35), "random": (5, 7)})
    assert main(["run", str(exp), "--results-dir", str(crashed)]) == 0
    c, runs = _store_trials(crashed / "tiny.sqlite")
    assert (runs.status == "done").all()
    pd.testing.assert_frame_equal(c, a)

    # A trial missing from a batch that later trials were asked after cannot have been in flight.
    broken = crash_copy("broken", {"halving": (11,)})
    with pytest.raises(StoreError, match=r"trials \[11\] are missing from a batch that later trials depend on"):
        main(["--debug", "run", str(exp), "--results-dir", str(broken)])


def test_optuna_tpe_without_options_asks_what_a_plain_optuna_study_asks():
    """No options: exactly `optuna.create_study(sampler=TPESampler(seed=s))`, the library at its defaults."""
    optuna = pytest.importorskip("optuna")
    from hpo_bench.space import Categorical, Int

    opt = make("optuna-tpe", 7)
    seed = int(np.random.default_rng(7).integers(2**31 - 1))  # the sampler seed the adapter draws from its seed
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    for i in range(30):  # past Optuna's 10 start-up trials, failures included
        trial = study.ask()
        config: dict = {}
        for p in SPACE.parameters:
            if p.condition is not None and not p.condition.holds(config):
                continue
            if isinstance(p, Categorical):
                config[p.name] = trial.suggest_categorical(p.name, list(p.choices))
            elif isinstance(p, Int):
                config[p.name] = trial.suggest_int(p.name, p.low, p.high, log=p.log)
            else:
                config[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        suggestion = opt.ask()
        assert suggestion.config == config, i
        result = toy_result(SPACE, i, suggestion, fail_every=5)
        opt.tell(suggestion, result)
        if result.state == TrialState.COMPLETE:
            study.tell(trial, result.loss)
        else:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    assert opt.study.sampler._multivariate is None  # Optuna's own default, not one we chose


def test_optuna_tpe_options_are_passed_only_when_set():
    pytest.importorskip("optuna")
    univariate = make("optuna-tpe", 0, multivariate=False)
    assert univariate.study.sampler._multivariate is False
    assert make("optuna-tpe", 0).study.sampler._n_startup_trials == 10  # Optuna's default, not ours


# -- SMAC3 (the `smac` extra) -------------------------------------------------------------------------
def _plain_smac(facade_name: str, seed: int, n_trials: int, **scenario):
    """A SMAC facade as SMAC's docs build one for ask/tell, in a temporary directory of its own."""
    import tempfile

    import smac

    from hpo_bench.configspace import to_configspace

    tmp = tempfile.TemporaryDirectory()
    sc = smac.Scenario(to_configspace(SPACE), output_directory=tmp.name, deterministic=True, seed=seed,
                       n_trials=n_trials, **scenario)
    return getattr(smac, facade_name)(sc, None, logging_level=False, overwrite=True), tmp


@pytest.mark.parametrize("name, facade, scenario", [
    pytest.param("smac-hpo", "HyperparameterOptimizationFacade", {}, marks=pytest.mark.slow),  # 21 s: SLOW_CASES
    pytest.param("smac-bb", "BlackBoxFacade", {}, marks=pytest.mark.slow),  # 25 s
    ("smac-hb", "MultiFidelityFacade", {"min_budget": 1, "max_budget": 27})])
@pytest.mark.usefixtures("one_blas_thread")
def test_smac_without_options_asks_what_a_plain_smac_facade_asks(name, facade, scenario):
    """No options: the facade SMAC's docs build (its own model, initial design, intensifier), past the
    initial design, told the same losses."""
    pytest.importorskip("smac")
    from smac.runhistory.dataclasses import TrialValue

    from hpo_bench.configspace import from_configuration

    opt = make(name, 7)
    seed = int(np.random.default_rng(7).integers(2**31 - 1))  # the SMAC seed the adapter draws from its seed
    plain, tmp = _plain_smac(facade, seed, opt.scenario.n_trials, **scenario)
    assert opt.scenario.n_trials == (N_ASKS if name != "smac-hb" else 78)  # smac-hb: SMAC's own conversion
    n = 12 if name == "smac-bb" else 24  # past the initial design of 4 (smac-hb: 19) configurations
    with tmp:
        for i in range(n):
            info = plain.ask()
            suggestion = opt.ask()
            assert suggestion.config == from_configuration(info.config), i
            if name == "smac-hb":
                assert suggestion.fidelity == info.budget / 27
            result = toy_result(SPACE, i, suggestion, fail_every=0)  # plain SMAC 2.4.1 cannot take a crash
            opt.tell(suggestion, result)
            plain.tell(info, TrialValue(cost=result.loss), save=False)
    assert type(opt.facade._initial_design) is type(plain._initial_design)
    assert opt.facade._initial_design._n_configs == plain._initial_design._n_configs


def test_smac_tells_failures_as_crashes_with_smacs_crash_cost_and_writes_nothing(tmp_path, monkeypatch):
    pytest.importorskip("smac")
    from smac.runhistory.dataclasses import TrialValue
    from smac.runhistory.enumerations import StatusType

    monkeypatch.chdir(tmp_path)  # SMAC's default output directory is ./smac3_output
    assert make("smac-hpo", 0, n_configs=2).facade._initial_design._n_configs == 2  # an option is passed
    opt = make("smac-hpo", 0)
    assert not opt.scenario.output_directory.exists()  # the temporary directory is gone once the facade exists
    told = []
    for i in range(8):
        s = opt.ask()
        result = TrialResult.failed("1-auc", "boom") if i in (1, 6) else toy_result(SPACE, i, s, fail_every=0)
        if i == 3:
            result = TrialResult.failed("1-auc", "slow", TrialState.TIMEOUT)
        opt.tell(s, result)
        told.append(result.state)
    values = list(opt.facade.runhistory.values())
    assert [v.status for v in values] == [StatusType.SUCCESS if t == TrialState.COMPLETE else
                                          StatusType.TIMEOUT if t == TrialState.TIMEOUT else StatusType.CRASHED
                                          for t in told]
    assert all(v.cost == opt.scenario.crash_cost == np.inf for v in values if v.status != StatusType.SUCCESS)
    assert list(tmp_path.iterdir()) == [] and not opt.scenario.output_directory.exists()

    # Why the encoder is SMAC's with its upstream rule for non-finite costs (automl/SMAC3 PR #1312): SMAC
    # 2.4.1 itself cannot fit its model after a crash told with its own crash cost. When this stops raising,
    # a SMAC release has the fix: drop hpo_bench.optimizers.smac._finite_crash_costs.
    plain, tmp = _plain_smac("HyperparameterOptimizationFacade", 0, N_ASKS)
    with tmp, pytest.raises(ValueError, match="Input y contains NaN"):
        for i in range(8):
            info = plain.ask()
            plain.tell(info, TrialValue(cost=np.inf, status=StatusType.CRASHED) if i == 1 else TrialValue(cost=1.0 + i),
                       save=False)


def test_smac_hb_asks_smacs_hyperband_budgets_as_fidelities():
    pytest.importorskip("smac")
    opt = make("smac-hb", 0, budget=6)
    history = drive(opt, n_asks=60, fail_every=4)
    assert {round(s.fidelity * 27, 6) for s, _ in history} <= {1, 3, 9, 27}
    assert {s.fidelity for s, _ in history} >= {1 / 27, 3 / 27}
    with pytest.raises(ExperimentError, match="option min_budget = 30 must be in"):
        make("smac-hb", 0, min_budget=30)


@pytest.mark.slow  # SMAC's random forest at every ask, three SMAC runs twice and a resume: 20-47 s
def test_smac_hpo_through_the_scheduler_is_deterministic_and_resumes(write_experiment, tmp_path):
    """Two runs of the same file store the same trials; a run whose last trials were lost in flight resumes
    (replay to a fresh facade) to exactly the trials of the uninterrupted run."""
    import shutil
    import sqlite3

    pytest.importorskip("smac")
    from hpo_bench.cli import main

    exp = write_experiment(models='["optimizer_families:TINY_FOREST"]', budget_evals=7, seeds=1, cv_folds=2,
                           n_workers=2, optimizers='"smac-hpo" = {}\n"smac-hpo-b" = { type = "smac-hpo", '
                                                   'batch_size = 2 }\n"smac-hb" = { max_budget = 9 }')
    for d in ("a", "b"):
        assert main(["run", str(exp), "--results-dir", str(tmp_path / d)]) == 0
    a, runs = _store_trials(tmp_path / "a" / "tiny.sqlite")
    b, _ = _store_trials(tmp_path / "b" / "tiny.sqlite")
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(a, b)
    assert (runs.status == "done").all() and len(a[a.optimizer == "smac-hpo"]) == 7
    hb = a[a.optimizer == "smac-hb"]
    # Hyperband's cheaper trials: more of them than the budget's 7 full evaluations, and no more than 7 in all
    assert len(hb) > 7 and hb.fidelity.min() < 1 and hb.fidelity.sum() <= 7 + 1e-9
    last = int(hb.trial_number.max())
    crashed = tmp_path / "crashed"
    shutil.copytree(tmp_path / "b", crashed)
    with sqlite3.connect(crashed / "tiny.sqlite") as db:
        lost = {"smac-hpo": (5, 6), "smac-hpo-b": (6,), "smac-hb": (last - 2, last - 1, last)}  # the last trials
        for optimizer, numbers in lost.items():
            run_id = db.execute("SELECT run_id FROM runs WHERE optimizer = ?", (optimizer,)).fetchone()[0]
            db.executemany("DELETE FROM trials WHERE run_id = ? AND trial_number = ?", [(run_id, n) for n in numbers])
        db.execute("UPDATE runs SET status = 'pending', note = NULL")
    assert main(["run", str(exp), "--results-dir", str(crashed)]) == 0
    c, runs = _store_trials(crashed / "tiny.sqlite")
    assert (runs.status == "done").all()
    pd.testing.assert_frame_equal(c, a)
    assert not list(tmp_path.glob("**/smac3_output"))


# Run in a fresh process per PYTHONHASHSEED: every registered optimizer, driven with toy results.
_DIGESTS = """
import hashlib, json, sys
from hpo_bench.errors import ExperimentError
from hpo_bench.models import MODELS
from hpo_bench.optimizers import OPTIMIZERS, get_optimizer
from hpo_bench.testing import drive
FAST = json.loads(sys.argv[1])
for name in sorted(OPTIMIZERS):
    try:
        opt = get_optimizer(name)(MODELS["xgboost"].space, seed=3, budget_evals=14, **FAST.get(name, {}))
    except ExperimentError as exc:
        if "needs the package" in str(exc):
            continue
        raise
    history = drive(opt, n_asks=14)
    text = json.dumps([(s.config, s.fidelity) for s, _ in history], sort_keys=True, default=str)
    print(name, hashlib.sha256(text.encode()).hexdigest())
"""


@pytest.mark.slow  # two processes driving every optimizer, SMAC's facades included: 24-120 s
def test_every_optimizer_asks_the_same_in_processes_of_different_hash_seeds():
    """Python salts str hashes per process: an optimizer whose suggestions follow the order of a set (SMAC's
    local search did) asks differently in another process, and a resumed run cannot replay. Each optimizer
    here is driven in two processes with different PYTHONHASHSEED; their suggestions must be identical."""
    import json
    import os
    import subprocess
    import sys

    out = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run([sys.executable, "-c", _DIGESTS, json.dumps(FAST)], capture_output=True, text=True,
                                env=env, timeout=900)
        assert result.returncode == 0, result.stderr[-2000:]
        out.append(dict(line.split() for line in result.stdout.splitlines()))
    assert len(out[0]) >= 10 and out[0].keys() == out[1].keys()
    differ = sorted(name for name in out[0] if out[0][name] != out[1][name])
    assert not differ, f"asked differently under another PYTHONHASHSEED: {differ}"
