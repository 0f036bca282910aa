"""hpo-bench: benchmark hyperparameter optimisation on real data."""

from __future__ import annotations

__version__ = "0.1.0"
