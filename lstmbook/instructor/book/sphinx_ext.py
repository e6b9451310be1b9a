"""A Sphinx extension for the book (``extra_extensions`` in ``_config.yml``):

- every script is included once per page. sphinx-thebe registers its configuration script
  each time Sphinx reads the sources, and the second copy stops with "Identifier
  'THEBE_JS_URL' has already been declared" in the browser's console;
- every page gets the book's stylesheet (``static/lstmbook.css``) and the ``@font-face`` rules
  of its Chinese font (served from ``_static/fonts``, see :mod:`.assets`).
"""
from __future__ import annotations

from pathlib import Path


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        # an inline script's filename is None or "", as it was added
        key = (getattr(js, "filename", str(js)) or "",
               tuple(sorted((getattr(js, "attributes", None) or {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(js)
    scripts[:] = kept  # in place: handlers after this one (MathJax's) add to the same list


def _static(app, config):
    """The stylesheet's folder joins the static path once the configuration is read, before
    any builder exists (Sphinx's documented moment for changing the configuration)."""
    config.html_static_path.append(str(Path(__file__).with_name("static")))


def setup(app):
    from .assets import CJK_CSS, CJK_FONT, SERVED

    app.connect("config-inited", _static)
    app.add_css_file(f"{SERVED[CJK_FONT]}/{CJK_CSS}")
    app.add_css_file("lstmbook.css")
    # before MathJax's handler (500), which adds its script to the same list afterwards
    app.connect("html-page-context", _dedupe_scripts, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
