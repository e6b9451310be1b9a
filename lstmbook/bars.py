"""Progress bars for long cells: one compact line, in a terminal, in Jupyter and in the book.

The bar is tqdm's text bar written to stdout (no widget: the built book has no widget state to
show, and a widget needs a script from the internet). Jupyter redraws it in place; the chapter
pipeline keeps only its last state, so the book shows one line per bar."""
from __future__ import annotations

import sys


def progress(iterable=None, total: int | None = None, desc: str | None = None, **kwargs):
    """``tqdm`` over ``iterable`` (or ``total`` steps, updated by hand), as one ASCII line on
    stdout. Extra keyword arguments go to tqdm (``unit``, ``postfix``, ...)."""
    from tqdm.std import tqdm

    # no fixed width: the bar itself takes 10 characters and nothing after it is cut off
    options = dict(file=sys.stdout, ascii=True, mininterval=0.5, leave=True)
    options.update(kwargs)
    return tqdm(iterable, total=total, desc=desc, **options)


def last_state(text: str) -> str:
    """What a terminal shows of ``text``: on each line, only what follows the last carriage
    return (a progress bar's final state)."""
    lines = text.split("\n")
    return "\n".join(line.rstrip("\r").rsplit("\r", 1)[-1] for line in lines)
