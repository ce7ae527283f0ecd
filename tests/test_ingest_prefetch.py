"""The local executor fetches and decodes the next chunk's pictures while the current one is embedded,
and still hands back every chunk exactly once, with every good picture's vector and every bad one's
reason; a picture fetched for a model is resampled once, from its reduced decode, to the model's input."""

from __future__ import annotations

import io
import time
from functools import partial
from pathlib import Path

import numpy as np
import pytest
from _images_fetch import jpeg_bytes
from _servers_fetch import Reply, scripted_server
from PIL import Image

from iconodex.collection import Collection
from iconodex.fetch.decode import decode_image
from iconodex.fetch.images import ImageFetcher
from iconodex.ingest.embedder import ChunkEmbedder
from iconodex.ingest.executors import LocalExecutor
from iconodex.ingest.pipeline import Pipeline
from iconodex.models.preprocess import ImageSpec, fit_image
from iconodex.progress import Stages
from iconodex.records import ImageRef
from iconodex.sources import open_source

SKIMAGE = Path(pytest.importorskip("skimage").__file__).parent / "data"
CLIP_LIKE = ImageSpec(size=(224, 224), mode="shortest", crop=(224, 224), mean=(0.0,) * 3, std=(1.0,) * 3,
                      resample=Image.Resampling.BICUBIC)


def _photo(name: str, size: tuple[int, int]) -> bytes:
    """A real photograph at camera-like size, as a JPEG."""
    picture = Image.open(SKIMAGE / name).convert("RGB").resize(size, Image.Resampling.BICUBIC)
    raw = io.BytesIO()
    picture.save(raw, format="JPEG", quality=90)
    return raw.getvalue()


def _pending_chunks(coll: Collection, source: str, size: int):
    """Harvest ``source`` into ``coll`` and read its pending items back in chunks, as ingest does."""
    pipeline = Pipeline(coll, Stages(None))
    pipeline.harvest(open_source(source, None, {}), "test", source, {})
    after = 0
    while work := coll.store.pending(size, after):
        after = work[-1].key
        yield work


def test_the_next_chunks_pictures_are_fetched_before_the_current_chunk_is_handed_back(tmp_path):
    with scripted_server() as server, Collection.create(tmp_path / "coll") as coll:
        urls = [server.route(f"/p{i}.jpg", Reply(200, jpeg_bytes((80, 60), (30 * i, 90, 200))))
                for i in range(6)]
        listing = tmp_path / "pictures.txt"
        listing.write_text("\n".join(urls) + "\n")
        executor = LocalExecutor(coll)
        stream = executor.embed_chunks(_pending_chunks(coll, str(listing), 3))
        first, _ = next(stream)  # the caller now holds chunk 1, as the pipeline does while committing it
        later = {f"/p{i}.jpg" for i in range(6)} - {f"/p{urls.index(w.item.image.location)}.jpg" for w in first}
        deadline = time.monotonic() + 5
        while not later & {hit.path for hit in server.hits} and time.monotonic() < deadline:
            time.sleep(0.02)
        assert later & {hit.path for hit in server.hits}, "nothing of the next chunk was fetched meanwhile"
        rest = list(stream)
        executor.close()
    assert len(rest) == 1 and {w.key for w in rest[0][0]}.isdisjoint({w.key for w in first})


@pytest.mark.parametrize(("chunk_size", "batch_size"), [(3, 2), (4, 16)])
def test_every_chunk_comes_back_once_with_its_own_vectors_and_a_bad_picture_fails_alone(
        tmp_path, chunk_size, batch_size):
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(11):
        Image.fromarray(np.full((60 + 7 * i, 90, 3), 20 * i, np.uint8)).save(folder / f"p{i:02d}.jpg")
    (folder / "p05.jpg").write_bytes(jpeg_bytes((90, 60))[:200])  # truncated
    (folder / "p08.jpg").write_bytes(b"<html>not a picture</html>")
    settings = {"chunk_size": chunk_size, "batch_size": batch_size}
    with Collection.create(tmp_path / "coll", settings=settings) as coll:
        chunks = list(_pending_chunks(coll, str(folder), chunk_size))
        executor = LocalExecutor(coll)
        returned = list(executor.embed_chunks(iter(chunks)))
        executor.close()
        model, fetcher = coll.model, coll.fetcher
        names = {w.key: Path(w.item.image.location).name for chunk in chunks for w in chunk}

        assert sorted(id(work) for work, _ in returned) == sorted(id(chunk) for chunk in chunks)
        for work, result in returned:
            keys = {w.key for w in work}
            assert set(result.failed) | set(result.vectors["image"]) == keys, "a key is missing or foreign"
            assert not set(result.failed) & set(result.vectors["image"])
            assert set(result.vectors["text"]) == keys - set(result.failed)
            for key, vector in result.vectors["visual"].items():
                alone = model.embed_images([fetcher.fetch(work[[w.key for w in work].index(key)].item.image).image])
                np.testing.assert_allclose(vector, alone["visual"][0], atol=1e-5)
        failed = {names[key]: reason for _, result in returned for key, reason in result.failed.items()}
    assert sorted(failed) == ["p05.jpg", "p08.jpg"]
    assert "truncated" in failed["p05.jpg"] and "HTML" in failed["p08.jpg"]


