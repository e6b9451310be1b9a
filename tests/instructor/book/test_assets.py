"""The book's own assets (lstmbook.instructor.book.assets), on fake npm packages: nothing is
fetched here (the browser test uses the real ones)."""
from __future__ import annotations

import pytest

from lstmbook.instructor.book import assets

RULE = """/* noto-sans-sc-[{i}]-{w}-normal */
@font-face {{
  font-family: 'Noto Sans SC';
  font-weight: {w};
  src: url(./files/noto-sans-sc-{i}-{w}-normal.woff2) format('woff2'), url(./files/noto-sans-sc-{i}-{w}-normal.woff) format('woff');
  unicode-range: U+4e00-4fff;
}}
"""


def _font_package(tmp_path, weights=assets.CJK_WEIGHTS, slices=(4, 5)):
    package = tmp_path / "package"
    (package / "files").mkdir(parents=True)
    for w in weights:
        (package / f"{w}.css").write_text("\n".join(RULE.format(i=i, w=w) for i in slices))
        for i in slices:
            for ext in ("woff2", "woff"):
                (package / "files" / f"noto-sans-sc-{i}-{w}-normal.{ext}").write_bytes(b"font")
    (package / "files" / "noto-sans-sc-4-300-normal.woff2").write_bytes(b"a weight the book does not use")
    stage = tmp_path / "stage"
    stage.mkdir()
    return package, stage


def test_the_font_is_staged_as_one_stylesheet_of_woff2_files(tmp_path):
    package, stage = _font_package(tmp_path)
    assets._stage_cjk_font(package, stage)
    css = (stage / assets.CJK_CSS).read_text()
    assert css.count("@font-face") == 2 * len(assets.CJK_WEIGHTS)
    assert "format('woff')" not in css and ".woff)" not in css
    staged = sorted(p.name for p in (stage / "files").iterdir())
    assert staged == sorted(f"noto-sans-sc-{i}-{w}-normal.woff2" for i in (4, 5) for w in assets.CJK_WEIGHTS)
    # every file the stylesheet names is there
    import re

    assert set(re.findall(r"url\(\./files/([\w.-]+)\)", css)) == set(staged)


def test_a_stylesheet_in_another_form_stops_the_build_with_the_package_named(tmp_path):
    package, stage = _font_package(tmp_path)
    for w in assets.CJK_WEIGHTS:
        (package / f"{w}.css").write_text("@font-face { src: url('files/x.ttf'); }")
    with pytest.raises(assets.AssetError, match="not in the form this build reads"):
        assets._stage_cjk_font(package, stage)


def test_a_missing_npm_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(assets.shutil, "which", lambda name: None)
    with pytest.raises(assets.AssetError, match="npm is not installed.*@fontsource/noto-sans-sc@"):
        assets.fetch(assets.CJK_FONT, tmp_path)


def test_a_download_with_another_checksum_is_refused(tmp_path, monkeypatch):
    import subprocess
    import tarfile

    def fake_pack(cmd, **kw):  # a tarball that is not the pinned release
        dest = cmd[cmd.index("--pack-destination") + 1]
        src = tmp_path / "src" / "package"
        src.mkdir(parents=True, exist_ok=True)
        (src / "LICENSE").write_text("x")
        with tarfile.open(f"{dest}/fontsource-noto-sans-sc-5.3.0.tgz", "w:gz") as tar:
            tar.add(src, arcname="package")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(assets.shutil, "which", lambda name: "/usr/bin/npm")
    monkeypatch.setattr(assets.subprocess, "run", fake_pack)
    with pytest.raises(assets.AssetError, match="sha512 does not match"):
        assets.fetch(assets.CJK_FONT, tmp_path / "cache")
    assert not (tmp_path / "cache" / assets.CJK_FONT.folder).exists()
