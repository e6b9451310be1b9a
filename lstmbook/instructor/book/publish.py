"""The published course: what students get, and nothing of the instructor's.

``make book`` builds the HTML book into ``_build/html`` and then makes that folder the whole
published course, ready to be served as is (GitHub Pages) and pushed as the public course
repository that ``repository.url`` in ``_config.yml`` names:

- the book's pages (each chapter downloadable as ``.ipynb`` from its page);
- ``chapters/NN_slug.ipynb``: the student notebooks, where the Colab, Binder and JupyterHub
  launch buttons look for them;
- ``lstmbook-<version>-py3-none-any.whl``: the student package (data with its manifest,
  gradient checks, timing, devices, progress bars, formulas, ``lstmbook check``), with light
  dependencies only (no nbgrader, no jupyter-book); each notebook's setup cell installs it
  from here when it is missing;
- ``requirements.txt`` (for Binder) and ``.nojekyll`` (for GitHub Pages).

The wheel is the package ``lstmbook`` without its subpackage ``lstmbook.instructor`` (the
pipeline, the book, the grader, the benchmarks): chosen by package, so a new student module
ships and a new instructor module does not, with no list to keep. ``solutions/``, the hidden
tests and the tests of this repository are never copied; the publishing tests check it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ... import __version__
from ..sources import wheel_name

#: The package, and the subpackage of it that students never get.
PACKAGE = Path(__file__).resolve().parents[2]
INSTRUCTOR = "instructor"
#: Its dependencies: what the chapters import, and what ``lstmbook check`` runs notebooks with
#: (the Jupyter ones without a lower bound: the setup cell must not upgrade the ipykernel that
#: runs it, e.g. Colab's).
STUDENT_DEPENDENCIES = ("numpy>=1.24", "torch>=2.6", "matplotlib>=3.7", "tqdm>=4.60", "fastnlp==1.0.1",
                        "setuptools<81", "opencc>=1.1.6", "nbformat", "nbclient", "ipykernel")
#: A fixed timestamp for the files in the wheel, so that an unchanged package gives the same bytes.
SOURCE_DATE_EPOCH = "1767225600"  # 2026-01-01

_PYPROJECT = """\
[build-system]
requires = ["setuptools>=68,<81"]
build-backend = "setuptools.build_meta"

[project]
name = "lstmbook"
version = "{version}"
description = "The student package of the course How LSTMs really work"
readme = "README.md"
license = {{ text = "MIT" }}
requires-python = ">=3.11"
dependencies = [{dependencies}]

[project.scripts]
lstmbook = "lstmbook.cli:main"

[tool.setuptools.packages.find]
include = ["lstmbook*"]

[tool.setuptools.package-data]
lstmbook = ["manifest.json"]
"""

_README = """\
# lstmbook (student package)

The helpers that the notebooks of *How LSTMs really work* import: the poetry data (downloaded
and checked against the manifest on first use), gradient checks, timing, devices, progress
bars, self-checking formulas, and `lstmbook check NOTEBOOK`, which runs a chapter notebook
as the grader will and reports its visible tests.
"""


class PublishError(RuntimeError):
    """The published course could not be made; the message says why."""


def student_files() -> list[str]:
    """The files of the student package, relative to ``lstmbook/``: every module and data file
    of the package outside ``instructor/`` (no caches)."""
    out = []
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if (path.is_file() and rel.parts[0] != INSTRUCTOR and "__pycache__" not in rel.parts
                and path.suffix in (".py", ".json")):
            out.append(rel.as_posix())
    return out


def build_wheel(out_dir: Path) -> Path:
    """Build the student package's wheel into ``out_dir`` and return its path."""
    files = student_files()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lstmbook-wheel-") as tmp:
        stage = Path(tmp)
        for name in files:
            (stage / "lstmbook" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PACKAGE / name, stage / "lstmbook" / name)
        deps = ", ".join(f'"{d}"' for d in STUDENT_DEPENDENCIES)
        (stage / "pyproject.toml").write_text(_PYPROJECT.format(version=__version__, dependencies=deps))
        (stage / "README.md").write_text(_README)
        for path in stage.rglob("*"):
            os.utime(path, (int(SOURCE_DATE_EPOCH), int(SOURCE_DATE_EPOCH)))
        cmd = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
               "--wheel-dir", str(stage / "dist"), str(stage)]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              env=dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH))
        built = stage / "dist" / wheel_name()
        if proc.returncode != 0 or not built.is_file():
            raise PublishError(f"building the student wheel failed:\n{proc.stdout}{proc.stderr}")
        target = out_dir / built.name
        shutil.copy2(built, target)
    with zipfile.ZipFile(target) as zf:
        members = {n[len("lstmbook/"):] for n in zf.namelist() if n.startswith("lstmbook/")}
    if members != set(files):
        raise PublishError(f"{target}: expected exactly {files}, found {sorted(members)}")
    return target


def publish(site: Path, root: Path) -> dict:
    """Make the built book at ``site`` the published course (see the module's docstring);
    returns what it holds: files, bytes, and the wheel's size."""
    import yaml

    if not (site / "index.html").is_file():
        raise PublishError(f"{site}: no built book here (index.html missing); run `make book`")
    for old in site.glob("lstmbook-*.whl"):
        old.unlink()
    wheel = build_wheel(site)
    (site / "chapters").mkdir(exist_ok=True)
    for old in (site / "chapters").glob("*.ipynb"):
        old.unlink()
    with open(root / "_toc.yml", encoding="utf-8") as fh:
        toc = yaml.safe_load(fh)
    for entry in toc.get("chapters", []):
        nb = root / f"{entry['file']}.ipynb"
        if not nb.is_file():
            raise PublishError(f"{nb} is missing: run `make chapters`")
        shutil.copy2(nb, site / "chapters" / nb.name)
    # Binder has no GPU: PyTorch's CPU wheels, a tenth of the size of the CUDA ones
    (site / "requirements.txt").write_text(
        f"--extra-index-url https://download.pytorch.org/whl/cpu\n./{wheel.name}\n")
    (site / ".nojekyll").write_text("")
    files = [p for p in site.rglob("*") if p.is_file()]
    return {"files": len(files), "bytes": sum(p.stat().st_size for p in files),
            "wheel": wheel.name, "wheel_bytes": wheel.stat().st_size}
