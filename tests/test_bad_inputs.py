"""Bad inputs and faults: each exits 2 with one line naming the value, the rule and where it came from, with
no traceback (that needs --debug), and writes nothing outside its folder. Then the faults of a running
store: read-only opening, the run lock, signals and the workers of a killed driver."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import experiment_text

from hpo_bench.cli import main
from hpo_bench.store import Store

TESTS = Path(__file__).parent
ROOT = TESTS.parent
GOOD = experiment_text(budget_evals=3, seeds=1, n_workers=1)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished store of a tiny experiment (3 trials), made once; tests copy it."""
    root = tmp_path_factory.mktemp("finished")
    (root / "e.toml").write_text(GOOD)
    assert main(["run", str(root / "e.toml"), "--results-dir", str(root / "results")]) == 0
    return root / "results" / "tiny.sqlite"


@pytest.fixture
def place(tmp_path, monkeypatch, finished):
    """A folder with the good experiment file and a copy of its finished store, as the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HPO_BENCH_TASK_STORE", str(tmp_path / "tasks"))
    (tmp_path / "e.toml").write_text(GOOD)
    (tmp_path / "results").mkdir()
    shutil.copy(finished, tmp_path / "results" / "tiny.sqlite")
    return tmp_path


def _store_named(place: Path, name: str) -> Path:
    """A copy of the finished store whose recorded experiment name is `name` (made elsewhere, or edited)."""
    path = place / "results" / "renamed.sqlite"
    shutil.copy(place / "results" / "tiny.sqlite", path)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE experiment SET name = ?", (name,))
    db.close()
    return path


def _write(place: Path, name: str, content: str | bytes) -> str:
    path = place / name
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return str(path)


def _task_store_with_credit(place: Path) -> Path:
    """A task store holding one imported task (a small CSV), to break its task.json."""
    store = place / "tasks"
    csv = place / "small.csv"
    csv.write_text("a,b,label\n" + "".join(f"{i},{i % 3},{'yes' if i % 2 else 'no'}\n" for i in range(40)))
    assert main(["tasks", "import", str(csv), "--target", "label", "--task-store", str(store)]) == 0
    return store


def _drop_key(store: Path, key: str) -> None:
    meta_path = next(store.glob("*/task.json"))
    meta = json.loads(meta_path.read_text())
    del meta[key]
    meta_path.write_text(json.dumps(meta))


# (case id, arguments (with {p} for the folder), a piece of the message). Setup functions below make files.
def _cases():
    exp = lambda **kw: experiment_text(budget_evals=3, seeds=1, n_workers=1, **kw)  # noqa: E731
    run = lambda text: (lambda p: ["run", _write(p, "bad.toml", text), "--results-dir", str(p / "out")])  # noqa: E731
    return [
        # 1. paths that escape their folder
        ("name-absolute", run(exp(name='"/tmp/hpo-bench-escape"')), "name = '/tmp/hpo-bench-escape'"),
        ("name-slash", run(exp(name='"a/../../b"')), "name = 'a/../../b'"),
        ("name-dot", run(exp(name='"."')), "name = '.'"),
        ("name-dotdot", run(exp(name='".."')), "name = '..'"),
        ("name-long", run(exp(name='"' + "x" * 101 + '"')), "at most 100"),
        ("name-not-string", run(exp(name="3")), "name = 3"),
        ("task-dot", run(exp(tasks='["."]')), "task '.': not a name"),
        ("task-dotdot", run(exp(tasks='[".."]')), "task '..': not a name"),
        ("task-hidden", run(exp(tasks='[".cache"]')), "task '.cache': not a name"),
        ("store-name-absolute", lambda p: ["analyze", str(_store_named(p, str(p.parent / "escaped"))),
                                           "--reports-dir", str(p / "reports")], "the experiment name stored in it"),
        ("store-name-dotdot-report", lambda p: ["report", str(_store_named(p, "..")), "--reports-dir",
                                                str(p / "reports")], "name = '..'"),
        ("store-name-export", lambda p: ["export", str(_store_named(p, "../../x")), "--reports-dir",
                                         str(p / "reports")], "name = '../../x'"),
        # 2. files and stores
        ("store-directory", lambda p: ["status", str((p / "adir.sqlite").mkdir() or p / "adir.sqlite")],
         "is a folder, not a result store"),
        ("store-text", lambda p: ["status", _write(p, "t.sqlite", "just some text\n" * 50)],
         "not a readable hpo-bench store"),
        ("store-truncated", lambda p: ["analyze", _write(p, "half.sqlite", (p / "results" / "tiny.sqlite")
                                                         .read_bytes()[:20000]), "--reports-dir", str(p / "r")],
         "not a readable hpo-bench store"),
        ("store-foreign", lambda p: ["status", _foreign(p)], "not an hpo-bench store"),
        ("store-missing", lambda p: ["status", str(p / "none.sqlite")], "no result store at"),
        ("store-empty", lambda p: ["analyze", _empty_store(p), "--reports-dir", str(p / "r")], "no experiment yet"),
        ("results-dir-is-file", lambda p: ["run", "e.toml", "--results-dir", _write(p, "f", "x")], "--results-dir"),
        ("reports-dir-is-file", lambda p: ["analyze", "e.toml", "--reports-dir", _write(p, "rf", "x")],
         "--reports-dir"),
        ("export-output-folder", lambda p: ["export", "e.toml", "--output", str(p / "results")], "is a folder"),
        ("export-output-under-file", lambda p: ["export", "e.toml", "--output", _write(p, "o", "x") + "/t.csv"],
         "is a file, not a folder"),
        # /dev/full exists: refused as any existing output is, by every format, before a byte is written
        ("output-disk-full", lambda p: ["export", "e.toml", "--output", "/dev/full", "--format", "csv"],
         "--output /dev/full: already exists; an export never overwrites"),
        ("output-disk-full-parquet", lambda p: ["export", "e.toml", "--output", "/dev/full"], "--output /dev/full"),
        ("results-dir-unwritable", lambda p: ["run", "e.toml", "--results-dir", "/proc/hpo-bench-test"],
         "/proc/hpo-bench-test"),  # /proc refuses new folders even to root
        ("reports-dir-unwritable", lambda p: ["report", "e.toml", "--reports-dir", "/proc/hpo-bench-test"],
         "/proc/hpo-bench-test"),
        ("reference-binary", lambda p: ["analyze", "e.toml", "--reports-dir", str(p / "r"), "--reference",
                                        _write(p, "ref.csv", bytes(range(256)) * 8)], "--reference"),
        ("reference-folder", lambda p: ["analyze", "e.toml", "--reports-dir", str(p / "r"), "--reference",
                                        str(p / "results")], "--reference"),
        ("reference-columns", lambda p: ["analyze", "e.toml", "--reports-dir", str(p / "r"), "--reference",
                                         _write(p, "ref2.csv", "task,model\na,b\n")], "missing column"),
        ("experiment-binary", run(b"\xff\xfe\x00\x81" * 64), "is not UTF-8 text"),
        ("experiment-folder", lambda p: ["run", str(p / "results"), "--results-dir", str(p / "out")],
         "cannot read experiment file"),
        ("experiment-missing", lambda p: ["status", str(p / "nope.toml")], "cannot read experiment file"),
        ("import-binary", lambda p: ["tasks", "import", _write(p, "bin.csv", bytes(range(256)) * 64), "--target",
                                     "y", "--task-store", str(p / "tasks")], "bin.csv"),
        ("import-binary-manifest", lambda p: ["tasks", "import", _write(p, "bin2.csv", b"\xff\xfe" * 99),
                                              "--task-store", str(p / "tasks")], "give --target COLUMN"),
        ("task-store-file-list", lambda p: ["tasks", "list", "--task-store", _write(p, "ts", "x")],
         "is a file, not a folder"),
        ("task-store-file-run", lambda p: ["run", "e.toml", "--results-dir", str(p / "out"), "--task-store",
                                           _write(p, "ts2", "x")], "is a file, not a folder"),
        ("task-json-missing-key", lambda p: (_drop_key(_task_store_with_credit(p), "classes"),
                                             ["tasks", "list", "--task-store", str(p / "tasks")])[1],
         "lacks classes"),
        ("task-json-not-object", lambda p: ["tasks", "list", "--task-store", _task_json(p, "[1, 2]")],
         "not a JSON object"),
        ("seeds-huge", run(exp().replace("seeds = 1", "seeds = 1000000000000")), "seeds = 1000000000000"),
        ("seeds-list-long", run(exp().replace("seeds = 1", f"seeds = {list(range(100_001))}")), "seeds"),
        ("budget-huge", run(exp().replace("budget_evals = 3", "budget_evals = 10000000000")), "at most"),
        # 7. limits
        ("n-workers-file-huge", run(exp().replace("n_workers = 1", "n_workers = 1000000000")), "at most 10,000"),
        ("n-workers-zero", lambda p: ["run", "e.toml", "--n-workers", "0"], "--n-workers 0"),
        ("n-workers-huge", lambda p: ["run", "e.toml", "--n-workers", "999999999"], "--n-workers 999999999"),
        ("n-workers-text", lambda p: ["run", "e.toml", "--n-workers", "many"], "invalid int value: 'many'"),
        ("address-port", run(exp(executor='"dask"', scheduler_address='"tcp://h:99999"')), "tcp://h:99999"),
        ("address-unicode-port", run(exp(executor='"dask"', scheduler_address='"tcp://h:\uff18\uff17"')),
         "SCHEME://HOST:PORT"),
        ("address-space", run(exp(executor='"dask"', scheduler_address='"tcp://my host:8786"')), "my host"),
        ("address-cli", lambda p: ["run", "e.toml", "--executor", "dask", "--scheduler", "tcp://[::1:8786"],
         "--scheduler"),
        ("address-port-zero", lambda p: ["run", "e.toml", "--executor", "dask", "--scheduler", "tcp://h:0"],
         "--scheduler"),
        # 8. misspelt keys
        ("key-misspelt", run(exp(budget_eval="3")), "did you mean 'budget_evals'?"),
        ("option-misspelt", run(exp(optimizers="grid = { n_point = 3 }")), "did you mean 'n_points'?"),
        ("optimizer-misspelt", run(exp(optimizers="randm = {}")), "did you mean 'random'?"),
        ("optimizer-type-list", run(exp(optimizers="x = { type = [1] }")), "optimizers.x.type = [1]"),
        ("model-misspelt", run(exp(models='["xgbost"]')), "did you mean 'xgboost'?"),
        # 9. model names
        ("model-colon", run(exp(models='[":x"]')), "model ':x'"),
        ("model-relative", run(exp(models='["..:x"]')), "model '..:x'"),
        ("model-no-attribute", run(exp(models='["os:"]')), "model 'os:'"),
        ("models-show-colon", lambda p: ["models", "show", ":x"], "model ':x'"),
        ("models-show-relative", lambda p: ["models", "show", ".hpo_bench:x"], "model '.hpo_bench:x'"),
        # 10. optimizers built on every space they will search when the file is read: options out of range,
        # spaces an optimizer cannot search, names that do not resolve (no run crashes later)
        ("hyperopt-int-condition", run(exp(models='["mlp"]', optimizers="hyperopt-tpe = {}")),
         "optimizers.hyperopt-tpe on mlp: optimizer 'hyperopt-tpe': parameter 'width_2' is conditioned on the numeric "
         "parameter 'n_layers'; only choices can branch in Hyperopt"),
        ("cmaes-one-parameter", run(exp(models='["knn"]', tune='["all", "each"]', optimizers="optuna-cmaes = {}")),
         "optimizers.optuna-cmaes on knn tuning n_neighbors: optimizer 'optuna-cmaes': CMA-ES needs at least two "
         "unconditional numeric parameters, the space has 1"),
        ("halving-no-fidelity", run(exp(models='["knn"]', optimizers="halving = {}")),
         "optimizers.halving on knn: optimizer 'halving' asks fidelities below 1, and knn has no fidelity parameter"),
        ("hyperband-no-fidelity", run(exp(models='["xgboost", "svm"]', optimizers='hb = { type = "hyperband" }')),
         "optimizers.hb on svm: optimizer 'hyperband' asks fidelities below 1"),
        ("tpe-n-startup-negative", run(exp(optimizers="tpe = { n_startup = -1 }")),
         "optimizers.tpe on xgboost: optimizer 'tpe': option n_startup = -1 must be >= 1"),
        ("gp-n-local-negative", run(exp(optimizers="gp = { n_local = -1 }")), "option n_local = -1 must be >= 0"),
        ("optuna-startup-negative", run(exp(optimizers="optuna-tpe = { n_startup_trials = -1 }")),
         "optimizer 'optuna-tpe': option n_startup_trials = -1 must be >= 0"),
        ("hyperopt-startup-negative", run(exp(optimizers="hyperopt-tpe = { n_startup_jobs = -2 }")),
         "optimizer 'hyperopt-tpe': option n_startup_jobs = -2 must be >= 0"),
        ("halving-factor", run(exp(optimizers="halving = { factor = 1 }")), "option factor = 1 must be > 1"),
        ("halving-last-rung", run(exp(optimizers="halving = { n_candidates = 10 }")),
         "the last rung gets resource 9 < max_resources = 27"),
        ("grid-too-large", run(exp(optimizers="grid = { n_points = 40 }")), "(at most 2,000,000); lower n_points"),
        ("grid-budget-per-model", run(exp(models='["knn", "xgboost"]', optimizers="grid = {}").replace(
            "budget_evals = 3", "budget_evals = { knn = 3, xgboost = 3000000 }")),
         "optimizers.grid on xgboost: optimizer 'grid': 6 points per dimension, the fewest whose grid covers "
         "budget_evals = 3,000,000 make"),
        ("optimizer-module-missing", run(exp(optimizers='x = { type = "no_such_module_xyz:Opt" }')),
         "optimizer type 'no_such_module_xyz:Opt': cannot import module 'no_such_module_xyz': No module named "
         "'no_such_module_xyz'; is the folder holding it on PYTHONPATH?"),
        ("optimizer-attribute-missing", run(exp(optimizers='x = { type = "hpo_bench.optimizers:Nope" }')),
         "module 'hpo_bench.optimizers' has no attribute 'Nope'"),
        ("optimizer-not-a-class", run(exp(optimizers='x = { type = "hpo_bench.space:config_key" }')),
         "is the function config_key: an optimizer type must be a subclass of hpo_bench.optimizers.Optimizer"),
        ("optimizer-abstract", run(exp(optimizers='x = { type = "hpo_bench.optimizers:Optimizer" }')),
         "is the class Optimizer: it is abstract (it does not define ask)"),
        ("model-class-not-instance", run(exp(models='["optimizer_families:TinyForest"]')),
         "model 'optimizer_families:TinyForest' is the class TinyForest: name an instance of it"),
        ("model-not-a-family", run(exp(models='["hpo_bench.space:SearchSpace"]')),
         "a model must be an hpo_bench.models.ModelFamily instance"),
        # the command line
        ("command-misspelt", lambda p: ["stauts", "e.toml"], "invalid choice: 'stauts'"),
        ("metric-unknown", lambda p: ["analyze", "e.toml", "--metric", "auc"], "--metric auc"),
        ("models-unknown", lambda p: ["run", "e.toml", "--models", "svm"], "--models svm"),
    ]


def _foreign(p: Path) -> str:
    path = p / "foreign.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE songs (title TEXT)")
    db.close()
    return str(path)


def _empty_store(p: Path) -> str:
    Store(p / "empty.sqlite").close()
    return str(p / "empty.sqlite")


def _task_json(p: Path, text: str) -> str:
    (p / "ts3" / "broken").mkdir(parents=True)
    (p / "ts3" / "broken" / "task.json").write_text(text)
    return str(p / "ts3")


CASES = _cases()


def test_there_are_at_least_40_distinct_bad_inputs():
    assert len({c[0] for c in CASES}) == len(CASES) >= 40


@pytest.mark.parametrize("args, message", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_input_exits_2_with_one_line_and_writes_nothing(place, capsys, args, message):
    argv = args(place)
    before = _files(place)
    outside = _files(place.parent) - before - {place}
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse exits itself
        code = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, (argv, err)
    assert len(lines) == 1 and lines[0].startswith("hpo-bench: error: "), lines
    assert message in lines[0], lines
    assert "Traceback" not in err
    assert _files(place) == before, sorted(map(str, _files(place) - before))  # nothing written here either
    assert _files(place.parent) - _files(place) - {place} == outside
    assert not Path("/tmp/hpo-bench-escape").exists() and not (place.parent / "escaped").exists()


def test_with_debug_a_bad_input_shows_its_traceback(place):
    (place / "bad.toml").write_text(experiment_text(models='["..:x"]'))
    result = subprocess.run([sys.executable, "-m", "hpo_bench.cli", "--debug", "run", "bad.toml"], cwd=place,
                            capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_status_and_analyze_of_an_experiment_file_say_when_it_has_changed(place, capsys):
    (place / "e.toml").write_text(GOOD.replace('name = "tiny"', 'name = "tiny"\ndescription = "edited"'))
    for args in (["status", "e.toml"], ["analyze", "e.toml", "--reports-dir", str(place / "r")],
                 ["export", "e.toml", "--output", str(place / "t.csv"), "--format", "csv"],
                 ["report", "e.toml", "--reports-dir", str(place / "r")]):
        capsys.readouterr()
        assert main(args) == 0
        notes = [line for line in capsys.readouterr().err.splitlines() if "has changed since" in line]
        assert len(notes) == 1 and "e.toml has changed since" in notes[0] and "sha256" in notes[0], notes
    (place / "e.toml").write_text(GOOD)
    capsys.readouterr()
    assert main(["status", "e.toml"]) == 0
    assert "has changed" not in capsys.readouterr().err


# -- a store with no complete trial --------------------------------------------------------------------------
def test_report_of_a_store_without_a_complete_trial_is_written_with_the_figures_that_apply(place, capsys):
    (place / "f.toml").write_text(experiment_text(name='"fails"', models='["families:ALWAYS_FAILING_LOGREG"]',
                                                  budget_evals=3, seeds=1, n_workers=1))
    assert main(["run", "f.toml"]) == 0
    capsys.readouterr()
    assert main(["report", "f.toml", "--reports-dir", str(place / "reports")]) == 0
    out = capsys.readouterr().out
    assert (place / "reports" / "fails" / "index.html").is_file()
    left_out = [line for line in out.splitlines() if line.startswith("left out ")]
    assert len(left_out) == 1 and "figure best_found" in left_out[0], out  # one line; the reasons in the page
    assert "figure best_found: nothing to plot" in (place / "reports" / "fails" / "index.md").read_text()


# -- read-only stores ------------------------------------------------------------------------------------------
def test_readers_open_the_store_read_only_and_leave_no_files_beside_it(place, capsys):
    db = place / "results" / "tiny.sqlite"
    assert not Path(f"{db}-wal").exists() and not Path(f"{db}-shm").exists()
    store = Store(db, create=False)
    try:
        assert "mode=ro" in store.uri and "immutable=1" in store.uri  # no -wal: nobody is writing it
        with pytest.raises(sqlite3.OperationalError, match="readonly"):  # even as root
            store.db.execute("DELETE FROM trials")
    finally:
        store.close()
    for args in (["status", "e.toml"], ["analyze", "e.toml", "--reports-dir", str(place / "r")],
                 ["report", "e.toml", "--reports-dir", str(place / "r")],
                 ["export", "e.toml", "--output", str(place / "t.parquet")]):
        assert main(args) == 0, args
    assert sorted(p.name for p in db.parent.iterdir()) == ["tiny.sqlite"]  # no -wal, -shm or lock left


def test_a_reader_beside_a_running_writer_shares_its_wal(place):
    """With a -wal file (a run has the store open) a reader opens mode=ro without immutable: it sees what
    the writer commits."""
    writer = Store(place / "results" / "tiny.sqlite")
    try:
        writer.db.execute("INSERT INTO meta VALUES ('probe', '1')")
        reader = Store(place / "results" / "tiny.sqlite", create=False)
        assert "mode=ro" in reader.uri and "immutable" not in reader.uri
        assert reader.db.execute("SELECT value FROM meta WHERE key = 'probe'").fetchone()[0] == "1"
        reader.close()
    finally:
        writer.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through chmod -w: read-only media cannot be made")
def test_a_finished_store_in_a_read_only_folder_can_be_read(place, capsys):
    folder = place / "results"
    (folder / "tiny.sqlite").chmod(0o444)
    folder.chmod(0o555)
    try:
        assert main(["status", "e.toml"]) == 0
        assert main(["analyze", "e.toml", "--reports-dir", str(place / "r")]) == 0
        store = Store(folder / "tiny.sqlite", create=False)
        assert store.uri.endswith("immutable=1")
        store.close()
    finally:
        folder.chmod(0o755)


def test_a_store_in_a_folder_it_cannot_write_is_opened_immutable(place, monkeypatch, capsys):
    """What root cannot test with chmod: the choice made when the folder is not writable (os.access says
    so), here with a -wal file present, where a writable folder would share it."""
    db = place / "results" / "tiny.sqlite"
    writer = Store(db)  # leaves a -wal beside the store while open
    try:
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: False if Path(path) == db.parent else
                            real_access(path, mode))
        store = Store(db, create=False)
        assert store.uri.endswith("?mode=ro&immutable=1")
        assert len(store.runs()) == 1
        store.close()
        assert main(["status", str(db)]) == 0
        assert "tiny: 1 runs (1 done); 3 trials" in capsys.readouterr().out
    finally:
        writer.close()


# -- processes: the run lock, signals, workers of a killed driver ----------------------------------------------
# Two runs of 12 trials; each trial sleeps 0-1 s per fold (3 folds): about 20 s on two workers.
SLOW = experiment_text(name='"slow"', models='["executor_families:SLEEPY"]', budget_evals=12, seeds=2,
                       n_workers=2, include_default="false")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}


def _start(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hpo_bench.cli", "run", "slow.toml", *args], cwd=cwd,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _children(pid: int) -> set[int]:
    """Processes whose parent is `pid` (its workers, and multiprocessing's resource tracker)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited (nobody may reap it in a container)


def _wait_for_trials(path: Path, n: int, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, proc.communicate()
        if path.exists():
            try:
                with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                    if db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] >= n:
                        return
            except sqlite3.Error:
                pass
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} trials in {path} after {timeout} s")


