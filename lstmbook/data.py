"""The chinese-poetry corpus: download (or mirror), verify, filter, simplify, vocabulary, split.

The manifest ``lstmbook/manifest.json`` (shipped inside the package) names every upstream
file at a pinned commit with its sha256. Files are fetched into ``<data dir>/raw/`` through a ``.part`` file that is renamed
only once its checksum matches, so an interrupted or corrupt download never stays in place.
With ``LSTMBOOK_DATA_MIRROR=DIR`` the same upstream paths are read from ``DIR`` instead.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .config import data_dir

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
#: The index of PAD in every vocabulary of :func:`build_vocab` (fastNLP puts padding first).
PAD_INDEX = 0

#: Characters that mark lost text (□) or editorial notes; poems holding any are dropped.
BAD_CHARS = "□（(［[《{"


class DataError(RuntimeError):
    """A data file is missing, corrupt or unreachable; the message says which and how to fix it."""


def manifest_path() -> Path:
    env = os.environ.get("LSTMBOOK_MANIFEST")
    if env:
        return Path(env)
    path = Path(__file__).with_name("manifest.json")
    if not path.is_file():
        raise DataError(f"{path} not found: the lstmbook package is incomplete; reinstall it")
    return path


def load_manifest() -> dict:
    """The manifest: upstream commit, URL template, datasets and each file's sha256 and size."""
    with open(manifest_path(), encoding="utf-8") as fh:
        return json.load(fh)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check(path: Path, entry: dict, origin: str) -> None:
    size = path.stat().st_size
    if size != entry["size"]:
        kind = "truncated" if size < entry["size"] else "too long"
        raise DataError(
            f"{origin}: {entry['path']} is {kind} ({size} bytes, the manifest expects "
            f"{entry['size']})."
        )
    digest = _sha256(path)
    if digest != entry["sha256"]:
        raise DataError(
            f"{origin}: {entry['path']} has sha256 {digest}, the manifest expects "
            f"{entry['sha256']}: the file is corrupt or from another upstream commit."
        )


def _url(manifest: dict, rel: str) -> str:
    return manifest["url_template"].format(
        commit=manifest["commit"], path=urllib.parse.quote(rel)
    )


def fetch_file(entry: dict, manifest: dict, raw_dir: Path) -> Path:
    """Make sure ``raw_dir/<path>`` holds the verified upstream file and return its path."""
    target = raw_dir / entry["path"]
    if target.is_file():
        try:
            _check(target, entry, f"cached file {target}")
            return target
        except DataError:
            target.unlink()  # a damaged cache entry is fetched again, never used
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    mirror = os.environ.get("LSTMBOOK_DATA_MIRROR")
    try:
        if mirror:
            source = Path(mirror) / entry["path"]
            if not source.is_file():
                raise DataError(
                    f"{source} does not exist: LSTMBOOK_DATA_MIRROR={mirror} must hold the "
                    f"upstream paths of chinese-poetry (for example {entry['path']})."
                )
            _check(source, entry, f"mirror file {source}")
            shutil.copyfile(source, part)
        else:
            url = _url(manifest, entry["path"])
            try:
                with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as out:
                    shutil.copyfileobj(resp, out)
            except (urllib.error.URLError, OSError) as exc:
                raise DataError(
                    f"could not download {entry['path']} from {url} ({exc}). No network? "
                    f"Set LSTMBOOK_DATA_MIRROR to a folder holding the chinese-poetry files "
                    f"under their upstream paths, or put the file at {target} yourself."
                ) from exc
            try:
                _check(part, entry, f"download of {url}")
            except DataError as exc:
                raise DataError(f"{exc} Nothing was kept; run `make data` again.") from None
        os.replace(part, target)
    finally:
        if part.exists():
            part.unlink()
    return target


def fetch(dataset: str) -> list[Path]:
    """Fetch and verify every file of ``dataset`` (``tang300`` or ``tang_full``)."""
    manifest = load_manifest()
    if dataset not in manifest["datasets"]:
        raise DataError(
            f"unknown dataset {dataset!r}; the manifest has {', '.join(manifest['datasets'])}"
        )
    entries = {e["path"]: e for e in manifest["files"]}
    raw_dir = data_dir() / "raw"
    return [fetch_file(entries[p], manifest, raw_dir) for p in manifest["datasets"][dataset]]


