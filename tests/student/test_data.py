"""The data layer: verified downloads or mirror reads, clear errors, filters, vocabulary."""
import hashlib
import io
import json
import urllib.error

import pytest

from lstmbook import data

POEMS = [
    {"author": "a", "title": "t1", "paragraphs": ["床前明月光，疑是地上霜。", "舉頭望明月，低頭思故鄉。"]},
    {"author": "b", "title": "t2", "paragraphs": ["白日依山盡，黃河入海流。"]},
    {"author": "c", "title": "t3", "paragraphs": ["□□□□□，欲窮千里目。"]},
    {"author": "d", "title": "t4", "paragraphs": ["短。"]},
]
BYTES = json.dumps(POEMS, ensure_ascii=False).encode("utf-8")
REL = "全唐诗/poet.tiny.0.json"


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A manifest with one small file, an empty cache, a mirror holding the file."""
    manifest = {
        "commit": "0" * 40,
        "url_template": "https://example.invalid/{commit}/{path}",
        "datasets": {"tiny": [REL]},
        "files": [{"path": REL, "sha256": hashlib.sha256(BYTES).hexdigest(), "size": len(BYTES)}],
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False))
    mirror = tmp_path / "mirror"
    (mirror / "全唐诗").mkdir(parents=True)
    (mirror / REL).write_bytes(BYTES)
    monkeypatch.setenv("LSTMBOOK_MANIFEST", str(tmp_path / "manifest.json"))
    monkeypatch.setenv("LSTMBOOK_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LSTMBOOK_DATA_MIRROR", str(mirror))
    return tmp_path


def _raw_files(tmp_path):
    raw = tmp_path / "cache" / "raw"
    return sorted(p.name for p in raw.rglob("*") if p.is_file()) if raw.exists() else []


def test_mirror_read_is_verified_and_cached(fake):
    (path,) = data.fetch("tiny")
    assert path.read_bytes() == BYTES
    assert _raw_files(fake) == ["poet.tiny.0.json"]


def test_load_poems_filters_and_simplifies(fake):
    poems = data.load_poems("tiny", data.PoemFilter(min_len=10, max_len=64))
    assert poems == ["床前明月光，疑是地上霜。举头望明月，低头思故乡。", "白日依山尽，黄河入海流。"]
    traditional = data.load_poems("tiny", data.PoemFilter(min_len=10, max_len=64), simplified=False)
    assert traditional[1] == "白日依山盡，黃河入海流。"


def test_wrong_checksum_in_mirror_names_the_file_and_keeps_nothing(fake):
    bad = bytearray(BYTES)
    bad[-3] ^= 1
    (fake / "mirror" / REL).write_bytes(bytes(bad))
    with pytest.raises(data.DataError, match=r"poet\.tiny\.0\.json has sha256 .* the manifest expects"):
        data.fetch("tiny")
    assert _raw_files(fake) == []


def test_truncated_mirror_file_is_reported_as_truncated(fake):
    (fake / "mirror" / REL).write_bytes(BYTES[:50])
    with pytest.raises(data.DataError, match=r"poet\.tiny\.0\.json is truncated \(50 bytes"):
        data.fetch("tiny")
    assert _raw_files(fake) == []


def test_missing_mirror_file_names_the_expected_path(fake):
    (fake / "mirror" / REL).unlink()
    with pytest.raises(data.DataError, match=r"poet\.tiny\.0\.json does not exist: LSTMBOOK_DATA_MIRROR"):
        data.fetch("tiny")


def test_offline_without_mirror_says_what_to_do(fake, monkeypatch):
    monkeypatch.delenv("LSTMBOOK_DATA_MIRROR")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(data.DataError) as info:
        data.fetch("tiny")
    message = str(info.value)
    assert "could not download 全唐诗/poet.tiny.0.json" in message
    assert "LSTMBOOK_DATA_MIRROR" in message and "No network?" in message
    assert _raw_files(fake) == []


def test_corrupt_download_is_not_kept_and_a_good_one_is(fake, monkeypatch):
    monkeypatch.delenv("LSTMBOOK_DATA_MIRROR")
    payload = {"bytes": BYTES[:-10]}
    monkeypatch.setattr(data.urllib.request, "urlopen",
                        lambda url, timeout: io.BytesIO(payload["bytes"]))
    with pytest.raises(data.DataError, match="truncated .* Nothing was kept"):
        data.fetch("tiny")
    assert _raw_files(fake) == []
    payload["bytes"] = BYTES
    (path,) = data.fetch("tiny")
    assert path.read_bytes() == BYTES


def test_damaged_cache_file_is_fetched_again(fake):
    (path,) = data.fetch("tiny")
    path.write_bytes(BYTES[:10])
    (path,) = data.fetch("tiny")
    assert path.read_bytes() == BYTES


def test_unknown_dataset_lists_the_known_ones(fake):
    with pytest.raises(data.DataError, match="unknown dataset 'nope'; the manifest has tiny"):
        data.fetch("nope")


def test_filters_that_remove_everything_say_which():
    with pytest.raises(data.DataError, match="placeholder or note marks"):
        data.filter_poems([POEMS[2]], data.PoemFilter(), source="x.json")
    with pytest.raises(data.DataError, match=r"length filter 100\.\.200 characters removed all 2 poems"):
        data.filter_poems(POEMS[:2], data.PoemFilter(min_len=100, max_len=200), source="x.json")
    with pytest.raises(data.DataError, match="no poem has any text"):
        data.filter_poems([{"title": "t"}], data.PoemFilter(), source="x.json")


def test_vocabulary_has_pad_unk_eos_and_min_count():
    vocab = data.build_vocab(["春眠不觉晓", "春风"], min_count=2)
    assert vocab.to_index(data.PAD) == 0 and vocab.to_index(data.UNK) == 1
    assert vocab.to_index("春") not in (0, 1)
    assert vocab.to_index("晓") == 1  # seen once: below min_count
    assert data.encode(["春晓"], vocab) == [[vocab.to_index("春"), 1, vocab.to_index(data.EOS)]]


def test_split_is_reproducible_and_disjoint():
    items = list(range(100))
    a = data.train_dev_split(items, 0.2, seed=3)
    assert a == data.train_dev_split(items, 0.2, seed=3)
    assert a != data.train_dev_split(items, 0.2, seed=4)
    train, dev = a
    assert len(dev) == 20 and sorted(train + dev) == items


def test_pad_batch():
    out = data.pad_batch([[1, 2, 3], [4]], pad_index=0)
    assert out.tolist() == [[1, 2, 3], [4, 0, 0]]


def test_manifest_pins_every_upstream_file():
    m = data.load_manifest()
    assert len(m["commit"]) == 40
    assert len(m["datasets"]["tang300"]) == 1 and len(m["datasets"]["tang_full"]) == 58
    paths = {f["path"] for f in m["files"]}
    assert paths == set(m["datasets"]["tang300"]) | set(m["datasets"]["tang_full"])
    for f in m["files"]:
        assert len(f["sha256"]) == 64 and f["size"] > 0


def test_the_real_small_corpus_is_clean():
    """Needs the corpus (make test fetches it first, from LSTMBOOK_DATA_MIRROR in CI)."""
    poems = data.load_poems("tang300")
    assert len(poems) > 250
    assert not any(c in p for p in poems for c in data.BAD_CHARS)
    assert all(10 <= len(p) <= 64 for p in poems)
    text = "".join(poems)
    assert "詩" not in text and "風" not in text  # traditional forms are gone


def test_an_unknown_start_character_is_named_with_a_way_out():
    vocab = data.build_vocab(["春眠不觉晓，处处闻啼鸟。", "春风又绿江南岸。"], min_count=1)
    assert vocab.to_word(data.start_index(vocab, "春")) == "春"
    with pytest.raises(ValueError) as err:
        data.start_index(vocab, "龘")
    message = str(err.value)
    assert "'龘'" in message and "unknown='unk'" in message and "春" in message
    assert data.start_index(vocab, "龘", unknown="unk") == vocab.to_index(data.UNK)
    for bad in ("<eos>", "春风", ""):
        with pytest.raises(ValueError):
            data.start_index(vocab, bad)
    with pytest.raises(ValueError, match="use 'error' or 'unk'"):
        data.start_index(vocab, "春", unknown="skip")
