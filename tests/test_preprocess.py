"""models/preprocess.py: the batch a model receives, and what building it holds in memory."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from PIL import Image

from iconodex.models.preprocess import ImageSpec, fit_image, preprocess

OFFLINE = ImageSpec(size=(256, 256), mode="shortest", crop=(224, 224), mean=(127.0,) * 3, std=(128.0,) * 3,
                    resample=Image.Resampling.BICUBIC, rescale=1.0)
CLIP = ImageSpec(size=(224, 224), mode="shortest", crop=(224, 224), mean=(0.48145466, 0.4578275, 0.40821073),
                 std=(0.26862954, 0.26130258, 0.27577711), resample=Image.Resampling.BICUBIC, round_crop=True)
SIGLIP = ImageSpec(size=(224, 224), mode="squash", crop=None, mean=(0.5,) * 3, std=(0.5,) * 3,
                   resample=Image.Resampling.BILINEAR)


def _pictures(count: int, size: tuple[int, int], seed: int = 0) -> list[Image.Image]:
    """Noise pictures whose first rows hold every byte value in every channel."""
    rng = np.random.default_rng(seed)
    pictures = []
    for _ in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        pixels[:2, :128] = np.arange(256, dtype=np.uint8).reshape(2, 128, 1)
        pictures.append(Image.fromarray(pixels))
    return pictures


def _four_passes(images: list[Image.Image], spec: ImageSpec) -> np.ndarray:
    """The normalisation as the models' own processors write it: float, rescale, minus mean, over std."""
    pixels = np.stack([np.asarray(fit_image(image, spec)) for image in images]).astype(np.float32)
    pixels *= np.float32(spec.rescale)
    pixels -= np.asarray(spec.mean, dtype=np.float32)
    pixels /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(pixels.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("spec", [OFFLINE, CLIP, SIGLIP], ids=["offline", "clip", "siglip"])
def test_normalisation_equals_the_four_pass_reference(spec):
    images = _pictures(3, (300, 260)) + [_pictures(1, (224, 224), seed=1)[0].convert("L")]
    ours = preprocess(images, spec)
    assert ours.dtype == np.float32 and ours.shape == (4, 3, 224, 224) and ours.flags.c_contiguous
    np.testing.assert_allclose(ours, _four_passes(images, spec), rtol=0, atol=1e-6)


def test_building_a_batch_holds_one_float_copy_of_it():
    """The normalisation writes each picture's pixels once, into the batch it returns: no float
    copies of the whole batch on the way (a 32-picture batch is 19 MB; four passes held 2.25 times that)."""
    fitted = [fit_image(image, OFFLINE) for image in _pictures(16, (224, 224))]
    preprocess(fitted[:1], OFFLINE)  # anything built once per spec is built outside the measure
    tracemalloc.start()
    try:
        batch = preprocess(fitted, OFFLINE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.1 * batch.nbytes, f"peak {peak / batch.nbytes:.2f}× the batch"
