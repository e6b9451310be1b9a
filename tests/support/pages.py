"""Reading the HTML pages the grader writes, as a browser's parser would: every tag, every
attribute and the text."""
from __future__ import annotations

import html.parser


class Tags(html.parser.HTMLParser):
    """``tags`` (names, in order), ``attrs`` ((tag, name, value) triples) and ``text`` (the
    text pieces) of an HTML page or fragment."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.text = [], [], []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]

    def handle_data(self, data):
        self.text.append(data)
