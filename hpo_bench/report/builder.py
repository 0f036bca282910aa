"""The report: every analysis table (CSV, Markdown, LaTeX), figures (PNG and SVG), index.md and a
self-contained index.html (figures embedded), with what was run and on what.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from joblib import Parallel, delayed

from hpo_bench.analysis import Study, analyze, load_study, metric_view, write_tables
from hpo_bench.analysis import registry as analysis_registry
from hpo_bench.analysis.not_applicable import NotApplicable
from hpo_bench.analysis.registry import NotComparable
from hpo_bench.errors import HpoBenchError
from hpo_bench.parallel import REPORT_MODULES, n_jobs, start_workers
from hpo_bench.report import figures as fg
from hpo_bench.report import registry as figure_registry
from hpo_bench.report.answer import answer
from hpo_bench.report.interactive import write_interactive
from hpo_bench.report.registry import Context, overall
from hpo_bench.report.tables import to_latex, to_markdown

AGREEMENT_FIGURE = "agreement"
INTERACTIVE = "interactive.html"


@dataclass
class Report:
    name: str
    out_dir: Path
    figures: dict[str, str] = field(default_factory=dict)  # name -> title
    captions: dict[str, str] = field(default_factory=dict)  # name -> what was measured on what, where written
    alts: dict[str, str] = field(default_factory=dict)  # name -> alt text, where it says more than the title
    skipped: dict[str, str] = field(default_factory=dict)  # table or figure -> why left out
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0
    against: str = ""  # with --against: what the agreement section compares, in a sentence


def _provenance(study: Study) -> list[tuple[str, str]]:
    exp, sessions, runs, trials, settings = study.experiment, study.sessions, study.runs, study.trials, study.settings
    versions = json.loads(sessions["versions"].iloc[-1]) if len(sessions) else {}
    machine = json.loads(sessions["machine"].iloc[-1]) if len(sessions) else {}
    states = trials["state"].value_counts().to_dict()
    budgets = ", ".join(f"{b:g}" for b in sorted(runs["budget_evals"].unique()))
    holdout = (f"held-out test: a stratified {settings['test_fraction']:g} of the rows per split repetition (an "
               "official fold for OpenML tasks), scoring the default and each incumbent after a refit on the rest"
               if settings["test"] == "holdout" else "no held-out test: every loss is a validation loss")
    scores = (f"validation: mean over {settings['cv_folds']} inner CV folds (what the optimizers minimised); "
              f"{holdout}; every metric recorded per fold: {', '.join(sorted(_recorded_metrics(trials)))}")
    text_hash = hashlib.sha256(str(exp.get("file_text", "")).encode()).hexdigest()
    return [
        ("experiment", f"{exp.get('name')} ({exp.get('file_path')})"),
        # Stores bound before content hashing hold the sha256 of the file's text; say which this is.
        (f"experiment sha256 (of its {'file text' if text_hash == exp.get('file_hash') else 'keys and values'})",
         exp.get("file_hash", "")),
        ("runs", f"{len(runs)} ({', '.join(f'{n} {s}' for s, n in runs['status'].value_counts().items())})"),
        ("tasks x models x optimizers x tuned x seeds", " x ".join(str(trials[c].nunique()) for c in
                                                                   ("task", "model", "optimizer", "tuned", "seed"))),
        ("seeds", ", ".join(map(str, sorted(trials["seed"].unique())))),
        ("budget per run (full-fidelity evaluations)", budgets),
        ("trials", f"{len(trials)}: {states.get('COMPLETE', 0)} complete, {states.get('FAILED', 0)} failed, "
                   f"{states.get('TIMEOUT', 0)} timed out"),
        ("metric optimised", ", ".join(sorted(trials["metric"].unique()))),
        ("scores", scores),
        ("seed design", f"{settings['seed_design']}: " + (
            "split, model and optimizer seeds crossed" if settings["seed_design"] == "crossed" else
            "repetition s varies the optimizer and model seeds together over fixed splits")),
        ("sessions", "; ".join(_session(r) for r in sessions.itertuples())),
        ("packages (last session)", ", ".join(f"{k} {v}" for k, v in versions.items())),
        ("machine (last session)", ", ".join(f"{k}: {v}" for k, v in machine.items())),
    ]


def _stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _session(row: tuple) -> str:
    """A session's span; one stopped before its end (Ctrl-C, a kill) has no end time, so its last trial's."""
    if pd.notna(row.finished_at):
        return f"{_stamp(row.started_at)} to {_stamp(row.finished_at)}"
    if pd.notna(row.last_trial_at):
        return f"{_stamp(row.started_at)} to {_stamp(row.last_trial_at)} (stopped: its last trial)"
    return f"{_stamp(row.started_at)} (stopped before any trial)"


def _recorded_metrics(trials: pd.DataFrame) -> set[str]:
    first = trials["fold_metrics"].dropna() if "fold_metrics" in trials else pd.Series(dtype=object)
    return set(json.loads(first.iloc[0])) if len(first) else set(trials["metric"])


def build_report(store_path: str | Path, reports_dir: str | Path = "reports", metric: str | None = None,
                 models: list[str] | None = None, ice_task: str | None = None,
                 against: str | Path | None = None, svg: bool = False) -> Report:
    """The report of a store; with `metric` other than the optimised one, in <reports_dir>/<name>/<metric>/.

    `models`: report these models' trials only (a study whose other runs are still going); the report's
    "What was run" says so. `ice_task`: the dataset of the ICE curves (see `analyze`). Besides index.html,
    an interactive page (interactive.html) where plotly is installed. `against`: the store of the real
    benchmark this store's surrogate benchmark stands for; the report gets a section on their agreement
    (`agreement_tables`), and HpoBenchError says why when they cannot be compared.
    """
    start = time.perf_counter()
    study = load_study(store_path, models)
    if study.trials.empty:
        raise NotApplicable("the store has no trials yet")
    warm = start_workers(REPORT_MODULES)  # they import while the view and the first tables are made
    try:
        provenance = _provenance(study)
        if models is not None:
            provenance.insert(1, ("models reported", f"{', '.join(models)}; not reported here: "
                                                     f"{', '.join(study.left_out) or 'none'}"))
        file_text = study.experiment.get("file_text", "")
        out_dir = Path(reports_dir) / study.name
        if metric is not None and metric not in set(study.trials["metric"]):
            out_dir = out_dir / metric
        report = Report(study.name, out_dir)
        stored = study  # the interactive page makes a view per metric from the trials as stored
        study = study.with_trials(metric_view(study.trials, metric))  # once: analyze takes the view as it is
        trials = study.trials
        real = load_study(against) if against is not None else None
    finally:  # also when the lines above fail: workers left starting would be cancelled with a warning
        list(warm)
    try:
        tables, report.skipped = analyze(study, metric=metric, ice_task=ice_task, against=real)
    except NotComparable as why:  # asked for by name: a report without the comparison is not what was asked
        raise HpoBenchError(f"{store_path} against {against}: {why}") from None
    report.tables = tables
    if real is not None:
        report.against = _against_sentence(study, real, tables)
    write_tables(tables, report.out_dir)
    (report.out_dir / "tables").mkdir(parents=True, exist_ok=True)
    titles = {t.name: t.title for t in analysis_registry.TABLES if t.title}
    for name, table in tables.items():
        if name in titles:
            (report.out_dir / "tables" / f"{name}.md").write_text(to_markdown(table))
            (report.out_dir / "tables" / f"{name}.tex").write_text(to_latex(table, caption=titles[name]))

    palette = fg.Palette(sorted(trials["optimizer"].unique()))
    makers = {}  # file name -> (figure, what it is drawn from): the study's figures, then each model's
    for model in ["", *sorted(trials["model"].unique())]:
        for figure in figure_registry.FIGURES:
            if figure.per_model != bool(model) or (figure.only_with and figure.only_with not in tables):
                continue
            name, missing = figure.file_name(model), next((n for n in figure.needs if n not in tables), None)
            if missing is not None:
                report.skipped[f"figure {name}"] = f"the {missing} table was left out"
            else:
                makers[name] = (figure, Context(study, tables, palette, model))
    fig_dir = report.out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    # Drawing and saving is a third of a small report's time and each figure is independent: the figures
    # are drawn on every core (the same files as one after another; loky pickles each draw function, a
    # lambda of the registry, with cloudpickle), and the interactive page is made meanwhile.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given")
        drawn = Parallel(n_jobs=n_jobs(len(makers)), return_as="generator")(
            delayed(_draw)(figure.draw, context, fig_dir, name, svg) for name, (figure, context) in makers.items())
        try:
            what = "; ".join(f"{k}: {v}" for k, v in provenance[:6]) + "."
            write_interactive(stored, tables, report.out_dir, what)
        except NotApplicable as why:
            report.skipped[INTERACTIVE] = str(why)
        for (name, (figure, context)), why in zip(makers.items(), drawn, strict=True):
            if why is not None:
                report.skipped[f"figure {name}"] = why
                continue
            report.figures[name] = figure.title.format(model=context.model)
            report.captions[name], report.alts[name] = figure.caption(context), figure.alt_text(context)
    report.seconds = time.perf_counter() - start
    summary = answer(study, tables)
    _write_markdown(report, provenance, file_text, summary)
    _write_html(report, provenance, file_text, summary)
    return report


def _draw(draw, context: Context, fig_dir: Path, name: str, svg: bool) -> str | None:
    """Draw one figure and save it as fig_dir/name.png (and .svg with `svg`); why not, if it does not apply.
    SVG is asked for, not made by default: it adds about 40% to a figure's time and only a paper needs it."""
    try:
        fig = draw(context)
    except NotApplicable as why:
        return str(why)
    fig.savefig(fig_dir / f"{name}.png", bbox_inches="tight")
    if svg:
        fig.savefig(fig_dir / f"{name}.svg", bbox_inches="tight")
    plt.close(fig)
    return None


