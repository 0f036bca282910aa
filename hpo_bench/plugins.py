"""Finding what an experiment file names: a built-in, a "package.module:Attr" reference, or an entry point.

Optimizers and model families are named the same way, in this order:
1. a built-in name ("tpe", "xgboost");
2. "package.module:Attr": an absolute module importable from sys.path (PYTHONPATH), then an attribute
   path (dots allowed after the colon, as in entry points);
3. the name of an entry point of an installed distribution, in the group `hpo_bench.optimizers` or
   `hpo_bench.models` (a user's pyproject.toml: [project.entry-points."hpo_bench.optimizers"]).
A plugin may not shadow a built-in: an entry point with a built-in's name is refused whenever that name
is used, rather than either of the two being picked silently; so is a name that two distributions give.
Nothing here imports optimizers or models: the callers pass what a name must resolve to.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any, TypeVar

from hpo_bench.errors import ExperimentError, HpoBenchError

OPTIMIZER_GROUP = "hpo_bench.optimizers"
MODEL_GROUP = "hpo_bench.models"

T = TypeVar("T")


@dataclass(frozen=True)
class Plugin:
    """One entry point of an installed distribution."""

    name: str
    value: str  # "package.module:Attr"
    group: str
    distribution: str  # "name version", or "an unknown distribution"

    @property
    def origin(self) -> str:
        return f"entry point {self.name} = {self.value!r} of {self.distribution}"


@functools.cache
def plugins(group: str) -> tuple[Plugin, ...]:
    """The entry points of `group`, as installed when first asked (cached: names are resolved once per
    run and again in every worker; `plugins.cache_clear()` after installing one in a live process)."""
    found = []
    for ep in metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        origin = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
        found.append(Plugin(ep.name, ep.value, group, origin))
    return tuple(sorted(set(found), key=lambda p: (p.name, p.distribution)))


def loaded_plugins(group: str, load: Callable[[str], T]) -> list[tuple[Plugin, T | None, str | None]]:
    """(plugin, what `load` makes of its name, None) for each entry point of `group`, or (plugin, None, why it
    cannot be used): a listing shows a broken or shadowing plugin with its reason instead of failing."""
    rows: list[tuple[Plugin, T | None, str | None]] = []
    for plugin in plugins(group):
        try:
            rows.append((plugin, load(plugin.name), None))
        except HpoBenchError as exc:
            rows.append((plugin, None, str(exc)))
    return rows


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """The modules of `modules` that cannot be imported here, found without importing them (Ray takes seconds)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
            found = False
        if not found:
            missing.append(name)
    return missing


def describe(obj: Any) -> str:
    """What an object is, for a message: "the class X", "a function", "an instance of X"."""
    if inspect.isclass(obj):
        return f"the class {obj.__qualname__}"
    if inspect.ismodule(obj):
        return f"the module {obj.__name__}"
    if inspect.isroutine(obj):
        return f"the function {getattr(obj, '__qualname__', obj)}"
    return f"an instance of {type(obj).__qualname__}"


def load_reference(ref: str, what: str) -> Any:
    """The object at "package.module:attr.path"; ExperimentError naming `what` if it cannot be had.

    A name is checked before anything is imported: a malformed or relative name, a module of Python's
    standard library (none holds a plugin, and importing some has effects: `this` prints, `antigravity`
    opens a browser) or one that is not on sys.path is refused without running any module's code. What an
    import raises, whatever it is (SystemExit from sys.exit, any BaseException but Ctrl-C), is the plugin's
    failure: one ExperimentError naming it, so one broken plugin neither kills hpo-bench nor hides the rest."""
    module_name, _, attr = ref.partition(":")
    if not all(part.isidentifier() for part in module_name.split(".")) or not all(
            part.isidentifier() for part in attr.split(".")):
        raise ExperimentError(f"{what}: write module:ATTRIBUTE with an absolute module name, e.g. "
                              "'mypackage.mymodule:MyClass'")
    top = module_name.partition(".")[0]
    if top in sys.stdlib_module_names:
        raise ExperimentError(f"{what}: {top!r} is a module of Python's standard library, which holds no "
                              "hpo-bench plugin; name your own module")
    # Only the top-level package is looked up: find_spec of a submodule would import its parents.
    if top not in sys.modules and importlib.util.find_spec(top) is None:
        raise ExperimentError(f"{what}: cannot import module {module_name!r}: No module named {top!r}; is the "
                              "folder holding it on PYTHONPATH?")
    try:
        obj = importlib.import_module(module_name)
        for part in attr.split("."):
            if not hasattr(obj, part):
                raise ExperimentError(f"{what}: module {module_name!r} has no attribute {attr!r}")
            obj = getattr(obj, part)
    except ExperimentError:
        raise
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        own = isinstance(exc, ModuleNotFoundError) and missing is not None and (
            module_name == missing or module_name.startswith(missing + "."))
        hint = "; is the folder holding it on PYTHONPATH?" if own else ""
        raise ExperimentError(f"{what}: cannot import module {module_name!r}: {exc}{hint}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001  (see the docstring: any failure of the plugin's own code)
        text = " ".join(str(exc).split()) or "no message"
        raise ExperimentError(f"{what}: importing module {module_name!r} or reading {attr!r} failed: "
                              f"{type(exc).__name__}: {text}") from None
    return obj


def resolve(name: str, *, what: str, group: str, builtins: Mapping[str, T], check: Callable[[Any], str | None],
            form: str) -> T:
    """The built-in, referenced or entry-point object `name` stands for.

    `what` names the kind in messages ("optimizer type", "model"), `check` returns None for an object of
    the right kind or a rule it breaks ("must be a subclass of ..."), `form` is the reference form shown
    in the list of what is allowed ("module:Class").
    """
    if not isinstance(name, str):
        raise ExperimentError(f"{what} {name!r}: must be a string")
    same = [p for p in plugins(group) if p.name == name]
    if name in builtins:
        if same:
            raise ExperimentError(f"{what} {name!r} is a built-in and also the {same[0].origin} (group {group}): "
                                  "a plugin may not shadow a built-in; rename the entry point")
        return builtins[name]
    if ":" in name:
        label = f"{what} {name!r}"
        return _checked(load_reference(name, label), label, check)
    if len(same) > 1:
        raise ExperimentError(f"{what} {name!r} is an entry point of several distributions "
                              f"({'; '.join(p.origin for p in same)}): uninstall all but one, or write the "
                              "module:Attr reference itself")
    if same:
        label = f"{what} {name!r} ({same[0].origin})"
        return _checked(load_reference(same[0].value, label), label, check)
    allowed = [*builtins, *sorted({p.name for p in plugins(group)} - set(builtins))]
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ExperimentError(f"unknown {what} {name!r} (allowed: {', '.join(allowed)}, or {form}){hint}")


def _checked(obj: Any, label: str, check: Callable[[Any], str | None]) -> Any:
    problem = check(obj)
    if problem:
        raise ExperimentError(f"{label} is {describe(obj)}: {problem}")
    return obj


__all__ = ["MODEL_GROUP", "OPTIMIZER_GROUP", "Plugin", "describe", "load_reference", "plugins", "resolve"]
