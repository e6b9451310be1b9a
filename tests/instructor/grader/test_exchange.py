"""nbgrader's own hand-in layout: what ``nbgrader collect`` leaves in ``<course>/submitted``
(``<student>/<assignment>/<notebook>.ipynb`` and ``timestamp.txt``) is graded as it is, with
the time of submission in ``grades.csv``. The fast tests read the layout and the timestamps;
the slow one goes the whole way on a JupyterHub-like exchange: release, fetch, submit,
collect, ``lstmbook grade <course>/submitted``."""
import csv
import datetime
import os
import subprocess
import sys

import nbformat
import pytest

from lstmbook import cli
from lstmbook.instructor import grader
from lstmbook.instructor.grader import intake
from lstmbook.instructor.grader.store import FIELDS, Result

SLUG = "02_numpy_lstm"
SLUGS = ["01_gradients", SLUG]
IDS = {"test_a", "test_b", "test_c"}
NO_LOG = lambda *_: None  # noqa: E731


def _notebook(ids=IDS):
    nb = nbformat.v4.new_notebook()
    for gid in sorted(ids):
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": gid, "points": 1}
        nb.cells.append(cell)
    return nb


def _submit(root, student, slug=SLUG, name=None, stamp="2026-12-01 10:31:05.123456 UTC"):
    folder = root / student / slug
    folder.mkdir(parents=True)
    nbformat.write(_notebook(), folder / (name or f"{slug}.ipynb"))
    if stamp is not None:
        (folder / "timestamp.txt").write_text(stamp)
    return folder


# ------------------------------------------------------------------ which layout


def test_a_folder_named_submitted_is_nbgraders_layout(tmp_path):
    (tmp_path / "submitted" / "ann").mkdir(parents=True)
    students, _ = intake.students_of(tmp_path / "submitted", NO_LOG)
    assert intake.layout_of(tmp_path / "submitted", students, SLUGS) == "nbgrader"


def test_assignment_folders_of_this_course_are_nbgraders_layout_under_any_name(tmp_path):
    subs = tmp_path / "hub-hand-ins"
    _submit(subs, "ann")
    (subs / "bob" / SLUG).mkdir(parents=True)
    (subs / "bob" / SLUG / "timestamp.txt").write_text("2026-12-01 10:31:05.123456 UTC")
    students, _ = intake.students_of(subs, NO_LOG)
    assert intake.layout_of(subs, students, SLUGS) == "nbgrader"
    assert intake.handed_in(students, SLUGS, "nbgrader") == [SLUG]


def test_one_folder_per_student_stays_the_folders_layout(tmp_path):
    subs = tmp_path / "subs"
    (subs / "ann").mkdir(parents=True)
    nbformat.write(_notebook(), subs / "ann" / f"{SLUG}.ipynb")
    (subs / "bob" / "homework").mkdir(parents=True)  # not an assignment of this course
    nbformat.write(_notebook(), subs / "bob" / "homework" / f"{SLUG}.ipynb")
    (subs / "eve" / "01_gradients").mkdir(parents=True)  # a folder named like a chapter, empty
    students, _ = intake.students_of(subs, NO_LOG)
    assert intake.layout_of(subs, students, SLUGS) == "folders"
    path, nb, note, at = intake.hand_in(subs / "ann", SLUG, IDS, "folders")
    assert path == subs / "ann" / f"{SLUG}.ipynb" and note == "" and at == ""
    # one folder of each kind: a tie, which the folder name (not `submitted`) breaks
    _submit(subs, "dan")
    students, _ = intake.students_of(subs, NO_LOG)
    assert intake.layout_of(subs, students, SLUGS) == "folders"


def test_a_folder_named_submitted_holding_one_folder_per_student_is_the_folders_layout(tmp_path):
    """The name breaks a tie only: ``submitted/<student>/<chapter>.ipynb`` is the folders layout."""
    subs = tmp_path / "submitted"
    for student in ("ann", "bob"):
        (subs / student).mkdir(parents=True)
        nbformat.write(_notebook(), subs / student / f"{SLUG}.ipynb")
    students, _ = intake.students_of(subs, NO_LOG)
    assert intake.layout_of(subs, students, SLUGS) == "folders"


