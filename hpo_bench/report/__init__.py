"""Reports: tables (CSV, Markdown, LaTeX), matplotlib figures and the report builder.

`hpo_bench.report` is this package, and calling it writes a report: `hpo_bench.report(store, ...)` is
`hpo_bench.api.report(store, ...)`. The name was a function of the API and a subpackage at once, so after
`import hpo_bench.report` (which binds the package to the name) the call failed. A module object whose
class has a `__call__` keeps both spellings working, whichever import came first.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

from hpo_bench.report.builder import Report, build_report


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Report:
        # The API checks the arguments and opens the store, which this package may not do itself (the
        # import contracts: reports go through analysis); imported at call time, never by report code.
        return importlib.import_module("hpo_bench.api").report(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = ["Report", "build_report"]
