"""Files someone else wrote (a shared store, a surrogate, a report's labels) cannot make hpo-bench run code.

Each test crafts the file a hostile user would share: a surrogate whose file is a pickle that creates a
marker file when loaded, a descriptor naming a file outside its folder, a store naming a module that
creates a marker when imported, a label that is HTML. None may create its marker or reach a page as markup.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import experiment_text
from synthetic_store import learning_rate_loss, write_store

import hpo_bench
from hpo_bench.cli import main

TASKS = {"alpha": 0.0}


class _Marker:
    """Unpickling this creates the file `path`: what a crafted pickle does, harmlessly."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def real_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    return write_store(root / "real.sqlite", "real", {"xgboost": learning_rate_loss}, TASKS, {"random": "random"},
                       budget=30, seeds=1, include_default=False, fold_spread=0.02)


@pytest.fixture
def surrogate(real_store, tmp_path) -> tuple[Path, Path]:
    """(task store, the surrogate's folder) of a fresh surrogate `syn` of the real store."""
    task_store = tmp_path / "tasks"
    assert main(["surrogate", "build", str(real_store), "--name", "syn", "--task-store", str(task_store)]) == 0
    return task_store, task_store / ".surrogates" / "syn"


def _run_on_surrogate(tmp_path: Path, task_store: Path, capsys) -> tuple[int, str]:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "on-surrogates"\ntasks = ["surrogate:syn/alpha"]\nmodels = ["xgboost"]\nbudget_evals = 5\n'
                   'seeds = 1\ncv_folds = 3\ninclude_default = false\n\n[optimizers]\nrandom = {}\n')
    capsys.readouterr()
    code = main(["run", str(exp), "--results-dir", str(tmp_path / "results"), "--task-store", str(task_store)])
    return code, capsys.readouterr().err.strip()


def _retarget(folder: Path, file: str | None, content: bytes, at: Path | None = None) -> None:
    """Write `content` to the family's file (or to `at`, named in the descriptor as `file`), with its sha256."""
    meta = json.loads((folder / "surrogate.json").read_text())
    info = meta["tasks"]["surrogate:syn/alpha"]["families"]["xgboost"]
    target = at if at is not None else folder / info["file"]
    target.write_bytes(content)
    if file is not None:
        info["file"] = file
    info["sha256"] = hashlib.sha256(content).hexdigest()
    (folder / "surrogate.json").write_text(json.dumps(meta))


def test_a_surrogate_file_that_is_a_pickle_is_refused_unread(surrogate, tmp_path, capsys):
    """Fails before issue 34: the surrogate's pickle was loaded, its matching sha256 being no protection."""
    task_store, folder = surrogate
    marker = tmp_path / "pwned"
    _retarget(folder, None, pickle.dumps(_Marker(marker)))
    code, err = _run_on_surrogate(tmp_path, task_store, capsys)
    assert not marker.exists()
    assert code == 2 and len(err.splitlines()) == 1 and "not an array file of a surrogate" in err, err


def test_a_surrogate_array_file_holding_objects_is_refused_unread(surrogate, tmp_path, capsys):
    task_store, folder = surrogate
    marker = tmp_path / "pwned"
    crafted = tmp_path / "crafted.npz"
    np.savez(crafted, X=np.array([_Marker(marker)], dtype=object), y=np.zeros((1, 6)))
    _retarget(folder, None, crafted.read_bytes())
    code, err = _run_on_surrogate(tmp_path, task_store, capsys)
    assert not marker.exists()
    assert code == 2 and len(err.splitlines()) == 1 and "not an array file" in err, err


@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_a_descriptor_naming_a_file_outside_its_folder_is_refused(surrogate, tmp_path, capsys, how):
    """Fails before issue 34: a pickle anywhere on the machine, named by the descriptor, was loaded."""
    task_store, folder = surrogate
    marker = tmp_path / "pwned"
    outside = tmp_path / "x"
    name = "../../../x" if how == "relative" else str(outside)
    assert (folder / name).resolve() == outside.resolve()
    _retarget(folder, name, pickle.dumps(_Marker(marker)), at=outside)
    code, err = _run_on_surrogate(tmp_path, task_store, capsys)
    assert not marker.exists()
    assert code == 2 and len(err.splitlines()) == 1 and "lies outside the surrogate's folder" in err, err
    assert repr(name) in err


