"""No finding of the book lives as a number typed into its prose: every number a chapter's
Markdown states is glued from a cell (``{glue:md}`key```, made by ``lstmbook.tables.glue``), so
that a rerun that changes the result changes the sentence, or it is one of the kinds of numbers
that are not results (chapter and layer numbers, shapes, a symbol's setting, citations), or it
is listed below with the reason it may be typed."""
import re

import nbformat
import pytest

from course import ROOT, SLUGS

#: Typed numbers that are not results of this book's runs, each with its reason. The key is
#: (chapter, a piece of the sentence that holds the number, as the checker sees it: math, code
#: and glue removed).
TYPED = {
    # constants of the mathematics
    ("01_gradients", "into (0, 1) with"): "the range of the logistic function",
    ("04_speed", "its products, 2·N·T·4H·(D + H) floating"): "a formula: two FLOPs per multiply-add",
    ("01_gradients", "lies in (-1, 1)"): "the range of tanh",
    ("04_speed", "rounding near 1 and does not shrink as goes to 0"):
        "1: the size of the numbers whose rounding is meant; 0: the limit x -> 0; not results",
    ("01_gradients", "close to 1"): "a gate's value: the limit of the logistic function",
    ("01_gradients", "(gates near 1)"): "a gate's value: the limit of the logistic function",
    ("01_gradients", "(near 0)"): "a gate's value: the limit of the logistic function",
    ("01_gradients", "stay close to 1, when they stay close to 0"): "gate values at the limits",
    ("01_gradients", "when they are near 1"): "a gate's value: the limit of the logistic function",
    ("01_gradients", "when they are near 0"): "a gate's value: the limit of the logistic function",
    ("06_optimizers", "close to 1 the second moment"): "a limit of the formula (beta2 -> 1)",
    # constants of the machine
    ("02_numpy_lstm", "(always from 32 MiB up, on 64-bit"): "glibc's DEFAULT_MMAP_THRESHOLD_MAX",
    ("02_numpy_lstm", "(a page is 4 kB, or 2 MB for the huge"): "the page sizes of x86-64 and of Linux's huge pages",
    # references
    ("04_speed", "(PyTorch issue 148241"): "an issue's number",
    # the settings of the original assignment, which the chapters compare against
    ("05_deep", "dev perplexity 454 against 365"): "quoted from the original student report",
    ("05_deep", "The student's 454 against 365 after 5"): "quoted from the original student report",
    ("05_deep", "after 5 epochs, dev"): "quoted from the original student report",
    ("04_speed", "An epoch of 603 batches"): "quoted from the original student report",
    ("08_poetry", "dev perplexity of 87.2 after 5 epochs"): "quoted from the original assignment's report",
    ("08_poetry", "about 42k poems and 5.4k characters"): "quoted from the original assignment's report",
    ("08_poetry", "about 42,000 Tang poems"): "the original assignment's corpus, as it describes it",
    ("06_optimizers", "(0.5, 0.99)"): "the original assignment's Adam betas, a setting",
    ("06_optimizers", "(0.9, 0.999)"): "PyTorch's default Adam betas, a setting",
    ("06_optimizers", "norm 5"): "the clipping threshold chapter 5 set",
    ("06_optimizers", "norm at 5"): "the clipping threshold chapter 5 set",
    ("06_optimizers", "a 2% difference"): "a question's hypothetical difference, not a result",
    ("06_optimizers", "betas at lr 1e-3"): "the original assignment's learning rate, a setting",
    # the data and the sizes the chapters choose
    ("02_numpy_lstm", "300 Tang poems"): "the corpus's size (the dataset's name)",
    ("02_numpy_lstm", "300 poems"): "the corpus's size (the dataset's name)",
    ("03_torch_lstm", "300 Tang poems"): "the corpus's size (the dataset's name)",
    ("04_speed", "300 Tang poems"): "the corpus's size (the dataset's name)",
    ("05_deep", "300 Tang poems"): "the corpus's size (the dataset's name)",
    ("08_poetry", "300 Tang poems"): "the corpus's size (the dataset's name)",
    ("08_poetry", "300 poems"): "the corpus's size (the dataset's name)",
    ("02_numpy_lstm", "temperature of 0.8"): "the sampling setting the cell below uses",
    ("02_numpy_lstm", "after 48 characters"): "the sampling cap the cell below uses",
    ("06_optimizers", "the 95/5 split"): "the split lstmbook.data.poem_splits makes",
    ("05_deep", "padded with index 0"): "the padding index, lstmbook.data.PAD_INDEX",
    ("05_deep", "p = 0.5 between"): "a dropout probability chosen for the example",
    ("05_deep", "allows 0.02"): "the tolerance of the visible test below",
    ("08_poetry", "poems of 10 to 64 characters"): "the filter lstmbook.data applies",
    ("08_poetry", "the dev set is 10% of them"): "the split the cell below makes",
    ("08_poetry", "drawn with 3,000 different seeds"): "the size of the statistical test below",
    ("08_poetry", "fastNLP 1.0.1 passes"): "a package version",
    ("07_gpu", "(65536 at the start)"): "GradScaler's initial scale, a constant of PyTorch",
    ("07_gpu", "Since PyTorch 2.6"): "a package version",
    ("07_gpu", "TensorFlow 1's"): "a package version",
    ("07_gpu", "from Python 3.14"): "a package version",
    ("07_gpu", "H = 64, 256 and 1024"): "sizes a question proposes",
    ("07_gpu", "to 4 and 8 on this machine"): "values a question proposes",
    ("07_gpu", "with 0, 1 and 2 workers"): "the settings the cell below compares",
}

