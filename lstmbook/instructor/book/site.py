"""The HTML book: ``jupyter-book build`` over ``chapters/`` (nothing is executed), with MathJax
and a Chinese font served from the book itself (:mod:`.assets`)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ..sources import BuildError, repo_root


def build_book(root: Path | None = None, out: Path | None = None) -> Path:
    """Build the HTML book from ``chapters/`` (nothing is executed) into
    ``<out or root>/_build/html``; returns its index.html."""
    root = root or repo_root()
    out = out or root
    bindir = str(Path(sys.executable).parent)
    cmd = [str(Path(bindir, "jupyter-book")), "build", str(root), "--path-output", str(out),
           "--warningiserror", "--keep-going"]
    from .assets import AssetError, install_assets

    try:  # fetched before the build, so that a missing npm stops it early
        install_assets(out / "_build" / "html", root / "_build" / ".assets")
    except AssetError as exc:
        raise BuildError(str(exc)) from None
    proc = subprocess.run(cmd, cwd=root)
    index = out / "_build" / "html" / "index.html"
    if proc.returncode != 0 or not index.is_file():
        raise BuildError("jupyter-book build failed; see the messages above")
    return index
