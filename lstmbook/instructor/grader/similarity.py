"""The instructor's similarity report: which hand-ins of a chapter share code.

For every chapter graded in a course (``autograded/<student>/<slug>/<slug>.ipynb``), each
student's exercise code (the solution cells only, in the release's order) is compared with
every other student's, MOSS-style, with copydetect's tokenizer and winnowing:

- the code is tokenized and filtered as :func:`copydetect.utils.filter_code` does (comments and
  whitespace dropped, names, functions, classes and strings replaced by one letter each), so
  renamed variables, changed comments and re-indentation change nothing;
- its fingerprints are the hashes of every ``K``-character run of the filtered code (copydetect's
  defaults: noise threshold 25 = guarantee threshold 25, so winnowing keeps all of them); a set
  of fingerprints does not depend on the order of the code, so reordered functions change
  nothing (reordered statements change the fingerprints that span their seams);
- the given stub of each exercise (signature, docstring, ``raise NotImplementedError()``, from
  the release notebook) is boilerplate: its fingerprints are removed from every hand-in, and an
  exercise whose code adds nothing to its stub counts as not written.

**The reference solution's rule.** The reference solution (the source notebook's solution
cells) takes part as a pseudo-student. A pair of students shares the fingerprints of both; those
that the reference solution also has are *not* counted as copying between the two: they are
explained by the reference solution (a leaked answer, or code so canonical that it is the
reference's). The similarity of A to B is the share of A's code covered by fingerprints that A
and B share *and the reference does not have*; the raw similarity (all shared fingerprints) is
reported beside it, with the part of the shared code that matches the reference. Pairs are
ranked by the larger of their two similarities. Separately, every student whose code matches the
reference solution for at least ``threshold`` of its length is listed as "matches the reference
solution". So three students who handed in the reference answer are three reference matches, not
three pairs of copiers, while two students who copied each other's own code rank at the top.
The rule has a price: "the reference has it" means the same token shape (every name is one
letter after filtering) as some 25-character stretch of the reference, so generic lines
written as the reference writes them never count, even between two students who copied them
from each other. The report points a human at notebooks to read; it is not a verdict.

The report is ``similarity.html`` (a ranked table of pairs per chapter, the matching code of
each pair above the threshold side by side, the reference matches, and each hand-in that was
skipped and why) and ``similarity.csv`` (every pair). Student-controlled text (folder names,
code) is escaped in the page, made printable in the terminal and the CSV, and the page's
Content-Security-Policy allows no script at all. A notebook that cannot be read is skipped with
its reason; it never stops the report.

copydetect's own ``CodeFingerprint(boilerplate=...)`` is not used: its boilerplate removal
(``np.intersect1d(..., assume_unique=True)``) drops the wrong fingerprints when a document
repeats one, and its offsets back into the original code are off after a class name.
"""
from __future__ import annotations

import csv
import html
import io
import os
import stat
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
from copydetect import defaults
from copydetect.utils import hashed_kgrams, winnow
from pygments import lexers, token

from ..sources import SOLUTION, strip_regions
from .intake import printable, read_notebook
from .reports import csv_cell
from .store import Course, GradingError, atomic_write
from .testmodel import nbgrader_meta

#: fingerprint length in filtered characters, and winnowing window (copydetect's defaults)
K = defaults.NOISE_THRESHOLD
WINDOW = defaults.GUARANTEE_THRESHOLD - defaults.NOISE_THRESHOLD + 1
#: a pair (or a student and the reference) at or above this share of code is shown in detail
THRESHOLD = 0.5
#: what nbgrader puts in place of a solution region (autograder/nbgrader_config.py)
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
MAX_CODE_CHARS = 200_000  # one student's code for one chapter; more is skipped with a reason
MAX_ROWS = 200  # pairs listed per chapter in the page (the CSV has them all)
MAX_DETAILS = 40  # pairs shown side by side per chapter
CONTEXT = 2  # unmarked lines shown around marked ones
#: the page is static, as the feedback page: its own inline style, and nothing else at all
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

_LEXER = lexers.get_lexer_by_name("python", stripnl=False, ensurenl=False)
_VARIABLE = {token.Name, token.Name.Variable, token.Name.Attribute}


# ------------------------------------------------------------------ fingerprints


