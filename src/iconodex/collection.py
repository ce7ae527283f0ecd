"""A collection on disk: the one object the CLI, the server and the formats talk to.

```
coll/
  iconodex.db        SQLite (WAL): items, metadata, FTS5, status, vectors, settings
  index/<space>.<checksum>.usearch + spaces.json   the ANN indexes (derived, checked, rebuildable)
  reducers/<space>.npz                  a PCA fitted once, when --pca was asked for
  cache/             fetched image bytes
```
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .config import Settings, load_settings
from .errors import ConfigError, ModelMismatchError, ModelNotAvailableError, NotFoundError
from .index import ENGINES
from .index.base import VectorEngine
from .index.copy import copy_store
from .index.guard import CheckedEngine
from .ingest.documents import check_template
from .models import calibrated_name, load_model, options_for_recorded
from .models.base import Encoder, fetch_side
from .models.catalog import CUT_ALPHA, leg_scales, relevance_cut
from .models.threads import set_inference_threads
from .progress import stages
from .redact import HIDDEN, is_secret_name, public_options
from .reduce import Reducers
from .registry import check_options
from .search import Query, Searcher, SearchResults
from .search.hybrid import LegScale
from .sources import Source, open_source
from .store import Item, ItemStore

if TYPE_CHECKING:
    from PIL import Image

    from .fetch.confinement import Confinement
    from .fetch.http import HttpClient
    from .ingest.report import IngestReport

log = logging.getLogger(__name__)
DB_NAME = "iconodex.db"
MAX_NEIGHBOURS = 1000  # as the neighbours command allows
PCA_MIN_FIT = 1024
NO_MODEL = "none"  # an imported collection whose vectors came without a known model  # samples gathered before a PCA is fitted (or fewer, if that is all there is)


class Collection:
    """Open with :meth:`open`, make with :meth:`create`; both are cheap (the model loads lazily)."""

    def __init__(self, path: Path, store: ItemStore, settings: Settings, *, read_only: bool = False) -> None:
        self.path = path
        self.store = store
        self.settings = settings
        set_inference_threads(settings.threads)
        self.read_only = read_only
        self._config: dict[str, Any] = store.get_meta("collection", {})
        self._model: Encoder | None = None
        self._model_lock = threading.Lock()
        self._engine: CheckedEngine | None = None
        self._engine_secrets: dict[str, Any] = {}  # engine keys given to this process, never stored
        self._http: HttpClient | None = None
        self._fetcher = None
        self._reducers: Reducers | None = None
        self._pca_buffer: list[tuple] = []
        self._searcher: Searcher | None = None

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: str | Path, *, model: str = "offline", model_options: dict | None = None,
               dims: int | None = None, pca: int | None = None, engine: str | None = None,
               engine_options: dict | None = None, text_template: str | None = None,
               settings: dict | None = None) -> Collection:
        """Make a new collection; the model is loaded once to record what made the vectors."""
        path = Path(path)
        if (path / DB_NAME).exists():
            raise ConfigError(f"{path} is already a collection; open it instead")
        if dims and pca:
            raise ConfigError("choose --dims or --pca, not both")
        for name, value in (("--dims", dims), ("--pca", pca)):
            if value is not None and value < 2:
                raise ConfigError(f"{name} must be at least 2")
        check_template(text_template)
        resolved = load_settings(path, settings)
        set_inference_threads(resolved.threads)  # before the model opens its inference sessions
        encoder = load_model(model, **(model_options or {}))
        identity = encoder.describe()
        coll = cls._write_new(path, {
            # "auto" resolves to a concrete model once; the collection records which one it got.
            "model": identity.get("name", model) if model == "auto" else model,
            "model_options": model_options or {}, "identity": identity,
            "similar_space": encoder.similar_space, "native_spaces": encoder.spaces,
            "dims": dims, "pca": pca, "engine": engine or "usearch", "engine_options": engine_options or {},
            "text_template": text_template,
        }, resolved)
        coll._model = encoder
        return coll

    @classmethod
    def create_for_import(cls, path: str | Path, *, model: str | None, similar_space: str,
                          dims: int | None = None, engine: str | None = None) -> Collection:
        """A collection whose vectors come from files made elsewhere: no model is loaded now. The
        model is recorded by name (loaded when a text or picture query needs it) or not at all,
        and then only "more like this" searches work."""
        path = Path(path)
        if (path / DB_NAME).exists():
            raise ConfigError(f"{path} is already a collection; import into a new directory")
        return cls._write_new(path, {
            "model": model or NO_MODEL, "model_options": {}, "identity": None, "similar_space": similar_space,
            "native_spaces": {}, "dims": dims, "pca": None, "engine": engine or "usearch", "engine_options": {},
            "text_template": None, "imported": True,
        }, load_settings(path))

    @classmethod
    def _write_new(cls, path: Path, config: dict[str, Any], settings: Settings) -> Collection:
        given = config.get("engine_options") or {}
        _check_engine_options(config["engine"], given)  # before anything is written: it would stay
        path.mkdir(parents=True, exist_ok=True)
        store = ItemStore(path / DB_NAME)
        store.set_meta("collection", {**config, "engine_options": public_options(given)})
        coll = cls(path, store, settings)
        coll._engine_secrets = _secret_options(given)
        return coll

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False, settings: dict | None = None) -> Collection:
        path = Path(path)
        if not (path / DB_NAME).exists():
            raise NotFoundError(f"{path} is not an iconodex collection (no {DB_NAME}); "
                                f"make one with: iconodex ingest SOURCE -c {path}")
        store = ItemStore(path / DB_NAME, read_only=read_only)
        return cls(path, store, load_settings(path, settings), read_only=read_only)

    @classmethod
    def open_or_create(cls, path: str | Path, *, model: str | None = None, **create: Any) -> Collection:
        """Open ``path`` if it is a collection (refusing a different model), else create it."""
        path = Path(path)
        if not (path / DB_NAME).exists():
            return cls.create(path, model=model or "offline", **create)
        coll = cls.open(path, settings=create.get("settings"))
        if model and model != coll.model_name:
            raise ModelMismatchError(
                f"{path} was made with model {coll.model_name!r}, not {model!r}; its vectors cannot be mixed: "
                f"use another collection directory, or drop --model")
        fixed = {name: (create.get(name), coll._config.get(name)) for name in ("dims", "pca", "engine", "text_template")}
        recorded_options = coll.model_options
        for key, value in (create.get("model_options") or {}).items():
            fixed[key] = (_option_text(value), _option_text(recorded_options.get(key)))
        for name, (asked, recorded) in fixed.items():
            if asked is not None and asked != recorded:
                coll.close()
                raise ConfigError(f"{path} was made with {name}={recorded!r}; it is fixed when a collection is "
                                  f"created: drop the option or use another collection directory")
        return coll

    # -- parts --------------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self._config.get("model", "offline")

    @property
    def similar_space(self) -> str:
        return self._config.get("similar_space", "image")

    @property
    def text_template(self) -> str | None:
        return self._config.get("text_template")

    @property
    def identity(self) -> dict[str, Any] | None:
        """What the model that made the vectors recorded about itself (``describe()``); None without a model."""
        return self._config.get("identity")

    @property
    def model_options(self) -> dict[str, Any]:
        """The options the model is loaded with: those given at creation, over those that reproduce
        the vectors its recorded identity names (a collection made before a newer default)."""
        return {**options_for_recorded(self.model_name, self.identity),
                **self._config.get("model_options", {})}

    @property
    def model(self) -> Encoder:
        """The encoder that made this collection; loaded on first use, checked against the record."""
        with self._model_lock:
            if self._model is None:
                if self.model_name == NO_MODEL:
                    raise ModelNotAvailableError(
                        f"{self.path} was imported without a model, so it answers only --like searches; "
                        f"import it again with --model NAME to search by text or picture")
                recorded = self.identity
                encoder = load_model(self.model_name, **self.model_options)
                changed = _identity_changes(recorded, encoder.describe()) if recorded is not None else []
                if changed:
                    raise ModelMismatchError(_mismatch_message(self.path, self.model_name, recorded,
                                                               encoder.describe(), changed))
                self._model = encoder
            return self._model

    def preload_model(self) -> threading.Thread:
        """Load the model in the background (the server answers meanwhile)."""
        thread = threading.Thread(target=lambda: self.model, name="iconodex-model-load", daemon=True)
        thread.start()
        return thread

    @property
    def model_loaded(self) -> bool:
        return self._model is not None

    @property
    def engine(self) -> CheckedEngine:
        """The ANN engine, failing over to exact search from the store where a space's index is
        missing or damaged (see ``index/guard.py``)."""
        if self._engine is None:
            factory = ENGINES.get(self._config.get("engine", "usearch"))
            inner = factory(self.path / "index", read_only=self.read_only, **self._engine_options())
            self._engine = CheckedEngine(inner, self.store)
        return self._engine

    def _engine_options(self) -> dict[str, Any]:
        """The stored engine options with this process's keys; a key only said to be used (``***``)
        is left to the engine, which takes it from its environment variable (``MILVUS_TOKEN``…)."""
        stored = {k: v for k, v in self._config.get("engine_options", {}).items() if v != HIDDEN}
        return {**stored, **self._engine_secrets}

    @property
    def http(self) -> HttpClient:
        if self._http is None:
            from .fetch.http import HttpClient

            self._http = HttpClient(**self._http_options())
        return self._http

    def _http_options(self) -> dict[str, Any]:
        settings = self.settings
        return {"timeout": settings.timeout, "deadline": settings.deadline, "retries": settings.retries,
                "per_host": settings.per_host, "budget": settings.fetch_budget_mb * 1024 * 1024,
                "host_failures": settings.host_failures}

    @property
    def fetcher(self):
        if self._fetcher is None:
            from .fetch.cache import Cache
            from .fetch.images import ImageFetcher

            cache_dir = Path(self.settings.cache_dir) if self.settings.cache_dir else self.path / "cache"
            cache = Cache(cache_dir, max_bytes=self.settings.cache_max_mb * 1024 * 1024)
            self._fetcher = ImageFetcher(self.http, cache, min_side=self.fetch_side,
                                         max_pixels=self.settings.max_pixels)
        return self._fetcher

    @property
    def fetch_side(self) -> int:
        return fetch_side(self.model)

    @property
    def spaces(self) -> dict[str, int]:
        return self.engine.spaces()

    # -- reduction ----------------------------------------------------------------------------

    @property
    def reducers(self) -> Reducers:
        if self._reducers is None:
            self._reducers = Reducers(self.path / "reducers", dims=self._config.get("dims"),
                                      pca=self._config.get("pca"))
        return self._reducers

    def project(self, space: str, vector: np.ndarray) -> np.ndarray:
        return self.reducers.apply(space, vector)

    # -- writes used by the pipeline ----------------------------------------------------------

    def commit_chunk(self, vectors: dict[str, dict[int, np.ndarray]], done: list[int],
                     failed: dict[int, str], hashes: dict[int, str], drop_text: list[int]) -> None:
        if self.reducers.awaiting_fit:
            # Nothing is stored until the PCA is fitted, so every stored vector is in its final space.
            self._pca_buffer.append((vectors, done, failed, hashes, drop_text))
            if sum(len(chunk[1]) for chunk in self._pca_buffer) >= PCA_MIN_FIT:
                self.flush_pending_reduction()
            return
        reduced = {space: dict(zip(by_key, self.reducers.apply(space, np.vstack(list(by_key.values()))), strict=True))
                   for space, by_key in vectors.items() if by_key}
        for space, by_key in reduced.items():
            self.engine.ensure_space(space, len(next(iter(by_key.values()))))
        self.store.save_chunk(reduced, done, failed, hashes, drop_text)

    def flush_pending_reduction(self) -> None:
        """Fit the PCA on what was held back (if still needed), then store it all."""
        if not self._pca_buffer:
            return
        if self.reducers.awaiting_fit:
            spaces = {space for vectors, *_ in self._pca_buffer for space in vectors}
            self.reducers.fit({space: [v for vectors, *_ in self._pca_buffer for v in vectors.get(space, {}).values()]
                               for space in spaces})
        buffered, self._pca_buffer = self._pca_buffer, []
        for chunk in buffered:
            self.commit_chunk(*chunk)

    def index_keys(self, keys: Sequence[int]) -> None:
        """Bring the ANN index in line with the stored vectors of ``keys``."""
        wanted = np.asarray(keys, dtype=np.int64)
        for space in self.engine.spaces():
            found, vectors = self.store.vectors_for(space, keys)
            if len(found):
                self.engine.upsert(space, found, vectors)
            missing = np.setdiff1d(wanted, found)
            if len(missing):
                self.engine.delete(space, missing)

    def remove_keys(self, keys: Sequence[int]) -> int:
        if not keys:
            return 0
        for space in self.engine.spaces():
            self.engine.delete(space, np.asarray(keys, dtype=np.int64))
        self.engine.flush()
        self.store.delete_keys(keys)
        return len(keys)

    def indexed_count(self) -> int:
        return self.store.status_counts()["indexed"]

    def index_report(self) -> dict[str, dict[str, Any]]:
        """Each space: dims, vectors of indexed items in the store, vectors in the ANN index, and
        ``problem`` (None when the index is sound: its file checks out and its count fits the store)."""
        problems = self.engine.check()
        report = {}
        for space, dims in self.engine.spaces().items():
            indexed, stored = self.store.vector_counts(space)
            in_index = None if space in problems else self.engine.count(space)
            problem = problems.get(space)
            if in_index is not None and not indexed <= in_index <= stored:
                problem = f"its index holds {in_index} vectors, the store {indexed} indexed items (stale)"
            report[space] = {"dims": dims, "indexed": indexed, "in_index": in_index, "problem": problem}
        return report

    def verify_index(self, *, rebuild_all: bool = False, quiet: bool = True) -> list[str]:
        """Rebuild (and save) every space whose ANN index is missing, damaged or disagrees with the
        store, or every space with ``rebuild_all``; returns the spaces rebuilt. Without ``quiet``, a
        progress bar per rebuilt space on a terminal."""
        if self.read_only:
            raise ConfigError("this collection is open read-only; repairing its index needs write access")
        report = self.index_report()
        rebuilt = [space for space, row in report.items() if rebuild_all or row["problem"]]
        with stages(quiet or not rebuilt) as progress:
            for space in rebuilt:
                if report[space]["problem"]:
                    log.warning("index of space %s: %s; rebuilding it from the store", space, report[space]["problem"])
                progress.start(space, total=report[space]["indexed"])
                self.engine.rebuild(space, advance=lambda n, space=space: progress.advance(space, n))
                progress.finish(space)
        return rebuilt

    # -- the public API -----------------------------------------------------------------------

    def ingest(self, source: Source | str, *, source_type: str | None = None, options: dict | None = None,
               quiet: bool = True, confinement: Confinement | None = None) -> IngestReport:
        """Harvest ``source`` (a Source, a path or a URL) and bring every item to 'indexed'.

        With ``confinement`` (an ingest a remote client started), every URL goes through the SSRF
        guard and local files are read only under its roots."""
        from .ingest.executors import open_executor
        from .ingest.pipeline import Pipeline

        if self.read_only:
            raise ConfigError("this collection is open read-only")
        options = dict(options or {})
        source = os.fspath(source) if isinstance(source, os.PathLike) else source
        if not isinstance(source, str) and not hasattr(source, "harvest"):
            raise ConfigError(f"no source given: name a folder, a CSV, a manifest or an API URL, not {source!r:.60}")
        if confinement is not None and isinstance(source, str):
            confinement.check_request(source, options)
        options.setdefault("workdir", str(self.path / "cache"))  # where sources may write files (caption images)
        spec = source if isinstance(source, str) else getattr(source, "name", "source")
        if isinstance(source, str):
            source = open_source(source, source_type, options)
        kind = source_type or getattr(source, "kind", type(source).__name__.lower())
        self.verify_index()
        # A confined ingest embeds here: its fetch guard lives in this process.
        where = "dask" if self.settings.cluster and confinement is None else "local"
        with self._confined_fetching(confinement, options["workdir"]) as (http, fetcher), \
                open_executor(where, self, fetcher) as executor, stages(quiet) as progress:
            pipeline = Pipeline(self, progress, http=http, fetcher=fetcher, executor=executor)
            report = pipeline.harvest(source, kind, str(spec), _jsonable(options))
            pipeline.process_pending(report)
            pipeline.finish(report)
        return report

    @contextmanager
    def _confined_fetching(self, confinement: Confinement | None, workdir: str) -> Iterator[tuple[Any, Any]]:
        """A guarded client and fetcher for a confined ingest, closed afterwards; (None, None) otherwise.
        The confined fetcher has no cache: it may hold pictures the operator fetched from internal hosts.
        It may read the pictures a source extracted into the work folder (a dataset's embedded images)."""
        if confinement is None:
            yield None, None
            return
        from .fetch.images import ImageFetcher
        from .sources.captions import CAPTION_IMAGES

        confinement = confinement.with_root(Path(workdir) / CAPTION_IMAGES)
        with confinement.http_client(**self._http_options()) as http:
            yield http, ImageFetcher(http, None, min_side=self.fetch_side, max_pixels=self.settings.max_pixels,
                                     check_path=confinement.check_path)

    def search(self, text: str | None = None, *, image: Any = None, like: str | None = None,
               alpha: float | None = None, keyword: bool | None = None, limit: int = 10, offset: int = 0,
               min_score: float | None = None, where: dict[str, str | list[str]] | None = None,
               fusion: str = "calibrated") -> SearchResults:
        """Text → image, image → image, more-like-this, or any mix, ranked by the hybrid score
        (``fusion``: how the legs are combined, see :mod:`iconodex.search.hybrid`).

        ``min_score`` None: a text query at the alpha the cut was measured at gets its model's relevance
        cut (``relevance_cut``), other queries none; 0 disables the cut; any other value is the cut."""
        alpha = self.settings.alpha if alpha is None else alpha
        measured = text is not None and image is None and like is None and alpha == CUT_ALPHA
        query = Query(text=text, image=self._query_image(image) if image is not None else None, like=like,
                      alpha=alpha, keyword=self.settings.keyword if keyword is None else keyword,
                      limit=limit, offset=offset, min_score=self._min_score(min_score, measured),
                      cut_spares_keyword_matches=min_score is None, where=_normalise_where(where),
                      fusion=fusion)
        return self.searcher.search(query)

    def _min_score(self, asked: float | None, measured: bool) -> float | None:
        if asked is not None:
            return None if asked == 0 else asked
        calibrated = self.calibration
        return relevance_cut(calibrated) if measured and calibrated else None

    @property
    def calibration(self) -> str | None:
        """The name the measured constants for this collection's vectors are kept under in
        models.catalog (leg scales, relevance cut), or None where none were measured."""
        return calibrated_name(self.model_name, self.identity)

    @property
    def searcher(self) -> Searcher:
        if self._searcher is None:
            self._searcher = Searcher(self.store, self.engine, lambda: self.model, self.project,
                                      self.similar_space, self.settings.max_limit,
                                      self._leg_scales())
        return self._searcher

    def _leg_scales(self) -> dict[str, LegScale]:
        calibrated = self.calibration
        measured = leg_scales(calibrated) if calibrated else {}
        return {name: LegScale(*scale) for name, scale in measured.items()}

    def _query_image(self, image: Any) -> Image.Image:
        """A query picture from a PIL image, bytes, a path, or a URL. URLs are fetched with the
        ordinary client: for trusted input only (the server guards client URLs itself)."""
        from PIL import Image as PILImage

        from .fetch.decode import decode_image

        if isinstance(image, PILImage.Image):
            return image.convert("RGB")
        side, cap = self.fetch_side, self.settings.max_pixels
        if isinstance(image, bytes | bytearray):
            return decode_image(bytes(image), side, max_pixels=cap)
        text = str(image)
        # A URL here was typed by the operator (CLI, Python); the server fetches client URLs
        # itself through the network guard and passes bytes.
        if text.startswith(("http://", "https://")):
            return decode_image(self.http.get(text).content, side, max_pixels=cap)
        path = Path(text)
        if path.is_dir():
            raise ConfigError(f"query image {text} is a folder; give one picture (a file, a URL or bytes)")
        if not path.is_file():
            raise NotFoundError(f"query image {text} does not exist")
        return decode_image(path, side, max_pixels=cap)

    def get(self, item_id: str) -> Item | None:
        return self.store.get(item_id)

    def items(self, status: str | None = "indexed") -> Iterator[Item]:
        return self.store.iter_items(status)

    def vectors(self, space: str, ids: Sequence[str] | None = None,
                batch: int = 4096) -> Iterator[tuple[list[str], np.ndarray]]:
        """Stream (ids, vectors) of ``space``, ``batch`` rows at a time, in flat memory."""
        if space not in self.spaces:
            raise NotFoundError(f"no space {space!r}; this collection has {', '.join(self.spaces)}")
        ids = None if ids is None else _id_list(ids)
        if ids is None:
            for keys, matrix in self.store.iter_vectors(space, batch):
                names = self.store.get_many(keys.tolist())
                yield [names[int(k)].id for k in keys], matrix
            return
        for start in range(0, len(ids), batch):
            chunk = list(ids[start:start + batch])
            keys = self.store.keys_for_ids(chunk)
            found, matrix = self.store.vectors_for(space, [keys[i] for i in chunk if i in keys])
            by_key = {k: i for i, k in keys.items()}
            yield [by_key[int(k)] for k in found], matrix

    def neighbours(self, ids: Sequence[str] | str, k: int = 50, space: str | None = None, batch: int = 256,
                   missing: list[str] | None = None) -> dict[str, list[tuple[str, float]]]:
        """Each id's k nearest items in ``space`` (default: the similar-picture space), itself
        excluded, computed with one batched search per ``batch`` ids rather than one query per id.
        Ids without a vector raise ``NotFoundError``, or are appended to ``missing`` if given."""
        if not 1 <= k <= MAX_NEIGHBOURS:
            raise ConfigError(f"k must be between 1 and {MAX_NEIGHBOURS}, not {k}")
        ids, space = _id_list(ids), space or self.similar_space
        result: dict[str, list[tuple[str, float]]] = {}
        for chunk_ids, matrix in self.vectors(space, ids, batch):
            keys, scores = self.engine.search_many(space, matrix, k + 1)
            names = self.store.get_many(np.unique(keys[keys >= 0]).tolist())
            for row, item_id in enumerate(chunk_ids):
                pairs = [(names[int(key)].id, float(score)) for key, score in zip(keys[row], scores[row], strict=True)
                         if key >= 0 and int(key) in names and names[int(key)].id != item_id]
                result[item_id] = pairs[:k]
        lost = [i for i in ids if i not in result]
        if lost and missing is None:
            raise NotFoundError(f"{len(lost)} id(s) not indexed, e.g. {lost[0]!r}")
        if missing is not None:
            missing.extend(lost)
        return result

    def delete(self, ids: Sequence[str] | str) -> int:
        keys = self.store.keys_for_ids(_id_list(ids))
        return self.remove_keys(list(keys.values()))

    def failures(self, limit: int | None = None) -> list[Item]:
        return self.store.failures(limit)

    def source_problems(self, limit: int | None = None) -> list[dict[str, Any]]:
        """What the last run of each source could not read or skipped: {source, run, kind, location, reason}."""
        return self.store.source_problems(limit)

    def facets(self, field: str, limit: int = 20) -> list[tuple[str, int]]:
        if limit < 1:
            raise ConfigError(f"limit must be at least 1, not {limit}")
        return self.store.facets(field, limit)

    def stats(self) -> dict[str, Any]:
        counts = self.store.status_counts()
        problems = self.engine.check()
        spaces = {name: {"dims": dims, "indexed": self.engine.count(name), "index": problems.get(name, "ok")}
                  for name, dims in self.spaces.items()}
        return {
            "path": str(self.path), "items": sum(counts.values()), "indexed": counts["indexed"],
            "stages": counts, "model": self.model_name, "identity": self.identity,
            "similar_space": self.similar_space, "spaces": spaces,
            "reduction": {"dims": self._config.get("dims"), "pca": self._config.get("pca")},
            "engine": self._config.get("engine", "usearch"), "text_template": self.text_template,
            "sources": self.store.sources(), "fields": self.store.field_names(),
        }

    def reindex(self, engine: str, options: dict | None = None, *, quiet: bool = True) -> dict[str, int]:
        """Rebuild the ANN index in ``engine`` from the vectors in the store (no re-embedding), then
        record it as the collection's engine. Returns the vectors indexed per space; without
        ``quiet``, a progress bar per space on a terminal."""
        if self.read_only:
            raise ConfigError("this collection is open read-only")
        _check_engine_options(engine, options or {})
        target: VectorEngine = ENGINES.get(engine)(self.path / "index", **(options or {}))
        with stages(quiet) as progress:
            counts = copy_store(self.store, target, progress)
        self._config.update(engine=engine, engine_options=public_options(options or {}))
        self._engine_secrets = _secret_options(options or {})
        self.store.set_meta("collection", self._config)
        if self._engine is not None:
            self._engine.close()
        self._engine, self._searcher = CheckedEngine(target, self.store), None
        return counts

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
        if self._http is not None:
            self._http.close()
        self.store.close()

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _secret_options(options: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in options.items() if is_secret_name(name)}


INFORMATIVE_IDENTITY = frozenset({"path", "precision", "device", "providers"})


def _mismatch_message(path: Path, model: str, recorded: dict, current: dict, changed: list[str]) -> str:
    """One line: what differs and what to do. A model whose pack version rose (the offline model's
    learned projection, version 2) made vectors an upgrade of iconodex no longer makes."""
    old, new = recorded.get("version"), current.get("version")
    if "version" in changed and isinstance(old, int) and isinstance(new, int) and old < new:
        return (f"{path} was made by an older {model!r} model (version {old}; this iconodex has version {new}, "
                f"whose picture vectors differ): re-ingest its sources into a new collection "
                f"(iconodex ingest SOURCE -c NEW_DIR), or keep using it with the iconodex that made it")
    return (f"model {model!r} here differs from the one that made {path} ({', '.join(changed)} changed); "
            f"its vectors cannot be mixed: re-ingest into a new collection")


def _check_engine_options(engine: str, options: dict[str, Any]) -> None:
    """An unknown engine, an option it does not take, or a word where it takes a number: one line."""
    check_options(f"engine {engine!r}", ENGINES.get(engine), options, hidden=("directory", "read_only"))


def _option_text(value: Any) -> str | None:
    """A model option as the command line gives it (``--model-option projection=false`` is False)."""
    return None if value is None else str(value).strip().lower()


def _identity_changes(recorded: dict, current: dict) -> list[str]:
    """Identity keys that differ. Where the files live and how they run (fp16 on a GPU, fp32 on a
    CPU) give the same vectors, so those keys, and keys starting with '_', are informative only."""
    keys = {k for k in (*recorded, *current) if not str(k).startswith("_") and k not in INFORMATIVE_IDENTITY}
    return sorted(k for k in keys if recorded.get(k) != current.get(k))


def _id_list(ids: Iterable[str] | str) -> list[str]:
    """Item ids as a list; one id given as a string is that id, not its letters."""
    if isinstance(ids, str):
        return [ids]
    listed = list(ids) if isinstance(ids, Iterable) else None  # a generator is read once, here
    if listed is None or not all(isinstance(item_id, str) for item_id in listed):
        raise ConfigError(f"give item ids as a list of strings, not {ids!r:.60}")
    return listed


WHERE_EXAMPLE = "e.g. {'creator': 'Hokusai'} or {'subject': ['cat', 'dog']}"


def _normalise_where(where: Mapping[str, Any] | None) -> dict[str, list[str]] | None:
    """``{field: value or values}`` as ``{field: [text, …]}``; numbers match as they are written."""
    if not where:
        return None
    if not isinstance(where, Mapping):
        raise ConfigError(f"where maps a field to a value or a list of values ({WHERE_EXAMPLE}), "
                          f"not a {type(where).__name__}")
    return {str(name): _where_values(name, value) for name, value in where.items()}


def _where_values(name: Any, value: Any) -> list[str]:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return [str(value)]
    if isinstance(value, list | tuple | set | frozenset) and all(isinstance(v, str | int | float) for v in value):
        return [str(v) for v in value]
    raise ConfigError(f"where[{name!r}] must be a value or a list of values ({WHERE_EXAMPLE}), not {value!r:.60}")


def _jsonable(options: dict) -> dict:
    return {k: v if isinstance(v, str | int | float | bool | type(None) | list) else str(v)
            for k, v in options.items()}


__all__ = ["Collection"]
