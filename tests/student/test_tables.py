import pytest

from lstmbook.tables import markdown_table, show_table


def test_a_table_is_markdown_with_its_columns_aligned():
    text = markdown_table(["optimizer", "dev ppl"], [["Adam", "210.3"], ["SGD", "1 200.0"]])
    assert text.splitlines() == ["| optimizer | dev ppl |", "| :--- | ---: |",
                                 "| Adam | 210.3 |", "| SGD | 1 200.0 |"]


def test_a_pipe_or_a_newline_in_a_cell_does_not_break_the_table():
    text = markdown_table(["a", "b"], [["x|y", "two\nlines"]], align="ll")
    assert text.splitlines()[2] == "| x\\|y | two lines |"


def test_a_row_of_the_wrong_length_is_named():
    with pytest.raises(ValueError, match="row 1 has 1 cells, the header 2"):
        markdown_table(["a", "b"], [[1, 2], [3]])
    with pytest.raises(ValueError, match="align='lx'"):
        markdown_table(["a", "b"], [[1, 2]], align="lx")


def test_outside_a_notebook_the_table_is_printed(capsys):
    show_table(["a"], [[1]])
    assert capsys.readouterr().out == "| a |\n| :--- |\n| 1 |\n"
