"""The executed notebook as nbgrader's Formgrader shows it to the instructor, made safe to
open in a browser.

Every cell of a hand-in is the student's text, and the Formgrader renders it inside the
instructor's logged-in Jupyter page, so hostile text must stay text. Markdown is rendered
here, with raw HTML shown as text, and the result cleaned by a maintained sanitiser (``nh3``):
a few plain tags, links only to ``http``/``https``/``mailto``, no images (their alt text
stays), no attributes a script could hide in. The cell then holds that HTML on one line, which
nbconvert's Markdown renderer passes through as one HTML block. Math stays text between its
``$`` delimiters for MathJax, without the TeX commands that make links or load code."""
from __future__ import annotations

import functools
import html
import re
import uuid

import nbformat

from .testmodel import nbgrader_meta

SAFE_MIME = ("text/plain", "image/png")

#: what a rendered Markdown cell may hold (``div`` only wraps the cell and its math blocks)
TAGS = {"p", "em", "strong", "del", "code", "pre", "ul", "ol", "li", "a", "blockquote",
        "h1", "h2", "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
        "br", "hr", "div"}
ATTRIBUTES = {"a": {"href"}, "ol": {"start"}}
SCHEMES = {"http", "https", "mailto"}
_ABSOLUTE = re.compile(r"(?i)(?:https?://|mailto:)[^\s]+")
#: TeX commands with which MathJax makes a link, sets a class, id or style, or loads code
_TEX_ACTIVE = re.compile(r"\\(?=(?:href|url|class|cssId|style|require|unicode|html[A-Za-z]*|"
                         r"data[A-Za-z]*|mmlToken|texttip|mathtip|toggle|FontFace)(?![A-Za-z]))")
_CODE = re.compile(r"(<pre>.*?</pre>|<code>.*?</code>)", re.S)  # MathJax skips these
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")


@functools.cache
def _markdown():
    """CommonMark with tables and strikethrough, raw HTML as text, ``$``/``$$`` math and
    amsmath environments kept as text for MathJax, images as their alt text."""
    from markdown_it import MarkdownIt
    from mdit_py_plugins.amsmath import amsmath_plugin
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    md = (MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
          .use(dollarmath_plugin, double_inline=True).use(amsmath_plugin))
    esc = html.escape
    md.add_render_rule("math_inline", lambda self, t, i, o, e: f"${esc(t[i].content)}$")
    md.add_render_rule("math_inline_double", lambda self, t, i, o, e: f"$${esc(t[i].content)}$$")
    md.add_render_rule("math_block", lambda self, t, i, o, e: f"<div>$${esc(t[i].content)}$$</div>\n")
    md.add_render_rule("math_block_label",
                       lambda self, t, i, o, e: f"<div>$${esc(t[i].content)}$$ ({esc(t[i].info)})</div>\n")
    md.add_render_rule("amsmath", lambda self, t, i, o, e: f"<div>{esc(t[i].content)}</div>\n")
    md.add_render_rule("image", lambda self, t, i, o, e:
                       "[image: " + esc(self.renderInlineAsText(t[i].children or [], o, e)) + "]")
    return md


def _attribute(tag: str, attr: str, value: str) -> str | None:
    """What nh3 keeps of an allowed attribute (``rel`` is its own ``noopener noreferrer``)."""
    if tag == "a" and attr == "href":  # no relative links into the Jupyter server either
        return value if _ABSOLUTE.fullmatch(value) else None
    if tag == "ol" and attr == "start":
        return value if value.isdigit() and len(value) < 10 else None
    return value if (tag, attr) == ("a", "rel") else None


_AS_REFERENCES = str.maketrans({"\r": "&#13;", "\n": "&#10;", "[": "&#91;", "]": "&#93;"})


