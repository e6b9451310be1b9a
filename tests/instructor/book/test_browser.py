"""The published book in a real browser: Playwright driving Debian's chromium (never a
downloaded browser build), the site served on 127.0.0.1 and every other host blocked, so the
checks also prove that the book works offline."""
from __future__ import annotations

import functools
import html.parser
import http.server
import re
import shutil
import threading
from urllib.parse import unquote, urlparse

import pytest
import yaml

from course import ROOT

pytestmark = pytest.mark.slow  # the built book in a real browser



def _chapter_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [f"{entry['file']}.html" for entry in toc["chapters"]]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/favicon.ico":  # asked for by the browser itself, not by the book
            self.send_response(204)
            self.end_headers()
            return
        super().do_GET()


def _serve(directory):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(directory)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


@pytest.fixture(scope="module")
def server(book):
    httpd, url = _serve(book)
    yield url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def broken_server(book, tmp_path_factory):
    """A deliberately broken copy of the book: without its stylesheet (lstmbook.css: the font
    order, outputs that wrap) and without its Chinese font."""
    copy = tmp_path_factory.mktemp("broken") / "html"
    shutil.copytree(book, copy, ignore=shutil.ignore_patterns("mathjax"))
    shutil.rmtree(copy / "_static" / "fonts")
    (copy / "_static" / "lstmbook.css").write_text("/* removed */\n")
    httpd, url = _serve(copy)
    yield url
    httpd.shutdown()
    httpd.server_close()


class _Visit:
    """A page opened with every request outside 127.0.0.1 blocked and every problem kept."""

    def __init__(self, browser, url: str):
        self.errors, self.failed, self.external = [], [], []
        self.page = browser.new_page()
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("requestfailed", lambda r: self.failed.append(r.url))
        self.page.on("response", lambda r: self.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        self.page.route("**/*", self._route)
        self.page.goto(url, wait_until="networkidle")

    def _route(self, route):
        if urlparse(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def problems(self) -> list[str]:
        return ([f"console: {e}" for e in self.errors] + [f"failed: {u}" for u in self.failed]
                + [f"loads from the internet: {u}" for u in self.external])


@pytest.mark.parametrize("page", ["index.html"] + _chapter_pages())
def test_page_loads_offline_without_errors(browser, server, page):
    visit = _Visit(browser, server + page)
    try:
        # waits: index.html only redirects (meta refresh) to the root page of _toc.yml
        visit.page.locator("article h1").first.wait_for(timeout=15_000)
        visit.page.wait_for_load_state("networkidle")  # the page redirected to, fully loaded
        assert visit.problems() == [], page
    finally:
        visit.page.close()


def test_math_is_typeset_by_the_book_s_own_mathjax(browser, server, book):
    pages = [p for p in _chapter_pages() if 'class="math' in (book / p).read_text(encoding="utf-8")]
    assert {"chapters/01_gradients.html", "chapters/02_numpy_lstm.html"} <= set(pages), \
        f"chapters 1 and 2 should hold equations (pages with math: {pages})"
    for page in pages:
        visit = _Visit(browser, server + page)
        try:
            visit.page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise",
                                         timeout=30_000)
            visit.page.evaluate("() => MathJax.startup.promise")  # typesetting finished
            assert visit.page.locator("mjx-container").count() > 0, f"{page}: nothing typeset"
            untypeset = visit.page.evaluate(
                "() => [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container')).length")
            assert untypeset == 0, f"{page}: {untypeset} equations left as raw TeX"
            prose = visit.page.evaluate(
                "() => { const a = document.querySelector('article').cloneNode(true);"
                " a.querySelectorAll('pre, code, mjx-container, script').forEach(e => e.remove());"
                " return a.innerText; }")
            assert "\\(" not in prose and "$$" not in prose and "\\frac" not in prose, page
            assert visit.problems() == [], page
        finally:
            visit.page.close()


def test_search_answers_a_query(browser, server):
    visit = _Visit(browser, server + "search.html?q=forget+gate")
    try:
        visit.page.wait_for_selector("ul.search li a", timeout=30_000)
        hits = visit.page.eval_on_selector_all("ul.search li a", "els => els.map(e => e.getAttribute('href'))")
        assert any("chapters/" in h for h in hits), hits
        assert visit.problems() == []
    finally:
        visit.page.close()


def test_chapter_page_has_download_launch_and_repository_buttons(browser, server, book):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].rstrip("/")
    page = "chapters/02_numpy_lstm.html"
    visit = _Visit(browser, server + page)
    try:
        hrefs = visit.page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        ipynb = [h for h in hrefs if h.endswith("02_numpy_lstm.ipynb") and "://" not in h]
        assert ipynb, "no .ipynb download button"
        assert (book / "chapters" / unquote(ipynb[0])).resolve().is_file(), ipynb
        owner_name = repo.split("github.com/")[1]
        assert any(h.startswith(f"https://colab.research.google.com/github/{owner_name}/") and
                   h.endswith("chapters/02_numpy_lstm.ipynb") for h in hrefs), "no Colab button"
        assert any(h.startswith(f"https://mybinder.org/v2/gh/{owner_name}/") for h in hrefs), "no Binder button"
        assert repo in hrefs, "no repository button"
        assert any(h.startswith(f"{repo}/issues/new") for h in hrefs), "no issue button"
    finally:
        visit.page.close()


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) and (tag, key) in {("a", "href"), ("link", "href"), ("script", "src"), ("img", "src")}:
                self.links.append(a[key])