def test_one_stray_notebook_does_not_turn_a_class_of_nbgrader_hand_ins_into_folders(tmp_path):
    subs = tmp_path / "hand-ins"
    for student in ("ann", "bob", "cy"):
        _submit(subs, student)
    nbformat.write(_notebook(), subs / "cy" / "scratch.ipynb")  # cy also left a notebook of their own
    (subs / "dan").mkdir()
    nbformat.write(_notebook(), subs / "dan" / f"{SLUG}.ipynb")
    students, _ = intake.students_of(subs, NO_LOG)
    assert intake.layout_of(subs, students, SLUGS) == "nbgrader"


def test_a_symlinked_assignment_folder_does_not_make_the_layout(tmp_path):
    subs = tmp_path / "subs"
    elsewhere = _submit(tmp_path / "elsewhere", "x")
    (subs / "ann").mkdir(parents=True)
    (subs / "ann" / SLUG).symlink_to(elsewhere, target_is_directory=True)
    students, _ = intake.students_of(subs, NO_LOG)
    assert intake.layout_of(subs, students, SLUGS) == "folders"


# ------------------------------------------------------------------ one student's hand-in


def test_a_submission_is_read_with_its_time_in_utc(tmp_path):
    folder = _submit(tmp_path, "ann", stamp="2026-12-01 10:31:05.123456 UTC\n")
    path, nb, note, at = intake.hand_in(tmp_path / "ann", SLUG, IDS, "nbgrader")
    assert path == folder / f"{SLUG}.ipynb" and intake.grade_ids(nb) == IDS
    assert note == "" and at == "2026-12-01T10:31:05.123456Z"


def test_another_name_inside_the_assignment_folder_is_accepted_and_noted(tmp_path):
    _submit(tmp_path, "ann", name=f"{SLUG} (1).ipynb")
    path, nb, note, at = intake.hand_in(tmp_path / "ann", SLUG, IDS, "nbgrader")
    assert path.name == f"{SLUG} (1).ipynb" and f"graded {SLUG} (1).ipynb" in note
    assert at == "2026-12-01T10:31:05.123456Z"


def test_a_notebook_outside_its_assignment_folder_is_not_the_assignment(tmp_path):
    (tmp_path / "ann" / "01_gradients").mkdir(parents=True)
    nbformat.write(_notebook(), tmp_path / "ann" / "01_gradients" / f"{SLUG}.ipynb")
    path, nb, note, at = intake.hand_in(tmp_path / "ann", SLUG, IDS, "nbgrader")
    assert path is None and f"no {SLUG} folder" in note and "01_gradients" in note


@pytest.mark.parametrize("stamp, why", [
    (None, "no timestamp.txt"),
    ("", "it is empty"),
    ("yesterday, I promise", "not a time"),
    ("2026-02-30 10:00:00.000000 UTC", "not a time"),
    ("2026-12-01 10:31:05.1 CEST", "time zone 'CEST' is unknown"),
    ("2026-12-01 10:31:05 /etc/passwd", "is not one"),
    ("5", "not a time"),
    ("2026", "not a time"),  # dateutil would read today's month and day into these
    ("2026-12", "not a time"),
    ("12/01/2026", "not a time"),
    ("2026-12-01T10:31:05 EST", "not a time"),  # a zone word without nbgrader's three words
    ("2026-12-01 10:31:05\x1b[2J UTC", "not a time"),
    ("x" * 300, "longer than 256 bytes"),
])
def test_a_missing_or_malformed_timestamp_is_noted_and_the_notebook_still_graded(tmp_path, stamp, why):
    _submit(tmp_path, "ann", stamp=stamp)
    path, nb, note, at = intake.hand_in(tmp_path / "ann", SLUG, IDS, "nbgrader")
    assert path is not None and at == ""
    assert why in note and "time of submission is unknown" in note
    assert intake.printable(note) == note  # the note is safe to print


