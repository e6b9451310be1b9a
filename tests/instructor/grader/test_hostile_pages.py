"""Hostile text stays text: what a hostile hand-in shows the instructor in nbgrader's
Formgrader, and what the feedback page shows the student.

The fast tests check the autograded notebook's Markdown (as :func:`for_formgrader` writes it and
as nbconvert's Markdown renderer turns it into the page) for every payload, and that ordinary
Markdown stays readable. The slow test renders a whole hostile hand-in with nbgrader's own
Formgrader template, opens it in Debian's chromium (never a downloaded browser build), clicks
every link on the page and watches for any script of the student's that runs."""
from __future__ import annotations

import copy
import functools
import http.server
import re
import threading
from pathlib import Path
from urllib.parse import urldefrag, urlparse

import nbformat
import pytest
from nbgrader.api import Gradebook

from lstmbook.instructor.grader import feedback, formgrader
from lstmbook.instructor.grader.formgrader import for_formgrader
from lstmbook.instructor.grader.store import Course, Result
from pages import Tags

SLUG = "02_numpy_lstm"
HTML_PAGE = "data:text/html;base64,PHNjcmlwdD5hbGVydCgnZGF0YScpPC9zY3JpcHQ+"  # <script>alert('data')</script>

#: id -> (Markdown a student wrote, text the instructor must still see). Each would run
#: ``alert`` or set ``window.__pwned`` if it became live.
PAYLOADS = {
    "inline-link": ("[click](javascript:alert('inline'))", "[click](javascript:alert('inline'))"),
    "spaced-mixed-case": ("[click](  JaVaScRiPt:alert('case'))", "JaVaScRiPt:alert('case')"),
    "angle-destination": ("[click](<javascript:alert('angle')>)", "javascript:alert('angle')"),
    "autolink": ("<javascript:alert('autolink')>", "<javascript:alert('autolink')>"),
    "reference": ("[click][r]\n\n[r]: javascript:alert('reference')", "[r]: javascript:alert('reference')"),
    "reference-titled": ("[click][s]\n\n[s]: <javascript:void(window.__pwned=1)> \"t\"", "[click][s]"),
    "entity-decimal": ("[click](&#106;avascript:alert('entity'))", "javascript:alert('entity')"),
    "entity-hex-colon": ("[click](&#x6A;avascript&#58;alert('hex'))", "javascript:alert('hex')"),
    "tab-in-scheme": ("[click](<java&#9;script:alert('tab')>)", "click"),  # a link with no href
    "vbscript": ("[click](vbscript:msgbox('vb'))", "vbscript:msgbox('vb')"),
    "data-link": (f"[click]({HTML_PAGE})", "[click]"),
    "data-image": (f"![pic]({HTML_PAGE})", f"![pic]({HTML_PAGE})"),
    "javascript-image": ("![pic](javascript:alert('img'))", "![pic](javascript:alert('img'))"),
    "image-in-link": ("[![pic](https://example.org/x.png)](javascript:alert('imglink'))", "[image: pic]"),
    "relative-link": ("[the server](/api/contents?x=1)", "the server"),
    "script": ("<script>window.__pwned=1</script>", "<script>window.__pwned=1</script>"),
    "script-block": ("<script>\nwindow.__pwned = 1\n</script>\n\ntext after", "window.__pwned = 1"),
    "img-onerror": ("<img src=x onerror=\"window.__pwned=1\">", "onerror=\"window.__pwned=1\""),
    "a-href": ("<a href=\"javascript:window.__pwned=1\">click</a>", "<a href=\"javascript:window.__pwned=1\">"),
    "a-href-bare": ("<a href=javascript:alert('bare')>click</a>", "javascript:alert('bare')"),
    "svg-onload": ("<svg onload=\"window.__pwned=1\"></svg>", "<svg onload=\"window.__pwned=1\">"),
    "iframe": (f"<iframe src=\"{HTML_PAGE}\"></iframe>", "<iframe"),
    "details-ontoggle": ("<details open ontoggle=\"window.__pwned=1\">x</details>", "ontoggle"),
    "html-block-markdown": ("<div>\n\n[click](javascript:alert('block'))\n\n</div>", "javascript:alert('block')"),
    "style": ("<style>body{display:none}</style>", "<style>body{display:none}</style>"),
    "math-href": ("$\\href{javascript:alert('mathjax')}{click}$", "href{javascript:alert('mathjax')}"),
    "display-math-href": ("$$\n\\href{javascript:alert('mathjax2')}{click}\n$$", "href{javascript"),
    "escaped-paren-math": ("\\\\(\\href{javascript:alert('paren')}{click}\\\\)", "href{javascript"),
    "code-span": ("`<script>window.__pwned=1</script>`", "<script>window.__pwned=1</script>"),
    "fenced-code": ("```html\n<script>window.__pwned=1</script>\n\n[x](javascript:alert('fence'))\n```",
                    "[x](javascript:alert('fence'))"),
}

