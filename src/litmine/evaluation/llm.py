"""What ``litmine evaluate --method llm --sample N`` adds to the cross-validation: the LLM on a fixed
random sample of the survey's works, beside what its few-shot examples alone answer and what it
answers with no examples.

An LLM answer costs seconds, so ``--sample N`` restricts every method of the run to the same N
survey works (drawn with the run's seed from the works the survey places in its primary label set):
the folds, and so the training data of each fold, stay those of the full cross-validation; only the
predictions are fewer. For every LLM method ``name``, two rows are put beside it:

- ``name examples alone``: the majority first label of the few-shot works the LLM is shown
  (``ExamplesAlone``, the same neighbours, from the same training folds);
- ``name no examples``: the same LLM and prompt with ``few_shot=0``.
"""

from __future__ import annotations

import random
from typing import Callable

from litmine.classify import TRAIN_STATUSES, load_examples, load_taxonomy
from litmine.classify.llm import LLM, ExamplesAlone
from litmine.errors import ClassifierError


def sample_work_ids(store, n: int, seed: int = 0) -> set[int]:
    """``n`` survey works with a label in the primary set, drawn with ``seed`` (the same for the same
    database and seed)."""
    taxonomy = load_taxonomy(store, "litmine evaluate")
    examples = load_examples(store, None, statuses=TRAIN_STATUSES + ("silver-disagree",), taxonomy=taxonomy)
    ids = sorted(ex.item.work_id for ex in examples if ex.positives.get(taxonomy.placement))
    if n < 1:
        raise ClassifierError(f"--sample must be at least 1, got {n}")
    if not ids:
        raise ClassifierError("no labelled works to sample: load the survey first (`litmine survey load`)")
    return set(random.Random(seed).sample(ids, min(n, len(ids))))


def on_sample(make: Callable[[], object], work_ids: set[int]) -> Callable[[], object]:
    """A factory like ``make`` whose classifiers predict only the works in ``work_ids`` (None for
    every other item, so the harness keeps each prediction beside its item)."""
    def build():
        clf = make()
        classify = clf.classify

        def sampled(items):
            got = iter(classify([item for item in items if item.work_id in work_ids]))
            return [next(got) if item.work_id in work_ids else None for item in items]

        clf.classify = sampled
        return clf

    return build


def with_baselines(methods: dict[str, Callable[[], object]], env) -> dict[str, Callable[[], object]]:
    """``methods`` with, after each LLM method, its examples-alone and no-examples rows."""
    out: dict[str, Callable[[], object]] = {}
    for name, make in methods.items():
        out[name] = make
        if not isinstance(make(), LLM):
            continue

        def alone(make=make, name=name):
            clf = ExamplesAlone(env, **make().param_values)
            clf.name = f"{name} examples alone"
            return clf

        def zero(make=make, name=name):
            clf = make()
            clf.param_values["few_shot"] = 0
            clf.name = f"{name} no examples"
            return clf

        out[f"{name} examples alone"] = alone
        out[f"{name} no examples"] = zero
    return out


def evaluation_methods(store, names: list[str], env, sample: int | None = None,
                       seed: int = 0) -> dict[str, Callable[[], object]]:
    """The classifier factories ``litmine evaluate`` runs: each named method, the LLM's two baseline
    rows beside it, and with ``sample`` all of them on the same sample of works."""
    from litmine.classify.method import PLACEMENT, get_method

    methods = with_baselines({n: (lambda n=n: get_method(PLACEMENT, n, env)) for n in names}, env)
    if sample is None:
        return methods
    chosen = sample_work_ids(store, sample, seed)
    return {name: on_sample(make, chosen) for name, make in methods.items()}
