"""What the book serves itself so that it works offline: MathJax and a Chinese font.

Both come from npm packages, pinned below and checked against the registry's sha512, fetched
by the build with ``npm pack`` into ``_build/.assets`` (never committed) and copied into the
built site's ``_static``:

- MathJax 3 (``mathjax``): ``_config.yml`` points Sphinx at it (``mathjax_path:
  mathjax/tex-chtml.js``), so no page loads anything from a CDN and students behind a slow or
  blocked network still see the math.
- Noto Sans SC (``@fontsource/noto-sans-sc``, SIL Open Font License), regular and bold, split
  by the package into ~100 files by Unicode range: a page downloads only the slices that hold
  the characters it shows. The book's stylesheet (``static/lstmbook.css``, added by
  :mod:`.sphinx_ext`) puts it after the reader's own fonts, so a Chinese term (遗忘门) or a
  poem in an output is drawn with a real glyph on a machine that has no CJK font, instead of
  an empty box.
"""
from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


class AssetError(RuntimeError):
    """An asset of the book could not be fetched or is damaged; the message says which."""


@dataclass(frozen=True)
class Package:
    """A pinned npm package: ``name@version`` whose tarball has the sha512 ``integrity``
    (``npm view name@version dist.integrity``), staged by ``stage(package_dir, stage_dir)``."""

    name: str
    version: str
    integrity: str
    stage: Callable[[Path, Path], None]
    marker: str  # a file of the staged folder that proves it is complete

    @property
    def folder(self) -> str:
        return f"{self.name.replace('@', '').replace('/', '-')}-{self.version}"


def _integrity(path: Path) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(path.read_bytes()).digest()).decode()


def fetch(package: Package, cache: Path) -> Path:
    """The staged folder of ``package`` under ``cache``, fetched once with npm and checked
    against the registry's checksum."""
    target = cache / package.folder
    version = target / "VERSION"  # written last: a half-made copy has none
    if version.is_file() and version.read_text().strip() == package.version and (target / package.marker).is_file():
        return target
    spec = f"{package.name}@{package.version}"
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(f"npm is not installed: the book serves its own copy of the npm package {spec} "
                         "(install Node.js and npm, e.g. apt-get install npm)")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lstmbook-asset-", dir=cache) as tmp:
        proc = subprocess.run([npm, "pack", spec, "--silent", "--pack-destination", tmp],
                              capture_output=True, text=True, timeout=600)
        tarballs = list(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or len(tarballs) != 1:
            raise AssetError(f"npm pack {spec} failed (is the npm registry reachable?):\n{proc.stdout}{proc.stderr}")
        if _integrity(tarballs[0]) != package.integrity:
            raise AssetError(f"{tarballs[0].name}: its sha512 does not match {spec}'s in the npm registry; "
                             "the download is damaged or not the pinned release")
        with tarfile.open(tarballs[0]) as tar:
            tar.extractall(tmp, filter="data")
        stage = Path(tmp) / "stage"
        stage.mkdir()
        package.stage(Path(tmp) / "package", stage)
        shutil.copy2(Path(tmp) / "package" / "LICENSE", stage / "LICENSE")
        (stage / "VERSION").write_text(package.version + "\n")
        if target.exists():
            shutil.rmtree(target)
        stage.rename(target)
    return target


#: The parts of MathJax's ``es5/`` the book needs: the TeX-to-HTML bundle, the TeX extensions
#: and fonts it loads on demand, and the menu's accessibility parts.
MATHJAX_PARTS = ("tex-chtml.js", "input/tex", "output/chtml", "a11y", "ui", "sre")


def _stage_mathjax(package: Path, stage: Path) -> None:
    for part in MATHJAX_PARTS:
        src = package / "es5" / part
        if src.is_dir():
            shutil.copytree(src, stage / part)
        else:
            (stage / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, stage / part)


MATHJAX = Package(
    "mathjax", "3.2.2",
    "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
    _stage_mathjax, "tex-chtml.js")

#: The weights the book's text uses: regular, and bold for ``**遗忘门**``.
CJK_WEIGHTS = (400, 700)
CJK_CSS = "noto-sans-sc.css"
_URL = re.compile(r"url\(\./files/([\w.-]+)\) format\('(\w+)'\)")


def _stage_cjk_font(package: Path, stage: Path) -> None:
    """One stylesheet with the ``@font-face`` rules of ``CJK_WEIGHTS``, each pointing only at
    its ``woff2`` file (every browser the book supports reads woff2; the ``woff`` copies would
    double the size), and those files."""
    (stage / "files").mkdir()
    rules = []
    for weight in CJK_WEIGHTS:
        css = (package / f"{weight}.css").read_text(encoding="utf-8")
        for name, fmt in _URL.findall(css):
            if fmt == "woff2":
                shutil.copy2(package / "files" / name, stage / "files" / name)
        # keep the woff2 source of each rule, drop the woff one
        rules.append(re.sub(r",\s*url\(\./files/[\w.-]+\.woff\) format\('woff'\)", "", css))
    text = "\n".join(rules)
    if "format('woff')" in text or not list((stage / "files").glob("*.woff2")):
        raise AssetError(f"{package.name}: its stylesheets are not in the form this build reads "
                         "(url(./files/NAME.woff2) format('woff2'))")
    (stage / CJK_CSS).write_text(text, encoding="utf-8")


CJK_FONT = Package(
    "@fontsource/noto-sans-sc", "5.3.0",
    "sha512-HeqIlGm0+ohOKxZLuHj1qW6r6avHH0OWdKERAcSDI0RQ+MXrteuLKA+M+5eOA8rYy0MFvOR5AT0fQo2rUkye0Q==",
    _stage_cjk_font, CJK_CSS)

#: package -> where it lies in the built site, under ``_static``
SERVED = {MATHJAX: "mathjax", CJK_FONT: "fonts/noto-sans-sc"}


def install_assets(site: Path, cache: Path) -> list[Path]:
    """Copy every served package into the built site (``site/_static/...``); returns the folders."""
    out = []
    for package, where in SERVED.items():
        dest = site / "_static" / where
        if dest.exists():
            shutil.rmtree(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(fetch(package, cache), dest)
        out.append(dest)
    return out