def test_every_internal_link_resolves(book):
    parsed = {}
    for page in book.rglob("*.html"):
        if "_static" in page.parts:
            continue
        p = _Links()
        p.feed(page.read_text(encoding="utf-8", errors="replace"))
        parsed[page.resolve()] = p
    broken = []
    for page, p in parsed.items():
        for link in p.links:
            if urlparse(link).scheme or link.startswith(("//", "mailto:", "javascript:")):
                continue
            path, _, fragment = link.partition("#")
            path = unquote(path.split("?")[0])
            target = (page.parent / path).resolve() if path else page
            if path.endswith("/"):
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(book.resolve())}: {link}")
            elif fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else set()
                if unquote(fragment) not in ids:
                    broken.append(f"{page.relative_to(book.resolve())}: {link} (no such anchor)")
    assert len(parsed) >= 1 + len(_chapter_pages())
    assert broken == []


#: Every output block (and what it holds: text, tables) and every table of the article that is
#: wider than the content column or scrolls sideways: what a reader sees cut off. (Code cells
#: may scroll: a line of code is not wrapped.)
OVERFLOWS = """() => {
  const article = document.querySelector('article');
  const right = article.getBoundingClientRect().right;
  return [...article.querySelectorAll('div.cell_output, div.cell_output pre, div.cell_output table, table')]
    .filter(e => e.offsetParent !== null)
    .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > right + 1)
    .map(e => `<${e.tagName.toLowerCase()} class="${e.className}">: ${e.scrollWidth}px of content in `
              + `${e.clientWidth}px: ${e.innerText.split('\\n').reduce((a, b) => a.length >= b.length ? a : b, '').slice(0, 80)}`);
}"""

#: Each distinct Chinese character of the article, in each font it is set in, drawn on a canvas
#: and compared with the drawing of a character no font has (U+E000, private use): the same
#: pixels mean the reader sees the fallback box ("tofu") instead of the character.
TOFU = """async () => {
  await document.fonts.ready;
  const seen = new Map();
  const walker = document.createTreeWalker(document.querySelector('article'), NodeFilter.SHOW_TEXT);
  for (let node; (node = walker.nextNode());) {
    const chars = node.nodeValue.match(/[\\u3400-\\u9fff]/g);
    if (!chars || !node.parentElement) continue;
    const style = getComputedStyle(node.parentElement);
    const font = `${style.fontWeight} 32px ${style.fontFamily}`;
    const output = node.parentElement.closest('pre, div.cell_output') !== null;
    for (const ch of chars) seen.set(ch + font, {ch, font, output, where: node.parentElement.tagName.toLowerCase()});
  }
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 48;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const draw = (ch, font) => {
    ctx.clearRect(0, 0, 48, 48); ctx.font = font; ctx.fillText(ch, 4, 36);
    return ctx.getImageData(0, 0, 48, 48).data.join(',');
  };
  const boxes = [];
  for (const {ch, font, output, where} of seen.values()) {
    await document.fonts.load(font, ch);  // the slices of the font that hold it, as the page would
    if (draw(ch, font) === draw('\\ue000', font)) boxes.push({ch, output, where});
  }
  return {checked: seen.size, boxes};
}"""


