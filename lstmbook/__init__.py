"""lstmbook: the helpers that the course's chapters import (data, gradient checks, devices,
plots) and the tools behind it (chapter pipeline, autograder). It holds no exercise answers."""
from .config import by_profile, profile

__all__ = ["by_profile", "profile"]
__version__ = "0.1.0"
