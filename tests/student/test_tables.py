import pytest

from lstmbook import tables
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


@pytest.fixture
def shell():
    """An IPython shell for the test, cleared after it: one left behind makes every later
    test's get_ipython() see a shell (it failed CI once, in test_timing)."""
    from IPython.core.interactiveshell import InteractiveShell

    yield InteractiveShell.instance()
    InteractiveShell.clear_instance()


def test_in_a_shell_the_table_is_markdown_and_its_plain_form_the_same_text(shell):
    """The notebook and the book get Markdown; a terminal IPython (a shell that renders only
    plain text) shows the table itself, not '<IPython.core.display.Markdown object>'."""
    from IPython.utils.capture import capture_output

    with capture_output() as shown:
        show_table(["a"], [[1]], title="T = 8")
    (out,) = shown.outputs
    assert out.data == {"text/markdown": "**T = 8**\n\n| a |\n| :--- |\n| 1 |",
                        "text/plain": "**T = 8**\n\n| a |\n| :--- |\n| 1 |"}


def test_glue_writes_what_myst_nb_reads_and_shows_nothing(shell):
    """The output glue() makes is the one myst-nb's own glue(..., display=False) makes: same
    metadata, same prefixed mime types (so the book pastes it), nothing a notebook renders."""
    from IPython.display import Markdown
    from IPython.utils.capture import capture_output
    from myst_nb import glue as myst_glue

    with capture_output() as ours:
        assert tables.glue("ppl_best", "**191.9** [180.9–199.5]") == "**191.9** [180.9–199.5]"
    with capture_output() as theirs:
        myst_glue("ppl_best", Markdown("**191.9** [180.9–199.5]"), display=False)
    (out,), (ref,) = ours.outputs, theirs.outputs
    assert out.metadata == ref.metadata == {"scrapbook": {"name": "ppl_best", "mime_prefix": tables.GLUE_PREFIX}}
    assert out.data[tables.GLUE_PREFIX + "text/markdown"] == ref.data[tables.GLUE_PREFIX + "text/markdown"]
    assert all(k.startswith(tables.GLUE_PREFIX) for k in out.data)
    assert not ours.stdout


@pytest.mark.parametrize("name", ["", "1st", "a b", "a.b", None])
def test_glue_refuses_a_name_the_prose_cannot_use(name):
    with pytest.raises(ValueError, match="glue name"):
        tables.glue(name, "x")