HARMLESS = """# A heading

Some **bold** text, $x_t = o_t \\odot \\tanh(c_t)$ with an *emphasis*, and
[the PyTorch docs](https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html).

- first item
- second item

LaTeX in code stays as written: `\\href{https://example.org}{x}`.

$$
h_t = o_t \\odot \\tanh(C_t)
$$
"""

#: a URL that runs script or carries a page of its own, whatever its case and spacing
BAD_SCHEME = re.compile(r"^\s*(javascript|data|vbscript)\s*:", re.I)


def _problems(fragment: str) -> list[str]:
    """What in an HTML fragment could run a script or leave the page."""
    p = Tags(fragment)
    found = [f"<{t}>" for t in p.tags if t not in formgrader.TAGS]
    found += [f"{t} {k}=" for t, k, _ in p.attrs if k.startswith("on") or k in ("style", "src", "srcdoc")]
    for t, k, v in p.attrs:
        plain = re.sub(r"[\x00-\x20]", "", v)
        if k in ("href", "xlink:href", "action", "formaction") and not re.match(r"(?i)(https?://|mailto:)", plain):
            found.append(f"{t} {k}={v!r}")
    if "<script" in fragment.lower():
        found.append("<script")
    return found


def _text(fragment: str) -> str:
    return "".join(Tags(fragment).text)


def _autograded(*cells, src=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)  # not validated: a hand-in is whatever the student made it
    return for_formgrader(nb, src or nbformat.v4.new_notebook())


# --------------------------------------------------------------------------------- fast


@pytest.mark.parametrize("payload", list(PAYLOADS), ids=list(PAYLOADS))
def test_a_hostile_markdown_cell_becomes_inert_text(payload):
    markdown, shown = PAYLOADS[payload]
    cell = _autograded(nbformat.v4.new_markdown_cell(markdown)).cells[0]
    from nbconvert.filters.markdown import markdown2html

    page = markdown2html(cell.source)  # what nbconvert's template makes of the cell
    for fragment in (cell.source, page):
        assert _problems(fragment) == []
        assert "javascript:" not in re.sub(r"[\s\x00]", "", " ".join(v for _, k, v in Tags(fragment).attrs)).lower()
        assert not re.search(r"\son[a-z]+\s*=", re.sub(r">[^<]*<", "><", fragment))  # no on*= in a tag
    assert not re.search(r"\]\(\s*(javascript|data|vbscript):", cell.source, re.I)  # read as Markdown again: no link
    assert shown in _text(page), "the instructor sees what the student wrote, as text"
    assert not re.search(r"\\(href|url|class|cssId|style|require)\b", _text(page))  # nothing MathJax makes live


def test_harmless_markdown_stays_readable():
    cell = _autograded(nbformat.v4.new_markdown_cell(HARMLESS)).cells[0]
    from nbconvert.filters.markdown import markdown2html

    page = markdown2html(cell.source)
    p = Tags(page)
    assert {"h1", "strong", "em", "ul", "li", "a"} <= set(p.tags)
    assert ("a", "href", "https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html") in p.attrs
    assert ("a", "rel", "noopener noreferrer") in p.attrs
    text = _text(page)
    for words in ("A heading", "bold", "first item", "second item", "the PyTorch docs",
                  "$x_t = o_t \\odot \\tanh(c_t)$", "h_t = o_t \\odot \\tanh(C_t)",
                  "\\href{https://example.org}{x}"):
        assert words in text
    assert _problems(page) == []