def test_a_surrogate_naming_a_model_that_is_not_built_in_is_refused_unimported(surrogate, tmp_path, capsys,
                                                                                   monkeypatch):
    task_store, folder = surrogate
    marker = _hostile_module(tmp_path, monkeypatch)
    meta = json.loads((folder / "surrogate.json").read_text())
    families = meta["tasks"]["surrogate:syn/alpha"]["families"]
    families["hostile_mod:FAMILY"] = families.pop("xgboost")
    (folder / "surrogate.json").write_text(json.dumps(meta))
    code, err = _run_on_surrogate(tmp_path, task_store, capsys)
    assert not marker.exists()
    assert code == 2 and len(err.splitlines()) == 1 and "'hostile_mod:FAMILY' is not one of hpo-bench's" in err, err


def _hostile_module(tmp_path: Path, monkeypatch) -> Path:
    """A module `hostile_mod` on sys.path that creates tmp_path/imported when imported; returns that path."""
    marker = tmp_path / "imported"
    code = tmp_path / "code"
    code.mkdir()
    (code / "hostile_mod.py").write_text(f"open({str(marker)!r}, 'w').close()\nFAMILY = None\n")
    monkeypatch.syspath_prepend(str(code))
    return marker


@pytest.fixture
def store_naming_a_module(real_store, tmp_path) -> Path:
    """The real store with its model renamed to "hostile_mod:FAMILY" everywhere the store names it."""
    store = tmp_path / "named.sqlite"
    shutil.copy(real_store, store)
    with sqlite3.connect(store) as db:
        db.execute("UPDATE runs SET model = 'hostile_mod:FAMILY'")
        db.execute("UPDATE experiment SET file_text = replace(file_text, '\"xgboost\"', '\"hostile_mod:FAMILY\"')")
    return store


@pytest.mark.parametrize("command", [
    ["surrogate", "build", "{store}", "--name", "s", "--task-store", "{tmp}/tasks"],
    ["report", "{store}", "--reports-dir", "{tmp}/reports"],
    ["analyze", "{store}", "--reports-dir", "{tmp}/reports"],
    ["status", "{store}"],
    ["export", "{store}", "--format", "csv", "--output", "{tmp}/t.csv"],
])
def test_no_command_imports_a_module_because_a_store_names_it(store_naming_a_module, tmp_path, capsys, monkeypatch,
                                                              command):
    """Fails before issue 34 for `surrogate build`, which resolved the store's model name and so imported it."""
    marker = _hostile_module(tmp_path, monkeypatch)
    args = [a.format(store=store_naming_a_module, tmp=tmp_path) for a in command]
    code = main(args)
    err = capsys.readouterr().err.strip()
    assert not marker.exists(), command
    assert code == 0 or (code == 2 and len(err.splitlines()) == 1), err
    if command[0] == "surrogate":
        assert code == 2 and "hostile_mod:FAMILY: not one of hpo-bench's families" in err, err


def _fill(labels: list[str]) -> dict:
    """Run the interactive page's `fill` in node against a minimal DOM; what it set as HTML and the options."""
    from hpo_bench.report.interactive import _APP

    start = _APP.index("function fill(")
    source = _APP[start:_APP.index("\n}\n", start) + 3]
    script = """
const html = [];
const el = {children: [], set innerHTML(v) { html.push(v); }, get innerHTML() { return ''; },
            appendChild(c) { this.children.push(c); }, replaceChildren(...c) { this.children = c; }};
const document = {getElementById: () => el, createElement: tag => ({tag: tag, value: '', textContent: ''})};
const $ = id => document.getElementById(id);
""" + source + f"""
fill('optimizer', {json.dumps(labels)});
console.log(JSON.stringify({{html: html, options: el.children.map(c => [c.tag, c.value, c.textContent])}}));
"""
    done = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_a_label_with_markup_reaches_the_interactive_page_as_text():
    """Fails before issue 34: the select options were built as HTML from the store's labels."""
    label = "<img src=x onerror=alert(1)>"
    out = _fill([label, "random"])
    assert not any("<img" in h for h in out["html"]), out
    assert out["options"] == [["option", label, label], ["option", "random", "random"]]


