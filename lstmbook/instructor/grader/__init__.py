"""The autograder. A grading run (:func:`.run.grade`) takes ``SUBMISSIONS/<student>/<chapter>.ipynb``
to grades, feedback and ``grades.csv`` in an nbgrader course directory:

- :mod:`.intake`: find and read each hand-in safely (trusted);
- :mod:`.testmodel`: what a chapter's test cells become: the notebook the sandbox runs, the
  hidden checks, the reference notebook;
- :mod:`.sandbox`: run one notebook and its checks under bubblewrap; :mod:`.inside` is the code
  that runs in there (untrusted company);
- :mod:`.verdicts`: judge the student's records against the reference's (trusted);
- :mod:`.store`: the grade store (nbgrader's gradebook and our table beside it);
- :mod:`.feedback`, :mod:`.formgrader`, :mod:`.reports`: what students and instructors read,
  derived from the store.
"""
from .reports import export
from .run import grade
from .testmodel import reference_notebook
from .store import Course, GradingError, Result

__all__ = ["Course", "GradingError", "Result", "export", "grade", "reference_notebook"]
