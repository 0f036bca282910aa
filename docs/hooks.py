"""MkDocs hooks.

- The committed reports' figures (reports/<name>/figures/*.png) become files of the site at
  reports/<name>/figures/, so the study pages show them where they are instead of copies in docs/.
- `<!-- generated: cli -->`, `<!-- generated: experiment-keys -->` and `<!-- generated: analysis-tables -->`
  in a page are replaced by tables made from the code itself (the argparse parser; the experiment
  validator's rules and defaults; the analysis tables as hpo_bench/analysis/registry.py declares them),
  so the reference cannot drift from what the program accepts and makes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]


def on_files(files: Files, config) -> Files:
    for png in sorted((ROOT / "reports").glob("*/figures/*.png")):
        files.append(File(str(png.relative_to(ROOT)), src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- generated: cli -->" in markdown:
        markdown = markdown.replace("<!-- generated: cli -->", cli_reference())
    if "<!-- generated: experiment-keys -->" in markdown:
        markdown = markdown.replace("<!-- generated: experiment-keys -->", experiment_keys())
    if "<!-- generated: analysis-tables -->" in markdown:
        markdown = markdown.replace("<!-- generated: analysis-tables -->", analysis_tables())
    return markdown


def _cell(text: object) -> str:
    """Text for a Markdown table cell: "|" escaped, one line, and "<name>" shown, not read as an HTML tag."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def cli_reference() -> str:
    from hpo_bench.cli import build_parser

    out: list[str] = []

    def walk(parser: argparse.ArgumentParser, name: str) -> None:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subs:
            for sub_name, sub in subs[0].choices.items():
                walk(sub, f"{name} {sub_name}")
            return
        out.append(f"### `{name}`\n")
        if parser.description or parser.format_usage():
            out.append(f"```\n{parser.format_usage().strip()}\n```\n")
        rows = []
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction) or action.help == argparse.SUPPRESS:
                continue
            flags = ", ".join(f"`{f}`" for f in action.option_strings) or f"`{action.dest}`"
            default = "" if action.default in (None, False, argparse.SUPPRESS) or not action.option_strings \
                else f"`{action.default}`"
            choices = f" (one of {', '.join(map(str, action.choices))})" if action.choices else ""
            rows.append(f"| {flags} | {_cell((action.help or '') + choices)} | {default} |")
        if rows:
            out.append("| argument | meaning | default |\n| --- | --- | --- |\n" + "\n".join(rows) + "\n")

    walk(build_parser(), "hpo-bench")
    return "\n".join(out)


def experiment_keys() -> str:
    """One row per key of experiment.RULES: what it sets, its rule (the words its messages use) and its default."""
    from hpo_bench.experiment import RULES

    rows = []
    for key, rule in RULES.items():
        default = "required" if rule.required else rule.default_doc or f"`{rule.default!r}`"
        rows.append(f"| `{key}` | {_cell(rule.doc)} | {_cell(rule.rule)} | {default} |")
    return ("| key | what it sets | rule (the validator's own words: a value breaking it is refused with \"must be\" "
            "and these) | default |\n| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n")


def analysis_tables() -> str:
    """One row per table in the registry's order; the tables a step makes together, without a text of
    their own, share the step's row."""
    from hpo_bench.analysis import registry

    rows, steps = [], set()
    for table in registry.TABLES:
        if table.doc:
            names, text = [table.name], table.doc
        elif table.step is not None and table.step.doc:
            if table.step.name in steps:
                continue
            steps.add(table.step.name)
            names = [t.name for t in registry.TABLES if t.step is table.step and not t.doc]
            text = table.step.doc
        else:
            raise ValueError(f"analysis table {table.name}: no doc (nor a step with one) for the manual")
        rows.append(f"| {', '.join(names)} | {_cell(text)} |")
    return "| table | what it holds |\n| --- | --- |\n" + "\n".join(rows) + "\n"
