"""The collection map (iconodex.map, `iconodex map`): layout, clusters, names, storage, re-runs.

A labelled collection: CATEGORIES groups of items whose similar-space vectors scatter around one
centre per group and whose titles name the group, written through the real store and engine.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import skimage
from _cli import run_cli
from _serve_fixtures import serve
from PIL import Image, ImageOps

from iconodex import Collection
from iconodex.errors import NotFoundError
from iconodex.map import build_map, class_names, map_clusters, map_points, write_map
from iconodex.map_atlas import CELL, EMPTY, SIDE, atlas_jpeg, build_atlases
from iconodex.records import ImageRef, SourceRecord
from iconodex.serve import ServeSettings

CATEGORIES = ["harbour", "cathedral", "orchard", "locomotive", "violin", "glacier"]
PER_CATEGORY = 100
DIMS = 64
NOISE = 0.22  # per dimension: same-category 10-NN share in the original space ≈ 0.94, not 1
NEIGHBOURS = 10


def _vectors(rng: np.random.Generator, labels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    vectors = centres[labels] + NOISE * rng.standard_normal((len(labels), DIMS))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def item_links(item: str) -> dict[str, str]:
    """A catalogue page and a IIIF manifest, as a IIIF or Omeka S source records them."""
    return {"page": f"https://museum.example/objects/{item}", "manifest": f"https://museum.example/iiif/{item}.json"}


def add_items(coll: Collection, labels: np.ndarray, first: int, rng: np.random.Generator,
              centres: np.ndarray, links: bool = False) -> list[str]:
    records = [SourceRecord(id=f"item-{first + i}", image=None, title=f"{CATEGORIES[label]} view {first + i}",
                            metadata={"place": f"{CATEGORIES[label]} county"},
                            links=item_links(f"item-{first + i}") if links else {})
               for i, label in enumerate(labels.tolist())]
    run, _ = coll.store.begin_run("labelled", "synthetic", "synthetic", {})
    coll.store.upsert_records(records, "labelled", run)
    key_of = coll.store.keys_for_ids([r.id for r in records])
    keys = [key_of[r.id] for r in records]
    hashes = {key: f"{CATEGORIES[label]}-{key}" for key, label in zip(keys, labels.tolist(), strict=True)}  # as fetched
    coll.commit_chunk({"visual": dict(zip(keys, _vectors(rng, labels, centres), strict=True))}, keys, {}, hashes, [])
    coll.index_keys(keys)
    coll.store.mark_indexed(keys)
    return [r.id for r in records]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> tuple:
    rng = np.random.default_rng(7)
    centres = rng.standard_normal((len(CATEGORIES), DIMS))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(len(CATEGORIES)), PER_CATEGORY)
    path = tmp_path_factory.mktemp("map") / "coll"
    with Collection.create(path) as coll:
        add_items(coll, labels, 0, rng, centres)
        report = build_map(coll)
    return path, labels, centres, report


def _copy(labelled, tmp_path):
    path = tmp_path / "coll"
    shutil.copytree(labelled[0], path)
    return path


def same_label_share(points: np.ndarray, labels: np.ndarray, cosine: bool) -> float:
    """Share of each point's NEIGHBOURS nearest points that carry its label."""
    distance = -points @ points.T if cosine else ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(distance, np.inf)
    nearest = np.argsort(distance, axis=1)[:, :NEIGHBOURS]
    return float((labels[nearest] == labels[:, None]).mean())


def test_map_keeps_same_category_neighbours_together(labelled):
    path, labels, centres, report = labelled
    assert report.refitted and report.placed == len(labels)
    with Collection.open(path, read_only=True) as coll:
        points = map_points(coll.store)
        ids, vectors = next(coll.vectors("visual", [f"item-{i}" for i in range(len(labels))], batch=len(labels)))
    assert ids == [f"item-{i}" for i in range(len(labels))]
    by_id = {p["id"]: (p["x"], p["y"]) for p in points}
    xy = np.array([by_id[item] for item in ids])
    original = same_label_share(vectors, labels, cosine=True)
    on_map = same_label_share(xy, labels, cosine=False)
    assert 0.85 < original < 0.98, original  # the labelled set is not trivially separable
    assert on_map >= 0.95 * original, (on_map, original)
    assert xy.min() >= 0 and xy.max() <= 1000.001


