"""The trusted judge: records from the sandbox against the reference's records."""
import json

import numpy as np
import pytest
import torch

from course import ROOT, SLUGS
from lstmbook.instructor import sources
from lstmbook.instructor.grader import testmodel, verdicts
from lstmbook.instructor.grader.inside.record import Recorder, RecordError, encode


def _lines(*recs):
    return "".join(json.dumps(dict(r, key=k)) + "\n" for k, r in recs)


REF = _lines(("h", encode(np.array([[1.0, 2.0], [3.0, float("nan")]]))),
             ("n", encode(3, exact=True)), ("s", encode("日红")))


def test_the_same_results_pass():
    got = _lines(("n", encode(3.0)), ("s", encode("日红")),
                 ("h", encode(torch.tensor([[1.0, 2.0 + 1e-12], [3.0, float("nan")]], dtype=torch.float64))))
    assert verdicts.judge(REF, got) == (True, "")


@pytest.mark.parametrize("got, why", [
    (_lines(("h", encode(np.ones((2, 2)))), ("n", encode(3)), ("s", encode("日红"))), "h: values differ"),
    (_lines(("h", encode(np.ones((4,)))), ("n", encode(3)), ("s", encode("日红"))), "h: shape (4,)"),
    (_lines(("h", encode(np.array([[1.0, 2.0], [3.0, 0.0]]))), ("n", encode(3)), ("s", encode("日红"))), "values differ"),
    (_lines(("h", encode(np.array([[1.0, 2.0], [3.0, np.nan]]))), ("n", encode(3.0000001)), ("s", encode("日红"))), "n: values differ"),
    (_lines(("h", encode(np.array([[1.0, 2.0], [3.0, np.nan]]))), ("n", encode(3)), ("s", encode("日"))), "s: the text differs"),
    (_lines(("n", encode(3)), ("s", encode("日红"))), "h: no result"),
    (_lines(("h", encode("text")), ("n", encode(3)), ("s", encode("日红"))), "h: expected numbers"),
])
def test_a_wrong_missing_or_misshapen_result_fails(got, why):
    passed, message = verdicts.judge(REF, got)
    assert not passed and why in message


def test_the_tolerance_is_the_reference_s_never_the_student_s():
    loose = dict(encode(np.zeros((2, 2))), rtol=1e9, atol=1e9)
    got = _lines(("h", loose), ("n", encode(3)), ("s", encode("日红")))
    assert not verdicts.judge(REF, got)[0]


@pytest.mark.parametrize("text, why", [
    (REF + REF, "recorded twice"),
    ("{not json\n", "malformed"),
    ('{"key": 1}\n', "malformed"),
    ('{"key": "h", "kind": "array", "shape": [2, 2], "data": [1, 2, 3]}\n', "malformed array"),
    ('{"key": "h", "kind": "array", "shape": [1], "data": [true]}\n', "malformed array"),
    ("", "no results"),
    (None, "no results"),
])
def test_forged_or_malformed_records_fail(text, why):
    passed, message = verdicts.judge(REF, text, "NotImplementedError: ")
    assert not passed and why in message


def test_no_results_say_where_the_check_stopped():
    assert verdicts.judge(REF, None, "NameError: name 'lstm_forward' is not defined") == (
        False, "no results: the check stopped with NameError: name 'lstm_forward' is not defined")


@pytest.mark.parametrize("sandbox_says, shown", [
    ("ValueError at cell 12, line 3", "ValueError at cell 12, line 3"),
    ("NotImplementedError", "NotImplementedError"),
    ("LinAlgError (the check did not finish)", "LinAlgError (the check did not finish)"),
    ("the kernel died while running cell 7 (its code exits or crashes Python)",
     "the kernel died while running cell 7 (its code exits or crashes Python)"),
    # a student can name an exception class anything, raise any text, forge the runner's words
    ("record_h_102_lstm_forward_x_copy at cell 3, line 1", "an exception at cell 3, line 1"),
    ("ValueError: for _seed in [(101, (1, 1))]: record(...)", "an error"),
    ("cell 4 stopped the run (_r_normal_size_N_H)", "cell 4 stopped the run (an exception)"),
    ("the kernel died during the check test_x; expected h = 0.31", "an error"),
    ("\x1b[31mValueError", "an error"),
    ("", ""),
    (None, ""),
])
def test_check_errors_show_the_runner_s_own_words_and_known_exception_names_only(sandbox_says, shown):
    assert verdicts.runner_text(sandbox_says) == shown


