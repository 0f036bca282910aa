"""Slow configurations under a per-evaluation time limit, on a real 19k-row dataset.

Runs a few configurations the model zoo makes possible and a plain run would wait minutes or hours for
(an SVM with cost 2^10, four layers of 1024 units trained in batches of 4 rows), next to fast ones,
through the local executor with `--time-limit` seconds per evaluation (3-fold CV), and writes what
happened to reports/time_limit/<dataset>.csv: state, the executor's elapsed time until the result or
the kill, the wall time from submission, the loss.

    python benchmarks/time_limit.py [--dataset magic] [--time-limit 20] [--n-workers 2]

The data come from the offline copies of OpenML datasets beside the repository (../shared/datasets);
the product itself never reads them.
"""

from __future__ import annotations

import argparse
import csv
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd

from hpo_bench.executors import Job, LocalExecutor, WorkerContext
from hpo_bench.models import MODELS
from hpo_bench.tasks.base import Task
from hpo_bench.trial import TrialState

REPO = Path(__file__).resolve().parents[1]
HUGE_MLP = {"n_layers": 4, "width_1": 1024, "width_2": 1024, "width_3": 1024, "width_4": 1024, "activation": "relu",
            "solver": "adam", "learning_rate_init": 1e-3, "batch_size": 4, "alpha": 1e-4, "max_iter": 243}
CONFIGS = [
    ("svm rbf C=2^10 gamma=2^3", "svm", {"kernel": "rbf", "C": 2.0**10, "gamma": 2.0**3}),
    ("svm linear C=2^10", "svm", {"kernel": "linear", "C": 2.0**10}),
    ("mlp 4x1024, batch 4, 243 epochs", "mlp", HUGE_MLP),
    ("svm package default", "svm", MODELS["svm"].package_default()),
    ("knn package default", "knn", MODELS["knn"].package_default()),
    ("decision_tree package default", "decision_tree", MODELS["decision_tree"].package_default()),
    ("elastic_net alpha=0.5 lambda=2^-10", "elastic_net", {"alpha": 0.5, "lambda": 2.0**-10}),
]


def load_shared(name: str, data_dir: Path) -> Task:
    manifest = pd.read_csv(data_dir / "manifest.csv").set_index("name")
    row = manifest.loc[name]
    frame = pd.read_csv(data_dir / row["file"], sep="\t")
    y_raw = frame.pop(row["target"])
    classes, y = np.unique(y_raw, return_inverse=True)
    categorical = [c for c in str(row["categorical_columns"]).split(";") if c and c != "nan"]
    for column in categorical:
        frame[column] = frame[column].astype("category")
    return Task(name=name, X=frame, y=y, classes=[str(c) for c in classes], categorical=categorical,
                source="shared", ids={"openml_data_id": int(row["openml_data_id"])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="magic")
    parser.add_argument("--data-dir", type=Path, default=REPO.parent / "shared" / "datasets")
    parser.add_argument("--time-limit", type=float, default=20.0)
    parser.add_argument("--n-workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "time_limit")
    args = parser.parse_args()

    task = load_shared(args.dataset, args.data_dir)
    context = WorkerContext(tasks={task.name: task}, splits={task.name: task.cv_splits(3, seed=0)}, metric="1-auc",
                            models=tuple(sorted({family for _, family, _ in CONFIGS})))
    print(f"{task.name}: {task.n_rows} rows, {task.n_features} features; limit {args.time_limit:g} s, "
          f"{args.n_workers} workers")
    rows, submitted = [], {}
    start = time.monotonic()
    with LocalExecutor(args.n_workers, context, time_limit_s=args.time_limit) as executor:
        for job_id, (_, family, config) in enumerate(CONFIGS):
            executor.submit(Job(job_id, task.name, family, config, 1.0, seed=0))
            submitted[job_id] = time.monotonic()
        while len(rows) < len(CONFIGS):
            for job, result in executor.wait(timeout=1.0):
                wall = time.monotonic() - submitted[job.job_id]
                match = re.search(r"stopped after ([0-9.]+) s", result.error or "")
                evaluated = float(match.group(1)) if match else result.fit_time_s + result.predict_time_s
                label = CONFIGS[job.job_id][0]
                rows.append({"configuration": label, "state": str(result.state), "loss": result.loss,
                             "evaluation_s": round(evaluated, 2), "submitted_to_result_s": round(wall, 2),
                             "within_2x_limit": result.state != TrialState.TIMEOUT or evaluated <= 2 * args.time_limit,
                             "note": (result.error or "")[:120]})
                print(f"  {label:<36} {result.state:<9} evaluation {evaluated:7.2f} s, "
                      f"submitted->result {wall:7.2f} s, loss {result.loss}")
    print(f"all done in {time.monotonic() - start:.1f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{task.name}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