def test_a_timestamp_that_is_a_link_or_not_a_file_is_refused(tmp_path):
    folder = _submit(tmp_path, "ann", stamp=None)
    (tmp_path / "secret").write_text("2026-12-01 10:31:05 UTC")
    (folder / "timestamp.txt").symlink_to(tmp_path / "secret")
    _, _, note, at = intake.hand_in(tmp_path / "ann", SLUG, IDS, "nbgrader")
    assert at == "" and "timestamp.txt is a symbolic link (refused)" in note
    folder = _submit(tmp_path, "bob", stamp=None)
    os.mkfifo(folder / "timestamp.txt")  # a reader that blocks forever, were it opened plainly
    _, _, note, at = intake.hand_in(tmp_path / "bob", SLUG, IDS, "nbgrader")
    assert at == "" and "not a regular file" in note


@pytest.mark.parametrize("text, utc", [
    ("2026-12-01 10:31:05.123456 UTC", "2026-12-01 10:31:05.123456"),  # nbgrader's default
    ("2026-12-01 11:31:05.123456 CET", "2026-12-01 10:31:05.123456"),  # Exchange.timezone
    ("2026-07-01 12:31:05.000001 Europe", None),  # no such zone
    ("2026-12-01 10:31:05 -0130", "2026-12-01 12:01:05"),
    ("2026-12-01T10:31:05+02:00", "2026-12-01 08:31:05"),
    ("2026-12-01 10:31:05", "2026-12-01 10:31:05"),  # no zone: UTC, as nbgrader reads it
])
def test_timestamps_are_read_as_nbgrader_reads_them(text, utc):
    if utc is None:
        with pytest.raises(ValueError):
            intake.parse_timestamp(text)
    else:
        assert intake.parse_timestamp(text) == datetime.datetime.fromisoformat(utc)


def test_a_symlinked_assignment_folder_is_refused_and_the_others_are_read(tmp_path):
    subs = tmp_path / "submitted"
    elsewhere = _submit(tmp_path / "elsewhere", "x")
    (subs / "mallory").mkdir(parents=True)
    (subs / "mallory" / SLUG).symlink_to(elsewhere, target_is_directory=True)
    (subs / "norm" / SLUG).mkdir(parents=True)  # a file where the folder should be
    (subs / "norm" / SLUG).rmdir()
    (subs / "norm" / SLUG).write_text("not a folder")
    _submit(subs, "ann")
    students, refused = intake.students_of(subs, NO_LOG)
    assert refused == [] and intake.handed_in(students, SLUGS, "nbgrader") == [SLUG]
    outcome = {}
    for sdir in students:
        try:
            outcome[sdir.name] = intake.hand_in(sdir, SLUG, IDS, "nbgrader")[2] or "read"
        except ValueError as exc:
            outcome[sdir.name] = f"refused: {exc}"
    assert outcome == {"ann": "read",
                       "mallory": f"refused: the assignment folder {SLUG} is a symbolic link (refused)",
                       "norm": f"refused: {SLUG} is not a folder (nbgrader's layout: "
                               f"<student>/{SLUG}/{SLUG}.ipynb)"}


def test_hostile_student_folders_in_submitted_are_refused_with_the_reason(tmp_path):
    subs = tmp_path / "submitted"
    _submit(subs, "ann")
    _submit(subs, "bad\x1b[2Jname")
    (subs / "linked").symlink_to(subs / "ann", target_is_directory=True)
    students, refused = intake.students_of(subs, NO_LOG)
    assert [s.name for s in students] == ["ann"]
    assert dict(refused) == {"bad\\x1b[2Jname": refused[0][1], "linked": refused[1][1]}
    assert "\\x1b" in refused[0][1] and "symbolic link (refused)" in refused[1][1]


# ------------------------------------------------------------------ the command line, the CSV