def _against_sentence(study: Study, real: Study, agreement: dict[str, pd.DataFrame]) -> str:
    """What the agreement section compares, on what and by which measure. The real study is named by its
    experiment's name: a pack is read through a temporary store whose path means nothing to a reader."""
    ranks, row = agreement["agreement_ranks"], overall(agreement["agreement_summary"])
    tau = ("undefined (one side ranks every optimizer alike)" if pd.isna(row["value"])
           else f"{row['value']:.3g} (p = {row['p_value']:.3g})")
    return (f"The optimizers of this surrogate benchmark ({study.name}) against the same experiment on the real tasks "
            f"(the study {real.name}): {len(ranks)} optimizers on the (task, model, optimizer) cells both stores have, "
            f"{int(row['n_tasks_real'])} task(s). Each run counts by its final incumbent's validation "
            f"{ranks['metric'].iloc[0]} (on the surrogate tasks, the surrogate's value of it), ranked within "
            f"task x model x seed blocks (1 = best, ties averaged): {int(row['n_blocks_real'])} blocks real, "
            f"{int(row['n_blocks_surrogate'])} on the surrogates ({int(row['n_seeds_real'])} and "
            f"{int(row['n_seeds_surrogate'])} seeds). Kendall tau between the two mean-rank orders over all "
            f"tasks: {tau}.")


