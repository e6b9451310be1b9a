"""The one-source pipeline: ``solutions/NN_slug.md`` -> nbgrader source notebook -> reference
run -> ``chapters/NN_slug.ipynb`` (solutions stubbed, hidden tests removed, graded cells
without outputs).

Cells in the MyST sources are marked with tags, which become nbgrader metadata:

- ``:tags: [solution]`` on a code cell: an exercise. Its ``grade_id`` is the first function
  or class it defines (or ``:grade_id:``); the code between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` becomes a stub.
- ``:tags: [test]`` with ``:grade_id:`` and ``:points:``: an autograded test cell, locked;
  ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` is removed for students.
- ``tags: [manual]`` with ``grade_id`` and ``points`` on a markdown cell: a written answer,
  graded by hand.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat

from .config import REPO_ROOT, environment

MARKERS = {"solution", "test", "manual"}
_DEF = re.compile(r"^(?:def|class)\s+([A-Za-z_]\w*)", re.M)


class BuildError(RuntimeError):
    """A chapter source is malformed; the message names the file and the cell."""


def repo_root() -> Path:
    if REPO_ROOT is None:
        raise BuildError("the chapter pipeline runs from a checkout of the course repository")
    return REPO_ROOT


def chapter_sources(root: Path | None = None) -> list[Path]:
    """Every ``solutions/NN_slug.md``, in order."""
    root = root or repo_root()
    return sorted((root / "solutions").glob("[0-9][0-9]_*.md"))


def _nbgrader_meta(cell, where: str) -> dict | None:
    tags = list(cell.metadata.get("tags", []))
    marks = MARKERS.intersection(tags)
    if not marks:
        return None
    if len(marks) > 1:
        raise BuildError(f"{where}: a cell can carry only one of {sorted(MARKERS)}, got {sorted(marks)}")
    (mark,) = marks
    cell.metadata["tags"] = [t for t in tags if t != mark]
    if not cell.metadata["tags"]:
        del cell.metadata["tags"]
    grade_id = cell.metadata.pop("grade_id", None)
    points = cell.metadata.pop("points", None)
    if mark == "solution":
        if cell.cell_type != "code":
            raise BuildError(f"{where}: 'solution' marks code cells; use 'manual' for written answers")
        if grade_id is None:
            found = _DEF.search(cell.source)
            if not found:
                raise BuildError(f"{where}: a solution cell must define a function (or give :grade_id:)")
            grade_id = found.group(1)
        if "### BEGIN SOLUTION" not in cell.source:
            raise BuildError(f"{where}: solution cell {grade_id} has no ### BEGIN SOLUTION region")
        meta = dict(grade=False, solution=True, locked=False)
    elif mark == "test":
        if cell.cell_type != "code" or grade_id is None or points is None:
            raise BuildError(f"{where}: a test cell is a code cell with :grade_id: and :points:")
        meta = dict(grade=True, solution=False, locked=True, points=points)
    else:
        if cell.cell_type != "markdown" or grade_id is None or points is None:
            raise BuildError(f"{where}: a manual cell is a markdown cell with grade_id and points")
        meta = dict(grade=True, solution=True, locked=False, points=points)
    return dict(meta, grade_id=str(grade_id), schema_version=3, task=False)


def course_url(root: Path | None = None) -> str:
    """The published course's URL, ending in ``/``: ``html.baseurl`` of ``_config.yml`` when
    set, else the GitHub Pages site of ``repository.url`` (the one setting a deployment
    changes)."""
    import yaml

    root = root or repo_root()
    with open(root / "_config.yml", encoding="utf-8") as fh:
        config = yaml.safe_load(fh) or {}
    base = (config.get("html") or {}).get("baseurl") or ""
    if base:
        return base.rstrip("/") + "/"
    repo = ((config.get("repository") or {}).get("url") or "").rstrip("/")
    found = re.fullmatch(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?", repo)
    if not found:
        raise BuildError(f"{root / '_config.yml'}: set repository.url to the course's GitHub "
                         f"repository as https://github.com/OWNER/NAME, or html.baseurl to where "
                         f"the course is published (got {repo!r})")
    owner, name = found.group(1).lower(), found.group(2)
    if name.lower() == f"{owner}.github.io":  # a user or organisation site
        return f"https://{owner}.github.io/"
    return f"https://{owner}.github.io/{name}/"


def wheel_name() -> str:
    """The file name of the student package's wheel, as published beside the book."""
    from . import __version__

    return f"lstmbook-{__version__}-py3-none-any.whl"


SETUP_ID = "setup"


