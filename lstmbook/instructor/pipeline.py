"""The chapter pipeline: ``solutions/NN_slug.md`` -> reference run -> ``chapters/NN_slug.ipynb``.

:func:`build_chapter` reads a chapter source (:mod:`lstmbook.instructor.sources`), executes it
in a fresh kernel in the ``book`` profile (the reference run, whose outputs the book shows),
then turns it into the student notebook with nbgrader's own preprocessors (:func:`release`):
solutions become stubs, hidden tests and the hidden-test setup disappear, graded cells lose
their outputs.
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import nbformat

from ..config import environment
from .sources import BuildError, chapter_sources, nbgrader_cmd, repo_root, source_notebook, without_hidden_setup

#: The first cell of a reference run: the hidden checks call ``record``, which the grader binds
#: to each test; here it only checks that every value can be recorded.
RECORD_IMPORT = "from lstmbook.instructor.grader.inside.record import record"


def execute(nb: nbformat.NotebookNode, cwd: Path, profile: str = "book", timeout: int = 3600):
    """Run ``nb`` in place in a fresh kernel (the reference run); any error stops the build,
    except in cells tagged ``raises-exception``."""
    from nbclient import NotebookClient

    # the inline backend, whatever the caller's MPLBACKEND (the Makefile exports Agg for
    # the tools, and Agg in the kernel would drop every plot from the chapter)
    with environment({"LSTMBOOK_PROFILE": profile,
                      "MPLBACKEND": "module://matplotlib_inline.backend_inline"}):
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def release(nb: nbformat.NotebookNode, slug: str) -> nbformat.NotebookNode:
    """Turn a source notebook into the student notebook with nbgrader's generate_assignment
    (its own preprocessors: lock, stub solutions, checksums, remove hidden tests), keeping
    the outputs of ordinary cells and clearing those of graded cells."""
    with tempfile.TemporaryDirectory(prefix="lstmbook-release-") as tmp:
        src = Path(tmp, "source", slug)
        src.mkdir(parents=True)
        nbformat.write(nb, src / f"{slug}.ipynb")
        cmd = nbgrader_cmd() + [
            "generate_assignment", slug, "--force", "--log-level=WARN",
            f"--CourseDirectory.root={tmp}",
            f"--CourseDirectory.db_url=sqlite:///{tmp}/gradebook.db",
            "--ClearOutput.enabled=False",
        ]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True)
        out = Path(tmp, "release", slug, f"{slug}.ipynb")
        if proc.returncode != 0 or not out.is_file():
            raise BuildError(f"nbgrader generate_assignment failed for {slug}:\n{proc.stdout}{proc.stderr}")
        student = nbformat.read(out, as_version=4)
    from ..bars import last_state

    for cell in student.cells:
        if cell.cell_type == "code":  # rich (used by fastNLP) leaves empty displays behind
            cell.outputs = [o for o in cell.outputs if not _empty_display(o)]
            merged, first = [], {}  # every write to a stream joins its first output (as the
            for o in cell.outputs:  # book's nb_merge_streams does), so a bar stays whole
                if o.get("output_type") == "stream" and o.name in first:
                    first[o.name].text += o.text
                else:
                    merged.append(o)
                    if o.get("output_type") == "stream":
                        first[o.name] = o
            for o in merged:  # a progress bar keeps its last state only
                if o.get("output_type") == "stream":
                    o.text = last_state(o.text)
            cell.outputs = merged
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and (meta.get("grade") or meta.get("solution")):
            cell.outputs = []
            cell.execution_count = None
    return student


def _empty_display(output) -> bool:
    if output.get("output_type") != "display_data":
        return False
    data = output.get("data", {})
    return set(data) <= {"text/plain", "text/html"} and not data.get("text/plain", "").strip()


def build_chapter(md_path: Path, out_dir: Path, run: bool = True, profile: str = "book") -> Path:
    """Generate ``out_dir/<slug>.ipynb`` from ``md_path``; ``run`` does the reference run."""
    slug = md_path.stem
    nb = source_notebook(md_path)
    out_dir.mkdir(parents=True, exist_ok=True)
    if run:
        # the hidden checks call record(), which the grader binds to each test; in the
        # reference run it only checks that every value can be recorded
        nb.cells.insert(0, nbformat.v4.new_code_cell(RECORD_IMPORT))
        # in a folder of its own: chapter 7 writes scripts and checkpoints next to itself
        with tempfile.TemporaryDirectory(prefix=f"lstmbook-{slug}-") as work:
            execute(nb, cwd=Path(work), profile=profile)
        del nb.cells[0]
    student = release(without_hidden_setup(nb), slug)
    target = out_dir / f"{slug}.ipynb"
    tmp = target.with_name(target.name + ".part")
    nbformat.write(student, tmp)
    os.replace(tmp, target)
    return target


def build_chapters(only: list[str] | None = None, run: bool = True) -> list[Path]:
    """Regenerate ``chapters/`` from ``solutions/`` (all chapters, or the slugs in ``only``)."""
    root = repo_root()
    sources = chapter_sources(root)
    if only:
        unknown = set(only) - {p.stem for p in sources}
        if unknown:
            raise BuildError(f"no solutions/<slug>.md for {sorted(unknown)}")
        sources = [p for p in sources if p.stem in only]
    built = []
    for md in sources:
        print(f"building chapters/{md.stem}.ipynb from solutions/{md.name} ...", flush=True)
        built.append(build_chapter(md, root / "chapters", run=run))
    return built