def _agreement_tables() -> list:
    """The tables of the section "Agreement with the real benchmark" (with --against), in their order."""
    return [t for t in analysis_registry.TABLES if t.step is analysis_registry.AGREEMENT]


def _shown(report: Report, skip: tuple[str, ...] = ()):
    """(name, title, what is shown of it) of the tables with a title, but for the agreement section's."""
    agreement = {t.name for t in _agreement_tables()}
    for t in analysis_registry.TABLES:
        if t.title and t.name in report.tables and t.name not in skip and t.name not in agreement:
            table = t.rows(report.tables[t.name]) if t.rows else report.tables[t.name]
            yield t.name, t.title, table[[c for c in t.columns if c in table]] if t.columns else table


# The table and figure that follow the summary, before the metadata (see _sections).
LEAD = "best_found"


def _slug(title: str) -> str:
    """The anchor GitHub gives a Markdown heading (lower case, punctuation dropped, spaces as hyphens); the
    HTML page uses the same ids, so that one contents list serves both."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def left_out_lines(skipped: dict[str, str]) -> list[str]:
    """One line per reason: analyses left out for the same reason (twelve surrogate tables) share it."""
    by_reason: dict[str, list[str]] = {}
    for name, why in sorted(skipped.items()):
        # a figure left out because its table was joins that table's line: the reason is the table's
        table = why.removeprefix("the ").removesuffix(" table was left out")
        by_reason.setdefault(skipped.get(table, why) if table != why else why, []).append(name)
    return [f"{', '.join(names)}: {why}" for why, names in by_reason.items()]


def _sections(report: Report) -> list[tuple[str, list[str]]]:
    """(section title, its subsection titles) in page order, for the contents list of both pages."""
    out = [("Summary", []), ("Best-found loss", [])]
    if report.against:
        out.append(("Agreement with the real benchmark", [t.title for t in _agreement_tables()]))
    out.append(("What was run", []))
    figures = [t for n, t in report.figures.items() if n not in (AGREEMENT_FIGURE, LEAD)]
    if figures:
        out.append(("Figures", figures))
    out.append(("Tables", [title for _, title, _ in _shown(report, (LEAD,))]))
    if report.skipped:
        out.append(("Left out", []))
    return out


def _write_markdown(report: Report, provenance: list[tuple[str, str]], file_text: str,
                    summary: list[str]) -> None:
    lines = [f"# hpo-bench report: {report.name}", "", "## Summary", ""]
    for paragraph in summary:
        lines += [paragraph, ""]
    lines += ["Contents:", ""]
    for title, subsections in _sections(report):
        lines.append(f"- [{title}](#{_slug(title)})")
        lines += [f"  - [{sub}](#{_slug(sub)})" for sub in subsections]
    lines += ["", "## Best-found loss", ""]
    for name, title, table in _shown(report):
        if name == LEAD:
            lines += [f"*{title}*", "", to_markdown(table), ""]
    lines += _markdown_figure(report, LEAD) if LEAD in report.figures else []
    if report.against:
        lines += ["## Agreement with the real benchmark", "", report.against, ""]
        lines += _markdown_figure(report, AGREEMENT_FIGURE) if AGREEMENT_FIGURE in report.figures else []
        for t in _agreement_tables():
            lines += [f"### {t.title}", "", to_markdown(report.tables[t.name]), ""]
    lines += ["## What was run", ""]
    lines += [f"- **{k}**: {v}" for k, v in provenance]
    lines += ["", "```toml", file_text.strip(), "```", ""]
    if (report.out_dir / INTERACTIVE).exists() and INTERACTIVE not in report.skipped:
        lines += [f"Interactive page (pick task, model, optimizer and metric): [{INTERACTIVE}]({INTERACTIVE})", ""]
    if any(n not in (AGREEMENT_FIGURE, LEAD) for n in report.figures):
        lines += ["## Figures", ""]
    for name in report.figures:
        if name not in (AGREEMENT_FIGURE, LEAD):  # in their own sections above
            lines += _markdown_figure(report, name)
    lines += ["## Tables", "", "Every table is also in this folder as CSV, and under tables/ as Markdown and LaTeX.",
              ""]
    for _, title, table in _shown(report, (LEAD,)):
        lines += [f"### {title}", "", to_markdown(table), ""]
    if report.skipped:
        lines += ["## Left out", ""] + [f"- {line}" for line in left_out_lines(report.skipped)]
    (report.out_dir / "index.md").write_text("\n".join(lines) + "\n")


def _markdown_figure(report: Report, name: str) -> list[str]:
    title = report.figures[name]
    alt = report.alts.get(name, title).replace("[", "(").replace("]", ")")
    lines = [f"### {title}", "", f"![{alt}](figures/{name}.png)", ""]
    return lines + ([f"*{report.captions[name]}*", ""] if name in report.captions else [])


# max-width and the scrolling boxes: the page fits a 1,300 px laptop window; a table wider than the page
# scrolls inside its own box (div.wide), and long unbroken values (hashes, package lists) wrap.
_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;
overflow-wrap:anywhere}.wide{overflow-x:auto;max-width:100%;margin:0.5em 0 1.5em}
table{border-collapse:collapse;font-size:13px;overflow-wrap:normal}th,td{padding:3px 8px;
border-bottom:1px solid #ddd;text-align:right}th{background:#f4f4f4}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee}figure{margin:0 0 1.5em}figcaption{font-size:13px;color:#444;
max-width:1000px}pre{background:#f7f7f7;padding:1em;overflow-x:auto}dt{font-weight:600}dd{margin:0 0 .4em 1em}
.summary p{font-size:16px;line-height:1.45;max-width:1000px}nav ul{margin:0 0 1em;font-size:14px}
nav li li{display:inline;margin-right:1em}"""