def setup_cell(root: Path | None = None) -> nbformat.NotebookNode:
    """The locked first code cell of every chapter: installs the student package when it is
    missing (Colab, Binder, a bare Jupyter), then reports version, profile and device."""
    url = course_url(root) + wheel_name()
    source = (
        "# Setup: installs the course package when it is missing (Colab, Binder, a bare Jupyter),\n"
        "# then says which version, run profile and device this notebook uses.\n"
        "try:\n"
        "    import lstmbook\n"
        "except ImportError:\n"
        f'    %pip install --quiet "lstmbook @ {url}"\n'
        "    import lstmbook\n"
        "DEVICE = lstmbook.setup()"
    )
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = dict(grade=False, solution=False, locked=True, grade_id=SETUP_ID,
                                     schema_version=3, task=False)
    cell.metadata["tags"] = ["setup"]
    return cell


def _stable_ids(nb: nbformat.NotebookNode, slug: str) -> None:
    """Cell ids from the slug and what a cell is (its grade_id, else a hash of its source), so
    that regenerating a chapter changes only the cells that changed."""
    import hashlib

    seen: dict[str, int] = {}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        key = grade_id or hashlib.sha1(f"{cell.cell_type}:{cell.source}".encode()).hexdigest()[:10]
        base = re.sub(r"[^A-Za-z0-9_-]", "-", f"{slug[:2]}-{key}")[:60]
        seen[base] = seen.get(base, 0) + 1
        cell.id = base if seen[base] == 1 else f"{base}-{seen[base]}"


def source_notebook(md_path: Path) -> nbformat.NotebookNode:
    """Read a MyST chapter source and return the nbgrader source notebook (with solutions and
    hidden tests, no outputs), the setup cell after the title."""
    import jupytext

    nb = jupytext.read(md_path)
    nb.metadata.pop("jupytext", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    seen = set()
    for index, cell in enumerate(nb.cells):
        where = f"{md_path.name}, cell {index + 1}"
        meta = _nbgrader_meta(cell, where)
        if meta is None:
            if "### BEGIN" in cell.source:
                raise BuildError(f"{where}: solution or hidden-test markers in an unmarked cell")
            continue
        if meta["grade_id"] in seen:
            raise BuildError(f"{where}: grade_id {meta['grade_id']!r} is used twice")
        seen.add(meta["grade_id"])
        cell.metadata["nbgrader"] = meta
    if SETUP_ID in seen or any(SETUP_ID in c.metadata.get("tags", []) for c in nb.cells):
        raise BuildError(f"{md_path.name}: the setup cell is added by the pipeline; remove yours")
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"), -1)
    nb.cells.insert(first + 1, setup_cell())
    nb.metadata["lstmbook"] = {"chapter": md_path.stem}
    _stable_ids(nb, md_path.stem)
    return nb


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


def nbgrader_cmd() -> list[str]:
    """How to call nbgrader with this interpreter (its bin must be on PATH for alembic)."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    return [sys.executable, "-m", "nbgrader"]


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
    from .bars import last_state

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
        nb.cells.insert(0, nbformat.v4.new_code_cell("from lstmbook.record import record"))
        # in a folder of its own: chapter 7 writes scripts and checkpoints next to itself
        with tempfile.TemporaryDirectory(prefix=f"lstmbook-{slug}-") as work:
            execute(nb, cwd=Path(work), profile=profile)
        del nb.cells[0]
    student = release(nb, slug)
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


def build_book(root: Path | None = None, out: Path | None = None) -> Path:
    """Build the HTML book from ``chapters/`` (nothing is executed) into
    ``<out or root>/_build/html``; returns its index.html."""
    root = root or repo_root()
    out = out or root
    bindir = str(Path(sys.executable).parent)
    cmd = [str(Path(bindir, "jupyter-book")), "build", str(root), "--path-output", str(out),
           "--warningiserror", "--keep-going"]
    from .bookassets import AssetError, install_mathjax

    try:  # fetched before the build, so that a missing npm stops it early
        install_mathjax(out / "_build" / "html", root / "_build" / ".mathjax")
    except AssetError as exc:
        raise BuildError(str(exc)) from None
    proc = subprocess.run(cmd, cwd=root)
    index = out / "_build" / "html" / "index.html"
    if proc.returncode != 0 or not index.is_file():
        raise BuildError("jupyter-book build failed; see the messages above")
    return index


def strip_regions(source: str, begin: str, end: str) -> tuple[str, list[str]]:
    """Split ``source`` into the text outside ``begin``/``end`` regions and the lines inside."""
    outside, inside, in_region = [], [], False
    for line in source.splitlines():
        if begin in line:
            in_region = True
        elif end in line:
            in_region = False
        elif in_region:
            inside.append(line)
        else:
            outside.append(line)
    return "\n".join(outside), inside


def secret_lines(md_path: Path, min_len: int = 12) -> list[str]:
    """Lines of solution and hidden-test regions that appear nowhere else in the source:
    none of them may reach the student notebook or the book."""
    nb = source_notebook(md_path)
    public, secret = [], []
    for cell in nb.cells:
        text, sol = strip_regions(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
        text, hid = strip_regions(text, "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        public.append(text)
        secret += sol + hid
    public_text = "\n".join(public)
    found = []
    for line in secret:
        s = line.strip()
        if len(s) >= min_len and s not in public_text and s not in found:
            found.append(s)
    return found

