"""The one-source pipeline's invariants: chapters/ is what solutions/ generates, and no
solution line or hidden test reaches the student notebooks or the built book."""
import html
import re
from pathlib import Path

import nbformat
import pytest

from course import ROOT, SLUGS
from lstmbook import data
from lstmbook.instructor import pipeline, sources

MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def _chapter(slug):
    return nbformat.read(ROOT / "chapters" / f"{slug}.ipynb", as_version=4)


def _outputs(nb):
    """Every output text of a notebook."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if "text" in out:
                yield out["text"]
            for key, value in out.get("data", {}).items():
                if key.startswith("text/"):
                    yield value if isinstance(value, str) else "".join(value)
            if "traceback" in out:
                yield "\n".join(out["traceback"])


def _texts(nb):
    """Every source and every output text of a notebook."""
    yield from (cell.source for cell in nb.cells)
    yield from _outputs(nb)


def test_there_are_chapters():
    assert "02_numpy_lstm" in SLUGS
    assert sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb")) == SLUGS


@pytest.mark.slow
@pytest.mark.parametrize("slug", SLUGS)
def test_chapter_is_what_its_solution_generates(slug, tmp_path):
    fresh = nbformat.read(pipeline.build_chapter(ROOT / "solutions" / f"{slug}.md", tmp_path, run=False),
                          as_version=4)
    kept = _chapter(slug)
    assert kept.metadata.get("kernelspec") == fresh.metadata.get("kernelspec")
    assert len(kept.cells) == len(fresh.cells), f"chapters/{slug}.ipynb is stale: run make chapters"
    for k, (a, b) in enumerate(zip(kept.cells, fresh.cells)):
        where = f"chapters/{slug}.ipynb cell {k + 1} is stale (run make chapters)"
        assert a.cell_type == b.cell_type, where
        assert a.source == b.source, where
        assert a.metadata == b.metadata, where


@pytest.mark.parametrize("slug", SLUGS)
def test_no_solution_or_hidden_test_in_the_student_notebook(slug):
    secrets = sources.secret_lines(ROOT / "solutions" / f"{slug}.md")
    assert len(secrets) > 20  # the check has something to look for
    text = "\n".join(_texts(_chapter(slug)))
    leaked = [line for line in secrets if line in text]
    assert not leaked, f"chapters/{slug}.ipynb shows solution or hidden-test lines: {leaked[:3]}"
    assert not [m for m in MARKERS if m in text]


@pytest.mark.parametrize("slug", SLUGS)
def test_graded_cells_are_stubs_without_outputs_and_the_reference_run_is_kept(slug):
    nb = _chapter(slug)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") or
              c.metadata.get("nbgrader", {}).get("solution")]
    assert graded
    for cell in graded:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{cell.metadata['nbgrader']['grade_id']} keeps outputs"
        if cell.metadata["nbgrader"].get("solution") and cell.cell_type == "code":
            assert "raise NotImplementedError()" in cell.source
    ordinary = [c for c in nb.cells if c.cell_type == "code" and "nbgrader" not in c.metadata]
    assert any(c.outputs for c in ordinary), "no outputs: was the reference run skipped?"
    # only cells that show an error on purpose may keep one
    unexpected = [c for c in ordinary if "raises-exception" not in c.metadata.get("tags", [])]
    assert not [o for c in unexpected for o in c.outputs if o.output_type == "error"]


def _printed_library_code(slug):
    """(name, the course-library object, what the chapter printed) for every
    ``print(inspect.getsource(name))`` of a name the chapter imports from ``lstmbook``."""
    import importlib

    nb = _chapter(slug)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    origin = {name.strip(): module for module, names in re.findall(r"^from (lstmbook[\w.]*) import ([\w, ]+)$", code, re.M)
              for name in names.split(",")}
    for cell in nb.cells:
        for name in re.findall(r"inspect\.getsource\((\w+)\)", cell.source if cell.cell_type == "code" else ""):
            if name in origin:
                printed = "".join(o.get("text", "") for o in cell.get("outputs", []))
                yield name, getattr(importlib.import_module(origin[name]), name), printed


def test_chapters_print_the_course_library_s_code():
    assert sum(1 for slug in SLUGS for _ in _printed_library_code(slug)) >= 4


@pytest.mark.parametrize("slug", SLUGS)
def test_printed_library_code_is_today_s(slug):
    """A chapter that shows a course-library function shows the code students import: a
    change to lstmbook not followed by ``make chapters`` fails here."""
    import inspect

    for name, obj, printed in _printed_library_code(slug):
        assert inspect.getsource(obj) in printed, (f"chapters/{slug}.ipynb prints an older {name}: "
                                                   f"run make chapters CHAPTER={slug}")


def test_outputs_hold_statistics_and_samples_not_corpus_lines():
    lines = set()
    for poem in data.load_poems("tang300"):
        lines.update(s for s in re.split(r"[，。！？；：、]", poem) if len(s) >= 5)
    assert len(lines) > 1000
    for slug in SLUGS:
        outputs = "\n".join(_outputs(_chapter(slug)))
        copied = [s for s in lines if s in outputs]
        assert not copied, f"chapters/{slug}.ipynb prints lines of the corpus: {copied[:3]}"


def test_a_malformed_source_names_the_file_and_cell(tmp_path):
    md = tmp_path / "09_bad.md"
    md.write_text("# Bad\n\n```{code-cell} ipython3\n:tags: [test]\nassert True\n```\n")
    with pytest.raises(sources.BuildError, match=r"09_bad\.md, cell 2: a test cell .* :points:"):
        sources.source_notebook(md)
    md.write_text("# Bad\n\n```{code-cell} ipython3\n:tags: [solution]\nx = 1\n```\n")
    with pytest.raises(sources.BuildError, match=r"09_bad\.md, cell 2: a solution cell must define"):
        sources.source_notebook(md)
    md.write_text("# Bad\n\n```{code-cell} ipython3\nx = 1\n### BEGIN SOLUTION\n```\n")
    with pytest.raises(sources.BuildError, match="markers in an unmarked cell"):
        sources.source_notebook(md)



_HIDDEN_SETUP_CHAPTER = """# Tiny

