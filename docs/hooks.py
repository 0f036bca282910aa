"""MkDocs hook: the committed reports' figures (reports/<name>/figures/*.png) become files of the site at
reports/<name>/figures/, so that the docs' study pages link them where they are instead of copying them."""

from __future__ import annotations

from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]


def on_files(files: Files, config) -> Files:
    for png in sorted((ROOT / "reports").glob("*/figures/*.png")):
        files.append(File(str(png.relative_to(ROOT)), src_dir=str(ROOT), dest_dir=config["site_dir"],
                          use_directory_urls=config["use_directory_urls"]))
    return files