@dataclass(frozen=True)
class PoemFilter:
    """Which poems to keep: character count (punctuation included) and placeholder marks."""

    min_len: int = 10
    max_len: int = 64
    bad_chars: str = BAD_CHARS


def _to_simplified():
    import opencc

    return opencc.OpenCC("t2s").convert


def filter_poems(raw: list[dict], flt: PoemFilter, source: str = "corpus") -> list[str]:
    """Join each poem's lines, drop poems with placeholder or note marks and poems outside the
    length bounds. Raises :class:`DataError` naming the filter that left nothing."""
    texts = ["".join(p.get("paragraphs", [])).strip() for p in raw]
    texts = [t for t in texts if t]
    if not texts:
        raise DataError(f"{source}: no poem has any text (is it a chinese-poetry JSON file?)")
    clean = [t for t in texts if not any(c in t for c in flt.bad_chars)]
    if not clean:
        raise DataError(
            f"{source}: all {len(texts)} poems contain one of {flt.bad_chars!r} "
            "(placeholder or note marks); nothing is left"
        )
    kept = [t for t in clean if flt.min_len <= len(t) <= flt.max_len]
    if not kept:
        lens = sorted(len(t) for t in clean)
        raise DataError(
            f"{source}: the length filter {flt.min_len}..{flt.max_len} characters removed all "
            f"{len(clean)} poems (their lengths run from {lens[0]} to {lens[-1]})"
        )
    return kept


def load_poems(dataset: str = "tang300", flt: PoemFilter = PoemFilter(),
               simplified: bool = True) -> list[str]:
    """The filtered poems of ``dataset`` as strings (simplified characters by default).

    The result is cached in ``<data dir>/prepared/``; the cache key holds every setting.
    """
    key = f"{dataset}-{flt.min_len}-{flt.max_len}-{'s' if simplified else 't'}"
    cache = data_dir() / "prepared" / f"{key}.json"
    files = fetch(dataset)
    if cache.is_file():
        with open(cache, encoding="utf-8") as fh:
            return json.load(fh)
    raw = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            raw.extend(json.load(fh))
    poems = filter_poems(raw, flt, source=dataset)
    if simplified:
        convert = _to_simplified()
        poems = convert("\n".join(poems)).split("\n")
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(poems, fh, ensure_ascii=False)
    os.replace(tmp, cache)
    return poems


