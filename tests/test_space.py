from __future__ import annotations

import numpy as np
import pytest

from hpo_bench.errors import SpaceError
from hpo_bench.models import MODELS
from hpo_bench.space import Categorical, Condition, Float, Int, SearchSpace


def small_space() -> SearchSpace:
    return SearchSpace([
        Categorical("kind", ("a", "b")),
        Float("lr", 1e-3, 1.0, log=True, default=0.1),
        Int("depth", 1, 10, condition=Condition("kind", ("a",))),
        Int("trees", 1, 1000, log=True),
    ])


@pytest.mark.parametrize("make, message", [
    (lambda: Float("x", 1.0, 1.0), "low = 1.0 must be below high = 1.0"),
    (lambda: Float("x", 2.0, 1.0), "must be below high"),
    (lambda: Float("x", 0.0, 1.0, log=True), "log scale needs low > 0"),
    (lambda: Int("x", 0, 5, log=True), "log scale needs low > 0"),
    (lambda: Float("x", 0.0, 1.0, default=2.0), "default 2.0 is outside [0, 1]"),
    (lambda: Int("x", 1, 5, default=2.5), "default 2.5 is not an integer"),
    (lambda: Int("x", 1.5, 5), "low = 1.5 must be an integer"),
    (lambda: Categorical("x", ("a", "b"), default="c"), "'c' is not one of ['a', 'b']"),
    (lambda: Categorical("x", ()), "choices must not be empty"),
    (lambda: SearchSpace([Float("x", 0, 1, condition=Condition("nope", ("a",)))]), "parent 'nope' is unknown"),
    (lambda: SearchSpace([Float("x", 0, 1, condition=Condition("k", ("a",))), Categorical("k", ("a",))]),
     "parent 'k' must be defined before it"),
    (lambda: SearchSpace([Categorical("k", ("a",)), Float("x", 0, 1, condition=Condition("k", ("z",)))]),
     "condition value 'z' is not one of ['a']"),
    (lambda: SearchSpace([Float("x", 0, 1), Float("x", 0, 2)]), "defined twice"),
])
def test_bad_definitions_raise_clear_errors(make, message):
    with pytest.raises(SpaceError) as info:
        make()
    assert message in str(info.value)


def test_samples_respect_ranges_scales_and_conditions():
    space = small_space()
    rng = np.random.default_rng(0)
    configs = [space.sample(rng) for _ in range(2000)]
    for c in configs:
        space.validate(c)
        assert ("depth" in c) == (c["kind"] == "a")
        assert isinstance(c["trees"], int) and isinstance(c["lr"], float)
    lrs = np.array([c["lr"] for c in configs])
    # log-uniform on [1e-3, 1]: a third of the mass below 1e-2, half below ~0.0316
    assert abs(np.mean(lrs < 1e-2) - 1 / 3) < 0.04
    assert abs(np.mean(lrs < 10**-1.5) - 0.5) < 0.04
    depths = np.array([c["depth"] for c in configs if "depth" in c])
    counts = np.bincount(depths, minlength=11)[1:]
    assert counts.min() > 0.6 * counts.mean()  # every integer gets its share, the ends included


def test_validate_names_the_problem():
    space = small_space()
    with pytest.raises(SpaceError, match=r"'depth' is inactive unless kind in \['a'\]"):
        space.validate({"kind": "b", "lr": 0.1, "depth": 3, "trees": 5})
    with pytest.raises(SpaceError, match="'depth' is missing"):
        space.validate({"kind": "a", "lr": 0.1, "trees": 5})
    with pytest.raises(SpaceError, match=r"'lr': 5 is outside \[0.001, 1\]"):
        space.validate({"kind": "b", "lr": 5, "trees": 5})
    with pytest.raises(SpaceError, match="unknown parameter 'zzz'"):
        space.validate({"kind": "b", "lr": 0.1, "trees": 5, "zzz": 1})
    with pytest.raises(SpaceError, match="'trees': 2.5 is not an integer"):
        space.validate({"kind": "b", "lr": 0.1, "trees": 2.5})


def test_default_and_encoding_round_trip():
    space = small_space()
    assert space.default() == {"kind": "a", "lr": 0.1, "depth": 6, "trees": 32}
    rng = np.random.default_rng(1)
    for _ in range(200):
        config = space.sample(rng)
        unit = space.encode(config)
        assert np.all((unit[~np.isnan(unit)] >= 0) & (unit[~np.isnan(unit)] <= 1))
        assert np.isnan(unit[2]) == (config["kind"] == "b")
        decoded = space.decode(np.nan_to_num(unit, nan=0.5))
        assert decoded.keys() == config.keys()
        for key, value in config.items():
            assert decoded[key] == (value if isinstance(value, str) else pytest.approx(value, rel=1e-9))


def test_grid_expands_conditions_and_counts_without_building():
    space = small_space()
    grid = space.grid(3)
    # kind=a: 3 lr x 3 depth x 3 trees; kind=b: 3 lr x 3 trees
    assert len(grid) == 27 + 9 == space.grid_size(3)
    assert len({tuple(sorted(c.items())) for c in grid}) == len(grid)
    assert sorted({c["trees"] for c in grid}) == [1, 32, 1000]
    assert sorted({c["lr"] for c in grid}) == pytest.approx([1e-3, 10**-1.5, 1.0])
    for c in grid:
        space.validate(c)
    for family in MODELS.values():
        for n in (1, 2, 3):
            assert family.space.grid_size(n) == len(family.space.grid(n))


def test_json_round_trip_and_fingerprint():
    for space in [small_space(), *(f.space for f in MODELS.values())]:
        again = SearchSpace.from_json(space.to_json())
        assert again == space
        assert again.fingerprint() == space.fingerprint()
    assert small_space().fingerprint() != MODELS["xgboost"].space.fingerprint()


def test_boolean_choices_are_not_integers():
    space = SearchSpace([Categorical("b", (True, False)), Float("x", 0, 1, condition=Condition("b", (True,)))])
    assert space.validate({"b": True, "x": 0.5}) == {"b": True, "x": 0.5}
    with pytest.raises(SpaceError, match="1 is not one of"):
        space.validate({"b": 1, "x": 0.5})
