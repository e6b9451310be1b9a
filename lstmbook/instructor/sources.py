"""Reading the chapter sources: ``solutions/NN_slug.md`` -> the nbgrader source notebook
(with solutions, hidden tests and nbgrader metadata), which the pipeline, the grader and the
benchmarks all start from.

Cells in the MyST sources are marked with tags, which become nbgrader metadata:

- ``:tags: [solution]`` on a code cell: an exercise. Its ``grade_id`` is the first function
  or class it defines (or ``:grade_id:``); the code between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` becomes a stub.
- ``:tags: [test]`` with ``:grade_id:`` and ``:points:``: an autograded test cell, locked;
  ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` is removed for students.
- ``tags: [manual]`` with ``grade_id`` and ``points`` on a markdown cell: a written answer,
  graded by hand.
- ``:forbid: [torch.optim, ...]`` on a solution cell: the exercise's "write it yourself" rule,
  what its code must not use (dotted names, each with everything under it; ``.name`` for an
  attribute of anything; ``name(position:keyword)`` for a call that passes that argument,
  by name or at that position, other than 1), kept as ``metadata.lstmbook.forbid`` and stated to students in a comment atop the
  cell. The grader checks the hand-in's code statically (:mod:`lstmbook.rules`); a use scores
  0 for the tests of the exercise.
- ``:tags: [hidden-setup]`` on a code cell: code that the hidden tests of the chapter share
  (helpers, seeded inputs). It runs where it stands in the reference run, the grader prepends
  it to every hidden check, and it never reaches students (like the hidden tests).
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat

from ..config import REPO_ROOT

MARKERS = {"solution", "test", "manual"}
#: The regions of a cell that students never see: the reference solution, the hidden tests.
SOLUTION = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
HIDDEN_SETUP = "hidden-setup"
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
        forbid = cell.metadata.pop("forbid", None)
        if forbid is not None:
            if not (isinstance(forbid, list) and forbid and all(isinstance(f, str) and f for f in forbid)):
                raise BuildError(f"{where}: :forbid: is a list of names, e.g. [torch.optim]")
            cell.metadata["lstmbook"] = {"forbid": list(forbid)}
            cell.source = rule_comment(forbid) + cell.source
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


def rule_comment(forbid: list[str]) -> str:
    """The comment atop an exercise that states its "write it yourself" rule."""
    import textwrap

    names = [f"{f[:f.index('(')]} with {f[f.index('(') + 1:-1].split(':')[-1]} other than 1"
             if f.endswith(")") else f for f in forbid]
    text = ("Rule: write it yourself. The tests of this exercise score 0 if this code uses "
            + ", ".join(names) + " (or anything in " + ("it" if len(names) == 1 else "them")
            + "). `lstmbook check NOTEBOOK` warns before you hand in.")
    return "".join(f"# {line}\n" for line in textwrap.wrap(text, 90))


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
    from .. import __version__

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
        if is_hidden_setup(cell):
            if (MARKERS & set(cell.metadata.get("tags", [])) or cell.cell_type != "code"
                    or "### BEGIN" in cell.source):
                raise BuildError(f"{where}: a {HIDDEN_SETUP} cell is a plain code cell (no other "
                                 f"mark, no solution or hidden-test markers)")
            if any(c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"
                   for c in nb.cells[:index]):
                raise BuildError(f"{where}: the {HIDDEN_SETUP} cell must come before the first "
                                 f"test cell (the reference run defines its helpers there)")
            continue
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


def is_hidden_setup(cell) -> bool:
    return HIDDEN_SETUP in cell.get("metadata", {}).get("tags", [])


def hidden_setup(nb) -> str:
    """The code of the chapter's hidden-test setup cells, joined (``""`` when there is none)."""
    return "\n\n".join(c.source for c in nb.cells if is_hidden_setup(c))


def without_hidden_setup(nb):
    """A copy of ``nb`` without its hidden-test setup cells (what nbgrader and students get)."""
    import copy

    out = copy.copy(nb)
    out.cells = [c for c in nb.cells if not is_hidden_setup(c)]
    return out


def nbgrader_cmd() -> list[str]:
    """How to call nbgrader with this interpreter (its bin must be on PATH for alembic)."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    return [sys.executable, "-m", "nbgrader"]


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
    """Lines of solution and hidden-test regions, and of the hidden-test setup, that appear
    nowhere else in the source: none of them may reach the student notebook or the book."""
    nb = source_notebook(md_path)
    public, secret = [], []
    for cell in nb.cells:
        if is_hidden_setup(cell):
            secret += cell.source.splitlines()
            continue
        text, sol = strip_regions(cell.source, *SOLUTION)
        text, hid = strip_regions(text, *HIDDEN)
        public.append(text)
        secret += sol + hid
    public_text = "\n".join(public)
    found = []
    for line in secret:
        s = line.strip()
        if len(s) >= min_len and s not in public_text and s not in found:
            found.append(s)
    return found

