"""Named suites bundled with hpo-bench, so that `suite:OpenML-CC18` works without the OpenML server.

OpenML-CTR23 is the regression counterpart of CC18 (below).

OpenML-CC18 is OpenML study 99 (Bischl et al. 2021, "OpenML Benchmarking Suites"): 72 classification
tasks, each with official 10-fold cross-validation splits. probst-38 are the 38 datasets of Probst,
Boulesteix & Bischl (2019, JMLR 20(53), "Tunability"), given as dataset ids: the paper drew its own
resampling, so their splits are generated from the recorded seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from hpo_bench.errors import TaskError
from hpo_bench.tasks.source import TaskRef, TaskSource
from hpo_bench.tasks.store import TaskStore


@dataclass(frozen=True)
class Suite:
    name: str
    kind: str  # "task" (OpenML task ids) or "data" (OpenML dataset ids)
    ids: tuple[int, ...]
    description: str

    def refs(self) -> list[str]:
        return [f"openml:{self.kind}/{i}" for i in self.ids]


OPENML_CC18 = Suite("OpenML-CC18", "task", (
    3, 6, 11, 12, 14, 15, 16, 18, 22, 23, 28, 29, 31, 32, 37, 43, 45, 49, 53, 219, 2074, 2079, 3021, 3022,
    3481, 3549, 3560, 3573, 3902, 3903, 3904, 3913, 3917, 3918, 7592, 9910, 9946, 9952, 9957, 9960, 9964,
    9971, 9976, 9977, 9978, 9981, 9985, 10093, 10101, 14952, 14954, 14965, 14969, 14970, 125920, 125922,
    146195, 146800, 146817, 146819, 146820, 146821, 146822, 146824, 146825, 167119, 167120, 167121, 167124,
    167125, 167140, 167141,
), "OpenML study 99: 72 curated classification tasks with official 10-fold CV splits")

PROBST_38 = Suite("probst-38", "data", (
    3, 31, 37, 44, 50, 151, 312, 333, 334, 335, 1036, 1038, 1043, 1046, 1049, 1050, 1063, 1067, 1068, 1120,
    1176, 1461, 1462, 1464, 1467, 1471, 1479, 1480, 1485, 1486, 1487, 1489, 1494, 1504, 1510, 1570, 4134,
    4534,
), "the 38 OpenML datasets of Probst, Boulesteix & Bischl (2019), splits generated from the recorded seed")

# OpenML study 353 (Fischer, Feurer & Bischl 2023, "OpenML-CTR23 - A curated tabular regression
# benchmarking suite"): 35 regression tasks, each with official 10-fold CV splits (the ids as the suite
# lists them).
OPENML_CTR23 = Suite("OpenML-CTR23", "task", (
    361234, 361235, 361236, 361237, 361241, 361242, 361243, 361244, 361247, 361249, 361250, 361251, 361252,
    361253, 361254, 361255, 361256, 361257, 361258, 361259, 361260, 361261, 361264, 361266, 361267, 361268,
    361269, 361272, 361616, 361617, 361618, 361619, 361621, 361622, 361623,
), "OpenML study 353: 35 curated regression tasks with official 10-fold CV splits")

SUITES: dict[str, Suite] = {s.name: s for s in (OPENML_CC18, PROBST_38, OPENML_CTR23)}


class SuiteSource(TaskSource):
    """`suite:NAME`: a bundled suite, which stands for its members; an experiment names their tasks."""

    prefix = "suite"
    forms = ("suite:NAME",)

    def parse(self, ref: str, rest: str) -> TaskRef:
        if rest not in SUITES:
            raise TaskError(f"unknown suite {ref!r} (bundled: {', '.join('suite:' + s for s in SUITES)})")
        return TaskRef(ref, "suite", rest, self)

    def expand(self, ref: TaskRef) -> list[str]:
        return SUITES[str(ref.value)].refs()

    def load(self, ref: TaskRef, store: TaskStore) -> None:
        raise TaskError(f"{ref.text!r} is a suite of {len(SUITES[str(ref.value)].ids)} tasks; expand it first")