def _html_table(table: pd.DataFrame) -> str:
    return ("<div class='wide'>" + table.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="", border=0)
            + "</div>")


def _h(level: int, title: str) -> str:
    return f"<h{level} id='{_slug(title)}'>{html.escape(title)}</h{level}>"


def _write_html(report: Report, provenance: list[tuple[str, str]], file_text: str, summary: list[str]) -> None:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
             f"content='width=device-width, initial-scale=1'><title>hpo-bench: {html.escape(report.name)}"
             f"</title><style>{_CSS}</style></head><body>", f"<h1>hpo-bench report: {html.escape(report.name)}</h1>",
             "<section class='summary'>", _h(2, "Summary")]
    parts += [f"<p>{html.escape(p)}</p>" for p in summary]
    parts.append("</section><nav><strong>Contents</strong><ul>")
    for title, subsections in _sections(report):
        subs = "".join(f"<li><a href='#{_slug(s)}'>{html.escape(s)}</a></li>" for s in subsections)
        parts.append(f"<li><a href='#{_slug(title)}'>{html.escape(title)}</a>{f'<ul>{subs}</ul>' if subs else ''}</li>")
    parts += ["</ul></nav>", _h(2, "Best-found loss")]
    for name, title, table in _shown(report):
        if name == LEAD:
            parts += [f"<p><em>{html.escape(title)}</em></p>", _html_table(table)]
    if LEAD in report.figures:
        parts.append(_html_figure(report, LEAD))
    if report.against:
        parts += [_h(2, "Agreement with the real benchmark"), f"<p>{html.escape(report.against)}</p>"]
        if AGREEMENT_FIGURE in report.figures:
            parts.append(_html_figure(report, AGREEMENT_FIGURE))
        for t in _agreement_tables():
            parts += [_h(3, t.title), _html_table(report.tables[t.name])]
    parts += [_h(2, "What was run"), "<dl>"]
    parts += [f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in provenance]
    parts += ["</dl>", f"<pre>{html.escape(file_text)}</pre>"]
    if INTERACTIVE not in report.skipped:
        parts.append(f"<p>Interactive page (pick task, model, optimizer and metric): <a href='{INTERACTIVE}'>"
                     f"{INTERACTIVE}</a></p>")
    if any(n not in (AGREEMENT_FIGURE, LEAD) for n in report.figures):
        parts.append(_h(2, "Figures"))
    parts += [_html_figure(report, name) for name in report.figures if name not in (AGREEMENT_FIGURE, LEAD)]
    parts.append(_h(2, "Tables"))
    for _, title, table in _shown(report, (LEAD,)):
        parts += [_h(3, title), _html_table(table)]
    if report.skipped:
        parts.append(_h(2, "Left out") + "<ul>")
        parts += [f"<li>{html.escape(line)}</li>" for line in left_out_lines(report.skipped)]
        parts.append("</ul>")
    parts.append("</body></html>")
    (report.out_dir / "index.html").write_text("\n".join(parts))


def _html_figure(report: Report, name: str) -> str:
    title = report.figures[name]
    data = base64.b64encode((report.out_dir / "figures" / f"{name}.png").read_bytes()).decode()
    caption = f"<figcaption>{html.escape(report.captions[name])}</figcaption>" if name in report.captions else ""
    return (f"<figure>{_h(3, title)}<img alt='{html.escape(report.alts.get(name, title))}' "
            f"src='data:image/png;base64,{data}'>{caption}</figure>")
