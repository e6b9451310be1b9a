"""What the trusted grader reads in a hand-in's code before judging it (outside the sandbox,
on the parsed source; nothing runs):

- each exercise's "write it yourself" rule (``:forbid:`` in the chapter source): a use of a
  forbidden name in the exercise's code scores 0 for the exercise's tests, with a message
  that names the use;
- code that touches the grader's instruments or the interpreter's hooks: flagged "needs
  review" with its lines, without changing any points (an instructor reads it).

Measurements that the hidden checks make inside the sandbox (products counted by a dispatch
mode, calls counted by hooks) run in the student's process, so a student's code could
rewrite them; no measurement there is unforgeable. What keeps them honest is this module:
a hand-in that reaches for the instruments is flagged, and one that hands the exercise to
the library is caught by the rule, whatever the counters say.
"""
from __future__ import annotations

from ...rules import breaches, exercise_names, review_flags
from ..sources import is_hidden_setup
from .testmodel import exercises, nbgrader_meta


def given_sources(src) -> set[str]:
    """The chapter's own code cells as students receive them (not exercises, not tests)."""
    return {c.source.strip() for c in src.cells if c.cell_type == "code"
            and not nbgrader_meta(c) and not is_hidden_setup(c)}


def assess(src, notebook) -> tuple[dict[str, str], list[dict]]:
    """``(test -> why it scores 0, review flags)`` for a hand-in (the notebook the sandbox
    runs). A flag is ``{"cell", "line", "name", "reason", "text"}``."""
    ex = exercises(src)
    rules = {gid: rule for gid, (rule, _) in ex.items() if rule}
    given = given_sources(src)
    zero = {}
    try:
        for b in breaches(notebook, rules, exercise_names(src), given):
            for test in ex[b.exercise][1]:
                zero.setdefault(test, f"0 points: your code {b.describe()}")
        flags = [{"cell": n, "line": f.line, "name": f.name, "reason": f.rule, "text": f.text}
                 for n, f in review_flags(notebook, given)]
    except Exception as exc:  # code this reader cannot follow: a person reads it, nothing stops
        flags = [{"cell": 0, "line": 0, "name": f"the grader could not read this code ({type(exc).__name__})",
                  "reason": "unparsed", "text": ""}]
    return zero, flags[:50]
