"""The repository's own promises: pinned versions, matching dependency lists, no data."""
import re
import subprocess
import tomllib


import pytest
import yaml


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower().replace("_", "-")


def test_environment_yml_lists_the_pyproject_dependencies(root):
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((root / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert sorted(map(_norm, pip)) == sorted(map(_norm, wanted))


def test_constraints_pin_the_tested_versions(root):
    pins = {}
    for line in (root / "constraints.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    assert pins["torch"] == "2.13.0"
    assert pins["nbgrader"] == "0.9.6"
    assert pins["fastnlp"] == "1.0.1"
    assert pins["jupyter-book"].startswith("1.0.")
    assert int(pins["setuptools"].split(".")[0]) < 81  # fastNLP imports pkg_resources


def test_no_corpus_data_is_tracked(root):
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True,
                           check=True).stdout.split("\n")
    assert not [f for f in files if f.startswith(("data/raw", "data/prepared"))]
    assert not [f for f in files if f.endswith(".json") and f != "lstmbook/manifest.json"]
    big = [f for f in files if f and (root / f).stat().st_size > 2_000_000]
    assert not big, f"files over 2 MB are tracked: {big}"


# English concept (regex over the student text) -> its Chinese term, given at its first use
CHINESE_TERMS = {
    r"vanish": "梯度消失",
    r"explod": "梯度爆炸",
    r"\bclip": "梯度裁剪",
    r"hidden state": "隐藏状态",
    r"language model": "语言模型",
    r"\bgraph\b": "计算图",
    r"\bprofiler\b": "性能分析器",
    r"perplexit": "困惑度",
    r"forget gate": "遗忘门",
}


def _student_text(root):
    """chapter -> its markdown cells, in course order, as the student notebooks have them."""
    import nbformat

    from course import SLUGS

    return {slug: [c.source for c in nbformat.read(root / "chapters" / f"{slug}.ipynb", as_version=4).cells
                   if c.cell_type == "markdown"] for slug in SLUGS}


@pytest.mark.parametrize("english", sorted(CHINESE_TERMS))
def test_a_key_term_gets_its_chinese_name_at_its_first_use(root, english):
    chinese = CHINESE_TERMS[english]
    for slug, cells in _student_text(root).items():
        first = next((k for k, text in enumerate(cells) if re.search(english, text, re.I)), None)
        if first is not None:
            cell = cells[first]
            assert chinese in cell, (f"{slug}: the first student text that says {english!r} should give "
                                     f"{chinese}; it reads: {cell[:300]!r}")
            return
    pytest.fail(f"no chapter's student text uses {english!r}")
