"""The README's and the manual's examples work as written.

Every ```python block of README.md and docs/ runs, in a fresh folder that sees the repository's committed
packs, benchmarks and examples (read-only), unless the line before it says `<!-- not run: why -->` (a
fragment, or code that needs a cluster). Every `hpo-bench ...` command of a ```bash block is parsed by the
command line's own parser, so a renamed command or flag fails here; the README's first two commands are
run as they are by .ci/run.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from hpo_bench.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"(?P<before>[^\n]*)\n```(?P<lang>python|bash)\n(?P<code>.*?)```", re.S)


def blocks(lang: str) -> list[tuple[str, str, str]]:
    """(page, code, the line before the block) of every block in `lang`."""
    found = []
    for page in PAGES:
        for m in BLOCK.finditer("\n" + page.read_text()):
            if m["lang"] == lang:
                found.append((str(page.relative_to(ROOT)), m["code"], m["before"]))
    return found


PYTHON = [(page, code) for page, code, before in blocks("python") if "<!-- not run:" not in before]


def test_the_manual_has_examples_and_says_why_any_is_not_run():
    assert len(PYTHON) >= 5
    for page, _, before in blocks("python"):
        if "<!-- not run:" in before:
            assert re.search(r"<!-- not run: \S.*-->", before), f"{page}: a block not run must say why"


@pytest.mark.parametrize(("page", "code"), PYTHON, ids=[f"{p}#{i}" for i, (p, _) in enumerate(PYTHON)])
def test_python_example_runs(page, code, tmp_path):
    (tmp_path / "results").mkdir()
    for pack in (ROOT / "results").iterdir():
        if pack.is_dir():
            (tmp_path / "results" / pack.name).symlink_to(pack)
    for folder in ("benchmarks", "examples"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    (tmp_path / "example.py").write_text(code)
    # a script of its own: worker processes that an example starts import it (spawn)
    out = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{page}:\n{code}\n{out.stderr[-3000:]}"


def _commands(code: str) -> list[str]:
    text = code.replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        for part in re.split(r"&&|;|\|\|", line):
            part = part.strip()
            if part.startswith("PYTHONPATH="):
                part = part.split(" ", 1)[1] if " " in part else ""
            if part.startswith("hpo-bench "):
                found.append(part)
    return found


COMMANDS = [(page, command) for page, code, _ in blocks("bash") for command in _commands(code)]


def test_every_documented_command_parses():
    assert len(COMMANDS) >= 20
    parser = build_parser()
    for page, command in COMMANDS:
        argv = shlex.split(command)[1:]
        if not argv or argv[-1] in ("...", "…") or any(a.isupper() and len(a) > 1 for a in argv):
            continue  # a placeholder (FILE, STORE, ...) stands for a value the reader supplies
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{page}: `{command}` does not parse (exit {exc.code})")
