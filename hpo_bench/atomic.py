"""Outputs written whole or not at all: a temporary file beside the output, renamed over it when complete.

A rename within one folder is atomic, so whoever opens the output sees the whole export or no file: a
kill, a full disk or an error part-way leaves no truncated file and no partial database that the next
export would refuse as existing. The temporary file is hidden and named after the output and this
process (`.NAME.PID.partial`): a killed export's leftover blocks nothing and says what it was.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hpo_bench.errors import HpoBenchError


def partial_path(path: Path) -> Path:
    """Where `path` is written before it is complete: hidden, beside it, named after it and this process."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def is_partial(name: str) -> bool:
    """Whether a file name is a partial output's (or its SQLite journal's), left by a killed export."""
    return name.startswith(".") and name.rsplit(".", 1)[-1] in ("partial", "partial-wal", "partial-shm",
                                                                 "partial-journal")


@contextmanager
def written_whole(path: str | Path) -> Iterator[Path]:
    """The temporary path to write `path` to; renamed to `path` when the block ends, removed if it raises.

    A failure to write (OSError, SQLite's "database or disk is full") becomes one HpoBenchError naming the
    output, not the store being read, with the system's reason."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(path)
    journals = [partial.with_name(partial.name + suffix) for suffix in ("-wal", "-shm", "-journal")]
    partial.unlink(missing_ok=True)
    try:
        yield partial
        partial.replace(path)
    except (OSError, sqlite3.Error) as exc:
        _remove(partial, *journals)
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise HpoBenchError(f"{path}: cannot write it ({reason}); nothing was written") from None
    except BaseException:
        _remove(partial, *journals)
        raise
    _remove(*journals)


def _remove(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


__all__ = ["is_partial", "partial_path", "written_whole"]
