"""Matrix products through oneDNN, the library behind ``nn.LSTM`` on a CPU.

``torch.mm`` on a CPU calls the BLAS that PyTorch was built with (Intel's MKL in the pip
wheels). ``nn.LSTM`` in float32 calls oneDNN's fused LSTM kernel instead, and that kernel does
its matrix products with oneDNN's own code. On some CPUs (chapter 4 measures it) oneDNN
multiplies an LSTM's shapes faster than MKL does, so a hand-written LSTM built on ``torch.mm``
loses to ``nn.LSTM`` for the library alone. PyTorch has no public function for a float32
oneDNN product. The helpers below call the operators that PyTorch's compiler uses for linear
layers on a CPU: ``torch.ops.mkldnn._linear_pointwise`` and ``_reorder_linear_weight``. The
leading underscore marks them as internal: they may change between PyTorch versions (the
course pins its version).

Those operators have no backward pass, so these helpers are for code that autograd does not
record, such as the inside of an ``autograd.Function``. Wherever oneDNN does not apply (another
device, another dtype, a build without oneDNN, ``torch.backends.mkldnn.flags(enabled=False)``,
or an input that autograd records), they fall back to ``torch.mm``, so code written with them
runs everywhere and gives the same numbers.
"""
import contextlib

import torch

_OPS = ("_linear_pointwise", "_reorder_linear_weight")


def usable(*tensors: torch.Tensor) -> bool:
    """Whether oneDNN's products apply to every one of ``tensors``: float32 on a CPU, nothing
    that autograd records, in a PyTorch built with oneDNN and with it enabled."""
    return (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and all(hasattr(torch.ops.mkldnn, op) for op in _OPS)
            and all(t.device.type == "cpu" and t.dtype == torch.float32
                    and not (t.requires_grad and torch.is_grad_enabled()) for t in tensors))


@contextlib.contextmanager
def off():
    """Within the block oneDNN is switched off (``torch.backends.mkldnn.enabled`` is False, the
    flag that ``torch.backends.mkldnn.flags(enabled=False)`` sets): every product of this
    module is ``torch.mm``'s, and ``nn.LSTM`` runs without oneDNN too."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def prepare(W: torch.Tensor, rows: int) -> torch.Tensor:
    """W (k, n), made ready to be multiplied many times by matrices of ``rows`` rows.

    Where oneDNN applies, the result is a copy of W in oneDNN's own blocked layout, chosen for
    that many rows (prepare it again after W changes). Elsewhere the result is W itself. Pass
    the result to :func:`matmul` as its W."""
    if not usable(W):
        return W
    return torch.ops.mkldnn._reorder_linear_weight(W.T.contiguous(), rows)  # oneDNN takes (n, k)


def matmul(a: torch.Tensor, W: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
    """``a @ W``, plus ``add`` if given, as a new tensor; through oneDNN where it applies.

    Inputs:
    - a: (m, k); any strides (oneDNN copies a non-contiguous a first)
    - W: (k, n), a tensor or what :func:`prepare` made of one
    - add: None, a bias (n,) or a matrix (m, n) (any strides, broadcast from (1, n) too);
      oneDNN adds it as the product is written

    Returns (m, n).
    """
    extra = () if add is None else (add,)
    if W.is_mkldnn:
        if not usable(a, *extra):
            raise ValueError("a weight prepared for oneDNN multiplies float32 CPU tensors that autograd does not "
                             f"record, with oneDNN on; got {a.dtype} on {a.device}, requires_grad={a.requires_grad}")
        weight = W
    elif usable(a, W, *extra):
        weight = W.T  # oneDNN takes the weight (n, k), as nn.Linear stores it
    else:
        return a @ W if add is None else torch.addmm(add, a, W)
    linear = torch.ops.mkldnn._linear_pointwise
    if add is None or add.dim() == 1:  # oneDNN reads a bias as contiguous, whatever its strides
        return linear(a, weight, None if add is None else add.contiguous(), "none", [], "")
    return linear.binary(a, add, weight, None, "add")