#: Whether the machine's own fonts draw a Chinese character (遗, U+9057) in the page's default
#: sans-serif: then a page without the book's font shows no box, and the broken copy proves nothing.
SYSTEM_CJK_FONT = """() => {
  const canvas = document.createElement('canvas');
  canvas.width = canvas.height = 48;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const draw = ch => { ctx.clearRect(0, 0, 48, 48); ctx.font = '32px sans-serif'; ctx.fillText(ch, 4, 36);
                       return ctx.getImageData(0, 0, 48, 48).data.join(','); };
  return draw('\\u9057') !== draw('\\ue000');
}"""


def _evaluate(browser, url, script):
    """What ``script`` returns on the page at ``url``."""
    visit = _Visit(browser, url)
    try:
        return visit.page.evaluate(script)
    finally:
        visit.page.close()


@pytest.mark.parametrize("page", _chapter_pages())
def test_no_output_or_table_is_wider_than_the_content_column(browser, server, page):
    assert _evaluate(browser, server + page, OVERFLOWS) == [], f"{page}: cut off unless the reader scrolls sideways"


def _font_covers(book) -> set[int]:
    """The code points the book's Chinese font has: the unicode-range of its @font-face rules."""
    css = (book / "_static" / "fonts" / "noto-sans-sc" / "noto-sans-sc.css").read_text(encoding="utf-8")
    points = set()
    for spec in re.findall(r"unicode-range:\s*([^;]+);", css):
        for part in spec.split(","):
            first, _, last = part.strip().removeprefix("U+").partition("-")
            points.update(range(int(first, 16), int(last or first, 16) + 1))
    return points


def test_chinese_terms_are_drawn_with_a_real_glyph(browser, server, book):
    """Chinese text is drawn with a glyph on a machine without a CJK font (this one: Debian's
    chromium, no fonts-noto-cjk): every term of the prose (遗忘门...), and every character of an
    output (chapter 8's poems) that the book's font has. Tang poems hold a few rare variants and
    CJK Extension A characters that Noto Sans SC lacks; those fall back to the reader's fonts and
    are listed, not failed."""
    covered = _font_covers(book)
    assert len(covered) > 10_000, "the font's stylesheet should cover the common Chinese characters (GB 2312: 6,763)"
    checked, beyond = 0, []
    for page in _chapter_pages():
        found = _evaluate(browser, server + page, TOFU)
        prose = [f"{b['ch']} in <{b['where']}>" for b in found["boxes"] if not b["output"]]
        assert prose == [], f"{page}: Chinese terms drawn as an empty box: {prose[:10]}"
        lost = [b["ch"] for b in found["boxes"] if b["output"] and ord(b["ch"]) in covered]
        assert lost == [], f"{page}: characters the book's font has are drawn as an empty box: {lost[:10]}"
        beyond += [b["ch"] for b in found["boxes"] if b["output"] and ord(b["ch"]) not in covered]
        checked += found["checked"]
    assert checked >= 20, "the chapters should name their key concepts in Chinese too"
    print(f"{checked} characters checked; outside the font, drawn by the reader's fonts: {''.join(sorted(set(beyond)))}")


