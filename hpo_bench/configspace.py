"""Search spaces as ConfigSpace's ConfigurationSpace and back, and ConfigSpace's JSON format.

ConfigSpace (automl.org: SMAC, BOHB, auto-sklearn) is the format search spaces are exchanged in. The
conversion is exact or refused, never approximated:

| hpo-bench                     | ConfigSpace                                                       |
| ----------------------------- | ----------------------------------------------------------------- |
| Float(low, high, log)         | UniformFloatHyperparameter(lower, upper, log)                     |
| Int(low, high, log)           | UniformIntegerHyperparameter(lower, upper, log)                   |
| Categorical(choices)          | CategoricalHyperparameter(choices), no weights or equal weights   |
| Categorical of one value      | read from Constant                                                |
| Int(first, last)              | read from an OrdinalHyperparameter of consecutive integers        |
| Categorical of two values     | read from an OrdinalHyperparameter of two values                  |
| Condition(parent, (v,))       | EqualsCondition(child, parent, v)                                 |
| Condition(parent, (v, w, ..)) | InCondition(child, parent, [v, w, ...])                           |

Refused, naming the parameter: forbidden clauses (a space here has no excluded combinations), AND and
OR conjunctions of conditions (a parameter here has one condition, on one parent), the other
conditions (not equal, less and greater than), normal and beta priors (a parameter here is uniform on
its scale), non-uniform categorical weights, quantised parameters of old files (`q`, which ConfigSpace
1.x drops when it reads them), other ordinals (as a categorical they would lose their order) and
choices that are not strings, numbers or booleans.

Order. A space's parameter order is part of it: it fixes the unit-cube coordinates, so what a seed
samples, and the fingerprint. ConfigSpace keeps its own order (unconditional parameters by name, then
each level of conditions), so `to_configspace` records each parameter's position in its `meta`
({"hpo_bench_position": i}) and `from_configspace` restores it. Parameters without one (a file
written elsewhere) follow in ConfigSpace's order, and a parent always comes before its children.

ConfigSpace is an optional extra, imported inside the functions. The conversion draws nothing at
random and seeds nothing: an optimizer wrapping ConfigSpace seeds the space it samples from itself.
"""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from hpo_bench.errors import HpoBenchError, SpaceError
from hpo_bench.space import Categorical, Condition, Float, Int, Parameter, SearchSpace

POSITION = "hpo_bench_position"
INSTALL = 'pip install "hpo-bench[configspace]"'


def _configspace() -> Any:
    try:
        import ConfigSpace
    except ImportError:
        raise HpoBenchError(f"ConfigSpace spaces need the package 'ConfigSpace': {INSTALL}") from None
    return ConfigSpace


def to_configspace(space: SearchSpace, name: str | None = None) -> Any:
    """The ConfigurationSpace of `space`: the same parameters, bounds, scales, defaults and conditions."""
    CS = _configspace()
    hps = {}
    for i, p in enumerate(space):
        meta = {POSITION: i}
        try:
            if isinstance(p, Float):
                hp = CS.UniformFloatHyperparameter(p.name, p.low, p.high, default_value=p.default, log=p.log,
                                                   meta=meta)
            elif isinstance(p, Int):
                hp = CS.UniformIntegerHyperparameter(p.name, p.low, p.high, default_value=p.default, log=p.log,
                                                     meta=meta)
            else:
                hp = CS.CategoricalHyperparameter(p.name, list(p.choices), default_value=p.default, meta=meta)
        except (ValueError, TypeError) as exc:  # e.g. choices True and 1, one value to ConfigSpace
            raise SpaceError(f"parameter {p.name!r}: ConfigSpace cannot hold it: {_line(exc)}") from None
        hps[p.name] = hp
    cs = CS.ConfigurationSpace(name=name)
    cs.add(list(hps.values()))
    conditions = []
    for p in space:
        cond = p.condition
        if cond is None:
            continue
        child, parent = hps[p.name], hps[cond.parent]
        conditions.append(CS.EqualsCondition(child, parent, cond.values[0]) if len(cond.values) == 1
                          else CS.InCondition(child, parent, list(cond.values)))
    cs.add(conditions)
    return cs


