"""The instructor's tools, never shipped to students (the student wheel is ``lstmbook``
without this subpackage):

- :mod:`.sources`: reading ``solutions/NN_slug.md`` into nbgrader source notebooks;
- :mod:`.pipeline`: the reference run and the student notebooks in ``chapters/``;
- :mod:`.book`: the HTML book and the published course (pages, notebooks, student wheel);
- :mod:`.grader`: the autograder (intake, sandbox, verdicts, grade store, feedback, reports),
  with the code that runs inside the sandbox in :mod:`.grader.inside`;
- :mod:`.bench`: the benchmarks behind ``make bench``, ``bench-lm`` and ``bench-grade``;
- :mod:`.commands`: their ``lstmbook`` subcommands.

The layers (upper ones import lower ones, never the reverse) are import-linter contracts in
``pyproject.toml``, checked by ``make test-fast``.
"""
