"""Search spaces: typed hyperparameters, conditions, sampling, validation, grids and encodings.

Every parameter maps onto one coordinate of the unit cube [0, 1]. Sampling draws a uniform point and
decodes it, so a log-scaled parameter is log-uniform and every integer of an `Int` gets the same mass
(its cell is widened by 0.5 on each side, as in ConfigSpace). Optimizers that model the objective
(GP, TPE) work on the same encoding, which is why decoding then encoding is the identity on the cube.

A configuration is a plain dict holding the *active* parameters only: a parameter whose condition does
not hold (``max_depth`` under ``booster = "gblinear"``) is absent, never None.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from hpo_bench.errors import SpaceError


@dataclass(frozen=True)
class Condition:
    """The child parameter is active only when `parent` is active and takes one of `values`."""

    parent: str
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        values = tuple(self.values) if isinstance(self.values, (list, tuple)) else (self.values,)
        if not values:
            raise SpaceError(f"condition on {self.parent!r}: values must not be empty")
        object.__setattr__(self, "values", values)

    def holds(self, config: Mapping[str, Any]) -> bool:
        return self.parent in config and config[self.parent] in self.values

    def to_dict(self) -> dict[str, Any]:
        return {"parent": self.parent, "values": list(self.values)}


@dataclass(frozen=True)
class _Numeric:
    name: str
    low: float
    high: float
    log: bool = False
    default: Any = None
    condition: Condition | None = None

    def __post_init__(self) -> None:
        where = f"parameter {self.name!r}"
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise SpaceError(f"{where}: {bound} = {value!r} must be a finite number")
        if self.low >= self.high:
            raise SpaceError(f"{where}: low = {self.low} must be below high = {self.high}")
        if self.log and self.low <= 0:
            raise SpaceError(f"{where}: a log scale needs low > 0, got low = {self.low}")
        if self.default is None:
            object.__setattr__(self, "default", self._between(0.5))
        else:
            problem = self.check(self.default)
            if problem:
                raise SpaceError(f"{where}: default {problem}")

    def _between(self, t: float) -> Any:
        """The point a fraction t of the way from low to high on the parameter's scale (not its cell)."""
        if self.log:
            value = math.exp(math.log(self.low) + t * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + t * (self.high - self.low)
        return self._cast(round(value) if self.kind == "int" else min(self.high, max(self.low, value)))

    def grid(self, n: int) -> list[Any]:
        """n evenly spaced points on the scale, both ends included (one point: the middle)."""
        fractions = [0.5] if n == 1 else np.linspace(0.0, 1.0, n)
        values = [self._between(t) for t in fractions]
        if n > 1:  # exact bounds, whatever exp(log(x)) gives back
            values[0], values[-1] = self._cast(self.low), self._cast(self.high)
        return list(dict.fromkeys(values))

    def to_dict(self) -> dict[str, Any]:
        out = {"type": self.kind, "name": self.name, "low": self.low, "high": self.high, "log": self.log,
               "default": self.default}
        if self.condition:
            out["condition"] = self.condition.to_dict()
        return out

    def describe(self) -> str:
        return f"{self.kind} [{self.low:g}, {self.high:g}]{' log' if self.log else ''}"


@dataclass(frozen=True)
class Float(_Numeric):
    """A real-valued parameter in [low, high], on a linear or log scale."""

    kind = "float"

    def _cast(self, value: float) -> float:
        return float(value)

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            return f"{value!r} is not a number"
        if not self.low <= float(value) <= self.high:
            return f"{value!r} is outside [{self.low:g}, {self.high:g}]"
        return None

    def to_unit(self, value: float) -> float:
        if value <= self.low:  # also keeps log() away from a value <= 0 (a default outside the range)
            return 0.0
        if self.log:
            u = (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            u = (value - self.low) / (self.high - self.low)
        return min(1.0, max(0.0, u))

    def from_unit(self, u: float) -> float:
        u = min(1.0, max(0.0, float(u)))
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        return min(self.high, max(self.low, value))


@dataclass(frozen=True)
class Int(_Numeric):
    """An integer parameter in [low, high] (both included), on a linear or log scale."""

    kind = "int"

    def __post_init__(self) -> None:
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if isinstance(value, float) and value.is_integer():
                object.__setattr__(self, bound, int(value))
            elif not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise SpaceError(f"parameter {self.name!r}: {bound} = {value!r} must be an integer")
        super().__post_init__()

    def _cast(self, value: float) -> int:
        return int(value)

    # Each integer owns a cell of width 1 on the (log) axis from low - 0.5 to high + 0.5.
    def _edges(self) -> tuple[float, float]:
        lo, hi = self.low - 0.5, self.high + 0.5
        return (math.log(lo), math.log(hi)) if self.log else (lo, hi)

    def check(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            if not (isinstance(value, (float, np.floating)) and float(value).is_integer()):
                return f"{value!r} is not an integer"
        if not self.low <= value <= self.high:
            return f"{value!r} is outside [{self.low}, {self.high}]"
        return None

    def to_unit(self, value: int) -> float:
        if value <= self.low - 0.5:
            return 0.0
        lo, hi = self._edges()
        x = math.log(value) if self.log else float(value)
        return min(1.0, max(0.0, (x - lo) / (hi - lo)))

    def from_unit(self, u: float) -> int:
        lo, hi = self._edges()
        x = lo + min(1.0, max(0.0, float(u))) * (hi - lo)
        value = math.floor((math.exp(x) if self.log else x) + 0.5)
        return int(min(self.high, max(self.low, value)))


@dataclass(frozen=True)
class Categorical:
    """A choice among a fixed tuple of values (strings, numbers or booleans)."""

    name: str
    choices: tuple[Any, ...]
    default: Any = None
    condition: Condition | None = None
    kind = "categorical"

    def __post_init__(self) -> None:
        choices = tuple(self.choices)
        if len(choices) < 1:
            raise SpaceError(f"parameter {self.name!r}: choices must not be empty")
        if len(set(map(repr, choices))) != len(choices):
            raise SpaceError(f"parameter {self.name!r}: choices {list(choices)} repeat a value")
        object.__setattr__(self, "choices", choices)
        if self.default is None:
            object.__setattr__(self, "default", choices[0])
        elif self.check(self.default):
            raise SpaceError(f"parameter {self.name!r}: default {self.check(self.default)}")

    def _index(self, value: Any) -> int | None:
        # Compare type and value: True == 1 in Python, but a boolean choice is not an integer one.
        for i, choice in enumerate(self.choices):
            if type(choice) is type(value) and choice == value:
                return i
        for i, choice in enumerate(self.choices):  # numpy scalars, 2 vs 2.0
            if not isinstance(value, (bool, str)) and not isinstance(choice, (bool, str)) and choice == value:
                return i
        return None

    def check(self, value: Any) -> str | None:
        return None if self._index(value) is not None else f"{value!r} is not one of {list(self.choices)}"

    def to_unit(self, value: Any) -> float:
        index = self._index(value)
        if index is None:
            raise SpaceError(f"parameter {self.name!r}: {value!r} is not one of {list(self.choices)}")
        return (index + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Any:
        return self.choices[min(len(self.choices) - 1, int(math.floor(float(u) * len(self.choices))))]

    def grid(self, n: int) -> list[Any]:
        return list(self.choices)

    def to_dict(self) -> dict[str, Any]:
        out = {"type": "categorical", "name": self.name, "choices": list(self.choices), "default": self.default}
        if self.condition:
            out["condition"] = self.condition.to_dict()
        return out

    def describe(self) -> str:
        return "categorical {" + ", ".join(map(str, self.choices)) + "}"


Parameter = Float | Int | Categorical
_TYPES = {"float": Float, "int": Int, "categorical": Categorical}


@dataclass(frozen=True)
class SearchSpace:
    """An ordered set of parameters; a parent is defined before the parameters it conditions."""

    parameters: tuple[Parameter, ...]
    _by_name: dict[str, Parameter] = field(init=False, repr=False, compare=False)

    def __init__(self, parameters: Sequence[Parameter]) -> None:
        object.__setattr__(self, "parameters", tuple(parameters))
        by_name: dict[str, Parameter] = {}
        for p in self.parameters:
            if not isinstance(p, (Float, Int, Categorical)):
                raise SpaceError(f"{p!r} is not a Float, Int or Categorical")
            if p.name in by_name:
                raise SpaceError(f"parameter {p.name!r} is defined twice")
            if p.condition is not None:
                parent = by_name.get(p.condition.parent)
                if parent is None:
                    known = [q.name for q in self.parameters]
                    rule = "must be defined before it" if p.condition.parent in known else "is unknown"
                    raise SpaceError(f"parameter {p.name!r}: its parent {p.condition.parent!r} {rule}")
                for value in p.condition.values:
                    problem = parent.check(value)
                    if problem:
                        raise SpaceError(f"parameter {p.name!r}: condition value {problem} of {parent.name!r}")
            by_name[p.name] = p
        object.__setattr__(self, "_by_name", by_name)

    # -- access -----------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def __getitem__(self, name: str) -> Parameter:
        return self._by_name[name]

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @staticmethod
    def _active(p: Parameter, config: Mapping[str, Any]) -> bool:
        return p.condition is None or p.condition.holds(config)

    # -- configurations ---------------------------------------------------------------------------
    def default(self) -> dict[str, Any]:
        config: dict[str, Any] = {}
        for p in self.parameters:
            if self._active(p, config):
                config[p.name] = p.default
        return config

    def decode(self, unit: Sequence[float]) -> dict[str, Any]:
        """The configuration at a point of the unit cube (coordinates of inactive parameters are ignored)."""
        if len(unit) != len(self.parameters):
            raise SpaceError(f"a point of {len(unit)} coordinates does not fit a space of {len(self)} parameters")
        config: dict[str, Any] = {}
        for p, u in zip(self.parameters, unit, strict=True):
            if self._active(p, config):
                config[p.name] = p.from_unit(u)
        return config

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        """The unit-cube point of a configuration; NaN for inactive parameters, values clipped to the cube."""
        out = np.full(len(self.parameters), np.nan)
        for i, p in enumerate(self.parameters):
            if p.name in config:
                out[i] = p.to_unit(config[p.name])
        return out

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.decode(rng.random(len(self.parameters)))

    def validate(self, config: Mapping[str, Any], where: str = "configuration") -> dict[str, Any]:
        """Check a configuration against the space; return it with Python-typed values, or raise SpaceError."""
        if not isinstance(config, Mapping):
            raise SpaceError(f"{where}: {config!r} is not a mapping of parameter names to values")
        problems = [f"unknown parameter {k!r} (known: {', '.join(self.names)})" for k in config
                    if k not in self._by_name]
        clean: dict[str, Any] = {}
        for p in self.parameters:
            active = self._active(p, clean)
            if p.name not in config:
                if active:
                    problems.append(f"{p.name!r} is missing")
                continue
            if not active:
                cond = p.condition
                problems.append(f"{p.name!r} is inactive unless {cond.parent} in {list(cond.values)}")
                continue
            problem = p.check(config[p.name])
            if problem:
                problems.append(f"{p.name!r}: {problem}")
                continue
            value = config[p.name]
            if isinstance(p, Float):
                value = float(value)
            elif isinstance(p, Int):
                value = int(value)
            else:
                value = p.choices[p._index(value)]
            clean[p.name] = value
        if problems:
            raise SpaceError(f"{where}: " + "; ".join(problems))
        return clean

    def grid(self, n: int) -> list[dict[str, Any]]:
        """The full grid: n points per numeric dimension (on its scale), every choice of a categorical.

        Conditional parameters are expanded only where they are active, so no two configurations repeat.
        """
        if not isinstance(n, int) or n < 1:
            raise SpaceError(f"grid: n = {n!r} points per dimension must be a positive integer")
        configs: list[dict[str, Any]] = [{}]
        for p in self.parameters:
            values = p.grid(n)
            expanded = []
            for config in configs:
                if self._active(p, config):
                    expanded.extend({**config, p.name: v} for v in values)
                else:
                    expanded.append(config)
            configs = expanded
        return configs

    def grid_size(self, n: int) -> int:
        """len(grid(n)) without building it (grids grow fast)."""
        return self._count(0, {}, n)

    def _count(self, start: int, config: dict[str, Any], n: int) -> int:
        for i in range(start, len(self.parameters)):
            p = self.parameters[i]
            if not self._active(p, config):
                continue
            # Only values of a parent change what is active below it; others multiply.
            if any(q.condition is not None and q.condition.parent == p.name for q in self.parameters[i + 1:]):
                return sum(self._count(i + 1, {**config, p.name: v}, n) for v in p.grid(n))
            return len(p.grid(n)) * self._count(i + 1, {**config, p.name: p.default}, n)
        return 1

    def subspace(self, names: Sequence[str], fixed: Mapping[str, Any]) -> SearchSpace:
        """The space of `names` only, the other parameters held at their `fixed` values.

        A condition on a fixed parent is settled now: dropped where the fixed value satisfies it, an
        error where it never can (tuning max_samples while bootstrap is held at False tunes nothing).
        """
        unknown = [n for n in names if n not in self._by_name]
        if unknown:
            raise SpaceError(f"cannot tune {unknown[0]!r}: not a parameter (known: {', '.join(self.names)})")
        kept = []
        for p in self.parameters:
            if p.name not in names:
                continue
            cond = p.condition
            if cond is not None and cond.parent not in names:
                if not cond.holds(fixed):
                    raise SpaceError(f"cannot tune {p.name!r} with {cond.parent!r} held at "
                                     f"{fixed.get(cond.parent)!r}: it is active only when {cond.parent} in "
                                     f"{list(cond.values)}; tune both together")
                p = replace(p, condition=None)
            kept.append(p)
        return SearchSpace(kept)

    def active_only(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """`config` without the parameters its own values make inactive (in definition order)."""
        out: dict[str, Any] = {}
        for p in self.parameters:
            if p.name in config and self._active(p, out):
                out[p.name] = config[p.name]
        extra = {k: v for k, v in config.items() if k not in self._by_name}
        return {**out, **extra}

    # -- serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"parameters": [p.to_dict() for p in self.parameters]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        params = []
        for item in data["parameters"]:
            item = dict(item)
            kind = item.pop("type")
            if kind not in _TYPES:
                raise SpaceError(f"parameter {item.get('name')!r}: unknown type {kind!r} (allowed: {list(_TYPES)})")
            if "condition" in item:
                item["condition"] = Condition(item["condition"]["parent"], tuple(item["condition"]["values"]))
            if "choices" in item:
                item["choices"] = tuple(item["choices"])
            params.append(_TYPES[kind](**item))
        return cls(params)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> SearchSpace:
        return cls.from_dict(json.loads(text))

    def fingerprint(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def config_key(config: Mapping[str, Any]) -> str:
    """A canonical text of a configuration, for comparing configurations across a JSON round trip."""
    return json.dumps({k: config[k] for k in sorted(config)}, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{value!r} is not JSON serialisable")


__all__ = ["Categorical", "Condition", "Float", "Int", "Parameter", "SearchSpace", "config_key"]
