"""Kill a run part-way and resume it: one real SIGKILL of a driver (for the `slow` tier, one test per
executor), and the same cut made in the process on a copy of a finished store (for the default tier).

A driver killed mid-run leaves, for every run, its trials stored so far (those in flight are lost) and the
run still pending: `cut_short` makes that store from a finished one without processes, so the resume it is
checked with (runs.Run replaying the stored prefix through the live ask path) costs one in-process run.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path


def count_trials(db: Path) -> int:
    """Trials stored so far (0 while the store does not exist yet); read-only, so a running driver is not held."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return conn.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    except sqlite3.Error:
        return 0


def sigkill_part_way(command: Sequence[str], db: Path, *, at_least: int, total: int,
                     env: dict[str, str] | None = None, timeout: float = 180.0, poll: float = 0.05) -> tuple[int, int]:
    """Start the driver `command` in a process group of its own, SIGKILL the whole group (the driver, its
    workers, any cluster it started) once `db` holds `at_least` trials; return how many it held then, and
    the group's id (the driver's pid).
    Asserts the kill came part-way: the driver was still running and fewer than `total` trials were stored."""
    proc = subprocess.Popen(list(command), start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + timeout
        while count_trials(db) < at_least and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(poll)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()
        proc.stderr.close()
    stored = count_trials(db)
    assert at_least <= stored < total, f"the kill came too late to test anything ({stored} of {total} stored)"
    return stored, proc.pid


def run_again(command: Sequence[str], env: dict[str, str] | None = None, timeout: float = 300.0) -> str:
    """The same command again, to the end (the resume); returns its stderr."""
    result = subprocess.run(list(command), capture_output=True, text=True, timeout=timeout, env=env)
    assert result.returncode == 0, result.stderr
    return result.stderr


def cut_short(source: Path, target: Path, keep: int | Sequence[int]) -> int:
    """A copy of the finished store `source` at `target` as a driver killed mid-run leaves it: each run keeps
    its first trials only (`keep`: one count for every run, or one per run in run_id order, cycled) and is
    pending again. Held-out test scores of the runs are dropped too (they come after the last trial).
    Returns the number of trials kept."""
    shutil.copy(source, target)
    with sqlite3.connect(target) as db:
        run_ids = [r for (r,) in db.execute("SELECT run_id FROM runs ORDER BY run_id")]
        counts = [keep] if isinstance(keep, int) else list(keep)
        for i, run_id in enumerate(run_ids):
            db.execute("DELETE FROM trials WHERE run_id = ? AND trial_number >= ?", (run_id, counts[i % len(counts)]))
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "test_scores" in tables:
            db.execute("DELETE FROM test_scores")
        db.execute("UPDATE runs SET status = 'pending', note = NULL")
        kept = db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    db.close()
    return kept