def test_clusters_are_named_by_their_distinctive_catalogue_words(labelled):
    path, labels, _, _ = labelled
    with Collection.open(path, read_only=True) as coll:
        clusters = map_clusters(coll.store)
        points = map_points(coll.store)
    assert len(clusters) >= len(CATEGORIES) - 1
    by_cluster = {c["cluster"]: c for c in clusters}
    for cluster in clusters:
        assert cluster["terms"][0] in CATEGORIES, cluster
        assert "view" not in cluster["terms"] and "county" not in cluster["terms"]  # in every cluster: not distinctive
    label_of = {f"item-{i}": CATEGORIES[label] for i, label in enumerate(labels.tolist())}
    clustered = [p for p in points if p["cluster"] >= 0]
    assert len(clustered) >= 0.8 * len(points)
    agree = sum(by_cluster[p["cluster"]]["terms"][0] == label_of[p["id"]] for p in clustered)
    assert agree >= 0.95 * len(clustered)


def test_rerun_places_new_items_into_the_kept_layout(labelled, tmp_path):
    _, labels, centres, _ = labelled
    path = _copy(labelled, tmp_path)
    with Collection.open(path) as coll:
        before = {p["id"]: (p["x"], p["y"]) for p in map_points(coll.store)}
        new_ids = add_items(coll, np.full(20, 3), len(labels), np.random.default_rng(1), centres)
        report = build_map(coll)
        after = {p["id"]: (p["x"], p["y"]) for p in map_points(coll.store)}
        assert not report.refitted and report.placed == 20 and report.kept == len(labels)
        assert all(after[item] == point for item, point in before.items())
        locomotives = np.array([before[f"item-{i}"] for i in np.flatnonzero(labels == 3)])
        others = np.array([before[f"item-{i}"] for i in np.flatnonzero(labels != 3)])
        for item in new_ids:  # nearer the locomotives' points than anything else's
            here = np.array(after[item])
            assert np.linalg.norm(locomotives - here, axis=1).min() < np.linalg.norm(others - here, axis=1).min()
        assert build_map(coll, refit=True).refitted


def test_an_item_whose_picture_changed_moves_to_its_new_neighbours(labelled, tmp_path):
    _, labels, centres, _ = labelled
    path = _copy(labelled, tmp_path)
    with Collection.open(path) as coll:
        before = {p["id"]: (p["x"], p["y"]) for p in map_points(coll.store)}
        add_items(coll, np.array([3]), 0, np.random.default_rng(2), centres)  # item-0: a harbour, now a locomotive
        report = build_map(coll)
        after = {p["id"]: (p["x"], p["y"]) for p in map_points(coll.store)}
    assert not report.refitted and report.placed == 1 and report.kept == len(labels) - 1
    assert all(after[item] == point for item, point in before.items() if item != "item-0")
    locomotives = np.array([before[f"item-{i}"] for i in np.flatnonzero(labels == 3)])
    harbours = np.array([before[f"item-{i}"] for i in np.flatnonzero(labels == 0) if i != 0])
    here = np.array(after["item-0"])
    assert np.linalg.norm(locomotives - here, axis=1).min() < np.linalg.norm(harbours - here, axis=1).min()


def test_a_map_made_before_pictures_were_recorded_keeps_every_point(labelled, tmp_path):
    path = _copy(labelled, tmp_path)
    with Collection.open(path) as coll:
        build_atlases(coll)
        before = {p["id"]: (p["x"], p["y"]) for p in map_points(coll.store)}
    with sqlite3.connect(path / "iconodex.db") as conn:  # as schema version 3 left it
        conn.execute("ALTER TABLE map_points DROP COLUMN picture")
        cells = json.loads(conn.execute("SELECT cells FROM map_atlases").fetchone()[0])
        conn.execute("UPDATE map_atlases SET cells = ?", (json.dumps([key for key, _ in cells]),))
        conn.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    conn.close()
    with Collection.open(path) as coll:
        report = build_map(coll)
        assert report.placed == 0 and {p["id"]: (p["x"], p["y"]) for p in map_points(coll.store)} == before