def test_the_layout_flag_reaches_the_grader(tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(grader, "grade", lambda *a, **kw: seen.update(kw, submissions=a[0]))
    assert cli.main(["grade", str(tmp_path), "--layout", "nbgrader"]) == 0
    assert seen["layout"] == "nbgrader" and seen["submissions"] == tmp_path
    assert cli.main(["grade", str(tmp_path)]) == 0 and seen["layout"] == "auto"
    with pytest.raises(SystemExit):
        cli.main(["grade", str(tmp_path), "--layout", "zip"])


def test_an_nbgrader_course_directory_is_not_taken_for_the_hand_ins(tmp_path, capsys):
    course = tmp_path / "course"
    (course / "submitted" / "ann").mkdir(parents=True)
    (course / "nbgrader_config.py").write_text("")
    assert cli.main(["grade", str(course), "--course", str(tmp_path / "c")]) == 1
    assert f"grade the hand-ins that nbgrader collect put in {course / 'submitted'}" in capsys.readouterr().err


def test_grades_csv_has_a_submitted_at_column():
    assert "submitted_at" in FIELDS
    assert Result("ann", SLUG, "graded", submitted_at="2026-12-01T10:31:05Z").row()["submitted_at"] \
        == "2026-12-01T10:31:05Z"
    assert Result("ann", SLUG, "missing").row()["submitted_at"] == ""


# ------------------------------------------------------------------ the whole way, on an exchange


def _nbgrader(cwd, *args, env):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.slow
def test_release_submit_collect_and_grade_the_submitted_folder(tmp_path, reference_dir):
    """The JupyterHub path of the README: the instructor releases chapter 2 to a local
    exchange, two students fetch and submit it (one with the reference solution, one blank),
    the instructor collects, and ``lstmbook grade <course>/submitted`` grades both, with the
    time each submitted."""
    from submissions import fill

    exchange, course_dir = tmp_path / "exchange", tmp_path / "course"
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "jupyter-config"),
               JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"))
    on_exchange = [f"--Exchange.root={exchange}", "--course=lstmbook"]

    # the instructor: the chapter's source/ and release/ (lstmbook release), then nbgrader's release
    assert cli.main(["release", SLUG, "--course", str(course_dir)]) == 0
    assert (course_dir / "release" / SLUG / f"{SLUG}.ipynb").is_file()
    _nbgrader(course_dir, "release_assignment", SLUG, *on_exchange, env=env)

    # the students: fetch, work, submit (nbgrader takes the student id from the login name;
    # --student stands in for two logins on one machine)
    for student, solved in (("ann", True), ("bob", False)):
        home = tmp_path / "home" / student
        home.mkdir(parents=True)
        cache = f"--Exchange.cache={tmp_path / 'cache' / student}"
        _nbgrader(home, "fetch_assignment", SLUG, *on_exchange, cache, env=env)
        nb_path = home / SLUG / f"{SLUG}.ipynb"
        if solved:
            nbformat.write(fill(nbformat.read(nb_path, as_version=4), SLUG), nb_path)
        _nbgrader(home, "submit", SLUG, *on_exchange, cache, f"--student={student}", env=env)

    # the instructor: collect into <course>/submitted, then grade it
    _nbgrader(course_dir, "collect", SLUG, *on_exchange, f"--CourseDirectory.root={course_dir}", env=env)
    submitted = course_dir / "submitted"
    stamps = {s: (submitted / s / SLUG / "timestamp.txt").read_text() for s in ("ann", "bob")}
    assert all(t.endswith(" UTC") for t in stamps.values()), stamps  # nbgrader's default format

    messages = []
    results = {r.student: r for r in grader.grade(submitted, course_dir, workers=2, log=messages.append,
                                                  reference_dir=reference_dir)}
    assert "(nbgrader layout)" in "\n".join(messages)
    assert set(results) == {"ann", "bob"}
    assert results["ann"].status == "graded" and results["ann"].score == results["ann"].max_score > 0
    assert results["bob"].status == "graded" and results["bob"].score == 0
    with open(course_dir / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    assert set(rows) == {"ann", "bob"}
    assert rows["ann"]["score"] == rows["ann"]["max_score"] != "" and rows["bob"]["score"] == "0"
    for student, row in rows.items():
        expected = intake.parse_timestamp(stamps[student]).isoformat() + "Z"
        assert row["submitted_at"] == expected and "timestamp" not in row["note"], row


def test_release_refuses_an_unknown_chapter(tmp_path, capsys):
    assert cli.main(["release", "99_nothing", "--course", str(tmp_path / "c")]) == 1
    assert "unknown chapter(s) ['99_nothing']" in capsys.readouterr().err
