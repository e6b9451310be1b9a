"""Device choice: CUDA when present, the CPU otherwise."""
from __future__ import annotations

import torch


def pick_device(prefer: str | None = None) -> torch.device:
    """Return ``torch.device('cuda')`` when available (or ``prefer`` if given), else the CPU."""
    if prefer is not None:
        return torch.device(prefer)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe(device: torch.device) -> str:
    """A one-line description of ``device`` for printing next to timings."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"