def test_the_checks_fail_on_a_copy_without_the_book_s_stylesheet_and_font(browser, broken_server):
    """The two checks above can fail: on a copy of the book without lstmbook.css and without
    the font, chapter 5's result tables run past the column and chapter 1's Chinese terms are
    empty boxes (on a machine without a CJK font of its own, as this one and CI are)."""
    assert _evaluate(browser, broken_server + "chapters/05_deep.html", OVERFLOWS)
    if _evaluate(browser, broken_server + "chapters/01_gradients.html", SYSTEM_CJK_FONT):
        pytest.skip("this machine has a CJK font of its own: a page without the book's font still draws 遗忘门")
    found = _evaluate(browser, broken_server + "chapters/01_gradients.html", TOFU)
    assert found["checked"] and [b for b in found["boxes"] if not b["output"]]


_DELIMITER_ROW = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+\s*$", re.M)  # "| :--- | ---: |"


def _cell_outputs(html: str) -> list[str]:
    """The HTML inside each ``<div class="cell_output ...">`` of a page, to its own closing tag
    (the prose between cells is not part of it)."""
    from html.parser import HTMLParser

    class Outputs(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=False)
            self.found, self.depth, self.start = [], 0, None

        def handle_starttag(self, tag, attrs):
            if tag != "div":
                return
            if self.depth:
                self.depth += 1
            elif "cell_output" in (dict(attrs).get("class") or "").split():
                self.depth, self.start = 1, self.getpos()

        def handle_endtag(self, tag):
            if tag == "div" and self.depth:
                self.depth -= 1
                if not self.depth:
                    self.found.append((self.start, self.getpos()))

    parser = Outputs()
    parser.feed(html)
    lines = html.splitlines(keepends=True)
    offset = [0]
    for line in lines:
        offset.append(offset[-1] + len(line))
    return [html[offset[a - 1] + b: offset[c - 1] + d] for (a, b), (c, d) in parser.found]


def test_tables_a_cell_displays_as_markdown_are_html_tables(book):
    """A results table displayed as Markdown (lstmbook.tables.show_table) is an HTML table on
    the page, not a paragraph of pipes and dashes."""
    import nbformat

    expected = 0
    for page in _chapter_pages():
        nb = nbformat.read(ROOT / page.replace(".html", ".ipynb"), as_version=4)
        shown = sum(len(_DELIMITER_ROW.findall(o.get("data", {}).get("text/markdown", "")))
                    for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
        html = (book / page).read_text(encoding="utf-8")
        outputs = _cell_outputs(html)
        tables = sum(o.count("<table") for o in outputs)
        assert tables >= shown, f"{page}: {shown} Markdown tables in the outputs, {tables} HTML tables"
        assert not re.search(r"\|\s*:?(---|—)", re.sub(r"<[^>]+>", "", "".join(outputs))), \
            f"{page}: a Markdown table shown as text"
        expected += shown
    assert expected >= 5, "chapters 4 and 6 show their results as tables"


def test_glued_findings_appear_in_the_prose(book):
    """Every value a chapter glues (lstmbook.tables.glue) is on its page where the prose writes
    {glue:md}`key`, rendered, and no role is left as raw text."""
    import html as html_lib

    import nbformat

    pasted = 0
    for page in _chapter_pages():
        nb = nbformat.read(ROOT / page.replace(".html", ".ipynb"), as_version=4)
        text = html_lib.unescape(re.sub(r"<[^>]+>", "", (book / page).read_text(encoding="utf-8")))
        # the book's smart quotes: `nn.LSTM`'s renders as nn.LSTM’s
        text = text.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'}))
        assert "{glue" not in text, f"{page}: a glue role left as text"
        # underscores go on both sides: Markdown's emphasis marks are gone from the page, but one
        # inside a code span (`forward_step`) stays
        text = re.sub(r"\s+", " ", text).replace("_", "")
        for cell in nb.cells:
            for o in cell.get("outputs", []) if cell.cell_type == "code" else []:
                if "scrapbook" not in o.get("metadata", {}):
                    continue
                value = o.data[o.metadata["scrapbook"]["mime_prefix"] + "text/markdown"]
                plain = re.sub(r"[`*_]", "", value).strip()
                words = plain.split()[:6]  # the opening words, as rendered (Markdown marks removed)
                assert " ".join(words) in text, f"{page}: {o.metadata['scrapbook']['name']} not shown"
                pasted += 1
    assert pasted >= 20, "the chapters glue their findings into the prose"