def test_a_label_with_markup_reaches_the_static_page_as_text(real_store, tmp_path):
    store = tmp_path / "labels.sqlite"
    shutil.copy(real_store, store)
    label = "<img src=x onerror=alert(1)>"
    with sqlite3.connect(store) as db:
        db.execute("UPDATE runs SET optimizer = ?", (label,))
    assert main(["report", str(store), "--reports-dir", str(tmp_path / "reports")]) == 0
    page = (tmp_path / "reports" / "real" / "index.html").read_text()
    assert label not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


# -- plugins that misbehave ------------------------------------------------------------------------
BAD_IMPORTS = {
    "exits": "import sys\nsys.exit(3)\n",
    "raises": "raise RuntimeError('boom at import')\n",
    "raises_base": "class Boom(BaseException):\n    pass\n\nraise Boom('not an Exception')\n",
}


@pytest.fixture
def bad_plugins(tmp_path, monkeypatch):
    """Modules bad_<kind> that fail on import in each way, and a distribution registering each of them as an
    optimizer and a model entry point (importlib.metadata reads a NAME-VERSION.dist-info folder on sys.path)."""
    from hpo_bench import plugins

    folder = tmp_path / "bad"
    folder.mkdir()
    for kind, code in BAD_IMPORTS.items():
        (folder / f"bad_{kind}.py").write_text(code)
    info = folder / "badplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: badplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[hpo_bench.optimizers]\n" + "".join(f"opt-{k} = bad_{k}:Opt\n" for k in BAD_IMPORTS)
        + "\n[hpo_bench.models]\n" + "".join(f"model-{k} = bad_{k}:FAMILY\n" for k in BAD_IMPORTS))
    monkeypatch.syspath_prepend(str(folder))
    plugins.plugins.cache_clear()
    yield folder
    plugins.plugins.cache_clear()


