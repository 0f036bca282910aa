"""Reports from real stores, checked in a real browser (headless Chromium through Selenium)."""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager

import pytest

from hpo_bench.cli import main
from hpo_bench.report import build_report

CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@contextmanager
def chromium(window: str = "1300,2000"):
    """Headless Chromium through Selenium, with no network. Where either is missing the test fails, naming
    what to install: a report test that skips in silence passes on a machine that never opened the page.
    HPO_BENCH_NO_BROWSER=1 skips it knowingly (the skip reason says what was not checked)."""
    if not (CHROMEDRIVER and CHROMIUM):
        missing = " and ".join(n for n, found in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not found)
        if os.environ.get("HPO_BENCH_NO_BROWSER") == "1":
            pytest.skip(f"HPO_BENCH_NO_BROWSER=1: the report page was not opened in a browser ({missing} missing)")
        pytest.fail(f"this report test opens the page in headless Chromium and needs {missing}: apt-get install "
                    "chromium chromium-driver (Debian/Ubuntu), or set HPO_BENCH_NO_BROWSER=1 to skip it knowingly")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--window-size={window}"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        # Offline as far as the page can tell: a report must draw from the file alone.
        driver.set_network_conditions(offline=True, latency=0, download_throughput=0, upload_throughput=0)
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two real stores: three optimizers x two seeds, and one seed with failing trials."""
    root = tmp_path_factory.mktemp("stores")
    from conftest import experiment_text

    (root / "many.toml").write_text(experiment_text(
        name='"many"', tasks='["sklearn:iris", "sklearn:wine", "sklearn:breast_cancer"]',
        models='["families:FAILING_LOGREG"]', budget_evals=6, seeds=2,
        optimizers='random = {}\ngrid = {}\ncoarse = { type = "grid", n_points = 2 }'))
    (root / "single.toml").write_text(experiment_text(
        name='"single"', models='["families:FAILING_LOGREG"]', budget_evals=6, seeds=1, include_default="false"))
    for name in ("many", "single"):
        assert main(["run", str(root / f"{name}.toml"), "--results-dir", str(root / "results"),
                     "--executor", "inline"]) == 0
    return root


def test_report_of_failed_single_seed_runs(stores, tmp_path):
    report = build_report(stores / "results" / "single.sqlite", tmp_path)
    out = tmp_path / "single"
    assert (out / "index.html").exists() and (out / "index.md").exists()
    assert "incumbent" in report.figures and "best_found" in report.figures
    assert "tunability" in report.skipped and "include_default" in report.skipped["tunability"]
    assert "figure robustness" in report.skipped
    text = (out / "index.md").read_text()
    assert "failed" in text and "sha256" in text


@pytest.mark.slow  # drives Chromium
def test_report_has_every_figure_and_table_and_opens_in_a_browser(stores, tmp_path):
    assert main(["report", str(stores / "results" / "many.sqlite"), "--reports-dir", str(tmp_path), "--svg"]) == 0
    out = tmp_path / "many"
    for name in ("incumbent", "regret", "ranks", "critical_difference", "best_found", "robustness"):
        assert (out / "figures" / f"{name}.png").stat().st_size > 1000
        assert (out / "figures" / f"{name}.svg").exists()
    assert (out / "tables" / "best_found.tex").read_text().count(r"\midrule") == 1
    assert (out / "tables" / "best_found.md").read_text().startswith("| task |")
    with chromium() as driver:
        driver.get((out / "index.html").as_uri())
        images = driver.execute_script(
            "return [...document.images].map(i => [i.alt, i.complete, i.naturalWidth])")
        assert len(images) >= 6
        assert all(complete and width > 0 for _, complete, width in images), images
        # every figure has a caption that says what it rests on, and alt text of its own
        figures = driver.execute_script(
            "return [...document.querySelectorAll('figure')].map(f => [f.querySelector('h3').textContent, "
            "f.querySelector('img').alt, (f.querySelector('figcaption') || {}).textContent || ''])")
        assert len(figures) == len(images)
        for title, alt, caption in figures:
            assert "validation" in caption and "seed" in caption, (title, caption)
            assert "task" in caption or "dataset" in caption, (title, caption)
            assert alt and alt != title, title
        rows = driver.execute_script("return [...document.querySelectorAll('table')].map(t => t.rows.length)")
        assert rows and all(n > 1 for n in rows), rows  # a header and at least one row each
        driver.save_screenshot(str(out / "screenshot.png"))
    assert (out / "screenshot.png").stat().st_size > 10_000


def test_a_stopped_session_ends_at_its_last_trial(tmp_path):
    """A session stopped by Ctrl-C or a kill records no end; 'What was run' gives its last trial's time instead
    of '-', and says it was stopped."""
    import sqlite3

    from synthetic_store import alpha_loss, write_store

    from hpo_bench.analysis import load_study
    from hpo_bench.report.builder import _provenance

    path = write_store(tmp_path / "s.sqlite", "s", {"elastic_net": alpha_loss}, {"T0": 0.0}, {"random": "random"},
                       budget=6)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO sessions (started_at, versions, machine, command) "
                   "SELECT 1800000000, versions, machine, 'stopped' FROM sessions")  # 2027-01-15 08:00:00 UTC
        db.execute("INSERT INTO sessions (started_at, versions, machine, command) "
                   "SELECT 1800000600, versions, machine, 'stopped at once' FROM sessions LIMIT 1")
        db.execute("UPDATE trials SET session_id = 2, finished_at = 1800000100 + trial_number WHERE trial_number >= 3")
    sessions = dict(_provenance(load_study(path)))["sessions"].split("; ")
    assert len(sessions) == 3 and " to " in sessions[0] and "stopped" not in sessions[0]
    assert sessions[1] == "2027-01-15 08:00:00 UTC to 2027-01-15 08:01:45 UTC (stopped: its last trial)"
    assert sessions[2] == "2027-01-15 08:10:00 UTC (stopped before any trial)"
