"""Fine-tuning the embedder on the survey's works and the judged candidates (SetFit-style, on CPU).

SetFit's first step, with sentence-transformers' own loss: pairs of labelled works are drawn, a pair
is positive (1) when both works sit in the same subsection, or share their scope, and negative (0)
otherwise; the sentence-transformers model is trained with ``CosineSimilarityLoss`` to put the
cosine of a pair's two embeddings at its label. The labelled works are the survey's works (in scope,
filed in their primary subsection) and the judged candidates (the seed's screening rows and
reviewers' decisions: in or out, and the agreed subsection where in scope).

Four kinds of pairs, drawn in equal numbers where there are works for them: same subsection,
different subsection (both in scope), same scope, different scope. ``pairs`` in all, seeded.

The tuned model is saved under the data directory (``embedders/<name>``) with ``litmine-tune.json``,
its provenance: base model, the training works' digest and count, the pairs by kind, epochs, seed,
learning rate, CPU and wall seconds of the fit, litmine's and the libraries' versions. Its name holds
a digest of all of that but the time, so the same works and settings give the same name and are not
tuned twice. The embedder ``tuned:<name>`` (entry point ``tuned`` of ``litmine.embedders``) loads it;
``LITMINE_EMBED_MODEL=tuned:<name> litmine embed`` stores vectors under that model id, so every vector
records which tuned model made it. Off by default: docs/evaluation.md gives what it measured.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

from litmine.clock import utcnow
from litmine.embed import DEFAULT_MODEL, SentenceTransformerEmbedder
from litmine.errors import EmbedError
from litmine.hashing import sha256_file, sha256_hex

log = logging.getLogger(__name__)

PROVENANCE = "litmine-tune.json"
PREFIX = "tuned"
KINDS = ("same-subsection", "other-subsection", "same-scope", "other-scope")


@dataclass(frozen=True)
class Labelled:
    """A work to tune on: its text, whether in scope, and its subsection (None when unplaced)."""

    text: str
    inside: bool
    subsection: str | None = None


@dataclass(frozen=True)
class Pair:
    first: str
    second: str
    label: float  # 1.0 alike, 0.0 not
    kind: str


@dataclass
class TuneSettings:
    """What a fit is made with; every field is in the provenance and the model's name."""

    base: str = DEFAULT_MODEL
    pairs: int = 256
    epochs: int = 1
    batch_size: int = 16
    learning_rate: float = 2e-5
    max_seq_length: int = 64  # word pieces read while training; the saved model reads its base's (256)
    seed: int = 0


@dataclass
class Tuned:
    """A tuned model on disk: its name (``tuned:<name>`` selects it), folder and provenance."""

    name: str
    path: Path
    provenance: dict = field(default_factory=dict)
    reused: bool = False

    @property
    def model_id(self) -> str:
        return f"{PREFIX}:{self.name}"


# -- pairs -------------------------------------------------------------------------------------------


def works_digest(works: Sequence[Labelled]) -> str:
    """A digest of the training works (text, scope, subsection), independent of their order."""
    rows = sorted(f"{sha256_hex(w.text)}\t{int(w.inside)}\t{w.subsection or ''}" for w in works)
    return sha256_hex("\n".join(rows))


def build_pairs(works: Sequence[Labelled], count: int, seed: int = 0) -> list[Pair]:
    """``count`` pairs, the four kinds (``KINDS``) drawn in turn, each from an anchor work chosen at
    random; a kind with no works to draw from is skipped. Deterministic for a seed."""
    rng = random.Random(seed)
    placed: dict[str, list[int]] = {}
    for i, w in enumerate(works):
        if w.inside and w.subsection:
            placed.setdefault(w.subsection, []).append(i)
    inside = [i for i, w in enumerate(works) if w.inside]
    outside = [i for i, w in enumerate(works) if not w.inside]
    shared = sorted(s for s, idx in placed.items() if len(idx) > 1)
    draws = {
        "same-subsection": (lambda: rng.sample(placed[rng.choice(shared)], 2)) if shared else None,
        "other-subsection": (lambda: [rng.choice(placed[s]) for s in rng.sample(sorted(placed), 2)])
        if len(placed) > 1 else None,
        "same-scope": (lambda: rng.sample(rng.choice([g for g in (inside, outside) if len(g) > 1]), 2))
        if len(inside) > 1 or len(outside) > 1 else None,
        "other-scope": (lambda: [rng.choice(inside), rng.choice(outside)]) if inside and outside else None,
    }
    kinds = [k for k in KINDS if draws[k] is not None]
    out = []
    for n in range(count if kinds else 0):
        kind = kinds[n % len(kinds)]
        a, b = draws[kind]()
        if rng.random() < 0.5:
            a, b = b, a
        out.append(Pair(works[a].text, works[b].text, 1.0 if kind.startswith("same") else 0.0, kind))
    return out


