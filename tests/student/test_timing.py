"""lstmbook.timing's judgement of two timings: a ratio is a conclusion only beyond the spread."""
import pytest

from lstmbook.timing import Timing, versus


@pytest.mark.parametrize("a, b, expected", [
    (Timing("a", 1.0, 0.01, 10), Timing("b", 1.5, 0.01, 10), "1.50x faster"),
    (Timing("a", 1.5, 0.01, 10), Timing("b", 1.0, 0.01, 10), "1.50x slower"),
    # a 10% difference inside IQRs of 0.06 each: the runs cannot tell
    (Timing("a", 1.0, 0.06, 10), Timing("b", 1.1, 0.06, 10), "within the noise (0.91x the time)"),
    (Timing("a", 1.11, 0.05, 10), Timing("b", 1.0, 0.07, 10), "within the noise (1.11x the time)"),
])
def test_versus_states_a_difference_only_beyond_the_spread(a, b, expected):
    assert versus(a, b) == expected


def test_show_ratios_is_a_markdown_table_with_the_spread(capsys):
    """Outside a notebook the table is printed as Markdown: the book renders it as a table."""
    from lstmbook.timing import show_ratios

    show_ratios({"slow": Timing("slow", 3e-3, 0.5e-3, 9), "base": Timing("base", 1e-3, 0.1e-3, 9),
                 "once": Timing("once", 2e-3, 0.0, 1)}, "base", title="T = 8", extra={"slow": "8 matmuls"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == ["**T = 8**", ""]
    assert lines[2:5] == ["|  | ms per call | IQR ms | vs base | note |", "| :--- | ---: | ---: | ---: | :--- |",
                          "| slow | 3.00 | 0.50 | 3.00x | 8 matmuls |"]
    assert lines[6] == "| once | 2.00 | - | 2.00x |  |"  # one measurement: no spread to show
