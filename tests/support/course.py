"""The one place the tests learn where the repository is and which chapters it has."""
from __future__ import annotations

import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _slugs() -> list[str]:
    from lstmbook.instructor.sources import chapter_sources

    return [p.stem for p in chapter_sources(ROOT)]


#: Every chapter, in order: ``solutions/NN_slug.md`` stems.
SLUGS = _slugs()


def planted(slug: str):
    """The module of ``slug``'s planted bugs and other correct styles (``mutants_NN``)."""
    return importlib.import_module(f"mutants_{slug[:2]}")
