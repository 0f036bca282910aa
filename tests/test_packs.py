"""Packs (results/<name>/): the exact round trip, packing that changes nothing when nothing changed, a
pack refused when damaged or foreign, every reader taking a pack, and a study continued from a pack on a
machine without its store giving the trials an uninterrupted run gives."""

from __future__ import annotations

import json
import sqlite3
import struct
from pathlib import Path

import pandas as pd
import pytest
from conftest import experiment_text
from synthetic_store import learning_rate_loss, write_store
from test_run import trials_of

from hpo_bench import packs
from hpo_bench.cli import main
from hpo_bench.errors import StoreError
from hpo_bench.store import Store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("packs") / "synthetic.sqlite"
    return write_store(path, "synthetic", {"xgboost": learning_rate_loss}, {"a": 0.0, "b": 0.05},
                       {"random": "random", "tpe": "tpe"}, budget=8, seeds=2)


def _rows(path: Path) -> dict[str, list[tuple]]:
    """Every row of every table in primary-key order, floats as their 8 bytes (bit for bit, -0.0 apart)."""
    db = sqlite3.connect(path)
    out = {}
    for table in packs.TABLES:
        info = db.execute(f"PRAGMA table_info({table})").fetchall()
        order = ", ".join(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        rows = db.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()
        out[table] = [tuple(struct.pack("<d", v) if isinstance(v, float) else v for v in row) for row in rows]
    db.close()
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


def test_round_trip_is_exact_and_packing_again_changes_no_byte(store, tmp_path):
    folder = tmp_path / "synthetic"
    summary = packs.pack(store, folder)
    assert summary.rows["trials"] == 2 * 2 * 2 * 8 and set(summary.changed) == set(packs.TABLES)
    first = _files(folder)
    assert packs.pack(store, folder).changed == () and _files(folder) == first
    back = tmp_path / "back.sqlite"
    packs.unpack(folder, back)
    assert _rows(back) == _rows(store)
    # the store made from the pack packs to the same bytes (its rows, JSON text and floats are the store's)
    assert packs.pack(back, folder).changed == () and _files(folder) == first
    packs.pack(back, tmp_path / "again")
    assert _files(tmp_path / "again") == first


def test_a_pack_reads_with_pandas_alone_and_its_descriptor_documents_every_column(store, tmp_path):
    folder = tmp_path / "synthetic"
    packs.pack(store, folder)
    descriptor = json.loads((folder / packs.DESCRIPTOR).read_text())
    with Store(store, create=False) as opened:
        expected = pd.read_sql_query("SELECT * FROM trials ORDER BY run_id, trial_number", opened.db)
    trials = pd.read_parquet(folder / "trials.parquet")
    # pandas reads an all-empty text column as its string dtype from Parquet, as objects from SQLite
    same = [df.astype(object).where(df.notna(), None) for df in (trials, expected)]
    pd.testing.assert_frame_equal(*same)
    schema = sqlite3.connect(store)
    for resource in descriptor["resources"]:
        columns = [r[1] for r in schema.execute(f"PRAGMA table_info({resource['name']})")]
        assert [f["name"] for f in resource["schema"]["fields"]] == columns
        assert all(f["description"] for f in resource["schema"]["fields"])
        assert resource["rows"] == len(pd.read_parquet(folder / resource["path"]))
    own = descriptor["hpo_bench"]
    assert own["experiment"]["file_text"].startswith('name = "synthetic"') and len(own["experiment"]["file_hash"]) == 64
    assert own["data_fingerprints"] == {"a": "synthetic-a", "b": "synthetic-b"} and own["package_versions"]


def test_a_damaged_foreign_or_partial_pack_is_refused_with_one_line(store, tmp_path, capsys):
    good = tmp_path / "synthetic"
    packs.pack(store, good)

    def broken(name: str, change) -> Path:
        folder = tmp_path / name
        folder.mkdir()
        for file, data in _files(good).items():
            (folder / file).write_bytes(data)
        change(folder)
        return folder

    def flip(folder: Path) -> None:
        data = bytearray((folder / "trials.parquet").read_bytes())
        data[len(data) // 2] ^= 1
        (folder / "trials.parquet").write_bytes(bytes(data))

    def escape(folder: Path) -> None:
        descriptor = json.loads((folder / packs.DESCRIPTOR).read_text())
        descriptor["resources"][0]["path"] = "../../etc/passwd"
        (folder / packs.DESCRIPTOR).write_text(json.dumps(descriptor))

    cases = {
        "tampered": (flip, "trials.parquet: its size or SHA-256 does not match"),
        "partial": (lambda f: (f / "runs.parquet").unlink(), "runs.parquet: missing"),
        "escape": (escape, "resource path '../../etc/passwd' is not a plain file name"),
        "foreign": (lambda f: (f / packs.DESCRIPTOR).write_text('{"name": "x", "resources": []}'),
                    "not an hpo-bench pack"),
        "garbage": (lambda f: (f / packs.DESCRIPTOR).write_bytes(b"\x00\xff"), "not a pack descriptor"),
        "empty": (lambda f: (f / packs.DESCRIPTOR).unlink(), "is a folder, not a result store"),
    }
    for name, (change, message) in cases.items():
        folder = broken(name, change)
        with pytest.raises(StoreError, match="^.*" + message.replace("(", r"\(").replace("?", r"\?")):
            packs.read_descriptor(folder)
        for argv in (["results", "unpack", str(folder), "--output", str(tmp_path / f"{name}.sqlite")],
                     ["status", str(folder)]):
            assert main(argv) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and message.split(":")[0] in err and "Traceback" not in err
        assert not (tmp_path / f"{name}.sqlite").exists()


def test_outputs_that_exist_are_refused_and_nothing_is_written(store, tmp_path, capsys):
    folder = tmp_path / "synthetic"
    packs.pack(store, folder)
    before = _files(folder)
    existing = tmp_path / "existing.sqlite"
    existing.write_bytes(b"mine")
    assert main(["results", "unpack", str(folder), "--output", str(existing)]) == 2
    assert "exists; unpack into a new store" in capsys.readouterr().err and existing.read_bytes() == b"mine"
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(["results", "pack", str(store), "--output", str(other)]) == 2
    assert "exists and is not a pack" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    # the pack of another experiment is not overwritten either
    another = write_store(tmp_path / "another.sqlite", "another", {"xgboost": learning_rate_loss}, {"a": 0.0},
                          {"random": "random"}, budget=3)
    assert main(["results", "pack", str(another), "--output", str(folder)]) == 2
    assert "holds the pack of another experiment" in capsys.readouterr().err and _files(folder) == before


def test_every_reader_takes_a_pack_and_reads_what_the_store_holds(store, tmp_path, capsys):
    folder = tmp_path / "synthetic"
    packs.pack(store, folder)
    views = []
    for target in (store, folder):
        assert main(["status", str(target)]) == 0
        views.append(capsys.readouterr().out)
    assert views[0] == views[1] and "64 trials" in views[0]
    assert main(["analyze", str(store), "--reports-dir", str(tmp_path / "from-store")]) == 0
    assert main(["analyze", str(folder), "--reports-dir", str(tmp_path / "from-pack")]) == 0
    made = sorted((tmp_path / "from-store" / "synthetic").glob("*.csv"))
    assert made and all(f.read_bytes() == (tmp_path / "from-pack" / "synthetic" / f.name).read_bytes() for f in made)
    assert main(["export", str(folder), "--output", str(tmp_path / "t.csv"), "--format", "csv"]) == 0
    assert len(pd.read_csv(tmp_path / "t.csv")) == 2 * 2 * 2 * 8


def _sitting_experiment(tmp_path: Path) -> Path:
    exp = tmp_path / "exp.toml"
    exp.write_text(experiment_text(models='["knn", "decision_tree"]', budget_evals=4, seeds=2,
                                   executor='"inline"', optimizers="random = {}\ntpe = {}"))
    return exp


def test_a_study_continued_from_its_pack_gives_the_trials_of_an_uninterrupted_run(tmp_path, capsys):
    exp = _sitting_experiment(tmp_path)
    whole, sittings = tmp_path / "whole", tmp_path / "sittings"
    assert main(["run", str(exp), "--results-dir", str(whole)]) == 0
    # first sitting: one model; pack it; the store is lost (another machine); the next sitting finds the pack
    assert main(["run", str(exp), "--results-dir", str(sittings), "--models", "knn"]) == 0
    assert main(["results", "pack", str(exp), "--results-dir", str(sittings)]) == 0
    (sittings / "tiny.sqlite").unlink()
    capsys.readouterr()
    assert main(["run", str(exp), "--results-dir", str(sittings)]) == 0
    assert "continuing from the pack" in capsys.readouterr().err
    pd.testing.assert_frame_equal(trials_of(sittings / "tiny.sqlite"), trials_of(whole / "tiny.sqlite"))
    # packing after the sitting updates the folder: the trials table and the runs' status change
    assert main(["results", "pack", str(exp), "--results-dir", str(sittings)]) == 0
    assert "rewrote" in capsys.readouterr().out and len(pd.read_parquet(sittings / "tiny" / "trials.parquet")) == len(
        trials_of(whole / "tiny.sqlite"))


def test_a_pack_of_another_experiment_file_is_refused_by_run_and_nothing_is_written(tmp_path, capsys):
    exp = _sitting_experiment(tmp_path)
    results = tmp_path / "results"
    assert main(["run", str(exp), "--results-dir", str(results), "--models", "knn"]) == 0
    assert main(["results", "pack", str(exp), "--results-dir", str(results)]) == 0
    (results / "tiny.sqlite").unlink()
    exp.write_text(exp.read_text().replace("budget_evals = 4", "budget_evals = 5"))
    capsys.readouterr()
    assert main(["run", str(exp), "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a different version of the experiment file" in err
    assert sorted(p.name for p in results.iterdir()) == ["tiny"]


def test_committed_packs_stay_within_the_size_budget():
    found = [f for f in sorted((REPO / "results").iterdir()) if packs.is_pack(f)]
    assert found, "no committed pack in results/"
    total = 0
    for folder in found:
        size = sum(f.stat().st_size for f in folder.iterdir())
        assert size <= packs.MAX_PACK_BYTES, f"{folder.name}: {size:,} bytes > {packs.MAX_PACK_BYTES:,}"
        packs.read_descriptor(folder)  # intact: every file as its descriptor says
        total += size
    assert total <= packs.MAX_TOTAL_BYTES