def from_configspace(cs: Any) -> SearchSpace:
    """The SearchSpace of a ConfigurationSpace; SpaceError naming the parameter where it has no exact
    counterpart here (see the module's docstring)."""
    CS = _configspace()
    for clause in cs.forbidden_clauses:
        raise SpaceError(f"parameter {_clause_names(clause)[0]!r}: forbidden clause ({clause}): a search space "
                         "here has no excluded combinations; remove the clause or split the space")
    conditions = {cond.child.name: _condition(CS, cond) for cond in cs.conditions}
    return SearchSpace([_parameter(CS, hp, conditions.get(hp.name)) for hp in _ordered(cs)])


def to_configspace_json(space: SearchSpace, name: str | None = None) -> str:
    """`space` in ConfigSpace's JSON format (ConfigurationSpace.to_json), the text users exchange."""
    buffer = io.StringIO()
    to_configspace(space, name).to_json(buffer, indent=2)
    return buffer.getvalue() + "\n"


def from_configspace_json(text: str, where: str = "ConfigSpace JSON") -> SearchSpace:
    """The SearchSpace of a ConfigSpace JSON text; SpaceError (prefixed with `where`) if it is not one,
    or holds something without an exact counterpart here."""
    CS = _configspace()
    try:
        data = json.loads(text)
        # ConfigSpace 1.x reads an old file's quantisation `q` by dropping it, with a warning only.
        quantised = [hp for hp in data.get("hyperparameters", []) if isinstance(hp, dict) and hp.get("q") is not None]
        if quantised:
            hp = quantised[0]
            raise SpaceError(f"parameter {hp.get('name')!r}: quantised (q = {hp['q']!r}): a parameter here takes "
                             "every value of its range; remove q (an Int, or a categorical of the values)")
        cs = CS.ConfigurationSpace.from_serialized_dict(data)
    except SpaceError as exc:
        raise SpaceError(f"{where}: {exc}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # JSON, or ConfigSpace's own checks
        raise SpaceError(f"{where}: not a ConfigSpace JSON space: {type(exc).__name__}: {_line(exc)}") from None
    try:
        return from_configspace(cs)
    except SpaceError as exc:
        raise SpaceError(f"{where}: {exc}") from None


def from_configuration(configuration: Any) -> dict[str, Any]:
    """A ConfigSpace Configuration as a configuration here: its active values as Python scalars
    (ConfigSpace gives numpy ones, which `SearchSpace.validate` does not take for strings and booleans)."""
    return {name: _python(value) for name, value in dict(configuration).items()}


def _line(exc: Exception) -> str:
    return " ".join(str(exc).split())  # ConfigSpace's messages run over several lines


def _python(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _parameter(CS: Any, hp: Any, condition: Condition | None) -> Parameter:
    where = f"parameter {hp.name!r}"
    if isinstance(hp, CS.UniformFloatHyperparameter):
        return Float(hp.name, float(hp.lower), float(hp.upper), log=bool(hp.log), default=float(hp.default_value),
                     condition=condition)
    if isinstance(hp, CS.UniformIntegerHyperparameter):
        return Int(hp.name, int(hp.lower), int(hp.upper), log=bool(hp.log), default=int(hp.default_value),
                   condition=condition)
    if isinstance(hp, CS.CategoricalHyperparameter):
        if hp.weights is not None and len(set(hp.weights)) > 1:
            raise SpaceError(f"{where}: categorical weights {list(hp.weights)}: a categorical here draws its "
                             "choices uniformly; remove the weights")
        return Categorical(hp.name, _choices(where, hp.choices), default=_python(hp.default_value),
                           condition=condition)
    if isinstance(hp, CS.Constant):
        return Categorical(hp.name, _choices(where, (hp.value,)), condition=condition)
    if isinstance(hp, CS.OrdinalHyperparameter):
        values = _choices(where, hp.sequence)
        first = values[0]
        if (len(values) > 1 and all(type(v) is int for v in values)
                and values == tuple(range(first, first + len(values)))):
            return Int(hp.name, first, values[-1], default=_python(hp.default_value), condition=condition)
        if len(values) <= 2:  # two values have no order to lose
            return Categorical(hp.name, values, default=_python(hp.default_value), condition=condition)
        raise SpaceError(f"{where}: ordinal {list(values)}: only an ordinal of consecutive integers (an Int) or of "
                         "at most two values (a categorical) has an exact counterpart here; as a categorical its "
                         "order would be lost (make it a categorical in the file if the order does not matter)")
    if isinstance(hp, (CS.NormalFloatHyperparameter, CS.NormalIntegerHyperparameter,
                       CS.BetaFloatHyperparameter, CS.BetaIntegerHyperparameter)):
        raise SpaceError(f"{where}: a {type(hp).__name__} has a prior, and a parameter here is uniform on its "
                         "(log) scale; make it uniform_float or uniform_int with the same bounds")
    raise SpaceError(f"{where}: ConfigSpace type {type(hp).__name__} has no counterpart here")


def _choices(where: str, values: Any) -> tuple[Any, ...]:
    values = tuple(_python(v) for v in values)
    odd = [v for v in values if not isinstance(v, (str, int, float))]  # bool is an int
    if odd:
        raise SpaceError(f"{where}: value {odd[0]!r}: a choice here is a string, number or boolean")
    return values


def _condition(CS: Any, cond: Any) -> Condition:
    child = cond.child.name
    if isinstance(cond, CS.EqualsCondition):
        return Condition(cond.parent.name, (_python(cond.value),))
    if isinstance(cond, CS.InCondition):
        return Condition(cond.parent.name, tuple(_python(v) for v in cond.values))
    if isinstance(cond, (CS.AndConjunction, CS.OrConjunction)):
        kind = "AND" if isinstance(cond, CS.AndConjunction) else "OR"
        raise SpaceError(f"parameter {child!r}: conditions joined by {kind} ({cond}): a parameter here has one "
                         "condition, on one parent (an equals or in condition)")
    raise SpaceError(f"parameter {child!r}: a {type(cond).__name__} ({cond}): only equals and in conditions have "
                     "a counterpart here (write it as an in condition of the values that activate it)")


def _clause_names(clause: Any) -> list[str]:
    """The parameters a forbidden clause names: conjunctions hold clauses, relations two parameters."""
    if hasattr(clause, "components"):
        return [name for part in clause.components for name in _clause_names(part)]
    if hasattr(clause, "hyperparameter"):
        return [clause.hyperparameter.name]
    return [clause.left.name, clause.right.name]


def _ordered(cs: Any) -> list[Any]:
    """The hyperparameters in our order: by recorded position, the rest in ConfigSpace's, parents first."""
    def key(item: tuple[int, Any]) -> tuple[int, int]:
        index, hp = item
        position = hp.meta.get(POSITION) if isinstance(hp.meta, dict) else None
        valid = isinstance(position, int) and not isinstance(position, bool)
        return (0, position) if valid else (1, index)

    parent = {cond.child.name: cond.parent.name for cond in cs.conditions}  # one each, see _condition
    ranked = [hp for _, hp in sorted(enumerate(cs.values()), key=key)]
    # A position edited by hand may put a child before its parent: take the first whose parent is placed.
    ordered: list[Any] = []
    placed: set[str] = set()
    while ranked:
        hp = next(h for h in ranked if h.name not in parent or parent[h.name] in placed)
        ranked.remove(hp)
        ordered.append(hp)
        placed.add(hp.name)
    return ordered


__all__ = ["from_configspace", "from_configspace_json", "from_configuration", "to_configspace",
           "to_configspace_json"]
