"""Benchmark: the embedder fine-tuned on the survey's works plus the judged candidates (SetFit-style,
``litmine.embed.tune``) against the base all-MiniLM-L6-v2, on the new papers, nested.

The records are the harness's (``harness.load_records``: the judged candidates and the survey's
works, with their base vectors). Each repeat splits the judged candidates into stratified folds with
the harness's own ``splits`` (the seeds ``litmine evaluate`` uses, so the same splits). Per outer fold:

1. the embedder is fine-tuned on the training records only (the survey's works and the other folds'
   candidates; never the held-out candidates), timed (CPU and wall seconds of the fit);
2. every record is embedded with the tuned model (the held-out ones only embedded, never trained on);
3. each method (``bare`` and the stored ones, default ``ensemble``; ``-m tuned`` adds it) is fitted by the
   harness's ``fit_scope`` / ``fit_placement`` on the same training records twice, on base vectors and
   on tuned vectors (the env's embedder is the tuned model in the second, so label descriptions are
   embedded by it too), and scores the held-out candidates.

Figures per arm by the harness's ``summarise`` (mean, sd over repeats, bootstrap 95% interval), then
the paired difference tuned - base per repeat (same splits). Run it in a scratch database with the
base vectors (docs/evaluation.md's recipe), one thread:

    OMP_NUM_THREADS=1 python bench/embed_tune.py --repeats 3 --folds 3
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import header  # noqa: E402

import numpy as np  # noqa: E402

METRICS = ("recall", "precision", "p_at_target", "ap", "wss95", "top1", "top3", "macro_f1")
TUNED = "@tuned"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seq", type=int, default=64, help="word pieces read while training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-m", "--method", action="append",
                        help="methods beside bare (default: ensemble, what screen and classify store; the "
                             "`tuned` method chose TF-IDF alone in 29-30 of 30 folds, so vectors barely reach it)")
    parser.add_argument("--root", type=Path, help="where the fold models go (default: <data dir>/embedders-bench)")
    parser.add_argument("--keep", action="store_true", help="keep each fold's model (default: only its provenance)")
    parser.add_argument("--out", type=Path, help="write the per-repeat figures as JSON here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("sentence_transformers", "httpx", "transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    import torch

    torch.set_num_threads(1)
    from litmine.classify import env_from_settings
    from litmine.classify.method import PLACEMENT, SCOPE
    from litmine.config import load_settings
    from litmine.embed import get_embedder
    from litmine.embed.tune import Labelled, TunedEmbedder, TuneSettings, tune
    from litmine.evaluation import harness
    from litmine.store import Store

    cfg = load_settings()
    store = Store(cfg.database)
    env = replace(env_from_settings(cfg, store), make_llm=None)
    base = env.embedder
    records = harness.load_records(store, base.model_id)
    setup = harness.load_setup(store, env)
    methods = list(dict.fromkeys([*(args.method or ["ensemble"]), harness.BARE]))
    roles = {m: harness.roles_of(harness.parse_method(m)[0]) for m in methods}
    arms = methods + [m + TUNED for m in methods]
    arm_roles = {**roles, **{m + TUNED: roles[m] for m in methods}}
    targets = np.flatnonzero(records.candidate)
    y = records.inside[targets]
    placed = np.array([bool(records.inside[i] and records.subsection[i]) for i in targets])
    truth = [records.subsection[i] for i in targets]
    everyone = np.arange(len(records))
    root = args.root or cfg.data_dir / "embedders-bench"
    settings = TuneSettings(pairs=args.pairs, epochs=args.epochs, max_seq_length=args.seq, seed=args.seed)
    header("embedder fine-tuned on the survey's works plus decisions, against its base, new papers, nested")
    print(f"{len(targets)} judged candidates ({int(y.sum())} in scope, {int(placed.sum())} with a subsection), "
          f"{len(records) - len(targets)} survey works; base {base.model_id}; {args.repeats} repeats x "
          f"{args.folds} folds (harness.splits, seeds {args.seed}..{args.seed + args.repeats - 1}); fine-tune: "
          f"{settings.pairs} pairs, {settings.epochs} epoch(s), batch {settings.batch_size}, lr "
          f"{settings.learning_rate}, {settings.max_seq_length} word pieces, CosineSimilarityLoss", flush=True)

    check = get_embedder(cfg.embed_model).embed_array(records.texts[:50])
    agree = float(np.mean(np.sum(check * records.vectors[:50], axis=1)))
    print(f"check: stored base vectors against the base re-embedding the same texts: mean cosine {agree:.4f} "
          "(50 records)", flush=True)

    tune_env = env
    runs: list = []
    fits: list[dict] = []
    for rep in range(args.repeats):
        pred = harness.RepeatPredictions({m: np.zeros(len(targets)) for m in arms},
                                         {m: np.full(len(targets), 0.5) for m in arms},
                                         {m: [[] for _ in targets] for m in arms})
        for fold, (_, te) in enumerate(harness.splits(y, args.folds, args.seed + rep)):
            held = targets[te]
            train = np.setdiff1d(everyone, held)
            works = [Labelled(records.texts[i], bool(records.inside[i]),
                              records.subsection[i] if records.inside[i] else None) for i in train]
            tuned = tune(works, root, replace(settings, seed=args.seed + 1000 * rep + fold))
            fits.append(tuned.provenance)
            embedder = TunedEmbedder(tuned.name, root=root)
            wall, cpu = time.perf_counter(), time.process_time()
            vectors = embedder.embed_array(records.texts).astype(np.float64)
            embed_cpu = time.process_time() - cpu
            tuned_records = replace(records, vectors=vectors)
            tune_env = replace(env, make_embedder=lambda e=embedder: e, _built={})
            for m in methods:
                for arm, recs, arm_env in ((m, records, env), (m + TUNED, tuned_records, tune_env)):
                    arm_setup = replace(setup, env=arm_env)
                    if SCOPE in roles[m]:
                        method = harness.fit_scope(m, arm_setup, recs, train)
                        pred.scope[arm][te] = harness.scope_scores(method, recs, held)
                        pred.threshold[arm][te] = method.threshold
                    if PLACEMENT in roles[m]:
                        method = harness.fit_placement(m, arm_setup, recs, train)
                        for j, ranked in zip(te, harness.ranked_subsections(method, recs, held,
                                                                            setup.taxonomy.placement)):
                            pred.placement[arm][j] = ranked
            print(f"repeat {rep + 1} fold {fold + 1}: tuned on {tuned.provenance['works']} works, "
                  f"{tuned.provenance['pairs']} pairs: {tuned.provenance['cpu_seconds']:.0f} CPU s "
                  f"({tuned.provenance['wall_seconds']:.0f} wall s); embedding {len(records)} records "
                  f"{embed_cpu:.0f} CPU s; fold done in {time.perf_counter() - wall:.0f} wall s after the fit",
                  flush=True)
            if not args.keep:
                for f in tuned.path.iterdir():
                    if f.name != "litmine-tune.json":
                        shutil.rmtree(f) if f.is_dir() else f.unlink()
        runs.append(pred)
        report(runs, y, truth, placed, methods, arm_roles, arms, setup.env.target_recall if setup.env else 0.95,
               args.seed, fits)
    if args.out:
        args.out.write_text(json.dumps({"fits": fits}, indent=2))


def report(runs, y, truth, placed, methods, arm_roles, arms, target, seed, fits) -> None:
    from litmine.evaluation import harness

    idx = np.arange(len(y))
    figures = harness.summarise(runs, y, truth, placed, idx, arms, arm_roles, target, "all", 200, seed)
    per_rep = [harness.summarise([r], y, truth, placed, idx, arms, arm_roles, target, "all", 0, seed) for r in runs]
    cpu = [f["cpu_seconds"] for f in fits]
    print(f"== after {len(runs)} repeat(s): mean sd [bootstrap 95%] over the repeats; diff = tuned - base per "
          f"repeat (same splits), mean and repeats ahead; fit {np.mean(cpu):.0f} CPU s mean "
          f"({min(cpu):.0f}-{max(cpu):.0f}) over {len(cpu)} fits", flush=True)
    print(f"   {'method':<10}{'metric':<13}{'base vectors':>30}{'tuned vectors':>30}{'diff':>9}{'ahead':>7}")
    for m in methods:
        for metric in METRICS:
            b, t = figures.get((m, "all", metric)), figures.get((m + TUNED, "all", metric))
            if b is None or t is None:
                continue
            diffs = [r[(m + TUNED, "all", metric)].mean - r[(m, "all", metric)].mean for r in per_rep]
            print(f"   {m:<10}{metric:<13}{_cell(b):>30}{_cell(t):>30}{np.mean(diffs):>+9.3f}"
                  f"{sum(d > 0 for d in diffs):>4}/{len(diffs)}", flush=True)


def _cell(s) -> str:
    return f"{s.mean:.3f} sd {s.sd:.3f} [{s.low:.3f}, {s.high:.3f}]"


if __name__ == "__main__":
    main()