@pytest.mark.parametrize("kind", list(BAD_IMPORTS))
def test_a_plugin_that_fails_on_import_gives_one_line_naming_it(bad_plugins, tmp_path, capsys, kind):
    """Fails before issue 34: SystemExit and BaseException ended hpo-bench, RuntimeError gave a traceback."""
    for optimizers, models, named in [(f'x = {{ type = "bad_{kind}:Opt" }}', '["knn"]', f"bad_{kind}"),
                                      ("random = {}", f'["bad_{kind}:FAMILY"]', f"bad_{kind}"),
                                      (f'x = {{ type = "opt-{kind}" }}', '["knn"]', f"opt-{kind}")]:
        exp = tmp_path / "e.toml"
        exp.write_text(experiment_text(optimizers=optimizers, models=models))
        assert main(["run", str(exp), "--results-dir", str(tmp_path / "results")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and named in err and "failed:" in err, err
    assert not (tmp_path / "results").exists()


def test_the_listings_show_the_rest_beside_plugins_that_fail(bad_plugins, capsys):
    assert main(["optimizers"]) == 0
    out = capsys.readouterr().out
    assert "\nrandom: " in out and "\ntpe: " in out
    for kind in BAD_IMPORTS:
        assert f"\nopt-{kind}: not usable: optimizer type 'opt-{kind}' (entry point" in out
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "\nxgboost " in out
    for kind in BAD_IMPORTS:
        assert re.search(rf"\nmodel-{kind} +not usable: model 'model-{kind}' \(entry point", out), out


@pytest.mark.parametrize("name", ["this:x", "antigravity:x", "no_such_module_xyz.sub:x", "a-b:x", "x:1y"])
def test_an_odd_reference_is_refused_before_any_module_is_imported(name):
    """Fails before issue 34 for this:x (the Zen of Python printed, then the refusal) and antigravity:x."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "hpo_bench.cli", "models", "show", name],
                          capture_output=True, text=True, env={**os.environ, "BROWSER": "true"},
                          cwd=Path(hpo_bench.__file__).parents[1])  # the hpo_bench under test
    assert done.returncode == 2 and done.stdout == ""
    lines = [line for line in done.stderr.splitlines() if not line.startswith("import time:")]
    imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert len(lines) == 1 and repr(name) in lines[0], lines
    assert name.partition(":")[0] not in imported


# -- suggestions outside the space -----------------------------------------------------------------
ODD_OPTIMIZERS = '''
import math

from hpo_bench.optimizers import Optimizer
from hpo_bench.trial import Suggestion


class _Odd(Optimizer):
    def ask(self):
        config = self.space.sample(self.rng)
        self.spoil(config)
        return Suggestion(config)


class NaN(_Odd):
    def spoil(self, config):
        config["learning_rate"] = math.nan


class OutOfRange(_Odd):
    def spoil(self, config):
        config["learning_rate"] = 5.0


class Missing(_Odd):
    def spoil(self, config):
        del config["learning_rate"]


class Unknown(_Odd):
    def spoil(self, config):
        config["learning_rat"] = 0.1
'''


@pytest.mark.parametrize(("kind", "problem"), [
    ("NaN", "'learning_rate': nan is outside"), ("OutOfRange", "'learning_rate': 5.0 is outside"),
    ("Missing", "'learning_rate' is missing"), ("Unknown", "unknown parameter 'learning_rat'")])
def test_a_suggestion_outside_the_space_is_the_optimizers_failure_not_a_trial(tmp_path, monkeypatch, kind, problem):
    """Fails before issue 34: the configuration was evaluated and stored as a trial of the run."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "odd_optimizers.py").write_text(ODD_OPTIMIZERS)
    monkeypatch.syspath_prepend(str(code))
    monkeypatch.setenv("PYTHONPATH", str(code))
    exp = tmp_path / "e.toml"
    exp.write_text(experiment_text(optimizers=f'odd = {{ type = "odd_optimizers:{kind}" }}', seeds=1,
                                   budget_evals=2, include_default="false", n_workers=1, executor='"inline"'))
    main(["run", str(exp), "--results-dir", str(tmp_path / "results")])
    with sqlite3.connect(tmp_path / "results" / "tiny.sqlite") as db:
        runs = db.execute("SELECT status, note FROM runs").fetchall()
        n_trials = db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    assert n_trials == 0
    assert len(runs) == 1 and runs[0][0] == "crashed" and "outside the space" in runs[0][1] and problem in runs[0][1]


# -- no invalid record -----------------------------------------------------------------------------
def test_r2_on_a_constant_test_fold_fails_the_trial_with_the_reason():
    """Fails before issue 34: scikit-learn's r2_score put 0 (1 - R^2 = 1) in the store for that fold."""
    import pandas as pd

    from hpo_bench.evaluation import evaluate
    from hpo_bench.models import MODELS
    from hpo_bench.tasks.base import Task
    from hpo_bench.trial import TrialState

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(40), "b": rng.random(40)})
    y = np.r_[rng.random(30), np.full(10, 2.0)]
    task = Task(name="constant-fold", X=X, y=y, classes=[], task_type="regression")
    splits = [(np.arange(30), np.arange(30, 40)), (np.arange(10, 40), np.arange(10))]
    family = MODELS["elastic_net"].for_task("regression")
    result = evaluate(task, family, family.package_default(), fidelity=1.0, seed=0, splits=splits, metric="rmse")
    assert result.state == TrialState.FAILED, result
    assert "1-r2 not finite" in result.error and "its target constant" in result.error, result.error


