"""The package's layers, as import-linter contracts (``[tool.importlinter]`` in
pyproject.toml): they hold on the package, and they fail on a copy with an upward import."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LINT = Path(sys.executable).parent / "lint-imports"


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--config", str(root / "pyproject.toml"), "--no-cache"], cwd=root,
                          env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)


def test_the_layers_hold(root):
    proc = _lint(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("module, line, contract", [
    ("data.py", "from lstmbook.instructor import sources", "never imports them"),
    ("cli.py", "import lstmbook.instructor.commands", "never imports them"),
    ("instructor/grader/inside/runner.py", "from lstmbook.instructor.grader import store", "The grader is layered"),
    ("instructor/grader/inside/record.py", "from lstmbook.instructor import pipeline", "inside the sandbox imports nothing"),
    ("instructor/grader/testmodel.py", "from lstmbook.instructor import pipeline", "The instructor's tools are layered"),
    ("instructor/bench.py", "from lstmbook.instructor.grader import sandbox", "grader's face"),
])
def test_an_upward_import_breaks_a_contract(root, tmp_path, module, line, contract):
    shutil.copytree(root / "lstmbook", tmp_path / "lstmbook", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "lstmbook" / module
    target.write_text(target.read_text() + f"\n{line}  # planted\n")
    proc = _lint(tmp_path)
    assert proc.returncode != 0, f"{module}: `{line}` broke no contract"
    broken = [ln for ln in proc.stdout.splitlines() if "BROKEN" in ln]
    assert any(contract in ln for ln in broken), proc.stdout[-3000:]
