"""The book and the published course: :mod:`.site` builds the HTML pages from ``chapters/``,
:mod:`.assets` serves MathJax and a Chinese font from the book itself, :mod:`.publish` makes
the built book the published course (with the student wheel), :mod:`.sphinx_ext` is loaded by
Sphinx."""