def labelled_works(store) -> list[Labelled]:
    """Every work whose scope is known (the survey's works, the judged candidates), with its subsection:
    a candidate's agreed one (a reviewer's over the screening's), a survey work's primary one; the
    same records as the evaluation harness's, without vectors."""
    from litmine.classify import load_examples, load_taxonomy
    from litmine.classify.scope import load_scope_examples
    from litmine.store import methods as methods_store

    taxonomy = load_taxonomy(store, "litmine embed-tune")
    placement = taxonomy.placement
    own = {ex.item.work_id: ex for ex in load_examples(store, None, taxonomy=taxonomy)}
    with store.connect(read_only=True) as con:
        judged = methods_store.judged_labels(con, placement)
    out = []
    for ex in load_scope_examples(store, None):
        work_id = ex.item.work_id
        subsection = judged.get(work_id) or (own[work_id].primary_label(placement) if work_id in own else None)
        out.append(Labelled(ex.item.text, bool(ex.inside), subsection if ex.inside else None))
    return out


# -- the fit -----------------------------------------------------------------------------------------


def tune(works: Sequence[Labelled], root: Path, settings: TuneSettings | None = None) -> Tuned:
    """Fine-tune ``settings.base`` on pairs of ``works`` and save it under ``root`` (see the module).

    A model of the same works and settings already under ``root`` is returned as it is (``reused``)."""
    settings = settings or TuneSettings()
    base_path = _base_path(settings.base)
    if not works:
        raise EmbedError("no labelled works to tune the embedder on: load the survey (`litmine survey load`) "
                         "or judge candidates (`litmine review`) first", base=settings.base)
    if len({w.inside for w in works}) < 2 and len({w.subsection for w in works if w.inside}) < 2:
        raise EmbedError("the labelled works are all alike (one scope, at most one subsection): nothing to "
                         "contrast; judge candidates of both scopes first", works=len(works))
    digest = works_digest(works)
    name = f"{Path(settings.base).name.lower()}-{sha256_hex(json.dumps([digest, asdict(settings)]))[:12]}"
    target = Path(root) / name
    if (target / PROVENANCE).exists():
        log.info("tuned embedder %s exists: not tuned again", name)
        return Tuned(name, target, json.loads((target / PROVENANCE).read_text()), reused=True)
    pairs = build_pairs(works, settings.pairs, settings.seed)
    model, cpu, wall = _fit(base_path, pairs, settings)
    provenance = {
        "name": name, "base": settings.base, "base_path": str(base_path), "base_weights": _weights_digest(base_path),
        "works_digest": digest,
        "works": len(works), "in_scope": sum(w.inside for w in works),
        "placed": sum(bool(w.inside and w.subsection) for w in works),
        "pairs": len(pairs), "pairs_by_kind": {k: sum(p.kind == k for p in pairs) for k in KINDS},
        "settings": asdict(settings), "cpu_seconds": round(cpu, 1), "wall_seconds": round(wall, 1),
        "versions": _versions(), "loss": "CosineSimilarityLoss",
        "created": utcnow().isoformat(timespec="seconds") + "Z",
    }
    Path(root).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        model.save(str(tmp))
        (tmp / PROVENANCE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, target)  # renamed into place: a killed fit leaves no half model under its name
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("tuned %s on %d works, %d pairs, %d epoch(s): %.0f CPU s", name, len(works), len(pairs),
             settings.epochs, cpu)
    return Tuned(name, target, provenance)


