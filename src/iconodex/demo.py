"""``iconodex demo``: a collection built from pictures a package ships, answered offline.

The pictures come with scikit-image (``pip install 'iconodex[demo]'``); their catalogue entries
live in ``data/demo_catalogue.json`` and are written as sidecar JSON files, exactly as a user's
own folder would carry them.
"""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

from .collection import Collection
from .errors import ConfigError
from .search import SearchResult

SAMPLE_QUERIES = ("a cat", "une tasse de café", "Rakete", "galaxies in the night sky", "a motorbike")


def sample_pictures() -> Path:
    try:
        import skimage.data
    except ImportError:
        raise ConfigError("the demo uses the sample pictures that scikit-image ships: "
                          "pip install 'iconodex[demo]'") from None
    return Path(skimage.data.__file__).parent


def catalogue() -> dict[str, dict]:
    text = resources.files("iconodex").joinpath("data/demo_catalogue.json").read_text()
    return {name: entry for name, entry in json.loads(text).items() if not name.startswith("_")}


def write_pictures(target: Path) -> Path:
    """Copy the sample pictures and write a sidecar ``name.json`` for each."""
    source = sample_pictures()
    target.mkdir(parents=True, exist_ok=True)
    for name, entry in catalogue().items():
        if not (source / name).is_file():
            continue
        shutil.copy2(source / name, target / name)
        sidecar = target / f"{Path(name).stem}.json"
        if not sidecar.exists() or json.loads(sidecar.read_text()) != entry:
            sidecar.write_text(json.dumps(entry, ensure_ascii=False, indent=2))
    return target


def build(directory: Path, quiet: bool = False) -> Collection:
    """Write the pictures and ingest them (incrementally: a second run only checks)."""
    pictures = write_pictures(directory / "pictures")
    coll = Collection.open_or_create(directory / "collection")
    coll.ingest(str(pictures), source_type="folder", quiet=quiet)
    return coll


def sample_answers(coll: Collection, limit: int = 3) -> list[tuple[str, list[SearchResult]]]:
    answers = [(f'"{query}"', coll.search(query, limit=limit)) for query in SAMPLE_QUERIES]
    first = next(iter(coll.items()), None)
    if first is not None and first.image:
        answers.append((f"picture {first.id}", coll.search(image=first.image.location, limit=limit)))
        answers.append((f"more like {first.id}", coll.search(like=first.id, limit=limit)))
    return answers
