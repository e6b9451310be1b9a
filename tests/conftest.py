import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))
# nbgrader calls alembic and jupyter by name
os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("MPLBACKEND", "Agg")


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
    from lstmbook import build, publish

    site = build.build_book(ROOT, tmp_path_factory.mktemp("book")).parent
    publish.publish(site, ROOT)
    return site
