"""What model-based optimizers remember: every suggestion asked, its result once told, its unit-cube point.

GP and TPE both learn from three kinds of points: complete (a loss), failed (no loss: FAILED or
TIMEOUT) and pending (asked, not yet told, as inside a batch). Each strategy decides what the last two
mean for its model (the worst loss for the GP, the "bad" density for TPE) and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from hpo_bench.space import SearchSpace, config_key
from hpo_bench.trial import Suggestion, TrialResult


@dataclass
class Point:
    config: dict[str, Any]
    unit: np.ndarray  # the space's encoding: NaN where a parameter is inactive
    state: str  # "pending", "complete" or "failed"
    loss: float | None = None


class History:
    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.points: list[Point] = []
        self._keys: set[str] = set()

    def asked(self, config: dict[str, Any], info: dict[str, Any]) -> Suggestion:
        """Record a new pending suggestion; `info["ask_index"]` ties its result back to it."""
        info = {**info, "ask_index": len(self.points)}
        self.points.append(Point(config, self.space.encode(config), "pending"))
        self._keys.add(config_key(config))
        return Suggestion(config, info=info)

    def told(self, suggestion: Suggestion, result: TrialResult) -> None:
        point = self.points[suggestion.info["ask_index"]]
        if point.state != "pending" or config_key(point.config) != config_key(suggestion.config):
            raise ValueError(f"tell: ask {suggestion.info['ask_index']} was {point.config} ({point.state}), "
                             f"told {suggestion.config}")
        if result.ok:
            point.state, point.loss = "complete", float(result.loss)
        else:
            point.state = "failed"

    def seen(self, config: dict[str, Any]) -> bool:
        return config_key(config) in self._keys

    def of(self, state: str) -> list[Point]:
        return [p for p in self.points if p.state == state]

    @property
    def n_complete(self) -> int:
        return sum(p.state == "complete" for p in self.points)