def normalise(code: str) -> tuple[str, list[tuple[int, int]]]:
    """``code`` tokenized and filtered by copydetect's rules (:func:`copydetect.utils.filter_code`
    for Python), and for each filtered character the span of ``code`` it stands for."""
    out, spans, pos = [], [], 0
    for kind, text in _LEXER.get_tokens(code):
        start, pos = pos, pos + len(text)
        if kind in _VARIABLE:
            letter = "V"
        elif kind in token.Name.Function:
            letter = "F"
        elif kind in token.Name.Class:
            letter = "O"
        elif kind in (token.Comment.Preproc, token.Comment.Hashbang):
            letter = "P"
        elif kind in token.Text or kind in token.Comment:
            continue
        elif kind in token.Literal.String:
            letter = '"' if text in ("'", '"') else "S"
        else:
            out.append(text)
            spans += [(start + i, start + i + 1) for i in range(len(text))]
            continue
        out.append(letter)
        spans.append((start, pos))
    return "".join(out), spans


def kgram_hashes(code: str) -> set[int]:
    """Every fingerprint that ``code`` could have (all its filtered K-grams)."""
    return set(hashed_kgrams(normalise(code)[0], K).tolist())


@dataclass
class Fingerprint:
    """One document's fingerprints: hash -> start positions in the filtered code."""

    code: str
    filtered: str
    spans: list[tuple[int, int]]  # for each filtered character, its span in ``code``
    where: dict[int, list[int]]
    coverage: int  # filtered characters covered by the fingerprints
    starts: set[int] = field(default_factory=set)  # where in the filtered code each part starts

    @classmethod
    def of(cls, parts: list[tuple[str, str]], boilerplate: set[int] = frozenset()) -> "Fingerprint":
        """Fingerprint a document of ``(heading, code)`` parts (one per exercise): the K-grams
        of each part's filtered code, winnowed (copydetect's ``winnow``), less the
        ``boilerplate``. No K-gram spans two parts, so the seams between exercises (the same
        for everyone) are no fingerprints."""
        code, filtered, spans, where, starts = "", "", [], {}, set()
        for heading, text in parts:
            code += heading
            starts.add(len(filtered))
            f, s = normalise(text)
            hashes = hashed_kgrams(f, K)
            if len(hashes):
                chosen, idx = winnow(hashes, WINDOW, remove_duplicates=False)
                for h, i in zip(chosen.tolist(), idx.tolist()):
                    if h not in boilerplate:
                        where.setdefault(h, []).append(len(filtered) + i)
            spans += [(a + len(code), b + len(code)) for a, b in s]
            filtered += f
            code += text
        fp = cls(code, filtered, spans, where, 0, starts)
        fp.coverage = int(fp.covered(where.keys()).sum())
        return fp

    def covered(self, hashes) -> np.ndarray:
        """Which filtered characters the K-grams with these hashes cover."""
        mask = np.zeros(len(self.filtered), dtype=bool)
        starts = [i for h in hashes for i in self.where.get(h, ())]
        if starts:
            mask[(np.array(starts)[:, None] + np.arange(K)).ravel()] = True
        return mask

    def share(self, hashes) -> float:
        """The share of this document's code that K-grams with these hashes cover."""
        return float(self.covered(hashes).sum()) / self.coverage if self.coverage else 0.0


# ------------------------------------------------------------------ reading a chapter


@dataclass
class Submission:
    """A student's exercise code for one chapter."""

    student: str
    exercises: list[str]  # the grade_ids written
    fp: Fingerprint
    reference: float = 0.0  # share of the code that matches the reference solution


@dataclass
class Pair:
    chapter: str
    a: str
    b: str
    ab: float  # share of a's code that b has too and the reference does not
    ba: float
    raw_ab: float  # share of a's code that b has too
    raw_ba: float
    with_reference: float  # share of the code they share that the reference has too
    ref_a: float
    ref_b: float

    @property
    def score(self) -> float:
        return max(self.ab, self.ba)


