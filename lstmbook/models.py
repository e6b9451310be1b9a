"""The course's language model and its measure, written once: chapter 3 builds the model,
chapter 5 adds the perplexity; the chapters after them import both from here."""
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