class _Recorded:
    """The collection's own encoder, noting the order of its calls (it does all the work itself)."""

    def __init__(self, encoder) -> None:
        self.encoder, self.calls = encoder, []

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def embed_images(self, images):
        self.calls.append(("pictures", len(images)))
        return self.encoder.embed_images(images)

    def embed_texts(self, texts, *, query):
        self.calls.append(("texts", len(texts)))
        return self.encoder.embed_texts(texts, query=query)


def test_texts_are_embedded_while_the_model_waits_for_pictures(tmp_path):
    with scripted_server() as server, Collection.create(tmp_path / "coll", settings={"batch_size": 2}) as coll:
        urls = [server.route(f"/p{i}.jpg", Reply(200, jpeg_bytes((80, 60), (30 * i, 90, 200)), delay=0.4))
                for i in range(4)]
        listing = tmp_path / "pictures.csv"
        listing.write_text("id,title,image\n" + "".join(f"p{i},a blue picture number {i},{url}\n"
                                                         for i, url in enumerate(urls)))
        recorded = _Recorded(coll.model)
        embedder = ChunkEmbedder(lambda: recorded, lambda: coll.fetcher, coll.settings, None)
        ((work, result),) = embedder.embed_chunks(_pending_chunks(coll, str(listing), 10))
    assert recorded.calls[0] == ("texts", 4), recorded.calls  # before the first slow picture came back
    assert sum(n for kind, n in recorded.calls if kind == "pictures") == 4
    assert set(result.vectors["text"]) == set(result.vectors["image"]) == {w.key for w in work}


def test_a_jpeg_fetched_for_a_model_is_resampled_once_from_its_reduced_decode(tmp_path):
    raw = _photo("astronaut.png", (2400, 1800))
    path = tmp_path / "astronaut.jpg"
    path.write_bytes(raw)
    fetcher = ImageFetcher(None, min_side=256)
    (_, fetched), = fetcher.fetch_many([ImageRef("path", str(path))], transform=partial(fit_image, spec=CLIP_LIKE))

    drafted = Image.open(io.BytesIO(raw))
    drafted.draft("RGB", (2400 * 256 // 1800 + 1, 256))  # the decode libjpeg does at 1/4 scale
    once = fit_image(drafted.convert("RGB"), CLIP_LIKE)
    assert drafted.size == (600, 450)
    difference = np.abs(np.asarray(fetched.image, np.int16) - np.asarray(once, np.int16))
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3

    full = np.asarray(fit_image(Image.open(io.BytesIO(raw)).convert("RGB"), CLIP_LIKE), np.float32)
    twice = fit_image(decode_image(raw, 256), CLIP_LIKE)  # the two resamplings ingest used to do
    assert np.abs(np.asarray(fetched.image, np.float32) - full).mean() < np.abs(np.asarray(twice, np.float32) - full).mean()


def test_by_default_the_model_embeds_pictures_in_batches_of_32(tmp_path):
    """The encoder's cost per picture falls with the batch (bench_ingest.py, pictures only: 22.0 against
    23.8 CPU ms per item at 32 and 16, 1.09x the rate); a chunk's last batch holds what is left."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(40):
        (folder / f"p{i:02d}.jpg").write_bytes(jpeg_bytes((90, 60), (6 * i, 90, 200)))
    with Collection.create(tmp_path / "coll", text_template="{no-such-field}") as coll:
        recorded = _Recorded(coll.model)
        embedder = ChunkEmbedder(lambda: recorded, lambda: coll.fetcher, coll.settings, coll.text_template)
        ((work, result),) = embedder.embed_chunks(_pending_chunks(coll, str(folder), 64))
    assert recorded.calls == [("pictures", 32), ("pictures", 8)]
    assert len(result.vectors["image"]) == len(work) == 40
