"""One declaration per analysis product (issue 36): a table declared in hpo_bench/analysis/registry.py and
a figure declared in hpo_bench/report/registry.py appear in `analyze`, in the report's index.md and
index.html, and in the manual's table list, with nothing else changed; and the rules by which `analyze`
makes, orders and leaves out the declared tables."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest
from synthetic_store import neighbours_loss, write_store

from hpo_bench.analysis import NotApplicable, Study, analyze, load_study
from hpo_bench.analysis import registry as analysis_registry
from hpo_bench.analysis.registry import INPUTS, TABLES, Inputs, Step, Table, make_tables
from hpo_bench.report import build_report
from hpo_bench.report import registry as figure_registry
from hpo_bench.report.registry import FIGURES, Figure

ROOT = Path(__file__).resolve().parents[1]


def _hooks():
    spec = importlib.util.spec_from_file_location("docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    return hooks


# The new product, each part declared once: a table and a figure drawn from it.
TOY = Table("trials_per_optimizer",
            lambda a: a.trials.groupby(["model", "optimizer"], as_index=False).size().rename(
                columns={"size": "n_trials"}),
            title="Trials per model and optimizer (a table declared by a test)",
            doc="per model x optimizer, how many trials the store holds (a table declared by a test)")
TOY_FIGURE = Figure("trials_per_optimizer", "Trials per optimizer (a figure declared by a test)",
                    lambda c: c.tables["trials_per_optimizer"].plot.bar(x="optimizer", y="n_trials").figure,
                    lambda c: f"Trials per optimizer, {len(c.trials)} in all. Values: trials_per_optimizer.csv.",
                    needs=("trials_per_optimizer",))


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return write_store(tmp_path_factory.mktemp("registry") / "small.sqlite", "small", {"knn": neighbours_loss},
                       {"T0": 0.0, "T1": 0.05}, {"random": "random", "tpe": "tpe"}, budget=6, seeds=2,
                       include_default=False)


def test_a_table_and_a_figure_declared_once_appear_everywhere(store, tmp_path, monkeypatch):
    monkeypatch.setattr(analysis_registry, "TABLES", TABLES + (TOY,))
    monkeypatch.setattr(figure_registry, "FIGURES", FIGURES + (TOY_FIGURE,))
    study = load_study(store)
    expected = study.trials.groupby(["model", "optimizer"], as_index=False).size().rename(columns={"size": "n_trials"})

    tables, skipped = analyze(study)
    pd.testing.assert_frame_equal(tables["trials_per_optimizer"], expected)
    assert "trials_per_optimizer" not in skipped

    report = build_report(store, tmp_path)
    out = report.out_dir
    assert pd.read_csv(out / "trials_per_optimizer.csv")["n_trials"].tolist() == expected["n_trials"].tolist()
    assert (out / "tables" / "trials_per_optimizer.md").exists()
    assert f"\\caption{{{TOY.title}}}" in (out / "tables" / "trials_per_optimizer.tex").read_text()
    assert (out / "figures" / "trials_per_optimizer.png").stat().st_size > 1000
    md = (out / "index.md").read_text()
    tables_section = md[md.index("\n## Tables\n"):]
    assert f"### {TOY.title}\n\n| model | optimizer | n_trials |" in tables_section  # shown after the others
    assert f"  - [{TOY.title}](#" in md  # in the contents
    figures_section = md[md.index("\n## Figures\n"):md.index("\n## Tables\n")]
    n = len(study.trials)
    assert f"### {TOY_FIGURE.title}\n\n![Trials per optimizer, {n} in all.](figures/trials_per_optimizer.png)" \
        in figures_section  # the alt text: the caption's first sentence
    assert f"*Trials per optimizer, {n} in all. Values: trials_per_optimizer.csv.*" in figures_section
    html = (out / "index.html").read_text()
    assert f">{TOY.title}</h3>" in html and f">{TOY_FIGURE.title}</h3>" in html
    assert html.index(f">{TOY.title}</h3>") > html.index(">Tables</h2>")
    assert f"<figcaption>Trials per optimizer, {n} in all." in html

    hooks = _hooks()
    assert f"| trials_per_optimizer | {TOY.doc} |" in hooks.analysis_tables()
    page = hooks.on_page_markdown((ROOT / "docs" / "analysis.md").read_text(), None, None, None)
    assert f"| trials_per_optimizer | {TOY.doc} |" in page


def test_without_the_declaration_nothing_of_it_is_made(store, tmp_path):
    tables, skipped = analyze(load_study(store))
    assert "trials_per_optimizer" not in tables and "trials_per_optimizer" not in skipped
    report = build_report(store, tmp_path)
    assert not (report.out_dir / "trials_per_optimizer.csv").exists()
    assert "Trials per" not in (report.out_dir / "index.md").read_text()


def test_every_declaration_is_whole_and_names_what_exists():
    names = [t.name for t in TABLES]
    assert len(names) == len(set(names)), "a table declared twice"
    for table in TABLES:
        for need in (*table.all_needs, *table.all_uses, *table.reasons):
            assert need in names or need in INPUTS, f"{table.name} needs {need}, which nothing makes"
        assert table.columns is None or table.title, f"{table.name}: columns shown of a table not shown"
    figures = [f.name for f in FIGURES]
    assert len(figures) == len(set(figures)), "a figure declared twice"
    for figure in FIGURES:
        for need in (*figure.needs, *([figure.only_with] if figure.only_with else [])):
            assert need in names, f"figure {figure.name} draws {need}, which no table is"
    listed = _hooks().analysis_tables()  # raises for a table without a text for the manual
    for name in names:
        assert name in listed
    assert "<!-- generated: analysis-tables -->" in (ROOT / "docs" / "analysis.md").read_text()


def _study() -> Study:
    trials = pd.DataFrame({"model": ["m"], "metric": ["1-auc"], "loss": [0.1], "tuned": ["all"]})
    return Study(trials, pd.DataFrame(columns=["task"]), {})


def _refuse(a):
    raise NotApplicable("not for this design")


def test_the_rules_by_which_tables_are_made_and_left_out():
    calls = []

    def step(a):
        calls.append(1)
        return {"s1": pd.DataFrame({"x": [1]}), "s2": pd.DataFrame(), "s3": NotApplicable("s3 has a reason")}

    shared = Step("shared", step, needs=("base",))
    declared = (
        Table("derived", lambda a: a.tables["base"].assign(y=2), needs=("base",)),  # declared before base
        Table("base", lambda a: pd.DataFrame({"x": [1]})),
        Table("refused", _refuse),
        Table("empty", lambda a: pd.DataFrame()),
        Table("empty_kept", lambda a: pd.DataFrame(), always=True),
        Table("after_refused", lambda a: pd.DataFrame({"x": [1]}), needs=("refused",)),
        Table("says_why", lambda a: pd.DataFrame({"x": [1]}), needs=("refused",),
              why_missing={"refused": "needs the refused table ({why})"}),
        Table("s1", shared), Table("s2", shared), Table("s3", shared),
        Table("compared", lambda a: pd.DataFrame({"x": [1]}), needs=("against",)),
    )
    tables, skipped = make_tables(Inputs(_study()), declared)
    assert list(tables) == ["derived", "base", "empty_kept", "s1"]  # the declared order, whatever was made first
    assert tables["derived"]["y"].tolist() == [2]
    assert skipped == {"refused": "not for this design", "empty": "no rows",
                       "says_why": "needs the refused table (not for this design)", "s3": "s3 has a reason"}
    assert len(calls) == 1  # a step runs once for all its tables
    with_real = make_tables(Inputs(_study(), against=_study()), declared)[0]
    assert "compared" in with_real  # an input (INPUTS) given is a need met


def test_a_step_that_does_not_apply_gives_its_reason_to_each_of_its_tables_once():
    calls = []

    def step(a):
        calls.append(1)
        raise NotApplicable("no surrogate")

    shared = Step("shared", step)
    tables, skipped = make_tables(Inputs(_study()), (Table("a", shared), Table("b", shared)))
    assert tables == {} and skipped == {"a": "no surrogate", "b": "no surrogate"} and len(calls) == 1
