"""The student's feedback page, from the grade store: each test's name, points and what was
wrong, the visible test's own message, and the written answers' scores and comments. No
hidden test code, no hidden inputs or expected values, no math (so it renders offline).

Every string that a student's run could shape (the verdicts' messages, the visible tests'
errors, why the kernel died) is HTML-escaped, no link or attribute is built from one, and the
page's Content-Security-Policy allows no script, image, frame or form at all."""
from __future__ import annotations

import html
from pathlib import Path

from .store import Course, atomic_write

#: the page is static: its own inline style, nothing else (no script, image, frame or form)
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def write_feedback(course: Course, student: str, slug: str) -> Path | None:
    """Write ``student``'s feedback page for ``slug``; None when nothing was graded."""
    s = course.scores(student, slug)
    state = course.state(student, slug)
    if s is None or state is None:
        return None
    e = html.escape
    rows = []
    for v in state["verdicts"]:
        visible = state.get("visible_errors", {}).get(v["test"], "")
        detail = "" if v["passed"] else e(v["message"])
        if visible:
            detail += f"<br><small>your visible test said: <code>{e(visible)}</code></small>"
        rows.append(f"<tr class=\"{'pass' if v['passed'] else 'fail'}\"><td><code>{e(v['test'])}</code></td>"
                    f"<td>{v['points'] if v['passed'] else 0:g} / {v['points']:g}</td>"
                    f"<td>{'passed' if v['passed'] else 'failed'}</td><td>{detail}</td></tr>")
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
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>Feedback: {e(slug)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em .6em;
border-bottom:1px solid #ddd;text-align:left;vertical-align:top}}.pass td:nth-child(3){{color:#070}}
.fail td:nth-child(3),p.fail{{color:#a00}}</style></head><body>
<h1>{e(slug)}: {s['score']:g} / {s['max_score']:g}</h1>
<p>Student: {e(student)}. Each test ran your functions on hidden inputs and compared the results
with the reference solution's.</p>{died}{pending}
<table><tr><th>test</th><th>points</th><th>result</th><th>what to look at</th></tr>
{''.join(rows)}
</table></body></html>
"""
    path = course.feedback_file(student, slug)
    atomic_write(path, page)
    return path
