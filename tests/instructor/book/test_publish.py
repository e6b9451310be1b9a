"""The published course (``make book`` -> ``_build/html``): everything a student needs and
nothing of the instructor's; the student package works in a fresh environment without the
repository; ``lstmbook check`` passes a filled notebook and fails a blank one."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import nbformat
import pytest

from course import ROOT, SLUGS
from lstmbook import check
from lstmbook.instructor import sources
from lstmbook.instructor.book import publish
from submissions import fill, reference_cells, submission

#: Lines that a hidden test shares with the student package as plain Python and PyTorch API
#: (a TorchDispatchMode's signature: timing.matmul_calls, which chapter 4 shows, has one too)
# Lines that a solution shares with ordinary library code by coincidence, not answers.
BOILERPLATE = {"def __init__(self):", "super().__init__()", "with torch.no_grad():",
               "def __torch_dispatch__(self, func, types, args=(), kwargs=None):",
               "return total", "rtol=1e-12, atol=1e-12)",
               # chapter 7's hidden checks write the course's CharLM out (lstmbook.models), so that a
               # student's kernel cannot swap the model they train; and chapter 8's metric calls eval()
               "self.drop = nn.Dropout(dropout)", "h, state = self.lstm(self.embed(x), state)",
               "return self.out(self.drop(h)), state", "model.eval()",
               # the cell update, which every chapter prints as an equation and the student package's
               # formula checker (lstmbook.formula_model) computes; chapter 9's trace writes it too
               "c = f * c + i * g"}


def _package_files(root: Path) -> tuple[set[str], set[str]]:
    """The package's tracked files as git sees them (not as the publisher chooses them):
    ``(student files, instructor files)``, relative to ``lstmbook/``."""
    out = subprocess.run(["git", "ls-files", "lstmbook"], cwd=root, capture_output=True, text=True,
                         check=True).stdout.split()
    files = {f[len("lstmbook/"):] for f in out}
    instructor = {f for f in files if f.startswith("instructor/")}
    return files - instructor, instructor


@pytest.fixture(scope="module")
def site(book) -> Path:
    """The published course, as ``make book`` leaves it."""
    return book


def _code_exercises(nb) -> set[str]:
    """The grade_ids of the code exercises (written answers stay as the student left them)."""
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def _wheel(site: Path) -> Path:
    (wheel,) = site.glob("lstmbook-*.whl")
    assert wheel.name == sources.wheel_name()
    return wheel


@pytest.mark.slow
def test_published_course_holds_what_a_student_needs(site):
    assert (site / "index.html").is_file() and (site / ".nojekyll").is_file()
    for slug in SLUGS:
        assert (site / "chapters" / f"{slug}.html").is_file()
        nb = nbformat.read(site / "chapters" / f"{slug}.ipynb", as_version=4)  # for the launch buttons
        assert nb.metadata["lstmbook"]["chapter"] == slug
    assert (site / "requirements.txt").read_text().splitlines()[-1] == f"./{_wheel(site).name}"


def test_the_wheel_is_reproducible(tmp_path):
    first = publish.build_wheel(tmp_path / "a").read_bytes()
    assert publish.build_wheel(tmp_path / "b").read_bytes() == first


def test_the_wheel_is_the_package_without_its_instructor_subpackage(root, tmp_path):
    """Every module outside ``lstmbook/instructor/`` ships, none inside it does."""
    student, instructor = _package_files(root)
    assert instructor and "cli.py" in student and "manifest.json" in student
    with zipfile.ZipFile(publish.build_wheel(tmp_path)) as zf:
        shipped = {n[len("lstmbook/"):] for n in zf.namelist() if n.startswith("lstmbook/")}
    assert shipped == student, f"missing {sorted(student - shipped)}, extra {sorted(shipped - student)}"
    assert not shipped & instructor


@pytest.mark.slow
def test_student_package_holds_no_instructor_code_and_no_answer(site, root):
    student, _ = _package_files(root)
    with zipfile.ZipFile(_wheel(site)) as zf:
        names = zf.namelist()
        assert {n[len("lstmbook/"):] for n in names if n.startswith("lstmbook/")} == student
        assert not [n for n in names if "instructor" in n]
        text = "\n".join(zf.read(n).decode("utf-8", "replace") for n in names)
    assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text
    for slug in SLUGS:
        for line in set(sources.secret_lines(ROOT / "solutions" / f"{slug}.md")) - BOILERPLATE:
            assert line not in text, (slug, line)


@pytest.mark.slow
def test_no_instructor_file_is_published(site):
    published = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert not [p for p in published if p.startswith(("solutions/", "autograder/", "tests/", "_sources/solutions"))]
    instructor = _package_files(ROOT)[1]
    # The book's own stylesheet lives with the book builder and is meant for the page: it is published
    # under _static/, byte for byte; every other instructor file stays out, whatever folder it lands in.
    assets = {f for f in instructor if f.startswith("instructor/book/static/")}
    for asset in assets:
        served = site / "_static" / Path(asset).name
        assert served.read_bytes() == (ROOT / "lstmbook" / asset).read_bytes(), served
    instructor_names = {Path(f).name for f in instructor - assets} - {"__init__.py"}
    assert not [p for p in published if Path(p).name in instructor_names | {"gradebook.db", "nbgrader_config.py"}]
    assert not [p for p in published if "instructor" in Path(p).parts]


def test_student_dependencies_are_the_packages_dependencies(root):
    """The student package asks for nothing the course is not tested with."""
    with open(root / "pyproject.toml", "rb") as fh:
        deps = tomllib.load(fh)["project"]["dependencies"]
    def name(req):
        return re.split(r"[<>=!~ ]", req, maxsplit=1)[0].lower()

    assert {name(d) for d in publish.STUDENT_DEPENDENCIES} <= {name(d) for d in deps}
    assert not [d for d in publish.STUDENT_DEPENDENCIES if name(d) in {"ipykernel", "nbclient", "nbformat"}
                and d != name(d)], "no lower bound on the kernel's packages (Colab's are older)"
    for banned in ("nbgrader", "jupyter-book", "bubblewrap", "dask", "distributed"):
        assert not [d for d in publish.STUDENT_DEPENDENCIES if d.startswith(banned)]


def test_every_chapter_starts_with_the_locked_setup_cell(root):
    url = sources.course_url(root) + sources.wheel_name()
    for slug in SLUGS:
        nb = nbformat.read(root / "chapters" / f"{slug}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        first = code[0]
        assert first.metadata["nbgrader"]["grade_id"] == sources.SETUP_ID and first.metadata["nbgrader"]["locked"]
        assert first.source == sources.setup_cell(root).source, f"{slug}: run `make chapters` after changing _config.yml"
        assert f'%pip install --quiet "lstmbook @ {url}"' in first.source
        printed = "".join(o.get("text", "") for o in first.outputs)
        assert re.fullmatch(r"lstmbook \S+ \| profile book \| device cpu \(\d+ threads?\)\n", printed), printed


def test_course_url_follows_the_one_setting(tmp_path):
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/Some-Org/lstm-course\n")
    assert sources.course_url(tmp_path) == "https://some-org.github.io/lstm-course/"
    (tmp_path / "_config.yml").write_text("repository:\n  url: https://github.com/a/b\nhtml:\n  baseurl: https://x.edu/lstm\n")
    assert sources.course_url(tmp_path) == "https://x.edu/lstm/"
    (tmp_path / "_config.yml").write_text("title: x\n")
    with pytest.raises(sources.BuildError, match="repository.url"):
        sources.course_url(tmp_path)


def test_check_recomputes_nbgrader_checksums(root):
    from nbgrader.utils import compute_checksum

    nb = nbformat.read(root / "chapters" / "02_numpy_lstm.ipynb", as_version=4)
    cells = [c for c in nb.cells if "nbgrader" in c.metadata and "grade_id" in c.metadata["nbgrader"]]
    assert len(cells) > 5
    for cell in cells:
        assert check.nbgrader_checksum(cell) == compute_checksum(cell)


@pytest.mark.slow
def test_check_warns_about_a_renamed_file_and_an_edited_locked_cell(root, tmp_path):
    nb = nbformat.read(root / "chapters" / "02_numpy_lstm.ipynb", as_version=4)
    test_cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade"))
    test_cell.source = "pass  # the test, removed by a student"
    path = tmp_path / "02_numpy_lstm (1).ipynb"
    nbformat.write(nb, path)
    _, warnings = check.static_warnings(nbformat.read(path, as_version=4), path)
    assert any("hand it in as '02_numpy_lstm.ipynb'" in w for w in warnings), warnings
    assert any(test_cell.metadata["nbgrader"]["grade_id"] in w and "locked" in w for w in warnings), warnings
    untouched = nbformat.read(root / "chapters" / "02_numpy_lstm.ipynb", as_version=4)
    good = tmp_path / "02_numpy_lstm.ipynb"
    nbformat.write(untouched, good)
    _, warnings = check.static_warnings(untouched, good)
    assert not [w for w in warnings if "locked" in w or "hand it in" in w], warnings


def test_check_warns_about_what_an_exercise_must_not_use_and_about_hooks(root, tmp_path):
    """The rule stated atop an exercise is checked before hand-in, on the code, as the grader
    checks it; so is code that reaches the interpreter's hooks. The blank notebook and the
    reference answers get no such warning."""
    path = tmp_path / "06_optimizers.ipynb"
    blank = nbformat.read(root / "chapters" / "06_optimizers.ipynb", as_version=4)
    rules = {c.metadata["nbgrader"]["grade_id"]: c.metadata["lstmbook"]["forbid"] for c in blank.cells
             if c.metadata.get("lstmbook")}
    assert rules.get("SGD") == ["torch"] and "Rule: write it yourself" in next(
        c.source for c in blank.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "SGD")
    assert not [w for w in check.static_warnings(blank, path)[1] if "grader" in w]
    nb = submission("06_optimizers", {
        "SGD": "import torch\nclass SGD(Optimizer):\n    def __init__(self, params, lr=0.01, **kw):\n"
               "        self.opt = torch.optim.SGD(params, lr=lr, **kw)\n",
        "Adam": reference_cells("06_optimizers")["Adam"] + "\nimport sys\nsys.settrace(None)\n"})
    assert not [w for w in check.static_warnings(submission("06_optimizers"), path)[1] if "grader" in w]
    warnings = check.static_warnings(nb, path)[1]
    assert any("torch.optim.SGD" in w and "SGD must not use" in w and "score its tests 0" in w
               for w in warnings), warnings
    assert any("sys.settrace" in w and "instructor" in w for w in warnings), warnings


def test_check_refuses_what_is_not_a_notebook(tmp_path):
    bad = tmp_path / "02_numpy_lstm.ipynb"
    bad.write_text("{ not json")
    proc = subprocess.run([sys.executable, "-m", "lstmbook.cli", "check", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "not a readable Jupyter notebook" in proc.stderr and str(bad) in proc.stderr


@pytest.fixture(scope="module")
def student_env(site, tmp_path_factory) -> Path:
    """A fresh virtual environment with only the published wheel (and its dependencies)."""
    env_dir = tmp_path_factory.mktemp("student") / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    env = dict(os.environ, PIP_CONSTRAINT=str(ROOT / "constraints.txt"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    proc = subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(_wheel(site))],
                          env=env, capture_output=True, text=True, cwd=env_dir.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return env_dir


def _student_run(env_dir: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "LSTMBOOK_"))}
    env.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               LSTMBOOK_DATA_DIR=str(cwd / "data"), HOME=str(cwd))
    if os.environ.get("LSTMBOOK_DATA_MIRROR"):
        env["LSTMBOOK_DATA_MIRROR"] = os.environ["LSTMBOOK_DATA_MIRROR"]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
def test_student_package_installs_alone(student_env, tmp_path):
    code = ("import importlib.util, lstmbook, lstmbook.data as d; print(lstmbook.__file__); "
            "print(d.manifest_path().is_file()); print(importlib.util.find_spec('lstmbook.instructor'))")
    proc = _student_run(student_env, [str(student_env / "bin" / "python"), "-c", code], tmp_path)
    assert proc.returncode == 0, proc.stderr
    where, manifest, grading = proc.stdout.split()
    assert where.startswith(str(student_env)) and manifest == "True" and grading == "None"
    proc = _student_run(student_env, [str(student_env / "bin" / "lstmbook"), "--help"], tmp_path)
    assert "{check,data}" in proc.stdout, proc.stdout  # the student's commands, no instructor's


@pytest.mark.slow
@pytest.mark.parametrize("filled", [True, False], ids=["reference", "blank"])
def test_downloaded_chapter_runs_and_checks_in_the_student_environment(site, student_env, tmp_path, filled):
    """Chapter 2 as downloaded from the book, in the quick profile, with only the wheel."""
    slug = "02_numpy_lstm"
    nb = nbformat.read(site / "_sources" / "chapters" / f"{slug}.ipynb", as_version=4)
    if filled:
        fill(nb, slug, {k: v for k, v in reference_cells(slug).items() if k in _code_exercises(nb)})
    nbformat.write(nb, tmp_path / f"{slug}.ipynb")
    proc = _student_run(student_env, [str(student_env / "bin" / "lstmbook"), "check", f"{slug}.ipynb"], tmp_path)
    out = proc.stdout + proc.stderr
    tests = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    if filled:
        assert proc.returncode == 0, out
        assert all(f"PASS  {gid}" in out for gid in tests), out
        assert "All visible tests pass" in out
    else:
        assert proc.returncode == 1, out
        assert all(f"FAIL  {gid}" in out for gid in tests), out
        assert "visible tests: 0 of" in out


@pytest.mark.slow
def test_check_fails_an_edited_test_and_does_not_start_itself_again(root, tmp_path, monkeypatch, capsys):
    """Replacing a locked test with `pass` fails that test (the grader runs the original); a
    cell of the notebook that runs `lstmbook check` on it is skipped inside the check."""
    slug = "01_gradients"
    nb = nbformat.read(root / "chapters" / f"{slug}.ipynb", as_version=4)
    fill(nb, slug, {k: v for k, v in reference_cells(slug).items() if k in _code_exercises(nb)})
    tests = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    tests[0].source = "pass"
    nb.cells.append(nbformat.v4.new_code_cell(f"!{sys.executable} -m lstmbook.cli check {slug}.ipynb"))
    nbformat.write(nb, tmp_path / f"{slug}.ipynb")
    monkeypatch.delenv(check.NESTED, raising=False)
    report = check.check(tmp_path / f"{slug}.ipynb")
    verdicts = {i.grade_id: i for i in report.items if i.kind == "test"}
    edited = verdicts[tests[0].metadata["nbgrader"]["grade_id"]]
    assert not edited.passed and "locked test was edited" in edited.message
    assert all(i.passed for gid, i in verdicts.items() if gid != edited.grade_id)
    assert not report.ok
    printed = "".join(o.get("text", "") for o in report.notebook.cells[-1].outputs)
    assert "skipped, already inside a check" in printed, printed
    monkeypatch.setenv(check.NESTED, "1")
    assert check.main([str(tmp_path / f"{slug}.ipynb")]) == 0
    assert "skipped, already inside a check" in capsys.readouterr().out


@pytest.mark.slow
def test_check_runs_its_own_python_whatever_kernel_the_student_installed(root, tmp_path, monkeypatch):
    """A broken "python3" kernel spec in the student's own Jupyter folder is not used."""
    broken = tmp_path / "jupyter-data" / "kernels" / "python3"
    broken.mkdir(parents=True)
    (broken / "kernel.json").write_text('{"argv": ["/bin/false", "{connection_file}"], '
                                        '"display_name": "broken", "language": "python"}')
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.setenv("JUPYTER_PREFER_ENV_PATH", "0")  # as outside a virtual environment
    from jupyter_client.kernelspec import KernelSpecManager
    assert KernelSpecManager().get_kernel_spec("python3").argv[0] == "/bin/false"  # the trap is set
    monkeypatch.delenv(check.NESTED, raising=False)
    nbformat.write(nbformat.read(root / "chapters" / "01_gradients.ipynb", as_version=4),
                   tmp_path / "01_gradients.ipynb")
    report = check.check(tmp_path / "01_gradients.ipynb")
    assert not report.errors, report.errors
    assert all("NotImplementedError" in i.message for i in report.items if i.kind == "test")
