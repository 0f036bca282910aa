"""`NotApplicable`: a table or figure that does not apply to the experiment, with the reason.

A module of its own so that every analysis module (and the report) imports it without importing another
analysis module: tunability.py, which defined it, imports best_found.py, which raises it.
"""

from __future__ import annotations


class NotApplicable(Exception):  # noqa: N818  (a reason, not an error)
    """The table does not apply to this experiment; the message says why."""