@pytest.mark.parametrize("task_type", ["classification", "regression"])
def test_knn_with_more_neighbours_than_training_rows_fails_the_trial(task_type):
    """Fails before issue 34 for the classifier: with uniform votes and p != 2 scikit-learn scored it anyway."""
    import pandas as pd

    from hpo_bench.evaluation import evaluate
    from hpo_bench.models import MODELS
    from hpo_bench.tasks.base import Task
    from hpo_bench.trial import TrialState

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.random(24), "b": rng.random(24)})
    if task_type == "classification":
        task = Task(name="small", X=X, y=np.array([0, 1] * 12), classes=["no", "yes"])
    else:
        task = Task(name="small", X=X, y=rng.random(24), classes=[], task_type="regression")
    family = MODELS["knn"].for_task(task_type)
    result = evaluate(task, family, {"n_neighbors": 20, "weights": "uniform", "p": 1.0}, fidelity=1.0, seed=0,
                      splits=task.cv_splits(2, seed=0), metric="1-auc" if task_type == "classification" else "rmse")
    assert result.state == TrialState.FAILED, result
    assert "n_neighbors = 20 is more than the 12 rows of the training fold" in result.error, result.error


# -- exports are written whole ---------------------------------------------------------------------
def _export(store: Path, fmt: str, out: Path, *, before: str = "", limit_bytes: int | None = None):
    """`hpo-bench export` in a process of its own, after `before` (Python that sets up a fault)."""
    import resource
    import signal

    def limit() -> None:
        if limit_bytes is not None:  # a disk that is full after limit_bytes: writes beyond fail (EFBIG)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    code = before + "\nimport sys\nfrom hpo_bench.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    return subprocess.run([sys.executable, "-c", code, "export", str(store), "--format", fmt, "--output", str(out)],
                          capture_output=True, text=True, preexec_fn=limit, timeout=300,
                          cwd=Path(hpo_bench.__file__).parents[1])


KILL_MID_CSV = """
import os, signal
import pandas as pd
def to_csv(self, path, **kw):
    open(path, "w").write("experiment,exper")  # half a header, then the process is killed
    os.kill(os.getpid(), signal.SIGKILL)
pd.DataFrame.to_csv = to_csv
"""
KILL_MID_MLFLOW = """
import os, signal
from mlflow.tracking import MlflowClient
def set_terminated(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
MlflowClient.set_terminated = set_terminated
"""


@pytest.mark.parametrize(("fmt", "name", "fault"), [("csv", "t.csv", KILL_MID_CSV),
                                                    ("mlflow", "m", KILL_MID_MLFLOW)])
def test_an_export_killed_part_way_leaves_no_output_and_the_next_export_works(real_store, tmp_path, fmt, name, fault):
    """Fails before issue 34: a truncated t.csv; a half-written m/mlflow.db that the next export refused."""
    if fmt == "mlflow":
        pytest.importorskip("mlflow")
    out = tmp_path / name
    killed = _export(real_store, fmt, out, before=fault)
    assert killed.returncode == -9, killed.stderr
    assert not (out / "mlflow.db" if fmt == "mlflow" else out).exists()
    again = _export(real_store, fmt, out)
    assert again.returncode == 0, again.stderr
    if fmt == "csv":
        assert len(out.read_text().splitlines()) == 31  # a header and the 30 trials


@pytest.mark.parametrize(("fmt", "name"), [("optuna", "o.db"), ("csv", "t.csv"), ("parquet", "t.parquet")])
def test_a_full_disk_names_the_output_and_leaves_nothing(real_store, tmp_path, fmt, name):
    """Fails before issue 34 for Optuna (SQLite's "disk is full" was reported as the store's) and for CSV and
    Parquet (a truncated file stayed)."""
    folder = tmp_path / "out"
    folder.mkdir()
    done = _export(real_store, fmt, folder / name, limit_bytes=4096)
    assert done.returncode == 2, done.stderr
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and err.startswith(f"hpo-bench: error: {folder / name}: cannot write it"), err
    assert str(real_store) not in err
    assert list(folder.iterdir()) == []
