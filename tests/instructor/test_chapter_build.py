"""The pipeline's own promises: plots survive whatever MPLBACKEND the caller exported (the
Makefile exports Agg), regenerating a chapter is stable, progress bars keep one line."""
from __future__ import annotations

import nbformat
import pytest

from course import SLUGS
from lstmbook.instructor import pipeline, sources
from lstmbook.bars import last_state, progress


@pytest.mark.slow
def test_reference_run_keeps_plots_when_the_caller_exports_agg(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as `make chapters` exports it
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()")])
    pipeline.execute(nb, cwd=tmp_path, profile="quick")
    kinds = [k for o in nb.cells[0].outputs for k in o.get("data", {})]
    assert "image/png" in kinds, nb.cells[0].outputs
    assert __import__("os").environ["MPLBACKEND"] == "Agg"  # and the caller's setting is back


@pytest.mark.parametrize("slug", SLUGS)
def test_committed_chapters_have_their_plots(root, slug):
    """Every chapter whose source draws a figure shows it in the committed notebook."""
    source = (root / "solutions" / f"{slug}.md").read_text(encoding="utf-8")
    if "plt." not in source:
        pytest.fail(f"{slug} draws no figure; every chapter of this course has one")
    nb = nbformat.read(root / "chapters" / f"{slug}.ipynb", as_version=4)
    pngs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if "image/png" in o.get("data", {})]
    assert pngs, f"chapters/{slug}.ipynb lost its plots: run `make chapters CHAPTER={slug}`"


def test_cell_ids_are_stable(root, tmp_path):
    md = root / "solutions" / "02_numpy_lstm.md"
    first, second = sources.source_notebook(md), sources.source_notebook(md)
    ids = [c.id for c in first.cells]
    assert ids == [c.id for c in second.cells] and len(set(ids)) == len(ids)
    committed = nbformat.read(root / "chapters" / "02_numpy_lstm.ipynb", as_version=4)
    assert [c.id for c in committed.cells] == ids
    edited = md.read_text(encoding="utf-8").replace("## The forward pass of one step",
                                                    "## The forward pass of a single step", 1)
    assert edited != md.read_text(encoding="utf-8")
    copy = tmp_path / md.name
    copy.write_text(edited, encoding="utf-8")
    changed = [a for a, b in zip(ids, (c.id for c in sources.source_notebook(copy).cells)) if a != b]
    assert len(changed) == 1, changed  # only the edited cell gets a new id


def test_a_progress_bar_keeps_its_last_state(capsys):
    for _ in progress(range(3), desc="epochs", mininterval=0):
        pass
    out = capsys.readouterr().out
    assert "\r" in out and "0/3" in out  # drawn in place while it runs
    assert last_state(out).strip().startswith("epochs: 100%") and "0/3" not in last_state(out)
    assert last_state("a\rb\nc\r\n") == "b\nc\n"


def test_committed_chapters_hold_no_progress_redraws(root):
    for path in sorted((root / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for c in nb.cells:
            for o in c.get("outputs", []):
                assert "\r" not in o.get("text", ""), f"{path.name}: a progress bar kept its redraws"


@pytest.mark.parametrize("slug", SLUGS)
def test_every_visible_assert_says_what_was_expected(root, slug):
    """A student whose visible test fails reads what was expected and what was found: every
    assert in the visible part of a graded test cell carries a message that says "expected"."""
    import ast

    nb = sources.source_notebook(root / "solutions" / f"{slug}.md")
    bare = []
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        visible, _ = sources.strip_regions(cell.source, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        for node in ast.walk(ast.parse(visible)):
            if isinstance(node, ast.Assert) and (node.msg is None or "expected" not in ast.unparse(node.msg).lower()):
                bare.append(f"{meta['grade_id']}, line {node.lineno}: assert {ast.unparse(node.test)[:60]}")
    assert not bare, f"{slug}: asserts that do not say what was expected:\n" + "\n".join(bare)