#: Numbers that are never results: a chapter, a layer, a rung... named by its number.
ORDINAL = re.compile(
    r"(?:chapters?|layers?|rungs?|steps?|chunks?|stages?|GPUs?|ranks?|micro-batch(?:es)?|blocks?|points?|"
    r"lectures?|sections?|index|seeds?|epochs?|batch|assignment|devices?|temperature|Python|PyTorch)"
    r"\s+(?:[\w−-]+(?:\s*,\s*|\s+(?:and|or|to)\s+|\.\.)){0,4}$|cuda:$", re.I)
#: A model or format named by a number: a 3-layer LSTM, 1, 2 or 3 layers, a 16-bit format.
NAMED = re.compile(r"^(?:-[a-z]|(?:\s*(?:,|or|and)\s*\d+)*\s+layers?\b)")
#: A shape, such as (N, 4H), (4H,) or (k, N, H); a symbol's value, such as N = 3 or T = 4.
SHAPE = re.compile(r"\(\s*[\w·]{1,5}\s*(?:,\s*[\w·]{1,5}\s*)*,\s*\)|\(\s*[\w·]{1,5}\s*(?:,\s*[\w·]{1,5}\s*)+\)")
SETTING = re.compile(r"\b[A-Za-zα-ω]\s*=\s*$")
NUMBER = re.compile(r"(?<![\w.−-])[−-]?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?%?(?![A-Z])")  # not 4H


def prose(markdown: str) -> str:
    """The sentences of a Markdown cell as a reader reads them, without what may hold numbers
    legitimately: math, code, glued values, link targets, HTML, list markers and the number of
    a chapter's title."""
    text = re.sub(r"```.*?```", " ", markdown, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$]*\$", " ", text)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)  # {glue:md}`key`, {ref}`...`
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<[^>]*>", " ", text)
    text = re.sub(r"https?://\S+|arXiv:\S+", " ", text)
    text = re.sub(r"^\s*(?:\d+\.|[-*]|#+(?:\s+\d+\.)?)\s", " ", text, flags=re.M)
    return re.sub(r"\s+", " ", text)


def typed_numbers(slug: str, markdown: str) -> list[tuple[str, str]]:
    """(number, its context) for every number of ``markdown``'s prose that is not allowed."""
    text = prose(markdown)
    shapes = [m.span() for m in SHAPE.finditer(text)]
    found = []
    for m in NUMBER.finditer(text):
        before = text[max(0, m.start() - 60): m.start()]
        if ORDINAL.search(before) or SETTING.search(before) or any(a <= m.start() < b for a, b in shapes):
            continue
        if NAMED.match(text[m.end():]) or re.search(r"et al\.?,?\s*$", before):  # 3-layer; Chen et al. 2016
            continue
        if re.search(r"\(\d{4}[a-z]?\)", text[max(0, m.start() - 1): m.end() + 2]):  # a year, as (1997)
            continue
        context = text[max(0, m.start() - 50): m.end() + 40]
        if any(s == slug and phrase in context for s, phrase in TYPED):
            continue
        found.append((m.group(), context))
    return found


def _markdown_cells(slug: str) -> list[str]:
    """The Markdown cells of a chapter's source, up to its Further reading (citations: years,
    volumes and pages)."""
    from lstmbook.instructor import sources

    cells = []
    for cell in sources.source_notebook(ROOT / "solutions" / f"{slug}.md").cells:
        if cell.cell_type != "markdown":
            continue
        if re.match(r"#+\s+Further reading", cell.source.lstrip()):
            break
        head, sep, _ = cell.source.partition("## Further reading")
        cells.append(head)
        if sep:
            break
    return cells


