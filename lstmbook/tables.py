"""Results as tables that render as tables: a chapter shows its measurements with
``show_table``, which the book turns into an HTML table that fits the page (text padded with
spaces runs past the column and is cut off), and which stays readable as plain Markdown text
in a terminal or a notebook without rendering."""
from __future__ import annotations


def _cell(value) -> str:
    """A value as the text of one cell: ``|`` escaped, newlines made spaces."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: list, rows: list[list], align: str | None = None) -> str:
    """The Markdown text of a table.

    Inputs:
    - header: the column titles
    - rows: one list of cell values per row, as many as the header (values are shown with
      ``str``: format numbers before)
    - align: one letter per column, ``l`` or ``r`` (default: the first column left, the others
      right, as a table of a name and its numbers reads best)
    """
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header) or set(align) - {"l", "r"}:
        raise ValueError(f"align={align!r}: give one of 'l' or 'r' for each of the {len(header)} columns")
    for k, row in enumerate(rows):
        if len(row) != len(header):
            raise ValueError(f"row {k} has {len(row)} cells, the header {len(header)}: {row!r}")
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |",
             "| " + " | ".join("---:" if a == "r" else ":---" for a in align) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def show_table(header: list, rows: list[list], align: str | None = None) -> None:
    """Display ``markdown_table(header, rows, align)`` in a notebook (printed elsewhere)."""
    text = markdown_table(header, rows, align)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))
