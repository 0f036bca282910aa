"""Surrogate benchmarks fitted on a results store's own real trials, and their evaluation.

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

A surrogate task `surrogate:NAME/TASK` is saved in the task store's `.surrogates/NAME/` folder: per task
and model the numbers its forest is fitted on (an .npz of plain float arrays, read without pickle), their
sha256, the space and the data shape in `surrogate.json` with the source store's fingerprint. Reading
it refits the forest from those numbers with the recorded seed, which gives the same forest (scikit-learn's
forest is deterministic for a seed and version); nothing in the folder is code or can become code when
read, so a surrogate someone else built is safe to run. It is evaluated in the driver's process
(executors/inline.py), a batch of trials per prediction. A trial's fold losses are the predicted mean plus
seeded noise of the predicted spread over the folds, the same standard-normal draw for every metric of a
fold (errors of one fit move together); the draw is a hash of the model seed, the configuration and the
fidelity, so a trial is the same whatever batch it is in, a resumed run gets the same trials, and
repetitions differ as they do for real runs with their own model seeds. Its fit and predict times are the
predicted ones, so time budgets and time limits charge what the real evaluation took.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import kendalltau
from sklearn.ensemble import RandomForestRegressor
from sklearn.metrics import r2_score

from hpo_bench.errors import HpoBenchError, TaskError
from hpo_bench.models import MODELS, DataShape, ModelFamily
from hpo_bench.space import SearchSpace, config_key
from hpo_bench.tasks import parse_ref
from hpo_bench.tasks.store import TaskStore, _json_default
from hpo_bench.trial import TrialResult, TrialState

PREFIX = "surrogate:"
FOLDER = ".surrogates"
META = "surrogate.json"
FORMAT_VERSION = 2  # 1 pickled the forests: refused, as it could run code when read
TRIAL_SETS = ("design", "all")
N_TREES = 100
MIN_TRIALS = 20
HELD_OUT = 0.2
_TIME_FLOOR_S = 1e-4  # log times: a fit recorded as 0 s is 0.1 ms


def surrogate_ref(name: str, task: str) -> str:
    return f"{PREFIX}{name}/{task}"


def is_surrogate_ref(ref: str) -> bool:
    return isinstance(ref, str) and ref.startswith(PREFIX)


def split_ref(ref: str) -> tuple[str, str]:
    """("NAME", "TASK") of "surrogate:NAME/TASK" (the form is checked by hpo_bench.tasks.parse_ref)."""
    name, _, task = parse_ref(ref).value.partition("/")
    return name, task


def _good_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and all(c.isalnum() or c in "-_." for c in name)


# -- fitting ---------------------------------------------------------------------------------------
def builtin_family(model: str, task_type: str, where: str) -> ModelFamily:
    """hpo-bench's own family `model` for `task_type`. A model name read from a store or a surrogate is never
    resolved as "package.module:Attr" or an entry point: that would import whatever module the file names."""
    family = MODELS.get(model)
    if family is None:
        raise HpoBenchError(f"{where}: model {model!r} is not one of hpo-bench's families ({', '.join(MODELS)}); a "
                            "model named by a store or a surrogate is not imported, as that would run its code")
    return family.for_task(task_type)


@dataclass
class FamilySurrogate:
    """One model family's surrogate on one task: the numbers its forest is fitted on, and what it needs to
    encode and decode. The forest is fitted when first used (a task's other families may never be)."""

    model: str
    family_: ModelFamily  # hpo-bench's own family of that name (builtin_family)
    space: SearchSpace
    metrics: list[str]  # outputs: each metric's fold mean, then each metric's fold spread, then log times
    n_folds: int
    fidelity_low: float  # the lowest fidelity among its trials: below it the surrogate would extrapolate
    shape: DataShape
    X: np.ndarray
    y: np.ndarray
    seed: int
    _fitted: tuple[RandomForestRegressor, np.ndarray, np.ndarray] | None = None

    def family(self, task_type: str) -> ModelFamily:
        return self.family_

    def features(self, configs: list[dict[str, Any]], fidelities: list[float], family: ModelFamily) -> np.ndarray:
        units = np.array([self.space.encode(family.concrete(c, self.shape)) for c in configs])
        return np.column_stack([np.nan_to_num(units, nan=-1.0), np.asarray(fidelities, dtype=float)])

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self._fitted is None:
            self._fitted = _forest(self.seed, self.y, self.X)
        forest, center, scale = self._fitted
        return forest.predict(X).reshape(len(X), -1) * scale + center


def _targets(group: pd.DataFrame, metrics: list[str]) -> np.ndarray:
    folds = [json.loads(f) for f in group["fold_metrics"]]
    means = [[float(np.mean(f[m])) for m in metrics] for f in folds]
    spreads = [[float(np.std(f[m], ddof=1)) if len(f[m]) > 1 else 0.0 for m in metrics] for f in folds]
    times = np.log(np.maximum(group[["fit_time_s", "predict_time_s"]].to_numpy(dtype=float), _TIME_FLOOR_S))
    return np.column_stack([np.array(means), np.array(spreads), times])


def _forest(seed: int, y: np.ndarray, X: np.ndarray) -> tuple[RandomForestRegressor, np.ndarray, np.ndarray]:
    center, scale = y.mean(axis=0), y.std(axis=0)
    scale[scale == 0] = 1.0
    forest = RandomForestRegressor(n_estimators=N_TREES, min_samples_leaf=2, random_state=seed, n_jobs=1)
    return forest.fit(X, (y - center) / scale), center, scale


def _quality(X: np.ndarray, y: np.ndarray, full: np.ndarray, metrics: list[str], seed: int) -> dict[str, Any]:
    """Refit on 80% of the trials, measured on the other 20%: R^2 and Kendall tau per metric, and the rank by
    predicted loss of the truly best held-out full-fidelity configuration (1: the surrogate ranks it first)."""
    rng = np.random.default_rng(seed)
    held = rng.random(len(X)) < HELD_OUT
    forest, center, scale = _forest(seed, y[~held], X[~held])
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

    if not _good_name(name):
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
                "kept": True, "file": file, "sha256": _sha256(tmp / file), "metrics": metrics, "n_folds": fs.n_folds,
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


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- reading ---------------------------------------------------------------------------------------
def list_surrogates(task_store: TaskStore) -> list[dict[str, Any]]:
    """The metadata of every surrogate benchmark in the task store, by name."""
    folder = task_store.root / FOLDER
    if not folder.is_dir():
        return []
    return [_read_meta(p) for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]


def _read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaskError(f"surrogate {folder.name}: {folder / META} cannot be read ({exc}); build it again") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise TaskError(f"surrogate {folder.name}: format version {meta.get('format_version')}, this hpo-bench reads "
                        f"{FORMAT_VERSION}; build it again")
    return meta


@dataclass
class SurrogateTask:
    """A task whose evaluations are predictions of a surrogate: what the scheduler needs of a task."""

    name: str  # the reference, surrogate:NAME/TASK
    source_task: str
    task_type: str
    families: dict[str, FamilySurrogate]
    meta: dict[str, Any]  # this task's entry of surrogate.json
    built: dict[str, Any]  # the rest of surrogate.json: source store, trial set, versions
    _fingerprint: str

    is_surrogate = True
    splits = None
    splits_official = False

    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def n_folds(self) -> int:
        return next(iter(self.families.values())).n_folds

    def summary(self) -> dict[str, Any]:
        s = self.meta.get("summary", {})
        source = self.built["source"]
        return {"name": self.name, "source": f"surrogate of {self.source_task} from {source['experiment']} "
                f"({source['store']}, trials {self.built['trials']})", "task_type": self.task_type,
                "n_rows": s.get("n_rows"), "n_features": s.get("n_features"), "n_classes": s.get("n_classes"),
                "n_categorical": s.get("n_categorical"),
                "ids": {"surrogate": self.built["name"], "source_task": self.source_task,
                        "source_fingerprint": s.get("fingerprint")},
                "fingerprint": self.fingerprint(), "splits_official": False}

    def evaluate(self, model: str, jobs: list[tuple[dict[str, Any], float, int]], metric: str,
                 time_limit_s: float | None = None) -> list[TrialResult]:
        """One result per (config, fidelity, model seed), from one prediction for the whole batch."""
        fs = self.families[model]
        family = fs.family(self.task_type)
        results: list[TrialResult | None] = [None] * len(jobs)
        rows = []
        for i, (_config, fidelity, _seed) in enumerate(jobs):
            if fidelity < fs.fidelity_low - 1e-9:
                results[i] = TrialResult.failed(metric, f"fidelity {fidelity:g} is below the lowest of the trials this "
                                                f"surrogate was fitted on ({fs.fidelity_low:g}); build it from trials "
                                                "that have it (`--trials all` takes a multi-fidelity optimizer's)")
            else:
                rows.append(i)
        if not rows:
            return results  # type: ignore[return-value]
        try:
            X = fs.features([jobs[i][0] for i in rows], [jobs[i][1] for i in rows], family)
        except Exception as exc:  # a configuration the space cannot encode: that trial fails, not the batch
            if len(rows) == 1:
                results[rows[0]] = TrialResult.failed(metric, f"cannot encode the configuration: {exc}")
                return results  # type: ignore[return-value]
            for i in rows:
                results[i] = self.evaluate(model, [jobs[i]], metric, time_limit_s)[0]
            return results  # type: ignore[return-value]
        predicted = fs.predict(X)
        m = len(fs.metrics)
        # The whole batch at once: (trials, metrics, folds) losses, then plain lists for the records.
        z = np.array([_normal_draws(jobs[i][2], jobs[i][0], jobs[i][1], fs.n_folds) for i in rows])
        spreads = np.maximum(predicted[:, m:2 * m], 0.0)
        folds = np.maximum(predicted[:, :m, None] + spreads[:, :, None] * z[:, None, :], 0.0)
        means = folds.mean(axis=2).tolist()
        folds_list = folds.tolist()
        times = np.exp(predicted[:, 2 * m:2 * m + 2]).tolist()
        at = fs.metrics.index(metric)
        for row, i in enumerate(rows):
            fit_s, predict_s = times[row]
            if time_limit_s is not None and fit_s + predict_s > time_limit_s:
                results[i] = TrialResult.failed(metric, f"predicted {fit_s + predict_s:.1f} s: over the time limit "
                                                f"of {time_limit_s:g} s", state=TrialState.TIMEOUT,
                                                fit_time_s=time_limit_s)
                continue
            trial_folds = dict(zip(fs.metrics, folds_list[row], strict=True))
            results[i] = TrialResult(TrialState.COMPLETE, metric, means[row][at], trial_folds[metric], fit_s,
                                     predict_s, None, trial_folds)
        return results  # type: ignore[return-value]


def _normal_draws(seed: int, config: dict[str, Any], fidelity: float, n: int) -> np.ndarray:
    """n standard-normal draws that depend only on the model seed, the configuration and the fidelity.

    A hash, not a seeded generator: a million trials cost a hash each instead of a generator's set-up,
    and the draws do not depend on the order or batch they are evaluated in."""
    key = f"{seed}|{config_key(config)}|{fidelity!r}".encode()
    words: list[int] = []
    block = 0
    while len(words) < n:
        digest = hashlib.blake2b(key + block.to_bytes(4, "little"), digest_size=64).digest()
        words += [int.from_bytes(digest[j:j + 8], "little") for j in range(0, 64, 8)]
        block += 1
    # (k + 0.5) / 2^64 lies strictly inside (0, 1), so the inverse normal CDF is finite.
    return ndtri((np.array(words[:n], dtype=float) + 0.5) / 2.0 ** 64)


def load_surrogate_task(ref: str, task_store: TaskStore) -> SurrogateTask:
    """The surrogate task `ref` (surrogate:NAME/TASK), its arrays checked against their recorded sha256.

    Everything surrogate.json names is checked before use: a file must lie inside the surrogate's own folder,
    a model must be one of hpo-bench's families, the arrays must be plain floats of the recorded shapes.
    TaskError (one line, exit 2) otherwise."""
    name, task = split_ref(ref)
    folder = task_store.root / FOLDER / name
    if not (folder / META).is_file():
        known = [m["name"] for m in list_surrogates(task_store)]
        raise TaskError(f"task {ref!r}: no surrogate {name!r} in the task store {task_store.root} (known: "
                        f"{known or 'none'}); make it with `hpo-bench surrogate build STORE --name {name}`")
    meta = _read_meta(folder)
    entry = meta["tasks"].get(ref)
    if entry is None:
        raise TaskError(f"task {ref!r}: surrogate {name!r} has no task {task!r} (it has "
                        f"{[t['source_task'] for t in meta['tasks'].values()]})")
    families = {}
    h = hashlib.sha256(json.dumps(entry, sort_keys=True).encode())
    try:
        for model, info in entry["families"].items():
            if not info.get("kept"):
                continue
            families[model] = _read_family(ref, folder, model, info, meta)
            h.update(info["sha256"].encode())
    except (KeyError, TypeError, ValueError) as exc:  # a descriptor missing a field or with one of the wrong kind
        raise TaskError(f"task {ref!r}: {folder / META} is not a surrogate descriptor this hpo-bench wrote "
                        f"({type(exc).__name__}: {exc}); build the surrogate again") from None
    built = {k: v for k, v in meta.items() if k != "tasks"}
    return SurrogateTask(ref, entry["source_task"], meta["task_type"], families, entry, built, h.hexdigest()[:16])


def inside(folder: Path, name: Any, where: str) -> Path:
    """`folder / name` if it lies inside `folder` once resolved (no "..", no absolute path, no symbolic link
    out of it); TaskError otherwise: a descriptor may only name its own files."""
    if not isinstance(name, str) or not name:
        raise TaskError(f"{where}: file {name!r} is not a file name")
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()) or path == folder.resolve():
        raise TaskError(f"{where}: file {name!r} lies outside the surrogate's folder {folder}; a descriptor may only "
                        "name files of its own folder")
    return path


