"""lstmbook, the student package: what the course's chapters import (the poetry data and its
batches, the course's language model and perplexity, gradient checks, devices, timing,
progress bars, formulas) and ``lstmbook check``. It holds no exercise answers. In the
instructor's repository, :mod:`lstmbook.instructor` adds the tools behind the course; the
published wheel leaves that subpackage out."""
from .config import by_profile, profile

__all__ = ["by_profile", "profile", "progress", "setup"]
__version__ = "0.1.0"


def progress(iterable=None, total=None, desc=None, **kwargs):
    """A one-line progress bar (see :func:`lstmbook.bars.progress`)."""
    from .bars import progress as _progress

    return _progress(iterable, total=total, desc=desc, **kwargs)


def setup(prefer: str | None = None):
    """Pick the device (CUDA when present), print one line saying what this notebook runs
    with, and return the device."""
    from .device import describe, pick_device

    device = pick_device(prefer)
    print(f"lstmbook {__version__} | profile {profile()} | device {describe(device)}")
    return device
