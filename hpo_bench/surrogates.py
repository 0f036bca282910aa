"""Surrogate benchmarks fitted on a results store's own real trials: building them.

`build_surrogates` fits, per task x model family of a store, one random forest from a configuration
(its unit-cube encoding, -1 for inactive parameters) and the fidelity to every recorded metric's mean
over the folds, each metric's spread over the folds, and the log fit and predict times. One forest
with all of them as outputs (standardised, so that each weighs alike in its splits): one prediction
gives a whole trial. Its quality is measured before it is saved: refitted on a seeded 80% of the trials,
on the other 20% the R^2 and Kendall tau of each metric, and where the true best held-out configuration
ranks among the held-out ones by the surrogate's prediction. Then it is refitted on every trial.

Which trials: `design` (the default) takes those of non-adaptive optimizers (random, Sobol, grid),
a design that does not depend on the losses, as the paper-style surrogates of analysis/surrogate.py do;
`all` takes every complete trial, which adds the low-fidelity trials of multi-fidelity optimizers and
the regions adaptive optimizers went to. What was used is recorded per task and model.

The surrogates are saved as tasks `surrogate:NAME/TASK` of the task store: hpo_bench/tasks/surrogate.py
says what is saved, reads it back and evaluates it; this module only fits and writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau
from sklearn.metrics import r2_score

from hpo_bench.errors import HpoBenchError
from hpo_bench.models import MODELS, DataShape
from hpo_bench.tasks.source import is_folder_name
from hpo_bench.tasks.store import TaskStore, _json_default
from hpo_bench.tasks.surrogate import (
    FOLDER,
    FORMAT_VERSION,
    META,
    FamilySurrogate,
    builtin_family,
    fit_forest,
    sha256,
    surrogate_ref,
)

TRIAL_SETS = ("design", "all")
MIN_TRIALS = 20
HELD_OUT = 0.2
_TIME_FLOOR_S = 1e-4  # log times: a fit recorded as 0 s is 0.1 ms


# -- fitting ---------------------------------------------------------------------------------------
def _targets(group: pd.DataFrame, metrics: list[str]) -> np.ndarray:
    folds = [json.loads(f) for f in group["fold_metrics"]]
    means = [[float(np.mean(f[m])) for m in metrics] for f in folds]
    spreads = [[float(np.std(f[m], ddof=1)) if len(f[m]) > 1 else 0.0 for m in metrics] for f in folds]
    times = np.log(np.maximum(group[["fit_time_s", "predict_time_s"]].to_numpy(dtype=float), _TIME_FLOOR_S))
    return np.column_stack([np.array(means), np.array(spreads), times])


def _quality(X: np.ndarray, y: np.ndarray, full: np.ndarray, metrics: list[str], seed: int) -> dict[str, Any]:
    """Refit on 80% of the trials, measured on the other 20%: R^2 and Kendall tau per metric, and the rank by
    predicted loss of the truly best held-out full-fidelity configuration (1: the surrogate ranks it first)."""
    rng = np.random.default_rng(seed)
    held = rng.random(len(X)) < HELD_OUT
    forest, center, scale = fit_forest(seed, y[~held], X[~held])
    predicted = forest.predict(X[held]).reshape(held.sum(), -1) * scale + center
    out: dict[str, Any] = {"n_fit": int((~held).sum()), "n_held_out": int(held.sum())}
    for i, m in enumerate(metrics):
        out[f"r2_{m}"] = float(r2_score(y[held, i], predicted[:, i]))
        out[f"kendall_tau_{m}"] = float(kendalltau(y[held, i], predicted[:, i]).statistic)
    top = full[held]
    if top.sum() >= 2:
        true, guess = y[held][top, 0], predicted[top, 0]
        out["best_held_out_rank"] = int((guess < guess[np.argmin(true)]).sum()) + 1
        out["n_held_out_full"] = int(top.sum())
    out["r2_log_fit_time"] = float(r2_score(y[held, -2], predicted[:, -2]))
    return out


def fingerprint_trials(trials: pd.DataFrame) -> str:
    """A hash of the trials a surrogate was fitted on: which runs, configurations, fidelities and results."""
    h = hashlib.sha256()
    for row in trials[["task", "model", "optimizer", "seed", "trial_number", "config", "fidelity",
                       "fold_metrics", "fit_time_s"]].itertuples(index=False):
        h.update(repr(tuple(row)).encode())
    return h.hexdigest()[:16]


def build_surrogates(store_path: str | Path, name: str, task_store: TaskStore, *, trials: str = "design",
                     seed: int = 0, replace: bool = False, progress=None) -> dict[str, Any]:
    """Fit and save the surrogates of every task x model of the store as tasks `surrogate:NAME/TASK`.

    Returns the metadata written. Raises HpoBenchError (exit 2) for a bad name or trial set, a store
    without usable trials, or a name already taken (unless `replace`).
    """
    from hpo_bench.analysis.best_found import is_adaptive
    from hpo_bench.analysis.study import load_study

    if not is_folder_name(name):
        raise HpoBenchError(f"surrogate name {name!r}: use letters, digits, '-', '_' or '.' (it names a folder)")
    if trials not in TRIAL_SETS:
        raise HpoBenchError(f"--trials {trials!r}: must be one of {list(TRIAL_SETS)}")
    final = task_store.root / FOLDER / name
    if final.exists() and not replace:
        raise HpoBenchError(f"surrogate {name!r} already exists in {final.parent}; pass --replace to rebuild it")
    study = load_study(store_path)
    frame = study.trials
    keep = (frame["state"] == "COMPLETE") & (frame["tuned"] == "all") & frame["fold_metrics"].notna()
    if trials == "design":
        keep &= ~is_adaptive(frame)
    used = frame[keep]
    if used.empty:
        which = " of a non-adaptive optimizer (random, Sobol, grid); try --trials all" if trials == "design" else ""
        raise HpoBenchError(f"{store_path}: no complete trials of fully tuned runs{which} to fit surrogates on")
    tasks = study.tasks.set_index("task")
    task_type = study.task_type
    tmp = task_store.root / FOLDER / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    entries: dict[str, Any] = {}
    try:
        for (task, model), group in used.groupby(["task", "model"], sort=True):
            if model not in MODELS:  # its family's code would have to be imported from the store's name for it
                entries.setdefault(task, {"families": {}})["families"][model] = {
                    "kept": False, "reason": "not one of hpo-bench's families (a store's model name is not imported)"}
                continue
            if len(group) < MIN_TRIALS:
                entries.setdefault(task, {"families": {}})["families"][model] = {
                    "kept": False, "reason": f"{len(group)} trials < {MIN_TRIALS}"}
                continue
            if progress:
                progress(f"{task} x {model}: fitting on {len(group)} trials")
            info = tasks.loc[task]
            shape = DataShape(int(info["n_rows"]), int(info["n_features"]), int(info["n_classes"]))
            metrics = sorted(json.loads(group["fold_metrics"].iloc[0]))
            optimised = group["metric"].iloc[0]
            metrics = [optimised] + [m for m in metrics if m != optimised]  # output 0: the optimised metric
            family = builtin_family(model, task_type, str(store_path))
            space = study.spaces[model]
            n_folds = len(json.loads(group["fold_metrics"].iloc[0])[optimised])
            empty = np.empty((0, 0))
            fs = FamilySurrogate(model, family, space, metrics, n_folds, float(group["fidelity"].min()), shape,
                                 empty, empty, seed)
            X = fs.features([json.loads(c) for c in group["config"]], group["fidelity"].tolist(), family)
            y = _targets(group, metrics)
            full = np.isclose(group["fidelity"].to_numpy(dtype=float), 1.0)
            quality = _quality(X, y, full, metrics, seed)
            # Saved: the numbers the forest is fitted on, not the forest. Measured on a forest of this kind
            # (100 trees, 10 outputs, 11 features, synthetic data; 2 busy cores, niced): 5,000 trials, the
            # size of a task of the optimizers study, pickle 39.5 MB loaded in 0.04 s, skops.io 41.0 MB loaded
            # in 0.37 s, these arrays 0.84 MB refitted in 2.1 s; 240 trials: 1.9 / 3.4 / 0.04 MB, refit 0.1 s.
            # Refitting costs seconds once per run, but reads nothing but floats: no trusted-types list to
            # keep right, no node arrays of a crafted tree for scikit-learn's Cython to walk, no new
            # dependency, and files 50 times smaller to publish. The forest is the same for the same seed
            # and scikit-learn version (checked: identical predictions).
            file = f"{_file_key(task)}--{model}.npz"
            np.savez(tmp / file, X=X, y=y)
            entry = entries.setdefault(task, {"families": {}})
            entry["summary"] = {k: (None if pd.isna(v) else v) for k, v in info.items()
                                if k in ("n_rows", "n_features", "n_classes", "n_categorical", "fingerprint", "source")}
            entry["families"][model] = {
                "kept": True, "file": file, "sha256": sha256(tmp / file), "metrics": metrics, "n_folds": fs.n_folds,
                "fidelity_low": fs.fidelity_low, "space": space.to_dict(), "space_fingerprint": space.fingerprint(),
                "shape": [shape.n_samples, shape.n_features, shape.n_classes], "n_trials": len(group),
                "trials_by_optimizer": {str(k): int(v)
                                        for k, v in group["optimizer"].value_counts().sort_index().items()},
                "trials_fingerprint": fingerprint_trials(group), "quality": quality}
        if not any(f.get("kept") for e in entries.values() for f in e["families"].values()):
            why = sorted({f"{m}: {f['reason']}" for e in entries.values() for m, f in e["families"].items()})
            raise HpoBenchError(f"{store_path}: no task x model can have a surrogate ({'; '.join(why)}; "
                                f"{MIN_TRIALS} usable trials are needed)")
        from hpo_bench.store import package_versions

        meta = {"format_version": FORMAT_VERSION, "name": name, "task_type": task_type, "trials": trials,
                "seed": seed, "source": {"store": str(Path(store_path)), "experiment": study.name,
                                         "file_hash": study.experiment.get("file_hash"),
                                         "trials_fingerprint": fingerprint_trials(used)},
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "versions": package_versions(),
                "tasks": {surrogate_ref(name, t): {"source_task": t, **e} for t, e in entries.items()}}
        (tmp / META).write_text(json.dumps(meta, indent=1, default=_json_default) + "\n", encoding="utf-8")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


def _file_key(task: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in task)