```{code-cell} ipython3
:tags: [solution]
def double(x):
    ### BEGIN SOLUTION
    return 2 * x
    ### END SOLUTION
```

```{code-cell} ipython3
:tags: [hidden-setup]
def _probe_inputs_for_the_checks(seed):
    return [seed, seed + 1]
```

```{code-cell} ipython3
:tags: [test]
:grade_id: test_double
:points: 1
assert double(2) == 4, "double(2) should be 4"
### BEGIN HIDDEN TESTS
for _x in _probe_inputs_for_the_checks(7):
    record(f"double/{_x}", double(_x))
### END HIDDEN TESTS
```
"""


def test_the_hidden_setup_is_prepended_to_every_check_and_kept_from_students(tmp_path):
    from lstmbook.instructor.grader import testmodel

    md = tmp_path / "09_tiny.md"
    md.write_text(_HIDDEN_SETUP_CHAPTER)
    src = sources.source_notebook(md)
    (check,) = testmodel.checks(src)
    assert check[0] == "test_double"
    assert check[1].index("def _probe_inputs_for_the_checks") < check[1].index("record(")
    as_handed_in = testmodel.reference_notebook(src)
    assert "_probe_inputs_for_the_checks" not in "\n".join(c.source for c in as_handed_in.cells)
    assert "def _probe_inputs_for_the_checks(seed):" in sources.secret_lines(md)


@pytest.mark.slow
def test_the_hidden_setup_never_reaches_the_student_notebook(tmp_path):
    md = tmp_path / "09_tiny.md"
    md.write_text(_HIDDEN_SETUP_CHAPTER)
    nb = nbformat.read(pipeline.build_chapter(md, tmp_path / "out", run=True), as_version=4)
    text = "\n".join(c.source for c in nb.cells)
    assert "_probe_inputs_for_the_checks" not in text and "def double(x):" in text


def test_a_misplaced_hidden_setup_is_refused(tmp_path):
    md = tmp_path / "09_bad.md"
    late = _HIDDEN_SETUP_CHAPTER.split("```{code-cell} ipython3\n:tags: [hidden-setup]")
    # the setup cell moved after the test cell: the reference run would call it too early
    setup, rest = late[1].split("```\n", 1)
    md.write_text(late[0] + rest + "\n```{code-cell} ipython3\n:tags: [hidden-setup]" + setup + "```\n")
    with pytest.raises(sources.BuildError, match=r"09_bad\.md, cell \d+: the hidden-setup cell must come before"):
        sources.source_notebook(md)
    md.write_text(_HIDDEN_SETUP_CHAPTER.replace(":tags: [hidden-setup]", ":tags: [hidden-setup, solution]"))
    with pytest.raises(sources.BuildError, match="a hidden-setup cell is a plain code cell"):
        sources.source_notebook(md)

def _visible_text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        return "\n".join(_texts(nbformat.reads(raw, as_version=4)))
    return html.unescape(re.sub(r"<[^>]+>", "", raw))


@pytest.mark.slow
def test_book_builds_with_equations_and_the_reference_plot(book):
    assert (book / "index.html").is_file()
    page = (book / "chapters" / "02_numpy_lstm.html").read_text(encoding="utf-8")
    assert 'class="math' in page  # equations typeset by MathJax
    assert re.search(r'<img[^>]+src="[^"]*\.png"', page), "the loss-curve plot is missing"


@pytest.mark.slow
def test_no_solution_or_hidden_test_in_the_book(book):
    """A chapter's pages never show its own solutions or hidden tests; the other pages show
    none of any chapter. (A later chapter may show, as its own material, code that an
    earlier chapter asks students to write: chapter 4 prints a whole LSTM.)"""
    secrets = {slug: sources.secret_lines(ROOT / "solutions" / f"{slug}.md") for slug in SLUGS}
    files = [p for p in book.rglob("*") if p.suffix in {".html", ".ipynb", ".md", ".txt", ".js"}
             and p.is_file() and "_static" not in p.parts]
    assert any(p.suffix == ".ipynb" for p in files)  # the downloadable notebooks are checked too
    for slug in SLUGS:
        assert any(slug in p.name for p in files), f"no page of {slug}"
    for path in files:
        own = [slug for slug in SLUGS if slug in path.name]
        check = [s for slug in (own or SLUGS) for s in secrets[slug]]
        text = _visible_text(path)
        leaked = [s for s in check if s in text]
        assert not leaked, f"{path.relative_to(book)} shows: {leaked[:3]}"