def _read_family(ref: str, folder: Path, model: str, info: dict[str, Any], meta: dict[str, Any]) -> FamilySurrogate:
    where = f"task {ref!r}, model {model!r} in {folder / META}"
    path = inside(folder, info["file"], where)
    if not path.is_file() or _sha256(path) != info["sha256"]:
        raise TaskError(f"task {ref!r}: {path} is missing or does not match its sha256 in {META}; build the "
                        "surrogate again")
    try:
        family = builtin_family(model, meta["task_type"], where)
    except HpoBenchError as exc:
        raise TaskError(str(exc)) from None
    space = SearchSpace.from_dict(info["space"])
    metrics = [str(m) for m in info["metrics"]]
    try:
        # allow_pickle=False: an object array (the only kind that holds a pickle) is refused, not unpickled.
        with np.load(path, allow_pickle=False) as arrays:
            X, y = arrays["X"], arrays["y"]
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise TaskError(f"task {ref!r}: {path} is not an array file of a surrogate ({exc}); build the surrogate "
                        "again") from None
    want = {"X": len(space) + 1, "y": 2 * len(metrics) + 2}
    for key, array in (("X", X), ("y", y)):
        if array.dtype != np.float64 or array.ndim != 2 or array.shape[1] != want[key] or len(array) != len(X):
            raise TaskError(f"task {ref!r}: {path}: array {key} is {array.dtype} of shape {array.shape}, a surrogate "
                            f"of this space and metrics has float64 of {want[key]} columns; build it again")
    n_rows, n_features, n_classes = (int(v) for v in info["shape"])
    return FamilySurrogate(model, family, space, metrics, int(info["n_folds"]), float(info["fidelity_low"]),
                           DataShape(n_rows, n_features, n_classes), X, y, int(meta["seed"]))
