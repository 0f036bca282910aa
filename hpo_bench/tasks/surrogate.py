"""Surrogate tasks `surrogate:NAME/TASK`: a surrogate of TASK fitted on a results store's real trials.

hpo_bench/surrogates.py builds them (`hpo-bench surrogate build`); this module is their task side: the
reference, reading what was saved, and the evaluation.

A surrogate benchmark NAME is saved in the task store's `.surrogates/NAME/` folder: per task and model the
numbers its random forest is fitted on (an .npz of plain float arrays, read without pickle), their sha256,
the space and the data shape in `surrogate.json` with the source store's fingerprint. Reading it refits
the forest from those numbers with the recorded seed, which gives the same forest (scikit-learn's forest
is deterministic for a seed and version); nothing in the folder is code or can become code when read, so a
surrogate someone else built is safe to run. It is evaluated in the driver's process
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtri
from sklearn.ensemble import RandomForestRegressor

from hpo_bench.errors import HpoBenchError, TaskError
from hpo_bench.models import MODELS, DataShape, ModelFamily
from hpo_bench.space import SearchSpace, config_key
from hpo_bench.tasks.source import TaskRef, TaskSource, is_folder_name
from hpo_bench.tasks.store import TaskStore
from hpo_bench.trial import TrialResult, TrialState

FOLDER = ".surrogates"
META = "surrogate.json"
FORMAT_VERSION = 2  # 1 pickled the forests: refused, as it could run code when read
N_TREES = 100


class SurrogateSource(TaskSource):
    """`surrogate:NAME/TASK`: the surrogate benchmark NAME's stand-in for the task TASK (any reference)."""

    prefix = "surrogate"
    forms = ("surrogate:NAME/TASK",)
    surrogate = True

    def parse(self, ref: str, rest: str) -> TaskRef:
        name, slash, task = rest.partition("/")
        if not (slash and task) or not is_folder_name(name):
            raise TaskError(f"task {ref!r}: write surrogate:NAME/TASK, NAME of letters, digits, '-', '_', '.' "
                            "(`hpo-bench surrogate build STORE --name NAME` makes them)")
        return TaskRef(ref, "surrogate", rest, self, stands_for=task)

    def load(self, ref: TaskRef, store: TaskStore) -> SurrogateTask:
        return _load(ref, store)


SURROGATE = SurrogateSource()


def surrogate_ref(name: str, task: str) -> str:
    """The reference of the surrogate benchmark `name`'s task standing for `task`."""
    return f"{SURROGATE.prefix}:{name}/{task}"


def builtin_family(model: str, task_type: str, where: str) -> ModelFamily:
    """hpo-bench's own family `model` for `task_type`. A model name read from a store or a surrogate is never
    resolved as "package.module:Attr" or an entry point: that would import whatever module the file names."""
    family = MODELS.get(model)
    if family is None:
        raise HpoBenchError(f"{where}: model {model!r} is not one of hpo-bench's families ({', '.join(MODELS)}); a "
                            "model named by a store or a surrogate is not imported, as that would run its code")
    return family.for_task(task_type)


def fit_forest(seed: int, y: np.ndarray, X: np.ndarray) -> tuple[RandomForestRegressor, np.ndarray, np.ndarray]:
    """The forest of a surrogate: every output standardised (each weighs alike in its splits), so that one
    prediction gives a whole trial; returns it with the outputs' centres and scales."""
    center, scale = y.mean(axis=0), y.std(axis=0)
    scale[scale == 0] = 1.0
    forest = RandomForestRegressor(n_estimators=N_TREES, min_samples_leaf=2, random_state=seed, n_jobs=1)
    return forest.fit(X, (y - center) / scale), center, scale


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
            self._fitted = fit_forest(self.seed, self.y, self.X)
        forest, center, scale = self._fitted
        return forest.predict(X).reshape(len(X), -1) * scale + center


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


# -- reading ---------------------------------------------------------------------------------------
def list_surrogates(task_store: TaskStore) -> list[dict[str, Any]]:
    """The metadata of every surrogate benchmark in the task store, by name."""
    folder = task_store.root / FOLDER
    if not folder.is_dir():
        return []
    return [read_meta(p) for p in sorted(folder.iterdir()) if p.is_dir() and not p.name.startswith(".")]


def read_meta(folder: Path) -> dict[str, Any]:
    """A surrogate benchmark's surrogate.json, of this format version; TaskError otherwise."""
    try:
        meta = json.loads((folder / META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TaskError(f"surrogate {folder.name}: {folder / META} cannot be read ({exc}); build it again") from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise TaskError(f"surrogate {folder.name}: format version {meta.get('format_version')}, this hpo-bench reads "
                        f"{FORMAT_VERSION}; build it again")
    return meta


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load(ref: TaskRef, task_store: TaskStore) -> SurrogateTask:
    """The surrogate task `ref` (surrogate:NAME/TASK), its arrays checked against their recorded sha256.

    Everything surrogate.json names is checked before use: a file must lie inside the surrogate's own folder,
    a model must be one of hpo-bench's families, the arrays must be plain floats of the recorded shapes.
    TaskError (one line, exit 2) otherwise."""
    name, task = str(ref.value).partition("/")[0], ref.stands_for
    folder = task_store.root / FOLDER / name
    if not (folder / META).is_file():
        known = [m["name"] for m in list_surrogates(task_store)]
        raise TaskError(f"task {ref.text!r}: no surrogate {name!r} in the task store {task_store.root} (known: "
                        f"{known or 'none'}); make it with `hpo-bench surrogate build STORE --name {name}`")
    meta = read_meta(folder)
    entry = meta["tasks"].get(ref.text)
    if entry is None:
        raise TaskError(f"task {ref.text!r}: surrogate {name!r} has no task {task!r} (it has "
                        f"{[t['source_task'] for t in meta['tasks'].values()]})")
    families = {}
    h = hashlib.sha256(json.dumps(entry, sort_keys=True).encode())
    try:
        for model, info in entry["families"].items():
            if not info.get("kept"):
                continue
            families[model] = _read_family(ref.text, folder, model, info, meta)
            h.update(info["sha256"].encode())
    except (KeyError, TypeError, ValueError) as exc:  # a descriptor missing a field or with one of the wrong kind
        raise TaskError(f"task {ref.text!r}: {folder / META} is not a surrogate descriptor this hpo-bench wrote "
                        f"({type(exc).__name__}: {exc}); build the surrogate again") from None
    built = {k: v for k, v in meta.items() if k != "tasks"}
    return SurrogateTask(ref.text, entry["source_task"], meta["task_type"], families, entry, built, h.hexdigest()[:16])


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
    if not path.is_file() or sha256(path) != info["sha256"]:
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