@dataclass
class ChapterReport:
    slug: str
    compared: list[Submission] = field(default_factory=list)
    blank: list[str] = field(default_factory=list)  # nothing written beyond the stubs
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (student, reason)
    pairs: list[Pair] = field(default_factory=list)  # ranked, highest first
    reference_note: str = ""  # why the reference solution could not take part
    problem: str = ""  # why the chapter could not be compared at all
    reference_hashes: set[int] = field(default_factory=set, repr=False)  # every K-gram of the reference

    def above(self, threshold: float) -> list[Pair]:
        return [p for p in self.pairs if p.score >= threshold]

    def reference_matches(self, threshold: float) -> list[Submission]:
        return sorted((s for s in self.compared if s.reference >= threshold),
                      key=lambda s: (-s.reference, s.student))


def _exercise_cells(nb) -> dict[str, str]:
    """grade_id -> code of a notebook's exercise (solution) code cells; a cell copied in
    Jupyter keeps its grade_id, so cells of one grade_id are joined."""
    out: dict[str, list[str]] = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        gid = meta.get("grade_id")
        if cell.get("cell_type") == "code" and meta.get("solution") is True and isinstance(gid, str):
            source = cell.get("source", "")
            out.setdefault(gid, []).append(source if isinstance(source, str) else "".join(map(str, source)))
    return {gid: "\n\n".join(parts) for gid, parts in out.items()}


def _stubs_and_reference(course: Course, slug: str) -> tuple[dict[str, str], dict[str, str], str]:
    """The given stub of each exercise (release notebook), the reference solution's code of
    each exercise (the course's source notebook, else ``solutions/<slug>.md``), and a note
    when the reference is missing. Raises ValueError when the chapter has no exercises."""
    reference, note = {}, ""
    built = course.root / "source" / slug / f"{slug}.ipynb"
    try:
        src = nbformat.read(built, as_version=4) if built.is_file() else course.source(slug)
        reference = _exercise_cells(src)
    except Exception as exc:  # a missing or broken source: compare without the reference rule
        note = f"no reference solution ({type(exc).__name__}: {exc})"
    release = course.root / "release" / slug / f"{slug}.ipynb"
    if release.is_file():
        stubs = _exercise_cells(nbformat.read(release, as_version=4))
    else:  # the stub is what the release would make of the reference
        stubs = {gid: strip_regions(code, *SOLUTION)[0] + "\n" + CODE_STUB for gid, code in reference.items()}
    if not stubs:
        raise ValueError(f"no release notebook with exercises ({release.relative_to(course.root)})")
    return stubs, reference, note


def _entries(folder: Path) -> list[str]:
    """Names of the real sub-folders of ``folder`` (no links, nothing hidden)."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    names = []
    for e in entries:
        try:  # an entry that vanishes or cannot be read is no student
            if not e.name.startswith(".") and stat.S_ISDIR(e.stat(follow_symlinks=False).st_mode):
                names.append(e.name)
        except OSError:
            continue
    return names


def compare_chapter(course: Course, slug: str, students: list[str]) -> ChapterReport:
    """Fingerprint every student's hand-in of ``slug`` and compare every pair."""
    rep = ChapterReport(slug)
    try:
        stubs, reference, rep.reference_note = _stubs_and_reference(course, slug)
    except Exception as exc:
        rep.problem = f"cannot read the chapter: {exc}"
        return rep
    order = list(stubs)
    boilerplate = set().union(*(kgram_hashes(s) for s in stubs.values()))
    stub_text = {gid: normalise(s)[0] for gid, s in stubs.items()}
    rep.reference_hashes = set().union(*(kgram_hashes(c) for c in reference.values())) if reference else set()
    for student in students:
        path = course.graded_dir(student, slug) / f"{slug}.ipynb"
        if not os.path.lexists(path):
            continue  # not handed in, or not graded
        try:
            cells = _exercise_cells(read_notebook(path))
        except ValueError as exc:
            rep.skipped.append((student, str(exc)))
            continue
        size = sum(len(cells.get(gid, "")) for gid in order)
        if size > MAX_CODE_CHARS:
            rep.skipped.append((student, f"{size} characters of exercise code, more than "
                                         f"{MAX_CODE_CHARS} (not compared)"))
            continue
        written, parts = [], []
        for gid in order:
            code = cells.get(gid, "")
            if not code.strip() or normalise(code)[0] == stub_text[gid]:
                continue
            written.append(gid)
            parts.append((f"{chr(10) if parts else ''}# ---- {gid}\n", code.strip("\n") + "\n"))
        fp = Fingerprint.of(parts, boilerplate)
        if not fp.where:  # nothing beyond the stubs (or too little to fingerprint)
            rep.blank.append(student)
            continue
        sub = Submission(student, written, fp, fp.share(fp.where.keys() & rep.reference_hashes))
        rep.compared.append(sub)
    subs = rep.compared
    for i, x in enumerate(subs):
        for y in subs[i + 1:]:
            rep.pairs.append(compare_pair(slug, x, y, rep.reference_hashes))
    rep.pairs.sort(key=lambda p: (-p.score, -(p.ab + p.ba), -max(p.raw_ab, p.raw_ba), p.a, p.b))
    return rep


