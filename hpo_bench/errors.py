"""The project's exceptions. Each message names the value, the rule and where it came from."""

from __future__ import annotations


class HpoBenchError(Exception):
    """Base of every error hpo-bench raises on purpose; the CLI turns it into one line and exit 2."""


class SpaceError(HpoBenchError, ValueError):
    """A search space definition or a configuration that breaks a space."""


class ExperimentError(HpoBenchError, ValueError):
    """An experiment file that cannot be parsed or does not follow the rules."""


class TaskError(HpoBenchError):
    """A task that cannot be found, loaded or built."""


class StoreError(HpoBenchError):
    """A result store that does not match the experiment being run, or cannot be read."""


class OptimizerExhausted(Exception):  # noqa: N818  (a signal, not an error)
    """Raised by `Optimizer.ask` when it has nothing left to suggest (a finished grid)."""
