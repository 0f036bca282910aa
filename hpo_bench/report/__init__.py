"""Reports: tables (CSV, Markdown, LaTeX), matplotlib figures and the report builder."""

from __future__ import annotations

from hpo_bench.report.builder import Report, build_report

__all__ = ["Report", "build_report"]