def test_a_difference_is_reported_as_an_order_of_magnitude_never_the_reference_s_digits():
    ref = _lines(("h", encode(np.array([2.5184, -0.0137]))))
    passed, message = verdicts.judge(ref, _lines(("h", encode(np.zeros(2)))))
    assert not passed and "largest difference of order 1e0)" in message
    assert "2.5" not in message and "2.52" not in message and "0.0137" not in message
    assert verdicts.judge(ref, _lines(("h", encode(np.array([2.5184, -0.0047])))))[1].endswith("of order 1e-3)")


def test_what_a_forged_record_says_of_itself_never_reaches_the_message():
    forged = '{"key": "h", "kind": "<script>hidden check source</script>"}\n'
    for ref in (_lines(("h", encode(np.ones(2)))), _lines(("h", encode("text")))):
        message = verdicts.judge(ref, forged)[1]
        assert "script" not in message and "check source" not in message and "something else" in message
    twice = _lines(("secret source of the check", encode(1.0))) * 2
    assert "secret" not in verdicts.judge(_lines(("h", encode(1.0))), twice)[1]


def test_objects_that_are_not_numbers_cannot_be_recorded(tmp_path):
    class Anything:
        def __eq__(self, other):
            return True

    rec = Recorder("t", tmp_path)
    with pytest.raises(RecordError):
        rec("x", Anything())
    rec("y", [1, 2])
    assert (tmp_path / "t.jsonl").read_text().count("\n") == 1


def test_every_graded_test_of_every_chapter_has_a_hidden_check_that_records():
    for slug in SLUGS:
        md = ROOT / "solutions" / f"{slug}.md"
        for test in testmodel.tests(sources.source_notebook(md)):
            assert "record(" in test.hidden, f"{md.name}: {test.grade_id} records nothing"
            assert "assert " not in test.hidden, f"{md.name}: {test.grade_id} asserts in its hidden part"


def test_the_grading_notebook_resets_test_cells_and_drops_outputs():
    import copy

    import nbformat
    from submissions import chapter

    src = sources.source_notebook(sources.repo_root() / "solutions" / "02_numpy_lstm.md")
    nb = copy.deepcopy(chapter("02_numpy_lstm"))
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "test_lstm_forward":
            cell.source = "pass  # the student's own 'test'"
            cell.outputs = [nbformat.v4.new_output("stream", text="all tests passed")]
    out = testmodel.grading_notebook(nb, src)
    test = next(c for c in out.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_lstm_forward")
    official = next(t for t in testmodel.tests(src) if t.grade_id == "test_lstm_forward")
    assert test.source == official.visible and "BEGIN HIDDEN" not in test.source
    assert all(not c.get("outputs") for c in out.cells if c.cell_type == "code")


def test_a_cell_s_outputs_are_cut_to_the_runner_s_caps_not_dropped():
    import nbformat

    from lstmbook.instructor.grader.inside import runner

    cell = nbformat.v4.new_code_cell("print('x' * 10**8)")
    cell.outputs = [nbformat.v4.new_output("stream", text="x" * (runner.CELL_TEXT_CHARS + 5000)),
                    nbformat.v4.new_output("stream", text="more")]
    runner._cap(cell)
    text = "".join(o["text"] for o in cell.outputs)
    assert text.startswith("xxx") and "the grader cut this cell's output" in text
    assert len(text) < runner.CELL_TEXT_CHARS + 200
    big = nbformat.v4.new_code_cell("")
    big.outputs = [nbformat.v4.new_output("display_data", data={"image/png": "A" * (runner.CELL_DATA_BYTES + 1)})]
    big.outputs += [nbformat.v4.new_output("stream", text=".") for _ in range(runner.CELL_OUTPUTS + 10)]
    runner._cap(big)
    assert "dropped an output" in big.outputs[0]["data"]["text/plain"]
    assert len(big.outputs) == runner.CELL_OUTPUTS + 1 and "dropped 11 more" in big.outputs[-1]["text"]
