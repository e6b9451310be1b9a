"""Run profiles and paths shared by the chapters, the pipeline and the autograder."""
from __future__ import annotations

import contextlib
import os
from pathlib import Path

PROFILES = ("quick", "book", "full")

#: The repository checkout this package lives in (``None`` when installed elsewhere).
REPO_ROOT: Path | None = Path(__file__).resolve().parents[1]
if not (REPO_ROOT / "solutions").is_dir() or not (REPO_ROOT / "pyproject.toml").is_file():
    REPO_ROOT = None


def profile() -> str:
    """The run profile from ``LSTMBOOK_PROFILE``: ``quick``, ``book`` (default) or ``full``."""
    name = os.environ.get("LSTMBOOK_PROFILE", "book").strip().lower() or "book"
    if name not in PROFILES:
        raise ValueError(
            f"LSTMBOOK_PROFILE={name!r} is not a profile; use one of {', '.join(PROFILES)}"
        )
    return name


def by_profile(quick, book, full=None):
    """Pick a value for the current profile; ``full`` defaults to ``book``.

    Example: ``epochs = by_profile(quick=1, book=20, full=50)``.
    """
    return {"quick": quick, "book": book, "full": book if full is None else full}[profile()]


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """Set the environment variables of ``values`` for the ``with`` block (a kernel started
    inside inherits them), then restore each to what it was."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def data_dir() -> Path:
    """Where downloads and prepared corpora go: ``LSTMBOOK_DATA_DIR``, else ``data/`` of the
    checkout, else ``~/.cache/lstmbook``."""
    env = os.environ.get("LSTMBOOK_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    if REPO_ROOT is not None:
        return REPO_ROOT / "data"
    return Path.home() / ".cache" / "lstmbook"
