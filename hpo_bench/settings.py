"""What an experiment file says that can be read without the registries: its name rule and the plain
settings (folds, held-out test, seed design, metric) with their defaults.

The parser (hpo_bench.experiment) checks a file against the model, optimizer and task registries, which
import code: a model named "package.module:ATTR" is imported to be checked. A store records the file it
was made with, and reading a store must run no code; the store and analysis read a recorded file through
this module instead, which imports nothing of hpo-bench but its errors.
"""

from __future__ import annotations

import tomllib
from typing import Any

from hpo_bench.errors import ExperimentError

MAX_NAME_LENGTH = 100
NAME_RULE = (f"a name of at most {MAX_NAME_LENGTH} letters, digits, '-', '_' or '.', not starting with '.'; it "
             "names results/<name>.sqlite")
# The plain settings and their values when a file leaves them out; the parser applies the same ones.
DEFAULTS: dict[str, Any] = {"cv_folds": 5, "metric": "1-auc", "test": "none", "test_fraction": 0.2,
                            "seed_design": "repeated", "include_default": False, "defaults": "package",
                            "space": "family"}


def check_name(name: object, where: str) -> str:
    """`name` if it is a valid experiment name; it names results/<name>.sqlite and reports/<name>/.

    Checked when a file is read and again when a name is read back from a store (which may have been
    made elsewhere, or edited): "." and ".." (or any leading dot), a slash or an absolute path would put
    what is written outside its folder, or hide it.
    """
    if not is_name(name):
        raise ExperimentError(f"{where}: name = {name!r}: {NAME_RULE}")
    return name


def is_name(name: object) -> bool:
    """Whether `name` follows NAME_RULE."""
    return (isinstance(name, str) and bool(name) and not name.startswith(".") and len(name) <= MAX_NAME_LENGTH
            and all(c.isalnum() or c in "-_." for c in name))


def recorded_settings(text: str, where: str) -> dict[str, Any]:
    """The plain settings (the keys of DEFAULTS) of an experiment file that a store recorded.

    The file was checked when the store was made, so its values are taken as they are; only a file that
    is no longer TOML (an edited store) is refused.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{where}: the recorded experiment file is not valid TOML: {exc}") from None
    return {key: data.get(key, default) for key, default in DEFAULTS.items()}


__all__ = ["DEFAULTS", "MAX_NAME_LENGTH", "NAME_RULE", "check_name", "is_name", "recorded_settings"]
