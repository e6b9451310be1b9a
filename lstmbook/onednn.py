"""Matrix products through oneDNN, the library behind ``nn.LSTM`` on a CPU.

``torch.mm`` on a CPU calls the BLAS that PyTorch was built with (Intel's MKL in the pip
wheels). ``nn.LSTM`` in float32 calls oneDNN's fused LSTM kernel instead, and that kernel does
its matrix products with oneDNN's own code. On some CPUs (chapter 4 measures it) oneDNN
multiplies an LSTM's shapes faster than MKL does, so a hand-written LSTM built on ``torch.mm``
loses to ``nn.LSTM`` for the library alone. PyTorch has no public function for a float32
oneDNN product. The helpers below call the operators that PyTorch's compiler uses for linear
layers on a CPU: ``torch.ops.mkldnn._linear_pointwise`` and ``_reorder_linear_weight``. The
leading underscore marks them as internal: they may change between PyTorch versions (the
course pins its version). Wherever they do not apply (another device, another dtype, a build
without oneDNN), the helpers fall back to ``torch.mm``, so code written with them runs
everywhere.
"""
import torch


def usable(t: torch.Tensor) -> bool:
    """Whether oneDNN's products apply to ``t``: float32 on a CPU, in a PyTorch built with
    oneDNN."""
    return (t.device.type == "cpu" and t.dtype == torch.float32 and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise"))


def prepare(W: torch.Tensor, rows: int) -> torch.Tensor:
    """W (K, M), made ready to be multiplied many times by matrices of ``rows`` rows.

    Where oneDNN applies, the result is a copy of W in oneDNN's own blocked layout, chosen for
    that many rows (prepare it again after W changes). Elsewhere the result is W itself. Pass
    the result to :func:`matmul` as its W."""
    if not usable(W):
        return W
    return torch.ops.mkldnn._reorder_linear_weight(W.T.contiguous(), rows)  # oneDNN takes (M, K)


def matmul(a: torch.Tensor, W: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
    """``a @ W``, plus ``add`` if given, as a new tensor; through oneDNN where it applies.

    Inputs:
    - a: (m, K); any strides (oneDNN copies a non-contiguous a first)
    - W: (K, M), a tensor or what :func:`prepare` made of one
    - add: None, a bias (M,) or a matrix (m, M); oneDNN adds it as the product is written

    Returns (m, M).
    """
    if W.is_mkldnn or usable(a):
        weight = W if W.is_mkldnn else W.T  # oneDNN takes the weight (M, K), as nn.Linear stores it
        linear = torch.ops.mkldnn._linear_pointwise
        if add is None or add.dim() == 1:
            return linear(a, weight, add, "none", [], "")
        return linear.binary(a, add, weight, None, "add")
    return a @ W if add is None else torch.addmm(add, a, W)
