"""The course's language model, its training step and its measure, written once: chapter 3
builds the model, chapter 5 adds the training step and the perplexity; the chapters after
them import what they use from here."""
from __future__ import annotations

import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import PAD_INDEX, poem_batches


class CharLM(nn.Module):
    """The course's character language model (语言模型): embedding (V, D) -> an LSTM
    (D -> H) -> dropout -> linear (H -> V) scores over the vocabulary.

    ``lstm_class`` builds the LSTM as ``lstm_class(D, H, batch_first=True)``: ``nn.LSTM`` (the
    default), chapter 3's from-scratch ``LSTM``, or chapter 5's stacks (with
    ``functools.partial`` for their layers). Index 0 is padding: its embedding stays zero.
    """

    def __init__(self, V, D, H, lstm_class=None, dropout=0.0):
        super().__init__()
        self.embed = nn.Embedding(V, D, padding_idx=PAD_INDEX)
        self.lstm = (lstm_class or nn.LSTM)(D, H, batch_first=True)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(H, V)

    def forward(self, x, state=None):
        """Scores over the vocabulary for every position of a batch of token sequences.

        Inputs:
        - x: token indices, shape (N, T), int64; index 0 is padding
        - state: (h0, c0), each (layers, N, H), or None for zeros

        Returns a tuple of:
        - scores: shape (N, T, V)
        - (h_n, c_n): the final state, each (layers, N, H)
        """
        h, state = self.lstm(self.embed(x), state)
        return self.out(self.drop(h)), state


def fit_batch(model, optimizer, x, y, clip: float = 5.0) -> torch.Tensor:
    """One training step of a language model, as chapters 5 and 9 train theirs: the mean
    cross-entropy over the characters that are not padding, the gradients (zeroed first),
    their global norm clipped to ``clip``, one optimizer step.

    Inputs:
    - model: ``model(x)`` returns (scores (N, T, V), state), as ``CharLM`` does
    - optimizer: over the model's parameters
    - x, y: token indices (N, T), int64, on the model's device; 0 in y is padding

    Returns the loss before the step: a detached 0-d tensor on the model's device (call
    ``.item()`` for a number; on a GPU that waits for the step to finish).
    """
    loss = F.cross_entropy(model(x)[0].flatten(0, 1), y.flatten(), ignore_index=PAD_INDEX)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss.detach()


@torch.no_grad()
def perplexity(model, ids, batch_size=256, device=None) -> float:
    """Perplexity (困惑度) of ``model`` on the encoded poems ``ids``: exp of the mean negative
    log-likelihood per predicted character, padding excluded, in evaluation mode (dropout
    off); ``inf`` when the model's scores overflow. ``model(x)`` returns (scores, state)."""
    device = device or next(model.parameters()).device
    model.eval()
    nll, count = 0.0, 0
    for x, y in poem_batches(ids, batch_size):
        scores = model(x.to(device))[0]
        nll += F.cross_entropy(scores.flatten(0, 1), y.to(device).flatten(), ignore_index=PAD_INDEX,
                               reduction="sum").item()
        count += int((y != PAD_INDEX).sum())
    mean = nll / count
    # exp overflows a float above log(max float) (about 709.8): such a model is as diverged as
    # one whose scores overflowed, and its perplexity is inf, not an OverflowError
    return math.exp(mean) if math.isfinite(mean) and mean < math.log(sys.float_info.max) else math.inf