def test_deleted_items_leave_the_map(labelled, tmp_path):
    path = _copy(labelled, tmp_path)
    with Collection.open(path) as coll:
        coll.delete(["item-0", "item-1"])
        ids = {p["id"] for p in map_points(coll.store)}
    assert "item-0" not in ids and "item-2" in ids


def test_map_command_reports_and_a_collection_without_vectors_is_one_line(labelled, tmp_path, capsys):
    path = _copy(labelled, tmp_path)
    status, out, _ = run_cli(capsys, "map", "-c", str(path))
    assert status == 0 and "600 kept" in out and "clusters" in out
    Collection.create(tmp_path / "empty").close()
    status, out, err = run_cli(capsys, "map", "-c", str(tmp_path / "empty"))
    assert status == 2 and err.count("\n") == 1 and "ingest some first" in err


def test_perplexity_option_lays_the_map_out_anew(labelled, tmp_path, capsys):
    path = _copy(labelled, tmp_path)
    with Collection.open(path, read_only=True) as coll:
        before = {p["id"]: (p["x"], p["y"]) for p in map_points(coll.store)}
    status, out, _ = run_cli(capsys, "map", "-c", str(path), "--perplexity", "30")
    assert status == 0 and "600 placed (new layout)" in out
    with Collection.open(path, read_only=True) as coll:
        assert {p["id"]: (p["x"], p["y"]) for p in map_points(coll.store)} != before


def test_reading_a_collection_never_mapped_is_one_line_error(tmp_path):
    Collection.create(tmp_path / "c").close()
    with sqlite3.connect(tmp_path / "c" / "iconodex.db") as conn:  # a store from before the map tables
        conn.execute("DROP TABLE map_points")
    conn.close()
    with Collection.open(tmp_path / "c", read_only=True) as coll, pytest.raises(NotFoundError, match="no map yet"):
        map_points(coll.store)


def test_map_routes_follow_the_read_rules_and_serve_cached_atlases(labelled, tmp_path):
    path = _copy(labelled, tmp_path)
    with Collection.open(path) as coll:
        assert build_atlases(coll) == 1
        assert build_atlases(coll) == 0  # cached: nothing changed, nothing drawn
        with serve(coll, ServeSettings(api_key="k" * 32, private=True)) as running, running.client() as client:
            assert client.get("/map/points").status_code == 401
            assert client.get("/map/atlas/0.jpg").status_code == 401
            page = client.get("/map")
            assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
            keyed = {"X-API-Key": "k" * 32}
            points = client.get("/map/points", headers=keyed).json()
            assert len(points["ids"]) == len(points["x"]) == len(labelled[1]) and points["atlas"]["count"] == 1
            clusters = client.get("/map/clusters", headers=keyed).json()["clusters"]
            assert {c["terms"][0] for c in clusters} <= set(CATEGORIES)
            atlas = client.get("/map/atlas/0.jpg", headers=keyed)
            assert atlas.headers["content-type"] == "image/jpeg"
            assert Image.open(io.BytesIO(atlas.content)).size == (SIDE, SIDE)
            missing = client.get("/map/atlas/9.jpg", headers=keyed)
            assert missing.status_code == 404 and "iconodex map" in missing.json()["error"]