def test_raw_cells_and_outputs_stay_text():
    raw = nbformat.v4.new_raw_cell("<script>window.__pwned=1</script>\n\n<img src=x onerror=alert(1)>")
    code = nbformat.from_dict({
        "cell_type": "code", "id": "x\"><script>", "metadata": {"tags": ["\"><script>"]}, "source": "1",
        "execution_count": "<script>window.__pwned=1</script>",
        "outputs": [
            {"output_type": "display_data", "metadata": {}, "data": {
                "text/html": "<script>window.__pwned=1</script>", "application/javascript": "alert(1)",
                "image/png": "iVBORw0\"><img src=x onerror=alert(1)>", "text/plain": "<b>shown</b>"}},
            {"output_type": "stream", "name": "\"><svg onload=alert(1)>", "text": "<script>"},
        ]})
    nb = _autograded(raw, code)
    text_cell, code_cell = nb.cells
    assert text_cell.cell_type == "markdown" and _problems(text_cell.source) == []
    assert "<script>window.__pwned=1</script>" in _text(text_cell.source)
    assert code_cell.execution_count is None and code_cell.metadata == {} and code_cell.id != "x\"><script>"
    assert [o.get("data", {}) for o in code_cell.outputs][0] == {"text/plain": "<b>shown</b>"}
    assert code_cell.outputs[1].name == "stdout"
    nbformat.validate(nb)


def test_the_autograded_notebook_keeps_the_official_nbgrader_metadata():
    src = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("answer")])
    src.cells[0].metadata["nbgrader"] = {"grade_id": "why", "grade": True, "solution": True, "points": 2}
    hand_in = nbformat.v4.new_markdown_cell("**mine** <script>x</script>")
    hand_in.metadata["nbgrader"] = {"grade_id": "why", "grade": True, "solution": True, "points": 99}
    cell = _autograded(hand_in, src=src).cells[0]
    assert cell.metadata["nbgrader"]["points"] == 2
    assert "<strong>mine</strong>" in cell.source and "&lt;script&gt;" in cell.source


@pytest.fixture
def course(tmp_path):
    c = Course(tmp_path / "course")
    with Gradebook(c.db_url) as gb:
        gb.update_or_create_assignment("02_b")
        gb.add_notebook("02_b", "02_b")
        gb.add_grade_cell("test_three", "02_b", "02_b", max_score=4.0, cell_type="code")
        gb.add_grade_cell("test_four", "02_b", "02_b", max_score=1.0, cell_type="code")
    return c


HOSTILE = "<script>window.__pwned=1</script><a href=\"javascript:alert(1)\">x</a><img src=x onerror=alert(1)>"


def test_the_feedback_page_escapes_what_a_student_run_wrote(course):
    src = nbformat.v4.new_notebook()
    verdicts = [{"test": "test_three", "points": 4.0, "passed": False, "message": f"wrong: {HOSTILE}"},
                {"test": "test_four", "points": 1.0, "passed": True, "message": HOSTILE}]
    course.write_gradebook("ann", "02_b", src, verdicts, {})
    course.save(Result("ann", "02_b", "graded", note=HOSTILE),
                {"verdicts": verdicts, "died": f"kernel died: {HOSTILE}", "answers": {},
                 "visible_errors": {"test_three": f"AssertionError: {HOSTILE}"}})
    page = feedback.write_feedback(course, "ann", "02_b").read_text(encoding="utf-8")
    p = Tags(page)
    assert set(p.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "p", "table", "tr",
                           "th", "td", "code", "br", "small", "a"}
    assert not [a for a in p.attrs if a[1] not in ("lang", "charset", "http-equiv", "content", "class", "href")]
    assert [v for t, k, v in p.attrs if k == "href"] == []  # links go only to test cells on the page: none here
    assert page.lower().count("<script") == 0 and "javascript:alert(1)" in "".join(p.text)
    text = "".join(p.text)
    assert f"wrong: {HOSTILE}" in text and f"AssertionError: {HOSTILE}" in text and f"kernel died: {HOSTILE}" in text
    assert ("meta", "http-equiv", "Content-Security-Policy") in p.attrs
    assert "script-src" not in feedback.CSP and "default-src 'none'" in feedback.CSP


# --------------------------------------------------------------------------------- browser


