"""What the book serves itself so that it works offline: MathJax.

The book typesets its equations with MathJax 3 from the npm package ``mathjax`` (pinned
below, checked against the registry's sha512), fetched by the build with ``npm pack`` into
``_build/.mathjax`` (never committed) and copied into the built site's ``_static/mathjax``.
``_config.yml`` points Sphinx at it (``mathjax_path: mathjax/tex-chtml.js``), so no page
loads anything from a CDN: students behind a slow or blocked network still see the math.
"""
from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

MATHJAX_VERSION = "3.2.2"
#: ``npm view mathjax@3.2.2 dist.integrity``
MATHJAX_INTEGRITY = ("sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+"
                     "geW0OhGw==")
#: The parts of ``es5/`` the book needs: the TeX-to-HTML bundle, the TeX extensions and fonts it
#: loads on demand, and the menu's accessibility parts.
MATHJAX_PARTS = ("tex-chtml.js", "input/tex", "output/chtml", "a11y", "ui", "sre")


class AssetError(RuntimeError):
    """An asset of the book could not be fetched or is damaged; the message says which."""


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def mathjax(cache: Path) -> Path:
    """The ``es5`` folder of MathJax ``MATHJAX_VERSION`` under ``cache``, fetched once with npm
    and checked against the registry's checksum."""
    target = cache / f"mathjax-{MATHJAX_VERSION}"
    version = target / "VERSION"  # written last: a half-made copy has none
    if version.is_file() and version.read_text().strip() == MATHJAX_VERSION and (target / "tex-chtml.js").is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError("npm is not installed: the book serves MathJax from the npm package "
                         f"mathjax@{MATHJAX_VERSION} (install Node.js and npm, e.g. apt-get install npm)")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lstmbook-mathjax-", dir=cache) as tmp:
        proc = subprocess.run([npm, "pack", f"mathjax@{MATHJAX_VERSION}", "--silent", "--pack-destination", tmp],
                              capture_output=True, text=True, timeout=600)
        tgz = Path(tmp) / f"mathjax-{MATHJAX_VERSION}.tgz"
        if proc.returncode != 0 or not tgz.is_file():
            raise AssetError(f"npm pack mathjax@{MATHJAX_VERSION} failed (is the npm registry reachable?):\n"
                             f"{proc.stdout}{proc.stderr}")
        if _integrity(tgz) != MATHJAX_INTEGRITY:
            raise AssetError(f"{tgz.name}: its sha512 does not match mathjax@{MATHJAX_VERSION}'s in the "
                             "npm registry; the download is damaged or not the pinned release")
        with tarfile.open(tgz) as tar:
            tar.extractall(tmp, filter="data")
        es5 = Path(tmp) / "package" / "es5"
        stage = Path(tmp) / "stage"
        stage.mkdir()
        for part in MATHJAX_PARTS:
            src = es5 / part
            if src.is_dir():
                shutil.copytree(src, stage / part)
            else:
                (stage / part).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, stage / part)
        shutil.copy2(Path(tmp) / "package" / "LICENSE", stage / "LICENSE")
        (stage / "VERSION").write_text(MATHJAX_VERSION + "\n")
        if target.exists():
            shutil.rmtree(target)
        stage.rename(target)
    return target


def install_mathjax(site: Path, cache: Path) -> Path:
    """Copy MathJax into the built site at ``site/_static/mathjax``; returns that folder."""
    dest = site / "_static" / "mathjax"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(mathjax(cache), dest)
    return dest
