"""While ingest embeds, NumPy's BLAS runs in the calling thread: the fetch threads and the model's own
threads already use every core, and a BLAS pool's threads only spin against them between calls."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from threadpoolctl import threadpool_info, threadpool_limits

from iconodex.collection import Collection
from iconodex.ingest.blas import one_blas_thread


def _blas_threads() -> int:
    return max(info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas")


@pytest.fixture
def two_blas_threads():
    """NumPy's BLAS set to two threads for the test (what it picks by itself on two cores)."""
    with threadpool_limits(2, user_api="blas"):
        if _blas_threads() < 2:
            pytest.skip("this NumPy's BLAS runs on one thread only")
        yield


def test_ingest_embeds_with_one_blas_thread_and_gives_the_pool_back(two_blas_threads, tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    for shade in range(3):
        Image.fromarray(np.full((120, 160, 3), 60 * shade, np.uint8)).save(pictures / f"p{shade}.jpg")
    seen = []
    with Collection.create(tmp_path / "coll") as coll:
        embed_images = coll.model.embed_images

        def embed_and_look(images):
            seen.append(_blas_threads())
            return embed_images(images)

        coll.model.embed_images = embed_and_look
        report = coll.ingest(str(pictures))
    assert report.indexed and seen and set(seen) == {1}
    assert _blas_threads() == 2


def test_overlapping_scopes_give_the_pool_back_when_the_last_one_ends(two_blas_threads):
    """Two ingest streams in one thread open and close their scopes out of order."""
    first, second = one_blas_thread(), one_blas_thread()
    first.__enter__()
    second.__enter__()
    assert _blas_threads() == 1
    first.__exit__(None, None, None)
    assert _blas_threads() == 1, "the second stream is still embedding"
    second.__exit__(None, None, None)
    assert _blas_threads() == 2