def _base_path(base: str) -> Path:
    embedder = SentenceTransformerEmbedder(base)
    if embedder.options:
        raise EmbedError(f"cannot tune a model with options (+{'+'.join(sorted(embedder.options))}): name the "
                         f"base model alone, e.g. {DEFAULT_MODEL}", base=base)
    path = Path(embedder.model_path())
    if not (path / "config.json").exists() and not (path / "modules.json").exists():
        raise EmbedError(f"unknown base model {base!r}: not a local sentence-transformers folder; name "
                         f"{DEFAULT_MODEL} or the path of a saved model", base=base)
    return path


def _fit(base_path: Path, pairs: list[Pair], settings: TuneSettings):
    """The model trained on ``pairs``, CPU seconds and wall seconds of the training."""
    import torch
    from sentence_transformers import SentenceTransformer, losses
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    torch.manual_seed(settings.seed)
    model = SentenceTransformer(str(base_path), device="cpu")
    keep = model.max_seq_length
    model.max_seq_length = min(settings.max_seq_length, keep)
    loss = losses.CosineSimilarityLoss(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate)
    rng = random.Random(settings.seed)
    steps = settings.epochs * -(-len(pairs) // settings.batch_size)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup))))
    cpu, wall = time.process_time(), time.perf_counter()
    model.train()
    for _ in range(settings.epochs):
        order = list(range(len(pairs)))
        rng.shuffle(order)
        for start in range(0, len(order), settings.batch_size):
            batch = [pairs[i] for i in order[start:start + settings.batch_size]]
            features = [_features(model, [p.first for p in batch]), _features(model, [p.second for p in batch])]
            value = loss(features, torch.tensor([p.label for p in batch], dtype=torch.float32))
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    model.eval()
    model.max_seq_length = keep
    return model, time.process_time() - cpu, time.perf_counter() - wall


def _features(model, texts: list[str]) -> dict:
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    return tokenize(texts)


def _weights_digest(folder: Path) -> str:
    """sha256 of the base model's weight files, so the provenance names the exact weights tuned."""
    files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    return sha256_hex(",".join(f"{f.name}:{sha256_file(f)}" for f in files))


def _versions() -> dict:
    from importlib.metadata import version

    import litmine

    return {"litmine": litmine.__version__, "sentence-transformers": version("sentence-transformers"),
            "torch": version("torch"), "transformers": version("transformers")}


# -- the embedder ------------------------------------------------------------------------------------


def tuned_models(root: Path) -> list[str]:
    """Names of the tuned models under ``root``."""
    root = Path(root)
    return sorted(p.name for p in root.iterdir() if (p / PROVENANCE).exists()) if root.is_dir() else []


class TunedEmbedder(SentenceTransformerEmbedder):
    """A tuned model (``tuned:<name>``, or ``tuned:<folder>``), loaded on first use like its base.

    A bare name is looked for under the data directory's ``embedders/``."""

    def __init__(self, name: str = "", batch_size: int = 64, device: str | None = None, root: Path | None = None) -> None:
        if not name:
            raise EmbedError("no tuned model named: give tuned:<name> (`litmine embed-tune` prints it)",
                             model=f"{PREFIX}:")
        super().__init__(DEFAULT_MODEL, batch_size=batch_size, device=device)
        self.model_id = f"{PREFIX}:{name}"
        self.name = name
        if root is None:
            from litmine.config import load_settings

            root = load_settings().embedders_dir
        path = Path(name) if os.sep in name else Path(root) / name
        if not (path / PROVENANCE).exists():
            known = tuned_models(root)
            raise EmbedError(f"no tuned model {name!r} in {root}: run `litmine embed-tune` first, or choose from "
                             f"{', '.join(known) or 'none'}", model=self.model_id)
        self.path = path
        self.provenance = json.loads((path / PROVENANCE).read_text())

    def model_path(self) -> str:
        return str(self.path)
