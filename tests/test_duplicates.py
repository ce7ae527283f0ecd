"""Near-duplicates: the pHash matches imagehash's, the Hamming leg finds what brute force finds,
and a real collection groups edited copies with their originals and nothing else."""

from __future__ import annotations

import itertools
import json

import imagehash
import numpy as np
import pytest
from _formats_helpers import SKIMAGE, copy_pictures
from click.testing import CliRunner
from PIL import Image

from iconodex import Collection
from iconodex.cli import cli
from iconodex.duplicates import UnionFind, find_duplicates, hamming, hash_pairs, phash
from iconodex.models.catalog import DUPLICATE_SCORES


def test_phash_matches_imagehash():
    for name in ("chelsea.png", "camera.png", "rocket.jpg"):
        image = Image.open(SKIMAGE / name)
        assert f"{phash(image):016x}" == str(imagehash.phash(image))


def test_hash_pairs_equal_brute_force():
    rng = np.random.default_rng(4)
    hashes = rng.integers(0, 2**63, size=300, dtype=np.int64).astype(np.uint64)
    for i in range(0, 60, 2):  # plant near-copies 0..12 bits apart
        bits = rng.choice(64, size=i % 13, replace=False).astype(np.uint64)
        hashes[i + 1] = hashes[i] ^ np.bitwise_or.reduce(np.uint64(1) << bits) if len(bits) else hashes[i]
    keys = np.arange(1000, 1300, dtype=np.int64)
    found = {tuple(sorted(map(int, p))) for p in hash_pairs(keys, hashes, max_distance=8)}
    expected = {(int(keys[a]), int(keys[b])) for a, b in itertools.combinations(range(300), 2)
                if hamming(int(hashes[a]), int(hashes[b])) <= 8}
    assert found == expected and len(expected) >= 20


def test_union_find_groups():
    union = UnionFind()
    for a, b in ((5, 3), (3, 9), (7, 8), (1, 1)):
        union.union(a, b)
    assert union.groups() == [[3, 5, 9], [7, 8]]


@pytest.fixture(scope="module")
def edited_collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("dups")
    folder = root / "pictures"
    copy_pictures(folder, ("astronaut.png", "chelsea.png", "coffee.png", "horse.png", "rocket.jpg", "camera.png"))
    chelsea, coffee = Image.open(folder / "chelsea.png").convert("RGB"), Image.open(folder / "coffee.png").convert("RGB")
    chelsea.save(folder / "chelsea_q30.jpg", "JPEG", quality=30)
    w, h = chelsea.size
    chelsea.crop((w // 40, h // 40, w - w // 40, h - h // 40)).save(folder / "chelsea_crop.jpg", "JPEG")
    coffee.resize((coffee.width // 2, coffee.height // 2)).save(folder / "coffee_half.png")
    coll = Collection.create(root / "coll")
    coll.ingest(str(folder))
    return coll, folder


def test_edited_copies_are_grouped_with_their_originals(edited_collection):
    coll, folder = edited_collection
    report = find_duplicates(coll)
    groups = [sorted(item["id"] for item in group) for group in report.groups]
    assert groups == [["chelsea.png", "chelsea_crop.jpg", "chelsea_q30.jpg"], ["coffee.png", "coffee_half.png"]]
    assert report.hashed == 9 and report.failed == []
    first_group = report.groups[0]
    assert all("score" in item and "hamming" in item for item in first_group[1:])


def test_the_embedding_leg_uses_the_threshold_measured_for_the_collections_model(edited_collection, monkeypatch):
    """Each network's features move differently under an edit, so the cosine is looked up per model
    and variant (models.catalog.DUPLICATE_SCORES) rather than fixed."""
    coll, _ = edited_collection
    assert coll.identity["variant"] == "lite2"
    monkeypatch.setitem(DUPLICATE_SCORES, "offline-lite2", -1.0)  # every neighbour counts
    everything = find_duplicates(coll, hash_distance=None)
    assert [len(group) for group in everything.groups] == [9]
    monkeypatch.setitem(DUPLICATE_SCORES, "offline-lite2", 1.01)  # none does
    assert find_duplicates(coll, hash_distance=None).groups == []
    assert len(find_duplicates(coll, hash_distance=None, min_score=-1.0).groups) == 1  # a given one wins


def test_hashes_are_cached(edited_collection, tmp_path):
    coll, folder = edited_collection
    find_duplicates(coll, min_score=None)
    moved = tmp_path / "moved.png"
    (folder / "horse.png").rename(moved)  # unreadable now: only the cache can answer
    try:
        report = find_duplicates(coll, min_score=None)
        assert report.hashed == 9 and report.failed == []
    finally:
        moved.rename(folder / "horse.png")


def test_cli_json_and_html(edited_collection, tmp_path):
    coll, _ = edited_collection
    out = CliRunner().invoke(cli, ["duplicates", "-c", str(coll.path), "-o", str(tmp_path / "g.json"),
                                   "--html", str(tmp_path / "g.html"), "--no-embedding"])
    assert out.exit_code == 0, out.output
    groups = json.loads((tmp_path / "g.json").read_text())
    assert [g["size"] for g in groups] == [3, 2]
    assert (tmp_path / "g.html").read_text().count("data:image/jpeg;base64,") == 5