def compare_pair(slug: str, x: Submission, y: Submission, reference: set[int]) -> Pair:
    """How much of each one's code the other has: outside the ``reference`` fingerprints, and
    in all (raw)."""
    shared = x.fp.where.keys() & y.fp.where.keys()
    own = shared - reference
    raw_x, raw_y = x.fp.covered(shared).sum(), y.fp.covered(shared).sum()
    own_x, own_y = x.fp.covered(own).sum(), y.fp.covered(own).sum()
    with_ref = 1 - (own_x + own_y) / (raw_x + raw_y) if raw_x + raw_y else 0.0
    return Pair(slug, x.student, y.student, x.fp.share(own), y.fp.share(own), x.fp.share(shared),
                y.fp.share(shared), float(with_ref), x.reference, y.reference)


# ------------------------------------------------------------------ the report


def similarity(course_dir: Path, chapters: list[str] | None = None, log=print,
               threshold: float = THRESHOLD) -> Path:
    """Compare the hand-ins of every graded chapter (or of ``chapters``) pair by pair; write
    ``similarity.html`` and ``similarity.csv`` in the course directory, log the top pairs,
    and return the page's path."""
    course = Course(Path(course_dir))
    graded = course.root / "autograded"
    if not graded.is_dir():
        raise GradingError(f"{course.root} has no autograded notebooks; grade first")
    students = _entries(graded)
    found = sorted({slug for s in students for slug in _entries(graded / s)})
    reports = []
    for slug in (chapters if chapters is not None else found):
        rep = compare_chapter(course, slug, students) if slug in found else ChapterReport(slug)
        if slug not in found:
            rep.problem = "nothing graded"
        reports.append(rep)
    page = course.root / "similarity.html"
    atomic_write(page, render_html(reports, threshold))
    atomic_write(course.root / "similarity.csv", render_csv(reports, threshold))
    for line in summary_lines(reports, threshold):
        log(line)
    log(f"similarity report: {page} (and similarity.csv)")
    return page


def summary_lines(reports: list[ChapterReport], threshold: float = THRESHOLD, top: int = 5) -> list[str]:
    """A few lines for the terminal: per chapter, what was compared, the top pairs, the
    students who match the reference solution, and what was skipped."""
    p = lambda name: printable(name, 60)  # noqa: E731
    lines = []
    for rep in reports:
        if rep.problem:
            lines.append(f"{rep.slug}: {rep.problem}")
            continue
        n = len(rep.compared)
        refs = rep.reference_matches(threshold)
        lines.append(f"{rep.slug}: {_count(n, 'hand-in')} compared ({_count(len(rep.pairs), 'pair')}), "
                     f"{len(rep.above(threshold))} at or above {threshold:.0%}, "
                     f"{len(refs)} match the reference solution"
                     + (f", {len(rep.blank)} with nothing written" if rep.blank else "")
                     + (f", {len(rep.skipped)} skipped" if rep.skipped else ""))
        for pair in rep.pairs[:top]:
            if pair.score > 0:
                lines.append(f"  {pair.ab:4.0%} / {pair.ba:4.0%}  {p(pair.a)} ~ {p(pair.b)}")
        if refs:
            lines.append("  matches the reference solution: "
                         + ", ".join(f"{p(s.student)} ({s.reference:.0%})" for s in refs[:10])
                         + (f" and {len(refs) - 10} more" if len(refs) > 10 else ""))
        if rep.reference_note:
            lines.append(f"  {printable(rep.reference_note, 200)}")
        for student, why in rep.skipped:
            lines.append(f"  skipped {p(student)}: {printable(why, 200)}")
    return lines