def test_html_option_writes_a_page_that_loads_nothing_from_elsewhere(labelled, tmp_path, capsys):
    path = _copy(labelled, tmp_path)
    hostile = "</script><!-- <script>alert(1)</script>"
    with sqlite3.connect(path / "iconodex.db") as conn:
        conn.execute("UPDATE items SET title = ? WHERE id = 'item-0'", (hostile,))
    conn.close()
    status, out, _ = run_cli(capsys, "map", "-c", str(path), "--html", str(tmp_path / "map.html"))
    assert status == 0 and "map.html" in out
    page = (tmp_path / "map.html").read_text()
    assert "/static/" not in page and 'src="http' not in page and "data:image/jpeg;base64," in page
    assert page.count("<script") == 2 and '"item-599"' in page
    data = page.split('<script type="application/json" id="map-data">')[1].split("</script>")[0]
    assert json.loads(data)["titles"][0] == hostile  # inert inside the page, intact for the script


def test_atlas_draws_readable_pictures_and_a_grey_cell_for_one_that_is_gone(tmp_path):
    cat = Path(skimage.__file__).parent / "data" / "chelsea.png"
    with Collection.create(tmp_path / "c") as coll:
        run, _ = coll.store.begin_run("two", "synthetic", "synthetic", {})
        records = [SourceRecord(id="cat", title="cat", image=ImageRef("path", str(cat))),
                   SourceRecord(id="gone", title="gone", image=ImageRef("path", str(tmp_path / "gone.jpg")))]
        coll.store.upsert_records(records, "two", run)
        key_of = coll.store.keys_for_ids(["cat", "gone"])
        keys = np.array([key_of["cat"], key_of["gone"]])
        write_map(coll.store, keys, np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([-1, -1]), {}, [0, 0, 1])
        assert build_atlases(coll) == 1
        sheet = Image.open(io.BytesIO(atlas_jpeg(coll.store, 0))).convert("RGB")
    cat_cell = np.asarray(sheet.crop((0, 0, CELL, CELL)), dtype=float)
    gone_cell = np.asarray(sheet.crop((CELL + 4, 4, 2 * CELL - 4, CELL - 4)), dtype=float)  # JPEG blurs edges
    assert cat_cell.std() > 10  # a picture, not a flat cell
    assert np.abs(gone_cell - EMPTY).max() < 8


def test_an_atlas_redraws_the_cell_of_a_picture_that_changed(tmp_path):
    data = Path(skimage.__file__).parent / "data"
    with Collection.create(tmp_path / "c") as coll:
        keys = None
        for picture in ("chelsea.png", "coffee.png"):  # the catalogue's record now points at another file
            run, _ = coll.store.begin_run("one", "synthetic", "synthetic", {})
            coll.store.upsert_records([SourceRecord(id="item", title="item", image=ImageRef("path", str(data / picture)))],
                                      "one", run)
            keys = np.array(list(coll.store.keys_for_ids(["item"]).values()))
            write_map(coll.store, keys, np.array([[0.0, 0.0]]), np.array([-1]), {}, [0, 0, 1])
            assert build_atlases(coll) == 1
        cell = Image.open(io.BytesIO(atlas_jpeg(coll.store, 0))).convert("RGB").crop((0, 0, CELL, CELL))
    coffee = ImageOps.fit(Image.open(data / "coffee.png").convert("RGB"), (CELL, CELL))
    cat = ImageOps.fit(Image.open(data / "chelsea.png").convert("RGB"), (CELL, CELL))
    difference = {name: np.abs(np.asarray(cell, float) - np.asarray(picture, float)).mean()
                  for name, picture in (("coffee", coffee), ("cat", cat))}
    assert difference["coffee"] < difference["cat"] / 2, difference


def test_offline_model_clusters_are_also_named_by_their_imagenet_class(sample_collection):
    keys, _ = sample_collection.store.vectors_for("image", list(range(1, 1000)))
    items = sample_collection.store.get_many(keys.tolist())
    labels = np.array([0 if items[int(k)].id.endswith("chelsea.png") else 1 if items[int(k)].id.endswith("coffee.png")
                       else -1 for k in keys])
    names = class_names(sample_collection, keys, labels)
    assert set(names) == {0, 1}
    assert "cat" in names[0], names  # "a cat having a striped coat": the shipped name of ImageNet's tiger cat
    assert any(word in names[1] for word in ("espresso", "cup", "coffee")), names
