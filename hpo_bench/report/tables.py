"""Tables as Markdown and LaTeX (booktabs).

Written here rather than with pandas' `to_markdown` / `to_latex`: those need the optional `tabulate`
and `jinja2` packages for a few lines of string formatting.
"""

from __future__ import annotations

import math
from numbers import Number

import pandas as pd


def _cell(value: object, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, Number) and not float(value).is_integer():
        return f"{float(value):.{digits}g}"
    if isinstance(value, Number):
        return str(int(value))
    return str(value)


def to_markdown(table: pd.DataFrame, digits: int = 4) -> str:
    header = "| " + " | ".join(map(str, table.columns)) + " |"
    rule = "| " + " | ".join("---:" if pd.api.types.is_numeric_dtype(table[c]) else "---" for c in table.columns) + " |"
    body = ["| " + " | ".join(_cell(v, digits).replace("|", "\\|") for v in row) + " |"
            for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *body]) + "\n"


_LATEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def _latex(text: str) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in text)


def to_latex(table: pd.DataFrame, caption: str = "", digits: int = 4) -> str:
    """A booktabs tabular (needs \\usepackage{booktabs}), numbers right-aligned."""
    align = "".join("r" if pd.api.types.is_numeric_dtype(table[c]) else "l" for c in table.columns)
    lines = [r"\begin{table}[ht]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{_latex(caption)}}}")
    lines += [rf"\begin{{tabular}}{{{align}}}", r"\toprule",
              " & ".join(_latex(str(c)) for c in table.columns) + r" \\", r"\midrule"]
    lines += [" & ".join(_latex(_cell(v, digits)) for v in row) + r" \\" for row in table.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"
