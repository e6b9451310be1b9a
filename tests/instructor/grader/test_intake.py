"""Student folders and the text a student controls: honest names of every script accepted,
unsafe ones refused with the reason, and every student-controlled string shown as text."""
import unicodedata

import pytest

from lstmbook.instructor.grader import intake, reports
from lstmbook.instructor.grader.store import Result


@pytest.mark.parametrize("name", ["王小明", "José", "Ольга", "محمد", "Wang Xiaoming", "a.b@c+d-e_f",
                                  "student42", "Nguyễn Văn An"])
def test_honest_names_of_every_script_are_student_ids(name):
    assert intake.name_problem(name) == ""


@pytest.mark.parametrize("name, why", [
    ("bad\nname", "\\n"),
    ("red\x1b[31m", "\\x1b"),
    ("abc\u202edef", "\\u202e"),
    ("tab\there", "\\t"),
    ("-rf", "starts with a letter or a digit"),
    ("_x", "starts with a letter or a digit"),
    ("two  spaces", "two in a row"),
    ("trailing ", "ends with a space"),
    ("quote'name", "'"),
    ("semi;colon", "';'"),
    ("x" * 101, "longer than 100"),
])
def test_names_unsafe_as_a_folder_an_id_or_a_line_are_refused_with_the_reason(name, why):
    problem = intake.name_problem(name)
    assert problem and why in problem, problem
    assert all(unicodedata.category(ch)[0] != "C" for ch in problem)  # the reason itself is safe


def test_folders_are_read_with_their_ids_in_normal_form_c(tmp_path):
    decomposed = unicodedata.normalize("NFD", "José")
    for name in (decomposed, "王小明", "bad\nname"):
        (tmp_path / name).mkdir()
    good, bad = intake.students_of(tmp_path, log=lambda *_: None)
    assert sorted(intake.student_id(p) for p in good) == sorted(["José", "王小明"])
    assert bad == [("bad\\nname", bad[0][1])] and "\\n" in bad[0][1]


def test_two_spellings_of_one_name_are_not_two_students(tmp_path):
    (tmp_path / "José").mkdir()
    (tmp_path / unicodedata.normalize("NFD", "José")).mkdir()
    good, bad = intake.students_of(tmp_path, log=lambda *_: None)
    assert len(good) == 1 and len(bad) == 1 and "spelt another way" in bad[0][1]


def test_printable_keeps_letters_and_escapes_control_and_format_characters():
    assert intake.printable("王小明 José") == "王小明 José"
    assert intake.printable("a\nb\x1b[2J\u202ec\r") == "a\\nb\\x1b[2J\\u202ec\\r"
    assert intake.printable("x" * 100, 10) == "x" * 9 + "…"


def test_the_summary_and_the_csv_hold_one_line_per_result_and_no_control_character(tmp_path):
    hostile = Result("王小明", "02_numpy_lstm", "graded", 3, 18,
                     note="graded 02_numpy_lstm\nhonest  02_numpy_lstm  18/18  graded.ipynb\x1b[2J")
    other = Result("honest", "02_numpy_lstm", "graded", 18, 18)
    table = reports.summary_table([hostile, other])
    lines = table.splitlines()
    assert len(lines) == 2 + 2 + 1  # head, rule, two rows, the count
    assert not any(unicodedata.category(ch) == "Cc" for ch in table.replace("\n", ""))
    assert [ln for ln in lines if ln.startswith("honest ")] == [lines[3]]
    # columns line up under Chinese names (two terminal columns a character)
    assert reports._width(lines[2][:lines[2].index("02_numpy_lstm")]) == lines[3].index("02_numpy_lstm")


@pytest.mark.parametrize("value, cell", [
    ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
    ("+1", "'+1"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("a\nb", "a\\nb"),
    ("王小明", "王小明"),
])
def test_csv_cells_are_text_a_spreadsheet_does_not_run(value, cell):
    assert reports.csv_cell(value) == cell
