"""The rule that lets planted bugs share a graded notebook (``tests/support/sharing.py``): a
bug may ride along only where it cannot make another bug's named test fail. Each case below
is a way one exercise reaches another test; the analysis must see it."""
import nbformat
import pytest

import sharing
from course import ROOT, SLUGS, planted
from lstmbook.instructor import sources


def _nb(*cells):
    """A source notebook from ``("code", text)``, ``("test", grade_id, text)`` and
    ``("exercise", grade_id, text)`` cells."""
    nb = nbformat.v4.new_notebook()
    for kind, *rest in cells:
        if kind == "code":
            nb.cells.append(nbformat.v4.new_code_cell(rest[0]))
            continue
        gid, text = rest
        cell = nbformat.v4.new_code_cell(text)
        cell.metadata["nbgrader"] = ({"grade": True, "grade_id": gid, "points": 1, "solution": False}
                                     if kind == "test" else {"grade": False, "grade_id": gid, "solution": True})
        nb.cells.append(cell)
    return nb


def _can_share(nb, bug_f="def f(x):\n    return -x\n", bug_g="def g(x):\n    return -x\n"):
    reach = sharing.Reach(nb)
    return reach.independent(("test_f", {"f": bug_f}), ("test_g", {"g": bug_g}))


EXERCISES = [("exercise", "f", "def f(x):\n    return x\n"), ("exercise", "g", "def g(x):\n    return x\n")]


def test_tests_of_unrelated_exercises_share():
    nb = _nb(*EXERCISES,
             ("test", "test_f", "x = 3\nassert f(x) == 3\n### BEGIN HIDDEN TESTS\nrecord('f', f(2))\n### END HIDDEN TESTS"),
             ("test", "test_g", "x = 4\nassert g(x) == 4"))
    assert _can_share(nb)


@pytest.mark.parametrize("how, code, test_f", [
    ("the test calls a given function that calls the other exercise",
     "def h(x):\n    return f(g(x))\n", "assert h(1) == 1"),
    ("the test reads a value the other exercise computed in a given cell",
     "y = g(2)\n", "assert f(y) == 2"),
    ("a given cell changes, in place, an object the test reads, with the other exercise",
     "state = [0]\nstate.append(g(1))\n", "assert f(state[-1]) == 1"),
    ("a given function changes a global the test reads, and a given cell runs it",
     "log = []\ndef remember():\n    log.append(g(5))\nremember()\n", "assert f(log[0]) == 5"),
    ("a given cell passes the test's object to a function that uses the other exercise",
     "data = {}\ndef fill(d):\n    d['v'] = g(7)\nfill(data)\n", "assert f(data['v']) == 7"),
    ("the hidden part reads a name another test's cell left behind",
     "", "assert f(1) == 1\n### BEGIN HIDDEN TESTS\nrecord('v', f(z))\n### END HIDDEN TESTS"),
    ("a cell magic mentions what the test reads and the other exercise",
     "%%writefile job.py\nfrom notebook import g\nprint(g(1), shared)\n", "assert f(shared) == 1"),
])
def test_a_path_to_the_other_exercise_keeps_bugs_apart(how, code, test_f):
    cells = [*EXERCISES, ("code", code), ("test", "test_f", test_f),
             ("test", "test_g", "z = g(3)\nassert z == 3")]
    assert not _can_share(_nb(*[c for c in cells if c[-1]])), how


def test_a_name_reused_in_another_cell_does_not_tie_a_test_to_it():
    """``x`` bound by the test itself is the test's own, whatever other cells bind to ``x``."""
    nb = _nb(*EXERCISES, ("code", "x = g(10)\nprint(x)"),
             ("test", "test_f", "x = 1\nassert f(x) == 1"), ("test", "test_g", "assert g(2) == 2"))
    assert _can_share(nb)


def test_a_bug_that_changes_a_global_the_other_test_reads_stays_apart():
    nb = _nb(*EXERCISES, ("code", "table = {}"),
             ("test", "test_f", "assert f(table.get('k', 1)) == 1"), ("test", "test_g", "assert g(2) == 2"))
    assert _can_share(nb)
    meddling = "def g(x):\n    table['k'] = 0\n    return x\n"
    assert not _can_share(nb, bug_g=meddling)


def test_same_exercise_or_same_test_never_share():
    nb = _nb(*EXERCISES, ("test", "test_f", "assert f(1) == 1"), ("test", "test_g", "assert g(1) == 1"))
    reach = sharing.Reach(nb)
    assert not reach.independent(("test_f", {"f": "def f(x): return 0"}), ("test_g", {"f": "def f(x): return 2"}))
    assert not reach.independent(("test_f", {"f": "def f(x): return 0"}), ("test_f", {"g": "def g(x): return 2"}))


def test_groups_keep_a_bug_alone_when_asked():
    nb = _nb(*EXERCISES, ("test", "test_f", "assert f(1) == 1"), ("test", "test_g", "assert g(1) == 1"))
    bugs = {"f": ("test_f", {"f": "def f(x): return 0"}), "g": ("test_g", {"g": "def g(x): return 0"})}
    assert sharing.groups(nb, bugs) == [["f", "g"]]
    assert sharing.groups(nb, bugs, alone=["g"]) == [["f"], ["g"]]


def _reach(slug):
    return sharing.Reach(sources.source_notebook(ROOT / "solutions" / f"{slug}.md"))


def test_on_the_chapters_a_subclass_and_its_base_stay_apart_and_unrelated_optimizers_share():
    ch5, ch6 = _reach("05_deep"), _reach("06_optimizers")
    assert "StackedLSTM" in ch5.tests["test_tied"]  # TiedLSTM(StackedLSTM)
    assert "Adam" in ch6.tests["test_adamw"]  # AdamW(Adam)
    assert "Adam" not in ch6.tests["test_sgd"] and "SGD" not in ch6.tests["test_adam"]


@pytest.mark.parametrize("slug", SLUGS)
def test_every_chapter_test_reaches_its_own_exercise(slug):
    """A test that did not reach the exercise it grades would let every bug ride along."""
    reach, m = _reach(slug), planted(slug)
    for name, bug in m.BUGS.items():
        assert reach.changed_by(bug.replacement(slug)) & reach.tests[bug.test], (slug, name)
