"""Fixtures shared across the suite: real pictures, a real collection, the shared fixtures folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from iconodex import Collection
from iconodex.demo import write_pictures

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        pytest.skip(f"shared fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES


@pytest.fixture(scope="session")
def sample_pictures(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's pictures (scikit-image's) with their sidecar catalogue entries; read-only."""
    return write_pictures(tmp_path_factory.mktemp("sample") / "pictures")


@pytest.fixture
def pictures(sample_pictures: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the sample pictures."""
    target = tmp_path / "pictures"
    shutil.copytree(sample_pictures, target)
    return target


@pytest.fixture(scope="session")
def sample_collection(sample_pictures: Path, tmp_path_factory: pytest.TempPathFactory) -> Collection:
    """A collection of the sample pictures, ingested once per session; do not modify it."""
    coll = Collection.create(tmp_path_factory.mktemp("coll") / "c")
    coll.ingest(str(sample_pictures))
    yield coll
    coll.close()


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face hub cache, offline: models load only from what a test puts there."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache
