"""The student's feedback page, from the grade store and the autograded notebook.

At the top, the score and one line per test: its points, passed or failed, what differed and
what the visible test said. Below, the student's own notebook as it ran in the grader (their
code and outputs, long outputs cut), with the same verdict beside each test cell and, above
each exercise, the tests that grade it. No hidden test code, no hidden inputs or expected
values (the verdicts' messages give a difference's order of magnitude only), no math, no
script (it renders offline).

Everything in the notebook and every string that a student's run could shape (the verdicts'
messages, the visible tests' errors, why the kernel died) is student-controlled. Only text
reaches the page, HTML-escaped: code and output text as preformatted text, a Markdown cell as
the plain text of its rendered form, images only as validated base64 PNG. A ``text/html``,
``text/markdown``, SVG or JavaScript output is never rendered (the autograded notebook holds
none; the page drops any that it finds). No link or attribute is built from student text but
the anchors of the official test names, and the page's Content-Security-Policy allows no
script, frame, form or fetch, and images only inline."""
from __future__ import annotations

import base64
import html
import html.parser
import re
from pathlib import Path

import nbformat

from .store import Course, atomic_write
from .testmodel import exercises, nbgrader_meta

#: the page is static: its own inline style and inline PNG images, nothing else
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

MAX_OUTPUT_LINES = 40
MAX_OUTPUT_CHARS = 4000
MAX_OUTPUTS = 10
MAX_CODE_LINES = 400
MAX_PNG_BYTES = 2 * 2 ** 20
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_ANCHOR = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,99}")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

STYLE = """body{font-family:sans-serif;max-width:62em;margin:2em auto;padding:0 1em;line-height:1.4}
td,th{padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.pass .result{color:#070}.fail .result,p.fail{color:#a00}
pre{background:#f6f8fa;padding:.5em .7em;overflow-x:auto;white-space:pre-wrap;word-break:break-word;margin:.3em 0}
pre.out{background:#fff;border-left:3px solid #ccc}pre.err{background:#fff0f0;border-left:3px solid #c00}
.cell{margin:1em 0}.label{color:#666;font-size:.85em}.cut{color:#666;font-style:italic}
.verdict{border:1px solid #ccc;border-radius:4px;padding:.4em .7em;margin:.3em 0}
.verdict.pass{border-color:#7b7;background:#f3fbf3}.verdict.fail{border-color:#d77;background:#fdf3f3}
.md{color:#333;white-space:pre-wrap}h3.md{margin:1.5em 0 .3em}img{max-width:100%}"""


