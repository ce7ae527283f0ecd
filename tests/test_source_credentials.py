"""No credential given to a source is ever written to the collection or printed.

Real servers on 127.0.0.1 (the Omeka S API over the real fixture documents, refusing requests without
keys; a IIIF manifest behind a token), a real collection (SQLite in WAL mode, the USearch index, the
cache), the real command line; every byte under the collection directory is searched for the secrets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _cli import run_cli as cli
from _servers_harvest import FIXTURES, AppServer, OmekaFixture, Reply, jpeg_bytes

from iconodex import Collection

IDENTITY = "ident-5c1e7a90d2"
CREDENTIAL = "cred-9f8e7d6c5b4a"
PASSWORD = "pw-31415926535"
SECRETS = (IDENTITY, CREDENTIAL, PASSWORD)




def leaked(directory: Path) -> list[str]:
    """Which secrets appear in any file under ``directory`` (the SQLite file, its WAL, index, cache…)."""
    found = []
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {secret}" for secret in SECRETS if secret.encode() in data]
    return found


@pytest.fixture()
def omeka():
    with OmekaFixture(keys=(IDENTITY, CREDENTIAL)) as server:
        yield server


def test_omeka_keys_in_a_pasted_url_are_used_but_never_stored_or_printed(tmp_path, omeka, capsys):
    host = omeka.base.removeprefix("http://")
    query = f"item_set_id=10780&key_identity={IDENTITY}&key_credential={CREDENTIAL}"
    spec = f"http://reader:{PASSWORD}@{host}/api/items?{query}"
    coll_dir = tmp_path / "coll"
    with Collection.create(coll_dir, model="offline") as coll:
        report = coll.ingest(spec, options={"site": "sgb"})  # a page link, made from the spec's host
        assert report.added == 1 and report.indexed == 1 and report.harvest.complete
        assert coll.get("10777").links["page"] == f"{omeka.base}/s/sgb/item/10777"
        assert (coll_dir / "iconodex.db-wal").is_file()  # searched while the WAL still holds the writes
        assert leaked(coll_dir) == []
        assert all(secret not in json.dumps(report.to_dict()) for secret in SECRETS)
    assert leaked(coll_dir) == []

    code, out, _ = cli(capsys, "info", "-c", str(coll_dir), "--json")
    (source,) = json.loads(out)["sources"]
    assert code == 0 and not any(secret in out for secret in SECRETS)
    assert "key_credential=***" in source["spec"] and "***@" in source["spec"]  # that keys were used shows
    code, out, _ = cli(capsys, "info", "-c", str(coll_dir))
    assert code == 0 and "key_credential=***" in out and not any(secret in out for secret in SECRETS)


def test_a_rerun_without_keys_says_where_to_give_them_and_loses_nothing(tmp_path, omeka, capsys, monkeypatch):
    coll_dir, spec = str(tmp_path / "coll"), f"{omeka.base}/api/items?item_set_id=10780"  # one item: quick
    keys = ("-o", f"key_identity={IDENTITY}", "-o", f"key_credential={CREDENTIAL}")
    code, _, err = cli(capsys, "ingest", spec, "-c", coll_dir, "--quiet", *keys)
    assert code == 0 and "1 added" in err
    assert leaked(Path(coll_dir)) == []

    code, out, err = cli(capsys, "ingest", spec, "-c", coll_dir, "--quiet")
    message = (out + err).strip()
    assert code != 0 and "\n" not in message and "Traceback" not in message
    for where in ("-o key_identity=", "ICONODEX_OMEKA_KEY_CREDENTIAL", "omeka_key_credential", "iconodex.toml"):
        assert where in message
    with Collection.open(coll_dir, read_only=True) as coll:
        assert coll.stats()["items"] == 1  # the refused run deleted nothing

    monkeypatch.setenv("ICONODEX_OMEKA_KEY_IDENTITY", IDENTITY)
    monkeypatch.setenv("ICONODEX_OMEKA_KEY_CREDENTIAL", CREDENTIAL)
    code, _, err = cli(capsys, "ingest", spec, "-c", coll_dir, "--quiet")
    assert code == 0 and "1 unchanged" in err and "0 deleted" in err
    assert leaked(Path(coll_dir)) == []


def test_keys_from_the_config_file_are_used_and_not_copied_into_the_collection(tmp_path, omeka, capsys, monkeypatch):
    config = tmp_path / "secret.toml"
    config.write_text(f'omeka_key_identity = "{IDENTITY}"\nomeka_key_credential = "{CREDENTIAL}"\n')
    monkeypatch.setenv("ICONODEX_CONFIG", str(config))
    coll_dir = tmp_path / "coll"
    code, _, err = cli(capsys, "ingest", f"{omeka.base}/api/items", "-c", str(coll_dir), "--quiet", "-o", "item_set=10780")
    assert code == 0 and "1 added" in err
    assert leaked(coll_dir) == []


def test_any_source_spec_with_a_token_or_password_is_stored_masked(tmp_path, capsys):
    manifest = json.loads((FIXTURES / "iiif" / "cookbook_0001_v3_no_service.json").read_text())

    def answer(path: str, query: dict[str, str]) -> Reply:
        if path == "/manifest.json" and query.get("token") == CREDENTIAL:
            return Reply.json(manifest)
        if path == "/page1.png" and query.get("token") == CREDENTIAL:
            return Reply(200, jpeg_bytes(3), {"Content-Type": "image/jpeg"})
        return Reply(403, b"forbidden")

    with AppServer(answer) as server:
        body = manifest["items"][0]["items"][0]["items"][0]["body"]
        body["id"] = f"{server.base}/page1.png?token={CREDENTIAL}"
        host = server.base.removeprefix("http://")
        spec = f"http://viewer:{PASSWORD}@{host}/manifest.json?token={CREDENTIAL}"
        coll_dir = tmp_path / "coll"
        # IIIF takes no key option: refused, without echoing it, and nothing is made
        code, _, err = cli(capsys, "ingest", spec, "-c", str(coll_dir), "--source-type", "iiif", "--quiet",
                           "-o", f"api_key={IDENTITY}")
        assert code == 2 and "no option 'api_key'" in err and not any(secret in err for secret in SECRETS)
        assert not coll_dir.exists()
        code, _, err = cli(capsys, "ingest", spec, "-c", str(coll_dir), "--source-type", "iiif", "--quiet")
    assert code == 0 and "1 added" in err and "1 indexed" in err
    code, out, _ = cli(capsys, "info", "-c", str(coll_dir), "--json")
    assert "token=***" in json.loads(out)["sources"][0]["spec"]
    assert not any(secret in out for secret in SECRETS)
    # the picture's own URL carries the token too: the collection keeps it (it is the item's image), so
    # only the source's spec, name and options are checked here
    with Collection.open(coll_dir, read_only=True) as coll:
        row = coll.store.conn.execute("SELECT name, spec, options FROM sources").fetchone()
    assert not any(secret in " ".join(row) for secret in SECRETS)


def test_public_options_hide_credentials_and_mask_urls():
    from iconodex.redact import public_options

    options = {"api_key": "k", "token": "t", "key_credential": "c", "per_page": 10, "empty_token": "",
               "endpoint": f"https://u:{PASSWORD}@example.org/sparql?apikey={CREDENTIAL}&q=1",
               "urls": [f"https://example.org/?access_token={CREDENTIAL}"], "properties": "dcterms:title"}
    public = public_options(options)
    assert public["api_key"] == public["token"] == public["key_credential"] == "***"
    assert public["per_page"] == 10 and public["empty_token"] == "" and public["properties"] == "dcterms:title"
    assert public["endpoint"] == "https://***@example.org/sparql?apikey=***&q=1"
    assert not any(secret in json.dumps(public) for secret in SECRETS)


def test_credentials_an_older_version_stored_are_scrubbed_and_never_shown(tmp_path, omeka, capsys):
    coll_dir = tmp_path / "coll"
    with Collection.create(coll_dir, model="offline") as coll:
        coll.ingest(f"{omeka.base}/api/items?item_set_id=10780&key_identity={IDENTITY}&key_credential={CREDENTIAL}")
        old_name = f"omeka:http://reader:{PASSWORD}@127.0.0.1"  # as iconodex wrote it before keys were kept out
        old_spec = f"{omeka.base}/api/items?key_identity={IDENTITY}&key_credential={CREDENTIAL}"
        with coll.store.transaction() as conn:
            conn.execute("UPDATE sources SET name = ?, spec = ?, options = ?",
                         (old_name, old_spec, json.dumps({"key_identity": IDENTITY, "key_credential": CREDENTIAL})))
            conn.execute("UPDATE items SET source = ?", (old_name,))
    assert leaked(coll_dir)  # the files hold them now, as an old collection does

    code, out, _ = cli(capsys, "info", "-c", str(coll_dir), "--json")  # read-only: nothing rewritten, nothing shown
    assert code == 0 and not any(secret in out for secret in SECRETS)

    with Collection.open(coll_dir) as coll:  # the first writable open scrubs them
        (source,) = coll.store.sources()
        assert source["name"] == "omeka:http://***@127.0.0.1" and coll.get("10777").source == source["name"]
    assert leaked(coll_dir) == []


def test_engine_keys_are_used_at_run_time_but_never_stored(tmp_path, monkeypatch, capsys):
    """A server engine's key (Qdrant ``api_key``, Milvus ``token``) given as --engine-option is not
    written to the collection: it is said to be used, and a later run takes it from the environment."""
    coll_dir = tmp_path / "coll"
    with Collection.create(coll_dir, model="offline", engine="qdrant",
                           engine_options={"api_key": CREDENTIAL, "collection_name": "pictures"}) as coll:
        assert coll.engine.inner.client is not None  # the engine opened with what was given
    assert leaked(coll_dir) == []
    code, out, _ = cli(capsys, "info", "-c", str(coll_dir), "--json")
    assert code == 0 and CREDENTIAL not in out
    with Collection.open(coll_dir) as coll:
        assert coll._config["engine_options"] == {"collection_name": "pictures", "api_key": "***"}
