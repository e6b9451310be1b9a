import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS / "support"))  # course, submissions, bugs, the planted bugs
# nbgrader calls alembic and jupyter by name
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("MPLBACKEND", "Agg")


#: Debian's chromium: the browser tests drive it with Playwright and never download a browser.
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser():
    """A headless chromium (Debian's) for the tests that click through pages."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; "
                    ".ci/run does); the browser test never downloads a browser")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM))
        yield b
        b.close()


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def reference_dir(tmp_path_factory) -> Path:
    """One cache of the reference runs' records for every grading test of the session."""
    return tmp_path_factory.mktemp("reference-records")


@pytest.fixture(scope="session")
def book(tmp_path_factory) -> Path:
    """The published course as ``make book`` makes it (the built book, the student notebooks
    and the student package), built once per session into a temporary folder."""
    from lstmbook.instructor.book import publish, site

    site = site.build_book(ROOT, tmp_path_factory.mktemp("book")).parent
    publish.publish(site, ROOT)
    return site


#: Fixtures that build the book, grade in the sandbox or install a package: a test that uses
#: one is in the slow tier whatever its marks say (``make test-fast`` runs the rest).
SLOW_FIXTURES = {"book", "site", "student_env", "reference_dir", "graded", "corpus"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