def _hostile_hand_in(src):
    """The chapter's notebook as a student hands it in, with hostile cells (no nbgrader
    metadata) added: every Markdown payload, a raw cell and planted outputs."""
    nb = copy.deepcopy(src)
    for i, (markdown, _) in enumerate(PAYLOADS.values()):
        nb.cells.insert(1 + 2 * i, nbformat.v4.new_markdown_cell(markdown))
    nb.cells.append(nbformat.v4.new_markdown_cell(HARMLESS))
    nb.cells.append(nbformat.v4.new_raw_cell("<script>window.__pwned=1</script><img src=x onerror=alert('raw')>"))
    code = nbformat.v4.new_code_cell("print('hi')")
    code.outputs = [
        nbformat.v4.new_output("display_data", data={
            "text/html": "<script>window.__pwned=1</script><img src=x onerror=alert('html')>",
            "application/javascript": "window.__pwned = 1; alert('js')", "text/plain": "shown as text"}),
        nbformat.v4.new_output("execute_result", execution_count=1, data={
            "text/markdown": "[click](javascript:alert('md-output'))",
            "image/svg+xml": "<svg onload=\"alert('svg')\"></svg>"}),
    ]
    nb.cells.append(code)
    return nb


def _formgrade_page(nb) -> str:
    """``nb`` as the Formgrader shows a submission: nbconvert's HTMLExporter with nbgrader's
    ``formgrade`` template and the resources its submission handler passes."""
    from nbconvert import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers

    exporter = HTMLExporter(template_name="formgrade", extra_template_basedirs=[handlers.template_path])
    resources = {"assignment_id": SLUG, "notebook_id": SLUG, "submission_id": "s1", "index": 0,
                 "total": 1, "base_url": "", "student": "mallory", "last_name": None,
                 "first_name": None, "notebook_path": f"/autograded/mallory/{SLUG}/{SLUG}.ipynb"}
    page, _ = exporter.from_notebook_node(nb, resources=resources)
    return page


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder served on 127.0.0.1 with the Formgrader's own static files (its scripts run)."""
    from nbgrader.server_extensions.formgrader import handlers

    root = tmp_path_factory.mktemp("formgrader-site")
    (root / "formgrader").mkdir()
    (root / "formgrader" / "static").symlink_to(Path(handlers.__file__).parent / "static")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _attack(browser, url: str, bad_only: int | None = None, container: str = "#notebook-container") -> dict:
    """Open ``url`` (every host but 127.0.0.1 blocked), click every link on it (or only the
    first ``bad_only`` links with a script or data scheme), each on a page of its own, and
    report what ran: dialogs, ``window.__pwned``, links with a script or data scheme, where the
    clicks led, the page's text."""
    from playwright.sync_api import Error

    seen = {"dialogs": [], "pwned": [], "navigations": []}
    context = browser.new_context()
    context.set_default_timeout(30_000)
    mine = []

    def open_page():
        page = context.new_page()
        mine.append(page)
        page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
        page.route("**/*", lambda r: r.continue_() if urlparse(r.request.url).hostname == "127.0.0.1"
                   else r.abort())
        page.on("framenavigated", lambda f: seen["navigations"].append(f.url)
                if urldefrag(f.url)[0] != url else None)
        page.goto(url, wait_until="load")
        return page

    def pwned(page) -> bool:
        try:
            return urldefrag(page.url)[0] == url and page.evaluate("typeof window.__pwned") != "undefined"
        except Error:  # the click is navigating away; where to is in seen["navigations"]
            return False

    popups = []
    context.on("page", lambda p: popups.append(p))
    page = open_page()
    page.wait_for_timeout(300)
    assert page.evaluate("1 + 1") == 2  # scripts run on this page
    seen["text"] = page.inner_text(container)
    anchors = page.eval_on_selector_all("a", "as => as.map(a => a.getAttribute('href'))")
    seen["hrefs"] = [h for h in anchors if h is not None]
    bad = [i for i, h in enumerate(anchors) if h is not None and BAD_SCHEME.match(re.sub(r"[\x00-\x20]", "", h))]
    seen["bad_links"] = [anchors[i] for i in bad]
    if pwned(page):
        seen["pwned"].append("on load")
    page.close()
    to_click = range(len(anchors)) if bad_only is None else bad[:bad_only]
    seen["clicked"] = len(to_click)
    for i in to_click:
        page = open_page()
        page.locator("a").nth(i).evaluate("a => a.click()")
        page.wait_for_timeout(150)
        if pwned(page):
            seen["pwned"].append(i)
        page.close()
    seen["popups"] = [p.url for p in popups if p not in mine]  # the Formgrader's own links open tabs
    context.close()
    return seen