def _one_html_block(text: str) -> str:
    """``text`` (sanitised HTML) as one line in a ``div``: nbconvert's Markdown renderer passes
    it through whole, since no blank line ends the HTML block and no Markdown follows it. Line
    breaks and brackets are written as character references, which mean the same in text and
    in attribute values (the only places they occur), so that even a renderer that read the
    cell as Markdown again would find no blank line and no link to make."""
    return "<div>" + text.translate(_AS_REFERENCES) + "</div>"


def _text(source) -> str:
    return "".join(map(str, source)) if isinstance(source, list) else str(source)


def safe_markdown(source) -> str:
    """Markdown written by a student as sanitised HTML that a Markdown cell can hold."""
    import nh3

    cleaned = nh3.clean(_markdown().render(_text(source)), tags=TAGS, clean_content_tags={"script", "style"},
                        attributes=ATTRIBUTES, attribute_filter=_attribute, url_schemes=SCHEMES,
                        link_rel="noopener noreferrer", strip_comments=True)
    inert = "".join(part if _CODE.fullmatch(part) else _TEX_ACTIVE.sub(r"\\backslash{}", part)
                    for part in _CODE.split(cleaned))
    return _one_html_block(inert)


def safe_text(source) -> str:
    """Any text (a raw cell's) as a preformatted block that shows it as it is."""
    return _one_html_block(f"<pre>{html.escape(_text(source))}</pre>")


def _png(value) -> str | None:
    text = "".join(value) if isinstance(value, list) else value
    return text if isinstance(text, str) and _BASE64.fullmatch(text) else None


def for_formgrader(executed, src):
    """``executed`` for the Formgrader: the official nbgrader metadata (what the student's
    metadata claims is ignored), outputs reduced to text and PNG images (no HTML or
    JavaScript a student could plant), Markdown rendered and sanitised (HTML in it shown as
    text, links only to http, https and mailto), raw cells shown as text, output size bounded."""
    meta = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"] for c in src.cells
            if "nbgrader" in c.metadata}
    cells = []
    for cell in executed.cells:
        gid = nbgrader_meta(cell).get("grade_id")
        cell_id = cell.get("id")
        if cell.get("cell_type") == "code":
            cell.pop("attachments", None)
            count = cell.get("execution_count")
            cell.execution_count = count if type(count) is int else None
            cell.outputs = _outputs(cell.get("outputs", []))
        elif cell.get("cell_type") == "markdown":
            cell = nbformat.v4.new_markdown_cell(safe_markdown(cell.get("source", "")))
        else:  # raw (nbconvert would paste it into the page as HTML) or unknown: its text
            cell = nbformat.v4.new_markdown_cell(safe_text(cell.get("source", "")))
        cell.metadata = {}
        if gid in meta:
            cell.metadata["nbgrader"] = dict(meta[gid])
        if isinstance(cell_id, str) and _ID.fullmatch(cell_id):
            cell.id = cell_id
        elif cell_id is None:  # a notebook older than nbformat 4.5 has no cell ids
            cell.pop("id", None)
        else:
            cell.id = uuid.uuid4().hex[:8]
        cells.append(cell)
    executed.cells = cells
    executed.metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    return executed


def _outputs(raw) -> list:
    outputs = []
    for out in raw[:50]:
        kind = out.get("output_type")
        if kind == "stream":
            name = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
            outputs.append(nbformat.v4.new_output("stream", name=name,
                                                  text=str(out.get("text", ""))[:20000]))
        elif kind in ("display_data", "execute_result"):
            data = {k: v for k, v in out.get("data", {}).items()
                    if k in SAFE_MIME and isinstance(v, (str, list))}
            if "image/png" in data and _png(data["image/png"]) is None:
                del data["image/png"]
            elif "image/png" in data:
                data["image/png"] = _png(data["image/png"])
            if data:
                outputs.append(nbformat.v4.new_output("display_data", data=data))
        elif kind == "error":
            outputs.append(nbformat.v4.new_output(
                "error", ename=str(out.get("ename", ""))[:200], evalue=str(out.get("evalue", ""))[:2000],
                traceback=[str(t)[:2000] for t in out.get("traceback", [])[:30]]))
    return outputs
