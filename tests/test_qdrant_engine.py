"""What is particular to the Qdrant engine (the shared contract is in test_engines_contract.py).

All of it runs in qdrant-client's embedded local mode: no Qdrant server is available here.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from iconodex.errors import ConfigError
from iconodex.index.qdrant_engine import QdrantEngine


def unit(rows: int, dims: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((rows, dims)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def engine(tmp_path):
    engine = QdrantEngine(tmp_path / "index")
    yield engine
    engine.close()


def test_one_collection_with_named_cosine_vectors(engine):
    engine.ensure_space("image", 8)
    engine.ensure_space("visual", 16)
    params = engine.client.get_collection("iconodex").config.params.vectors
    assert set(params) == {"image", "visual"}
    assert all(p.distance == models.Distance.COSINE for p in params.values())


def test_points_are_keyed_by_item_key_and_carry_no_payload(engine):
    engine.ensure_space("image", 4)
    engine.upsert("image", np.asarray([7, 9]), unit(2, 4, seed=1))
    points = engine.client.retrieve("iconodex", [7, 9], with_payload=True)
    assert sorted(p.id for p in points) == [7, 9]
    assert all(not p.payload for p in points)


def test_local_storage_defaults_inside_the_index_folder(tmp_path):
    engine = QdrantEngine(tmp_path / "index")
    engine.ensure_space("image", 4)
    engine.close()
    assert (tmp_path / "index" / "qdrant").is_dir()


def test_custom_path_and_collection_name(tmp_path):
    engine = QdrantEngine(tmp_path / "unused", path=str(tmp_path / "elsewhere"), collection_name="museum")
    engine.ensure_space("image", 4)
    assert engine.client.collection_exists("museum")
    engine.close()
    assert (tmp_path / "elsewhere").is_dir() and not (tmp_path / "unused").exists()


def test_url_and_path_together_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not both"):
        QdrantEngine(tmp_path, url="http://127.0.0.1:6333", path=str(tmp_path / "q"))


def test_second_process_on_local_storage_gets_one_line(engine, tmp_path):
    with pytest.raises(ConfigError, match="in use by another process"):
        QdrantEngine(tmp_path / "index")


def test_server_api_key_is_never_logged(tmp_path, caplog, monkeypatch):
    monkeypatch.setenv("QDRANT_API_KEY", "s3cret-key")
    with caplog.at_level(logging.INFO, logger="iconodex.index.qdrant_engine"):
        engine = QdrantEngine(tmp_path, url="http://user:pw@127.0.0.1:9/")  # nothing listens: lazy client
    engine.close()
    assert "127.0.0.1" in caplog.text
    assert "s3cret-key" not in caplog.text and "pw@" not in caplog.text


def test_new_space_by_migration_keeps_every_vector(engine, monkeypatch):
    """Servers before Qdrant 1.16 refuse new vector names: the engine recreates and copies."""
    engine.ensure_space("image", 8)
    engine.ensure_space("text", 4)
    image, text = unit(600, 8, seed=2), unit(300, 4, seed=3)
    keys = np.arange(1, 601)
    engine.upsert("image", keys, image)
    engine.upsert("text", keys[:300], text)

    def refuse(*args, **kwargs):
        raise UnexpectedResponse(404, "Not Found", b"{}", None)

    monkeypatch.setattr(engine.client, "create_vector_name", refuse)
    engine.ensure_space("visual", 16)
    assert engine.spaces() == {"image": 8, "text": 4, "visual": 16}
    assert engine.count("image") == 600 and engine.count("text") == 300 and engine.count("visual") == 0
    stored, present = engine.get("text", keys[250:310])
    assert present.tolist() == [True] * 50 + [False] * 10
    np.testing.assert_allclose(stored[:50], text[250:300], atol=1e-5)
    np.testing.assert_allclose(engine.get("image", keys)[0], image, atol=1e-5)
    assert not engine.client.collection_exists("iconodex__migrating")


def test_a_collection_without_named_vectors_is_refused(engine):
    engine.client.create_collection("iconodex", vectors_config=models.VectorParams(
        size=4, distance=models.Distance.COSINE))
    with pytest.raises(ConfigError, match="no named vectors"):
        engine.spaces()