@pytest.mark.parametrize("slug", SLUGS)
def test_no_result_is_a_number_typed_into_the_prose(slug):
    typed = [(n, c) for md in _markdown_cells(slug) for n, c in typed_numbers(slug, md)]
    assert typed == [], (
        f"solutions/{slug}.md: numbers typed into the prose ({len(typed)}); glue a computed value "
        "(lstmbook.tables.glue in a cell, {glue:md}`key` in the text) or, for a number that is not a result, "
        "add it to TYPED with the reason:\n" + "\n".join(f"  {n!r} in: ...{c}..." for n, c in typed))


def test_every_typed_number_allowed_is_still_in_its_chapter():
    """An allowance outlives nothing: a phrase the chapter no longer holds is removed from TYPED."""
    texts = {slug: " ".join(prose(md) for md in _markdown_cells(slug)) for slug in SLUGS}
    stale = [(slug, phrase) for slug, phrase in TYPED if phrase not in texts[slug]]
    assert stale == []


@pytest.mark.parametrize("markdown, flagged", [
    ("Adam at lr 0.03 reaches a dev perplexity of 191.9, the best on the page.", ["0.03", "191.9"]),
    ("With clipping, 12% of the steps were clipped.", ["12%"]),
    ("Adam reaches {glue:md}`ch6_best`, the best on the page.", []),
    ("Chapters 1 and 2 wrote it by hand; layer 0 reads $x_t$ of shape (N, T, D), with $h \\in (0, 1)$.", []),
    ("A 3-layer LSTM (1, 2 or 3 layers) in a 16-bit format, on cuda:0, at temperature 1; (4H) and (N, 4H).", []),
    ("The 3-layer model is 1.8x slower: 454 against 365.", ["1.8", "454", "365"]),
    ("- Kingma & Ba (2015), a paper.", []),
    ("A test model with N = 3 sequences of T = 4 steps.", []),
])
def test_the_checker_flags_typed_results_and_nothing_else(markdown, flagged):
    assert [n for n, _ in typed_numbers("none", markdown)] == flagged


def _glued_in_source(slug: str) -> set[str]:
    text = (ROOT / "solutions" / f"{slug}.md").read_text(encoding="utf-8")
    return set(re.findall(r"\bglue\(\s*[\"']([\w-]+)[\"']", text))


@pytest.mark.parametrize("slug", SLUGS)
def test_every_glued_value_the_prose_uses_is_in_the_chapter(slug):
    """Each {glue:md}`key` of a chapter is glued by one of its cells, and the generated chapter
    holds the value (a key nobody glues renders as a warning and an empty gap on the page)."""
    text = (ROOT / "solutions" / f"{slug}.md").read_text(encoding="utf-8")
    used = set(re.findall(r"\{glue(?::\w+)?\}`([\w-]+)`", text))
    assert used <= _glued_in_source(slug), f"solutions/{slug}.md: no glue() for {sorted(used - _glued_in_source(slug))}"
    nb = nbformat.read(ROOT / "chapters" / f"{slug}.ipynb", as_version=4)
    stored = {o.metadata["scrapbook"]["name"] for c in nb.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {})}
    assert used <= stored, f"chapters/{slug}.ipynb lacks {sorted(used - stored)}: run `make chapters CHAPTER={slug}`"


@pytest.mark.parametrize("slug", SLUGS)
def test_no_glued_value_is_also_printed_as_a_cell_output(slug):
    """glue() returns its text, so a cell that ends with a glue(...) call without ``;`` shows the
    sentence once more, as a quoted string under the code: the finding twice, once raw."""
    nb = nbformat.read(ROOT / "chapters" / f"{slug}.ipynb", as_version=4)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    glued = {o.data[o.metadata["scrapbook"]["mime_prefix"] + "text/plain"] for o in outputs
             if "scrapbook" in o.get("metadata", {})}
    shown = {repr(g) for g in glued}  # how IPython shows a str a cell ends with
    repeated = [o.data["text/plain"][:80] for o in outputs if o.get("output_type") == "execute_result"
                and o.get("data", {}).get("text/plain") in shown]
    assert repeated == [], (f"chapters/{slug}.ipynb: a cell shows what it glues as its result (end the cell's "
                            f"last glue(...) with ';'): {repeated}")
