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


def show_table(header: list, rows: list[list], align: str | None = None, title: str = "") -> None:
    """Display ``markdown_table(header, rows, align)`` in a notebook (printed elsewhere), under
    ``title`` in bold when one is given."""
    text = (f"**{_cell(title)}**\n\n" if title else "") + markdown_table(header, rows, align)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        # the Markdown for the notebook and the book; the same text as the plain form, which a
        # terminal IPython (or any shell that is not a notebook) prints instead of an object's repr
        display({"text/markdown": text, "text/plain": text}, raw=True)


#: The mime-type prefix myst-nb reads as "glued, not displayed" (myst_nb.ext.glue.GLUE_PREFIX).
GLUE_PREFIX = "application/papermill.record/"


def spread(values, digits: int = 1, small: float | None = None) -> str:
    """Per-seed values as ``'mean [lowest–highest]'``, each with ``digits`` decimals: how the
    chapters print a measurement repeated over seeds, so that a reader sees its spread. With
    ``small``, values of which the lowest is below it print in powers of ten, one decimal each
    (a gradient that shrank to 3e-05 would read 0.000 with fixed decimals).

    >>> spread([2.0, 3.0, 7.0])
    '4.0 [2.0–7.0]'
    >>> spread([2e-5, 4e-5], 3, small=1e-3)
    '3.0e-05 [2.0e-05–4.0e-05]'
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("spread of no values: pass one value per seed")
    mean = sum(values) / len(values)
    form = ".1e" if small is not None and min(values) < small else f".{digits}f"
    return f"{mean:{form}} [{min(values):{form}}–{max(values):{form}}]"


def glue(name: str, text) -> str:
    """Keep a computed finding for the chapter's prose: the book's Markdown writes
    ``{glue:md}`name``` where the number or sentence belongs, and myst-nb puts ``text`` there
    (the output is the one ``myst_nb.glue(name, Markdown(text), display=False)`` writes, made
    here so that the student package needs no myst-nb). Nothing shows in the notebook.

    Inputs:
    - name: the key the prose uses, letters, digits, ``_`` and ``-``
    - text: what the prose shows, as Markdown (numbers formatted before: ``f"{ppl:.1f}"``)

    Returns ``text``, so a cell can glue a sentence and print it in one line.
    """
    import re

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][\w-]*", name):
        raise ValueError(f"glue name {name!r}: use letters, digits, '_' and '-', starting with a letter")
    text = str(text)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return text
    if get_ipython() is not None:
        display({GLUE_PREFIX + "text/markdown": text, GLUE_PREFIX + "text/plain": text}, raw=True,
                metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})
    return text