def write_feedback(course: Course, student: str, slug: str) -> Path | None:
    """Write ``student``'s feedback page for ``slug``; None when nothing was graded."""
    s = course.scores(student, slug)
    state = course.state(student, slug)
    if s is None or state is None:
        return None
    e = html.escape
    verdicts = {v["test"]: v for v in state["verdicts"]}
    visible = state.get("visible_errors", {})
    nb = _read(course.graded_dir(student, slug) / f"{slug}.ipynb")
    in_notebook = {nbgrader_meta(c).get("grade_id") for c in nb.cells} if not isinstance(nb, str) else set()
    rows = []
    for v in state["verdicts"]:
        name = _anchor(v["test"]) if v["test"] in in_notebook else ""  # a test cell the student deleted has no place
        link = f"<a href=\"#{name}\"><code>{e(v['test'])}</code></a>" if name else f"<code>{e(v['test'])}</code>"
        rows.append(f"<tr class=\"{'pass' if v['passed'] else 'fail'}\"><td>{link}</td>"
                    f"<td>{_points(v)}</td><td class=\"result\">{'passed' if v['passed'] else 'failed'}</td>"
                    f"<td>{_detail(v, visible.get(v['test'], ''))}</td></tr>")
    for w in s["written"]:
        score = "waits for grading" if w["score"] is None else f"{w['score']:g} / {w['max']:g}"
        rows.append(f"<tr class=\"manual\"><td><code>{e(w['name'])}</code></td><td>{e(score)}</td>"
                    f"<td>written answer</td><td>{e(w['comment'])}</td></tr>")
    died = f"<p class=\"fail\">{e(state['died'])}</p>" if state.get("died") else ""
    flags = [f for f in state.get("review") or [] if isinstance(f, dict)]
    if flags:
        items = "".join(f"<li>cell {e(str(f.get('cell')))}, line {e(str(f.get('line')))}: "
                        f"<code>{e(str(f.get('name')))}</code> ({e(str(f.get('reason')))})</li>"
                        for f in flags[:20])
        died += ("<p>Needs review: an instructor will read these lines of your code, which reach "
                 "the grader's instruments or the interpreter's hooks (your points are what your "
                 f"results earned):</p><ul>{items}</ul>")
    pending = (f"<p>{s['pending']:g} points of written answers wait for grading.</p>"
               if s["pending"] else "")
    notebook = _notebook_section(nb, _graded_by(course, slug, nb), verdicts, visible,
                                 {w["name"]: w for w in s["written"]})
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>Feedback: {e(slug)}</title>
<style>{STYLE}</style></head><body>
<h1>{e(slug)}: {s['score']:g} / {s['max_score']:g}</h1>
<p>Student: {e(student)}. Each test ran your functions on hidden inputs and compared the results
with the reference solution's. A failed test says what differed first; your notebook below
shows the same verdict beside each test cell.</p>{died}{pending}
<table><tr><th>test</th><th>points</th><th>result</th><th>what to look at</th></tr>
{''.join(rows)}
</table>
{notebook}
</body></html>
"""
    path = course.feedback_file(student, slug)
    atomic_write(path, page)
    return path


def _points(v: dict) -> str:
    return f"{v['points'] if v['passed'] else 0:g} / {v['points']:g}"


def _detail(v: dict, visible: str) -> str:
    e = html.escape
    out = "" if v["passed"] else e(v["message"])
    if visible:
        out += f"<br><small>your visible test said: <code>{e(visible)}</code></small>"
    return out


def _anchor(name) -> str:
    """An official test name as a link target; '' for anything else."""
    return name if isinstance(name, str) and _ANCHOR.fullmatch(name) else ""


# ------------------------------------------------------------------ the student's notebook


def _read(path: Path):
    """The autograded notebook, or the reason why there is none to show."""
    if not path.is_file():
        return "The notebook as it ran is not in the course folder."
    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # nbformat raises several kinds
        return f"The notebook as it ran cannot be read ({type(exc).__name__})."


def _graded_by(course: Course, slug: str, nb) -> dict:
    """exercise grade_id -> the tests that grade it, from the chapter's source (a student who
    moved or deleted cells cannot move the labels), or from the notebook when the course has
    no source for the chapter."""
    try:
        src = course.source(slug)
    except FileNotFoundError:  # no solutions/<slug>.md: an old course, or a test's
        src = nb if not isinstance(nb, str) else None
    return {ex: tests for ex, (_, tests) in exercises(src).items()} if src is not None else {}


def _notebook_section(nb, graded_by: dict, verdicts: dict, visible: dict, written: dict) -> str:
    if isinstance(nb, str):
        return f"<h2>Your notebook</h2><p>{html.escape(nb)}</p>"
    parts, shown = [], set()
    for n, cell in enumerate(nb.cells, 1):
        gid = nbgrader_meta(cell).get("grade_id")
        if cell.get("cell_type") == "code":
            parts.append(_code_cell(n, cell, gid, verdicts, visible, graded_by, shown))
        elif cell.get("cell_type") == "markdown":
            parts.append(_markdown_cell(cell, gid, written))
    return ("<h2>Your notebook</h2><p>Your code and its outputs as they ran in the grader (the "
            "visible tests as the course gives them; long outputs are cut).</p>" + "".join(parts))


def _code_cell(n: int, cell, gid, verdicts: dict, visible: dict, graded_by: dict, shown: set) -> str:
    e = html.escape
    head = f"<div class=\"label\">cell {n}</div>"
    if gid in graded_by and graded_by[gid]:
        tests = ", ".join(f"<code>{e(t)}</code>" for t in graded_by[gid])
        head = f"<div class=\"label\">cell {n}: your exercise, graded by {tests}</div>"
    anchor = ""
    if gid in verdicts and gid not in shown:
        shown.add(gid)
        name = _anchor(gid)
        anchor = f" id=\"{name}\"" if name else ""
        v = verdicts[gid]
        what = _detail(v, visible.get(gid, ""))
        head += (f"<div class=\"verdict {'pass' if v['passed'] else 'fail'}\"><strong>{e(gid)}</strong>: "
                 f"{_points(v)}, {'passed' if v['passed'] else 'failed'}"
                 f"{'<br>' + what if what else ''}</div>")
    source = _text(cell.get("source", ""))
    lines = source.splitlines()
    if len(lines) > MAX_CODE_LINES:
        source = "\n".join(lines[:MAX_CODE_LINES])
        cut = f"<div class=\"cut\">{len(lines) - MAX_CODE_LINES} more lines</div>"
    else:
        cut = ""
    outputs = cell.get("outputs", []) if isinstance(cell.get("outputs"), list) else []
    shown_out = "".join(_output(o) for o in outputs[:MAX_OUTPUTS])
    if len(outputs) > MAX_OUTPUTS:
        shown_out += f"<div class=\"cut\">{len(outputs) - MAX_OUTPUTS} more outputs</div>"
    return f"<div class=\"cell\"{anchor}>{head}<pre><code>{e(source)}</code></pre>{cut}{shown_out}</div>"


def _markdown_cell(cell, gid, written: dict) -> str:
    """The chapter's text is the course's: only its headings are shown, to find one's way. A
    written answer is shown whole, as the text of its rendered form (the autograded notebook
    holds it as sanitised HTML), with its score."""
    e = html.escape
    reader = _TextOf()
    try:
        reader.feed(_text(cell.get("source", "")))
        reader.close()
    except Exception:  # html.parser is lenient; anything it still refuses shows nothing
        return ""
    if gid in written:
        w = written[gid]
        score = "waits for grading" if w["score"] is None else f"{w['score']:g} / {w['max']:g}"
        comment = f"<br>{e(w['comment'])}" if w["comment"] else ""
        return (f"<div class=\"cell\"><div class=\"label\">your written answer "
                f"<code>{e(gid)}</code>: {e(score)}{comment}</div>"
                f"<div class=\"md\">{e(reader.text().strip())}</div></div>")
    return "".join(f"<h3 class=\"md\">{e(h)}</h3>" for h in reader.headings[:3])


def _output(out) -> str:
    e = html.escape
    if not isinstance(out, dict):
        return ""
    kind = out.get("output_type")
    if kind == "stream":
        return _pre(_text(out.get("text", "")), "err" if out.get("name") == "stderr" else "out")
    if kind == "error":
        tb = "\n".join(_text(t) for t in out.get("traceback", [])[-8:]) if isinstance(out.get("traceback"), list) else ""
        text = _ANSI.sub("", tb) or f"{_text(out.get('ename', ''))}: {_text(out.get('evalue', ''))}"
        return _pre(text, "err")
    if kind in ("display_data", "execute_result"):
        data = out.get("data", {}) if isinstance(out.get("data"), dict) else {}
        png = _png(data.get("image/png"))
        if png:
            return f"<div><img alt=\"a figure\" src=\"data:image/png;base64,{png}\"></div>"
        if "text/plain" in data:
            return _pre(_text(data["text/plain"]), "out")
        if data:
            return f"<div class=\"cut\">an output of type {e(', '.join(sorted(map(str, data)))[:200])}, not shown</div>"
    return ""


def _pre(text: str, cls: str) -> str:
    """``text`` (ANSI colours removed) as a preformatted block, cut to the page's limits."""
    text = _ANSI.sub("", text)
    lines = text.splitlines()
    cut = []
    if len(lines) > MAX_OUTPUT_LINES:
        cut.append(f"{len(lines) - MAX_OUTPUT_LINES} more lines")
        text = "\n".join(lines[:MAX_OUTPUT_LINES])
    if len(text) > MAX_OUTPUT_CHARS:
        cut.append(f"{len(text) - MAX_OUTPUT_CHARS} more characters")
        text = text[:MAX_OUTPUT_CHARS]
    note = f"<div class=\"cut\">output cut: {', '.join(cut)}</div>" if cut else ""
    return f"<pre class=\"{cls}\">{html.escape(text)}</pre>{note}"


def _png(value) -> str | None:
    """A base64 PNG as plain base64 characters, or None (not base64, not a PNG, too large)."""
    text = _text(value) if isinstance(value, list) else value
    if not isinstance(text, str) or len(text) > MAX_PNG_BYTES * 4 // 3 + 4 or not _BASE64.fullmatch(text):
        return None
    text = re.sub(r"\s", "", text)
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        return None
    return text if raw.startswith(_PNG_MAGIC) else None


def _text(value) -> str:
    return "".join(map(str, value)) if isinstance(value, list) else str(value)


class _TextOf(html.parser.HTMLParser):
    """The text of an HTML fragment, and the text of its headings."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.headings: list[str] = []
        self._heading: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self._heading = []
        elif tag in ("p", "li", "br", "div", "tr", "pre", "blockquote"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None
        if tag in ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote"):
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)
        if self._heading is not None:
            self._heading.append(data)

    def text(self) -> str:
        return re.sub(r"\n{3,}", "\n\n", "".join(self.parts))
