"""The benchmark's corpus: real, varied, deterministic images, so that runs on different days compare."""

from __future__ import annotations

import json
import statistics
from collections import Counter

import pytest
from PIL import Image

from bench import corpus
from imagescraper.validation import inspect_image

COUNT = 120


@pytest.mark.slow
def test_the_same_count_and_seed_give_the_same_files(tmp_path):
    first = corpus.build(tmp_path / "a", COUNT)
    second = corpus.build(tmp_path / "b", COUNT)
    assert first == second
    assert corpus.build(tmp_path / "a", COUNT, seed=7) != first


@pytest.mark.slow
def test_every_file_is_a_whole_image_of_the_planned_mix_and_size(tmp_path):
    files = corpus.build(tmp_path, COUNT)
    kinds: Counter = Counter()
    for entry in files:
        body = (tmp_path / entry["name"]).read_bytes()
        assert len(body) == entry["size"]
        assert corpus.MIN_BYTES <= len(body) <= corpus.MAX_BYTES, entry
        facts = inspect_image(body, max_pixels=50_000_000)
        with Image.open(tmp_path / entry["name"]) as image:
            mode = image.mode
        kinds[facts.format, facts.frames > 1, mode == "RGBA"] += 1
    assert kinds[("JPEG", False, False)] > COUNT * 0.7
    assert kinds[("PNG", False, True)] > 0, "PNGs with alpha"
    assert kinds[("GIF", True, False)] > 0, "animated GIFs"
    assert sum(kinds.values()) == COUNT
    assert 40_000 < statistics.median(entry["size"] for entry in files) < 90_000


def test_the_illustration_mix_is_at_least_35_percent_png(tmp_path):
    files = corpus.build(tmp_path, COUNT, mix="illustration")
    kinds = Counter(entry["name"].rsplit(".", 1)[1] for entry in files)
    assert kinds["png"] >= COUNT * 0.35, kinds
    assert kinds["jpg"] >= COUNT * 0.4 and kinds["gif"] > 0, kinds
    for entry in files:
        body = (tmp_path / entry["name"]).read_bytes()
        assert corpus.MIN_BYTES <= len(body) <= corpus.MAX_BYTES, entry
        inspect_image(body, max_pixels=50_000_000)
    # The mix is part of what a build is: the other mix is never reused in its place.
    assert corpus.build(tmp_path, COUNT) != files


def test_a_build_is_reused_only_when_it_matches(tmp_path, monkeypatch):
    files = corpus.build(tmp_path, 10)
    index = json.loads((tmp_path / "index.json").read_text())
    assert (index["count"], index["version"]) == (10, corpus.VERSION)
    # A marker in the index shows whether the next call rebuilt it.
    index["files"][0]["marker"] = True
    (tmp_path / "index.json").write_text(json.dumps(index))
    assert corpus.build(tmp_path, 10)[0].get("marker") is True
    monkeypatch.setattr(corpus, "VERSION", corpus.VERSION + 1)
    assert corpus.build(tmp_path, 10) == files