def import_fastnlp():
    """Import fastNLP without its warning about ``pkg_resources`` (fastNLP 1.0.1 still uses
    it; ``setuptools<81`` keeps it available)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
        import fastNLP
    return fastNLP


def build_vocab(poems: list[str], min_count: int = 1):
    """A fastNLP character ``Vocabulary`` with ``<pad>`` (index 0), ``<unk>`` (index 1) and
    ``<eos>``; characters seen fewer than ``min_count`` times map to ``<unk>``."""
    Vocabulary = import_fastnlp().Vocabulary

    vocab = Vocabulary(min_freq=min_count, padding=PAD, unknown=UNK)
    for poem in poems:
        vocab.add_word_lst(list(poem) + [EOS])
    vocab.build_vocab()
    return vocab


def encode(poems: list[str], vocab) -> list[list[int]]:
    """Each poem as character indices followed by ``<eos>``."""
    return [[vocab.to_index(c) for c in poem] + [vocab.to_index(EOS)] for poem in poems]


def stream_chunks(poems: list[str], vocab, N: int, T: int) -> list:
    """One epoch of a language model trained on a stream: the encoded poems joined into one
    stream, split into N parallel streams, cut into consecutive ``(x, y)`` pairs of shape
    (N, T), the targets ``y`` one character ahead of ``x``. The state at the end of one pair is
    the right start for the next."""
    import torch

    stream = torch.tensor([i for seq in encode(poems, vocab) for i in seq])
    L = (len(stream) - 1) // N
    x, y = stream[:N * L].view(N, L), stream[1:N * L + 1].view(N, L)
    return [(x[:, k:k + T], y[:, k:k + T]) for k in range(0, L - T + 1, T)]


def longest_copy(text: str, corpus: str) -> int:
    """The length of the longest piece of ``text`` that appears verbatim in ``corpus``: how
    much a generated poem copies from the poems the model was trained on."""
    best = 0
    for i in range(len(text)):
        while i + best < len(text) and text[i:i + best + 1] in corpus:
            best += 1
    return best


def train_dev_split(items: list, dev_fraction: float = 0.1, seed: int = 0) -> tuple[list, list]:
    """A reproducible shuffle-and-split: the same ``seed`` always gives the same split."""
    if not 0 < dev_fraction < 1:
        raise ValueError(f"dev_fraction must lie in (0, 1), got {dev_fraction}")
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_dev = max(1, round(len(items) * dev_fraction))
    dev = [items[i] for i in order[:n_dev]]
    train = [items[i] for i in order[n_dev:]]
    return train, dev


def poem_splits(dataset: str, poems: int | None = None, min_count: int = 1, dev_fraction: float = 0.05,
                seed: int = 0) -> tuple[list[list[int]], list[list[int]], object]:
    """The poetry corpus ready for a language model (chapters 5 and 6): the first ``poems``
    poems of ``dataset`` (all when None), split into train and dev (``dev_fraction``,
    ``seed``), a vocabulary of the characters seen at least ``min_count`` times in the
    training poems, and both splits encoded. Returns ``(train_ids, dev_ids, vocab)``."""
    chosen = load_poems(dataset)[:poems]
    train, dev = train_dev_split(chosen, dev_fraction=dev_fraction, seed=seed)
    vocab = build_vocab(train, min_count=min_count)
    return encode(train, vocab), encode(dev, vocab), vocab


def poem_batches(ids: list[list[int]], batch_size: int, seed: int | None = None):
    """Batches of whole poems for a language model: yields ``(x, y)``, int64 tensors (N, T)
    padded with 0, the targets ``y`` one character ahead of ``x``; in order, or shuffled by
    ``seed``."""
    import numpy as np
    import torch

    order = np.arange(len(ids)) if seed is None else np.random.default_rng(seed).permutation(len(ids))
    for start in range(0, len(ids), batch_size):
        seqs = pad_batch([ids[i] for i in order[start:start + batch_size]])
        yield torch.from_numpy(seqs[:, :-1]), torch.from_numpy(seqs[:, 1:])


def summary(poems: list[str]) -> dict:
    """Corpus statistics (no text): poems, characters, distinct characters, mean length."""
    n_chars = sum(len(p) for p in poems)
    return {
        "poems": len(poems),
        "characters": n_chars,
        "distinct characters": len(set("".join(poems))),
        "mean length": round(n_chars / max(1, len(poems)), 1),
    }


def pad_batch(seqs: list[list[int]], pad_index: int = 0):
    """Stack sequences of different lengths into an int64 array (N, T), T the longest,
    filled with ``pad_index``."""
    import numpy as np

    T = max(len(s) for s in seqs)
    out = np.full((len(seqs), T), pad_index, dtype=np.int64)
    for n, s in enumerate(seqs):
        out[n, : len(s)] = s
    return out


def start_index(vocab, start: str, unknown: str = "error") -> int:
    """The vocabulary index of the character a generated poem starts from.

    ``unknown="error"`` (the default) stops on a character the model never saw, with a
    message that names it and lists frequent characters that would work; ``unknown="unk"``
    starts from ``<unk>`` instead (the model then writes as after a rare character).
    """
    if unknown not in ("error", "unk"):
        raise ValueError(f"unknown={unknown!r}: use 'error' or 'unk'")
    if len(start) != 1:
        raise ValueError(f"start must be one character, got {start!r}")
    if start in vocab and start not in (PAD, UNK, EOS):
        return vocab.to_index(start)
    if unknown == "unk":
        return vocab.to_index(UNK)
    frequent = [w for w, _ in vocab.word_count.most_common(40) if w not in (PAD, UNK, EOS) and len(w) == 1
                and w not in "，。！？；：、"][:12]
    raise ValueError(
        f"the start character {start!r} is not in the vocabulary ({len(vocab)} entries), so the model has "
        f"never seen it; pass unknown='unk' to start from <unk>, or start from a known character such as "
        f"{' '.join(frequent)}"
    )
