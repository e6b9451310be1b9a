"""One record for a planted bug: what it changes in the reference solution, and the test
that must lose points for it."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Bug:
    """A planted bug in the reference solution.

    Either a text replacement in one exercise (``exercise``, ``old`` -> ``new``; ``old`` must
    occur exactly once), or whole replacement cells (``cells``: grade_id -> code) for a bug
    that rewrites an exercise or spans several. ``also``: further ``(old, new)`` replacements
    applied to the changed cells (a bug that needs a second edit to run at all). ``test``:
    the graded test that must fail.
    """

    exercise: str | None
    old: str
    new: str
    test: str
    cells: dict[str, str] | None = None
    also: tuple[tuple[str, str], ...] = field(default=())

    @classmethod
    def whole(cls, cells: dict[str, str], test: str) -> "Bug":
        """A bug given as whole replacement cells."""
        return cls(None, "", "", test, cells=cells)

    def replacement(self, slug: str) -> dict[str, str]:
        """grade_id -> the cell's code with the bug planted."""
        from submissions import with_function

        if self.cells is not None:
            cells = dict(self.cells)
        else:
            cells = {self.exercise: with_function(slug, self.exercise, self.old, self.new)}
        for old, new in self.also:
            cells = {gid: code.replace(old, new) for gid, code in cells.items()}
        return cells