CSV_FIELDS = ["chapter", "student_a", "student_b", "similarity_a_to_b", "similarity_b_to_a",
              "raw_similarity_a_to_b", "raw_similarity_b_to_a", "shared_with_reference",
              "a_matches_reference", "b_matches_reference", "above_threshold"]


def render_csv(reports: list[ChapterReport], threshold: float = THRESHOLD) -> str:
    """Every compared pair of every chapter, ranked as in the page."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_FIELDS)
    for rep in reports:
        for p in rep.pairs:
            writer.writerow([csv_cell(rep.slug), csv_cell(p.a), csv_cell(p.b)]
                            + [f"{v:.3f}" for v in (p.ab, p.ba, p.raw_ab, p.raw_ba, p.with_reference,
                                                     p.ref_a, p.ref_b)]
                            + ["yes" if p.score >= threshold else "no"])
    return buf.getvalue()


def _visible(text: str) -> str:
    """Code made safe to show: control and format characters (bidirectional overrides
    included) become escapes, then HTML is escaped."""
    return html.escape("".join(ascii(ch)[1:-1] if ch not in "\t\n" and unicodedata.category(ch)
                               in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") else ch for ch in text))


def _marked(fp: Fingerprint, own: set[int], ref: set[int]) -> str:
    """``fp``'s code as HTML: what the pair shares outside the reference in ``<mark class="own">``, what
    it shares that the reference has too in ``<mark class="ref">``; unmarked lines far from
    a mark are left out."""
    level_f = np.where(fp.covered(own), 2, np.where(fp.covered(ref), 1, 0))
    level = np.zeros(len(fp.code) + 1, dtype=int)
    for i, lv in enumerate(level_f.tolist()):
        s, e = fp.spans[i]
        if lv and "\n" not in fp.code[s:e]:  # a docstring (one letter) would mark whole lines
            if i + 1 < len(fp.spans) and level_f[i + 1] == lv and i + 1 not in fp.starts:
                e = fp.spans[i + 1][0]  # the whitespace up to the next marked token too
            level[s:e] = np.maximum(level[s:e], lv)
    lines, pos = [], 0
    for line in fp.code.split("\n"):
        lines.append((pos, line))
        pos += len(line) + 1
    keep = set()
    for n, (start, line) in enumerate(lines):
        if level[start:start + len(line)].any():
            keep.update(range(n - CONTEXT, n + CONTEXT + 1))
    out, gap = [], False
    for n, (start, line) in enumerate(lines):
        if n not in keep:
            if not gap:
                out.append('<span class="gap">⋯</span>')
            gap = True
            continue
        gap, parts, i = False, [], 0
        while i < len(line):
            j, lv = i, level[start + i]
            while j < len(line) and level[start + j] == lv:
                j += 1
            text = _visible(line[i:j])
            parts.append(text if lv == 0 else f'<mark class="{"own" if lv == 2 else "ref"}">{text}</mark>')
            i = j
        out.append("".join(parts))
    return "\n".join(out)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _pct(x: float) -> str:
    return f"{x:.0%}"


def render_html(reports: list[ChapterReport], threshold: float = THRESHOLD) -> str:
    """The page: per chapter, the ranked pairs, the reference matches, the skipped hand-ins,
    and the code of each pair above ``threshold`` side by side. No script, nothing fetched."""
    e = lambda text: html.escape(printable(text))  # noqa: E731
    body = []
    for c, rep in enumerate(reports):
        body.append(f"<h2>{e(rep.slug)}</h2>")
        if rep.problem:
            body.append(f"<p class=\"warn\">Not compared: {e(rep.problem)}</p>")
            continue
        refs = rep.reference_matches(threshold)
        body.append(f"<p>{_count(len(rep.compared), 'hand-in')} compared "
                    f"({_count(len(rep.pairs), 'pair')}), {len(rep.above(threshold))} at or above "
                    f"{threshold:.0%}; {len(refs)} match the reference solution.</p>")
        if rep.reference_note:
            body.append(f"<p class=\"warn\">{e(rep.reference_note)}: shared code is counted "
                        f"whether the reference has it or not.</p>")
        listed = [p for p in rep.pairs if p.raw_ab or p.raw_ba][:MAX_ROWS]
        details = {id(p): f"c{c}p{n}" for n, p in enumerate(rep.above(threshold)[:MAX_DETAILS])}
        rows = []
        for n, p in enumerate(listed, 1):
            cls = ' class="hot"' if p.score >= threshold else ""
            link = f'<a href="#{details[id(p)]}">code</a>' if id(p) in details else ""
            rows.append(f"<tr{cls}><td>{n}</td><td>{e(p.a)}</td><td>{e(p.b)}</td><td>{_pct(p.ab)}</td>"
                        f"<td>{_pct(p.ba)}</td><td>{_pct(p.raw_ab)} / {_pct(p.raw_ba)}</td>"
                        f"<td>{_pct(p.with_reference)}</td><td>{link}</td></tr>")
        if rows:
            more = len([p for p in rep.pairs if p.raw_ab or p.raw_ba]) - len(listed)
            body.append("<table><tr><th>#</th><th>student A</th><th>student B</th><th>A&rarr;B</th>"
                        "<th>B&rarr;A</th><th>raw A&rarr;B / B&rarr;A</th><th>of the shared code, "
                        "the reference's</th><th></th></tr>" + "".join(rows) + "</table>"
                        + (f"<p>{more} more pairs in similarity.csv.</p>" if more > 0 else ""))
        else:
            body.append("<p>No two hand-ins share code.</p>")
        if refs:
            items = "".join(f"<li>{e(s.student)}: {_pct(s.reference)} of the code</li>" for s in refs)
            body.append(f"<h3>Matches the reference solution</h3><ul>{items}</ul>")
        if rep.blank:
            body.append("<h3>Nothing written beyond the stubs</h3><p>"
                        + ", ".join(e(s) for s in rep.blank) + "</p>")
        if rep.skipped:
            items = "".join(f"<li>{e(s)}: {e(why)}</li>" for s, why in rep.skipped)
            body.append(f"<h3>Skipped</h3><ul>{items}</ul>")
        fps = {s.student: s.fp for s in rep.compared}
        for p in rep.above(threshold)[:MAX_DETAILS]:
            fa, fb = fps[p.a], fps[p.b]
            shared = fa.where.keys() & fb.where.keys()
            own, ref = shared - rep.reference_hashes, shared & rep.reference_hashes
            body.append(f"<h3 id=\"{details[id(p)]}\">{e(p.a)} ({_pct(p.ab)}) and {e(p.b)} "
                        f"({_pct(p.ba)})</h3><table class=\"code\"><tr><th>{e(p.a)}</th>"
                        f"<th>{e(p.b)}</th></tr><tr><td><pre>{_marked(fa, own, ref)}</pre></td>"
                        f"<td><pre>{_marked(fb, own, ref)}</pre></td></tr></table>")
    stamp = time.strftime("%Y-%m-%d %H:%M")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>Similarity between hand-ins</title>
<style>body{{font-family:sans-serif;max-width:90em;margin:2em auto}}td,th{{padding:.3em .6em;
border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}tr.hot td{{background:#fee}}
.warn{{color:#a00}}table.code td{{width:50%}}pre{{white-space:pre-wrap;font-size:.85em;margin:0}}
mark{{background:#fc9}}mark.ref{{background:#dde}}.gap{{color:#999}}</style></head><body>
<h1>Similarity between hand-ins</h1>
<p>Generated {e(stamp)}. Only the exercise cells are compared, with copydetect's winnowing
(MOSS): comments, whitespace and names do not count, nor does the order of the code; the given
stubs are removed first, and an exercise with nothing written beyond its stub is left out.</p>
<p><b>The reference solution's rule.</b> Code that two students share and that the reference
solution also has is explained by the reference solution, not counted as copying between them.
A&rarr;B is the share of A's code that B also has <i>and the reference does not</i>; pairs are
ranked by the larger of A&rarr;B and B&rarr;A. The raw similarity (all shared code) and the part
of the shared code that the reference has are shown beside it. Hand-ins that match the reference
solution for {threshold:.0%} or more of their code are listed separately under "Matches the
reference solution". Pairs at or above {threshold:.0%} are highlighted and their code is shown
below: <mark>shared, not the reference's</mark>, <mark class="ref">shared, also the
reference's</mark>. A high score is a reason to read the code, not a verdict.</p>
{''.join(body)}
</body></html>
"""
