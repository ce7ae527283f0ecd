"""Settings: defaults, then config files, then ICONODEX_* variables, then options."""

from __future__ import annotations

import pytest

from iconodex.config import Settings, load_settings
from iconodex.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in ("ICONODEX_CONFIG", "ICONODEX_WORKERS", "ICONODEX_ALPHA", "ICONODEX_LANGUAGES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)


def test_defaults():
    assert load_settings() == Settings()


def test_precedence_file_then_environment_then_options(tmp_path, monkeypatch):
    (tmp_path / "xdg" / "iconodex").mkdir(parents=True)
    (tmp_path / "xdg" / "iconodex" / "config.toml").write_text("[iconodex]\nworkers = 3\nalpha = 0.2\n")
    coll = tmp_path / "coll"
    coll.mkdir()
    (coll / "iconodex.toml").write_text('alpha = 0.7\nlanguages = ["fr", "en"]\n')
    settings = load_settings(coll)
    assert (settings.workers, settings.alpha, settings.languages) == (3, 0.7, ["fr", "en"])

    monkeypatch.setenv("ICONODEX_WORKERS", "5")
    monkeypatch.setenv("ICONODEX_LANGUAGES", "de, it")
    monkeypatch.setenv("ICONODEX_API_KEY", "not a setting, and ignored")
    settings = load_settings(coll)
    assert (settings.workers, settings.languages) == (5, ["de", "it"])
    assert load_settings(coll, {"workers": "9", "alpha": None}).workers == 9


def test_bad_settings_are_one_line_errors(tmp_path, monkeypatch):
    (tmp_path / "iconodex.toml").write_text("wrokers = 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'wrokers'"):
        load_settings()
    (tmp_path / "iconodex.toml").write_text("workers = [\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_settings()
    (tmp_path / "iconodex.toml").unlink()
    monkeypatch.setenv("ICONODEX_WORKERS", "many")
    with pytest.raises(ConfigError, match="not a valid int"):
        load_settings()


@pytest.mark.parametrize("key, value, said", [
    ("chunk_size", "0", "chunk_size must be at least 1"),  # an ingest of chunks of 0 embedded nothing, silently
    ("workers", "-1", "workers must be at least 1"),
    ("batch_size", "0", "batch_size must be at least 1"),
    ("timeout", "0", "timeout must be more than 0"),
    ("deadline", "nan", "deadline must be more than 0"),
    ("alpha", "1.5", "alpha must be between 0 and 1"),
    ("retries", "-2", "retries must be at least 0"),
    ("offline", "maybe", "offline: 'maybe' is not yes or no"),
])
def test_a_setting_out_of_its_range_is_refused_in_one_line(key, value, said):
    with pytest.raises(ConfigError, match=said):
        load_settings(None, {key: value})
    assert load_settings(None, {key: {"offline": "yes", "alpha": "1"}.get(key, "1")})  # a sound value passes


def test_a_setting_given_as_a_number_is_checked_as_well(tmp_path):
    (tmp_path / "iconodex.toml").write_text("chunk_size = 0\n")
    with pytest.raises(ConfigError, match="iconodex.toml: chunk_size must be at least 1"):
        load_settings()


@pytest.mark.parametrize(("line", "said"), [("workers = 2.5", "not a whole number"), ("alpha = [1]", "not a number"),
                                            ("timeout = {a = 1}", "not a number")])
def test_a_number_in_a_config_file_must_be_one_of_the_right_kind(tmp_path, line, said):
    """A list where a number belongs crashed the range check ("unexpected TypeError"); 2.5 workers was kept."""
    (tmp_path / "iconodex.toml").write_text(line + "\n")
    with pytest.raises(ConfigError, match=said):
        load_settings()
    (tmp_path / "iconodex.toml").write_text("workers = 3.0\n")
    assert load_settings().workers == 3 and isinstance(load_settings().workers, int)


@pytest.fixture
def inference_threads_restored():
    from iconodex.models.threads import set_inference_threads

    yield
    set_inference_threads(0)


def test_the_threads_setting_caps_the_models_inference_threads(tmp_path, monkeypatch, inference_threads_restored):
    import os

    from iconodex import Collection
    from iconodex.models import e5_text

    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs two cores to tell one thread from all")
    monkeypatch.setenv("ICONODEX_THREADS", "1")
    coll = Collection.create(tmp_path / "coll")
    session = coll.model._session
    assert session.get_session_options().intra_op_num_threads == 1
    e5_text.embed(["a mountain lake", "a red rocket"], query=False)
    assert e5_text._openmp().omp_get_max_threads() == 1  # a batch of texts, on the one thread allowed