def _wait_gone(pids: set[int], timeout: float = 20.0) -> set[int]:
    end = time.monotonic() + timeout
    while time.monotonic() < end and any(map(_alive, pids)):
        time.sleep(0.2)
    return {p for p in pids if _alive(p)}


def _trials(path: Path) -> list[tuple]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT r.run_key, t.trial_number, t.config, t.fidelity, t.state, t.loss, t.fold_losses "
                          "FROM trials t JOIN runs r USING (run_id) ORDER BY r.run_key, t.trial_number").fetchall()
    db.close()
    return rows


@pytest.mark.slow
def test_a_second_run_exits_at_once_and_a_killed_runs_lock_is_taken_over(tmp_path):
    (tmp_path / "slow.toml").write_text(SLOW)
    store = tmp_path / "results" / "slow.sqlite"
    first = _start(tmp_path)
    try:
        _wait_for_trials(store, 1, first)
        start = time.monotonic()
        second = subprocess.run([sys.executable, "-m", "hpo_bench.cli", "run", "slow.toml"], cwd=tmp_path,
                                env=_env(), capture_output=True, text=True, timeout=120)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "another run is writing this store" in lines[0], lines
        assert f"pid {first.pid} on {socket.gethostname()}" in lines[0]
        assert time.monotonic() - start < 60  # no evaluation: it stops before the loop
        assert first.poll() is None, "the first run finished before it could be killed: make SLOW slower"
        workers = _children(first.pid)
        assert workers
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert not _wait_gone(workers), "workers outlived their killed driver"
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    n_before = len(_trials(store))
    assert 0 < n_before < 24
    third = subprocess.run([sys.executable, "-m", "hpo_bench.cli", "run", "slow.toml"], cwd=tmp_path, env=_env(),
                           capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr
    assert f"took over the run lock of a run that is gone (pid {first.pid} on {socket.gethostname()}" in third.stderr
    assert not Path(f"{store}.lock").exists()
    # the same trials as one uninterrupted run
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "slow.toml").write_text(SLOW)
    ref = subprocess.run([sys.executable, "-m", "hpo_bench.cli", "run", "slow.toml"], cwd=alone, env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr
    assert _trials(store) == _trials(alone / "results" / "slow.sqlite")
    assert len(_trials(store)) == 24


@pytest.mark.slow
@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGINT] * 3], ids=["sigterm", "three-ctrl-c"])
def test_sigterm_and_repeated_ctrl_c_stop_a_run_cleanly_and_leave_no_worker(tmp_path, signals):
    (tmp_path / "slow.toml").write_text(SLOW)
    store = tmp_path / "results" / "slow.sqlite"
    run = _start(tmp_path)
    try:
        _wait_for_trials(store, 1, run)
        workers = _children(run.pid)
        assert workers
        for sig in signals:
            run.send_signal(sig)
            time.sleep(0.05)
        _, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130, err
    assert "Traceback" not in err
    assert "trials are stored in results/slow.sqlite; run the same command again to continue" in err
    assert not _wait_gone(workers)
    assert not Path(f"{store}.lock").exists()


def test_the_workers_started_are_capped_by_the_runs_that_can_run_at_once(place, capsys):
    assert main(["run", "e.toml", "--results-dir", str(place / "fresh"), "--n-workers", "50"]) == 0
    err = capsys.readouterr().err
    assert "tiny: 1 runs, 1 to do, 1 workers" in err  # one run of batch 1 keeps one worker busy
    three = experiment_text(name='"three"', budget_evals=1, seeds=3, include_default="false")
    (place / "three.toml").write_text(three)
    assert main(["run", "three.toml", "--n-workers", "3"]) == 0
    err = capsys.readouterr().err
    assert "3 workers" in err
    assert ("note: 3 workers on" in err) == (3 > (os.cpu_count() or 1))