@pytest.mark.slow  # a real browser
def test_a_hostile_hand_in_runs_nothing_in_the_formgrader(browser, site):
    from lstmbook.instructor.sources import repo_root, source_notebook

    root, base = site
    src = source_notebook(repo_root() / "solutions" / f"{SLUG}.md")
    hostile = _hostile_hand_in(src)
    # the harness sees an attack when there is one: the same hand-in, not made safe
    (root / "unsafe.html").write_text(_formgrade_page(copy.deepcopy(hostile)), encoding="utf-8")
    unsafe = _attack(browser, base + "unsafe.html", bad_only=3)
    assert unsafe["pwned"] and unsafe["bad_links"] and "inline" in unsafe["dialogs"]  # a click set one off

    autograded = for_formgrader(hostile, src)
    nbformat.validate(autograded)
    (root / "safe.html").write_text(_formgrade_page(autograded), encoding="utf-8")
    seen = _attack(browser, base + "safe.html")
    assert seen["clicked"] >= 6  # the Formgrader's own links and the student's links
    assert "https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html" in seen["hrefs"]
    assert (seen["dialogs"], seen["pwned"], seen["bad_links"]) == ([], [], [])
    assert not [u for u in seen["navigations"] + seen["popups"] if BAD_SCHEME.match(u)]
    for _, shown in PAYLOADS.values():  # hostile text stays text, in front of the instructor
        assert shown.replace("\n", " ") in seen["text"].replace("\n", " ")
    title = src.cells[0].source.splitlines()[0].lstrip("# ").strip()
    assert title and title in seen["text"]  # the chapter itself still reads


@pytest.mark.slow  # a real browser
def test_a_hostile_hand_in_runs_nothing_in_the_feedback_page(browser, site, course):
    """The student's notebook on their feedback page: every payload of a hostile hand-in (its
    Markdown, a raw cell, HTML, JavaScript, Markdown and SVG outputs), both as the grader
    stores it (made safe for the Formgrader) and as handed in (nothing made safe before the
    page), runs nothing; a click on every link stays on the page."""
    from lstmbook.instructor.sources import repo_root, source_notebook

    root, base = site
    src = source_notebook(repo_root() / "solutions" / f"{SLUG}.md")
    hostile = _hostile_hand_in(src)
    first, second = [c.metadata["nbgrader"]["grade_id"] for c in src.cells
                     if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"][:2]
    with Gradebook(course.db_url) as gb:  # the chapter's own tests, so the page links to their cells
        for gid in (first, second):
            gb.add_grade_cell(gid, "02_b", "02_b", max_score=1.0, cell_type="code")
    verdicts = [{"test": first, "points": 1.0, "passed": False, "message": f"wrong: {HOSTILE}"},
                {"test": second, "points": 1.0, "passed": True, "message": ""}]
    course.write_gradebook("mallory", "02_b", nbformat.v4.new_notebook(), verdicts, {})
    course.save(Result("mallory", "02_b", "graded"), {"verdicts": verdicts, "died": HOSTILE, "answers": {}})
    target = course.graded_dir("mallory", "02_b") / "02_b.ipynb"
    target.parent.mkdir(parents=True)
    for name, nb in (("stored", for_formgrader(copy.deepcopy(hostile), src)), ("as-handed-in", hostile)):
        target.write_text(nbformat.writes(nb, version=4), encoding="utf-8")
        page = feedback.write_feedback(course, "mallory", "02_b").read_text(encoding="utf-8")
        if name == "as-handed-in":  # the harness sees a script when one runs: the page without its guards
            planted = page.replace(f'<meta http-equiv="Content-Security-Policy" content="{feedback.CSP}">', "")
            planted = planted.replace("</body>", hostile.cells[-1].outputs[0]["data"]["text/html"] + "</body>")
            (root / "feedback-planted.html").write_text(planted, encoding="utf-8")
            assert _attack(browser, base + "feedback-planted.html", container="body")["pwned"]
        (root / f"feedback-{name}.html").write_text(page, encoding="utf-8")
        seen = _attack(browser, base + f"feedback-{name}.html", container="body")
        assert (seen["dialogs"], seen["pwned"], seen["bad_links"], seen["popups"]) == ([], [], [], []), name
        assert not [u for u in seen["navigations"] if BAD_SCHEME.match(u)], name
        assert "shown as text" in seen["text"] and "print('hi')" in seen["text"], name  # the code and its output
        assert f"wrong: {HOSTILE}" in seen["text"], name
        assert seen["clicked"] == 2, name  # the two tests' anchors, nothing else
        assert sorted(seen["hrefs"]) == sorted([f"#{first}", f"#{second}"]), name
