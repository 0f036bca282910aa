"""The evaluation process a Dask worker or a Ray actor keeps across jobs: a child that receives the task data
once, when it starts, then evaluates one job at a time with a local worker's loop (worker.py).

Its owner can kill it, which really stops a fit (a time limit), and survives its crash (a worker death
is retried once in a fresh one); the owner's copy of the task data goes on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from multiprocessing.connection import Connection, wait
from typing import Any

from hpo_bench.errors import HpoBenchError
from hpo_bench.executors.base import Job, WorkerContext
from hpo_bench.executors.worker import worker_main

START_S = 300.0  # a loaded node may take a while to import scikit-learn and xgboost


def sandbox_main(fd: int, parent_pid: int) -> None:
    """Entry point of a sandbox child: the same loop as a local worker, over a socket from its owner."""
    worker_main(Connection(fd), parent_pid)


class Sandbox:
    """One evaluation process owned by a Dask worker or a Ray actor (`owner` names it in errors)."""

    def __init__(self, context_id: str, context: WorkerContext, owner: str = "Dask worker") -> None:
        parent, child = socket.socketpair()
        code = f"from hpo_bench.executors.sandbox import sandbox_main; sandbox_main({child.fileno()}, {os.getpid()})"
        # The child sees its owner's sys.path, as a spawned local worker sees the driver's, so model
        # families importable by the worker (e.g. "families:NAME" in the tests) are importable here too.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.process = subprocess.Popen([sys.executable, "-c", code], pass_fds=[child.fileno()], env=env,
                                        stdin=subprocess.DEVNULL)
        child.close()
        self.conn = Connection(parent.detach())
        self.context_id = context_id
        try:
            # The same handshake as a local worker: the task data, then "ready" once it has warmed up.
            self.conn.send(context)
            if not self.conn.poll(START_S) or self.conn.recv() != "ready":
                raise OSError(f"no answer within {START_S:g} s")
        except (EOFError, OSError) as exc:
            self.stop(kill=True)
            raise HpoBenchError(f"the evaluation process of a {owner} did not start (exit code "
                                f"{self.process.returncode}): {exc}") from None

    def run(self, job: Job, time_limit_s: float | None) -> tuple[str, Any]:
        """("ok", TrialResult), ("timeout", seconds) or ("died", exit code)."""
        start = time.monotonic()
        try:
            self.conn.send(job)
            if not wait([self.conn], time_limit_s):
                return "timeout", time.monotonic() - start
            _, result = self.conn.recv()
            return "ok", result
        except (EOFError, OSError):
            self.stop(kill=True)
            return "died", self.process.returncode

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.conn.close()
