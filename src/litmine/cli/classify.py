"""Commands of the embedding, classification and evaluation stages: embed, embed-tune, similar,
classify, evaluate, llm list."""

from __future__ import annotations

import dataclasses

import click

from litmine.cli.common import echo_counts, exit_status, open_store, run_stage, settings
from litmine.errors import ClassifierError


def _run_config(cfg) -> dict:
    values = dataclasses.asdict(cfg)
    values.pop("llm_api_key", None)  # never stored
    return values


@click.command()
@click.option("--model", help="Embedding model (default: LITMINE_EMBED_MODEL, all-MiniLM-L6-v2).")
@click.option("--batch-size", type=int, help="Texts per batch (default: LITMINE_EMBED_BATCH_SIZE).")
@click.option("--no-fulltext", is_flag=True, help="Embed titles and abstracts only, not full-text chunks.")
def embed(model: str | None, batch_size: int | None, no_fulltext: bool) -> None:
    """Embed every work's title and abstract, and its full text in chunks where extracted.

    Text already embedded by the same model, unchanged, is skipped.

    \b
    Example:
      litmine embed
      LITMINE_EMBED_MODEL=allenai/specter2_base litmine embed
    """
    cfg = settings()
    run_stage("embed", "embed", _run_config(cfg), model=model, batch_size=batch_size, fulltext=not no_fulltext)


@click.command("embed-tune")
@click.option("--base", default="all-MiniLM-L6-v2", show_default=True,
              help="The sentence-transformers model to tune (a name litmine embeds with, or a saved model's folder).")
@click.option("--pairs", default=256, show_default=True, help="Pairs of labelled works to train on.")
@click.option("--epochs", default=1, show_default=True, help="Passes over the pairs.")
@click.option("--max-seq-length", default=64, show_default=True,
              help="Word pieces of each text read while training (the saved model reads as many as its base).")
@click.option("--seed", default=0, show_default=True, help="Seed of the pairs and the training order.")
def embed_tune(base: str, pairs: int, epochs: int, max_seq_length: int, seed: int) -> None:
    """Fine-tune the embedder on the survey's works and the judged candidates (SetFit-style, on CPU).

    Pairs of works in the same subsection, or of the same scope, are pulled together, the others
    pushed apart. The tuned model is saved under the data directory's embedders/ with its provenance
    (litmine-tune.json); select it with LITMINE_EMBED_MODEL=tuned:<name>. Off by default; what it
    gave on new papers: docs/evaluation.md.

    \b
    Example:
      OMP_NUM_THREADS=1 litmine embed-tune
      LITMINE_EMBED_MODEL=tuned:all-minilm-l6-v2-<digest> litmine embed
    """
    from litmine.embed.tune import TuneSettings, labelled_works, tune

    cfg = settings()
    store = open_store(cfg)
    works = labelled_works(store)
    result = tune(works, cfg.embedders_dir, TuneSettings(base=base, pairs=pairs, epochs=epochs,
                                                            max_seq_length=max_seq_length, seed=seed))
    p = result.provenance
    if result.reused:
        click.echo(f"{result.model_id}: already tuned on these works with these settings ({result.path})")
    else:
        click.echo(f"tuned {p['base']} on {p['works']} works ({p['in_scope']} in scope, {p['placed']} with a "
                   f"subsection), {p['pairs']} pairs, {epochs} epoch(s): {p['cpu_seconds']:.0f} CPU s")
        click.echo(f"saved: {result.path} (provenance in litmine-tune.json)")
    click.echo(f"use it: LITMINE_EMBED_MODEL={result.model_id} litmine embed")


@click.command()
@click.argument("work")
@click.option("-n", "--limit", default=10, show_default=True, help="How many works to list.")
@click.option("--model", help="Embedding model whose vectors to compare (default: LITMINE_EMBED_MODEL).")
def similar(work: str, limit: int, model: str | None) -> None:
    """List the works most similar to WORK (a work id, arXiv id or survey key), by exact cosine
    similarity of their title-and-abstract embeddings.

    \b
    Example:
      litmine similar olah2020zoom -n 5
      litmine query "select * from similar_works(42, 5)"
    """
    from litmine.store import ml as ml_store
    from litmine.store.works import get_work

    cfg = settings()
    store = open_store(cfg)
    model_id = model or cfg.embed_model
    with store.connect(read_only=True) as con:
        work_id = ml_store.resolve_work(con, work)
        if work_id is None:
            raise ClassifierError(f"no work {work!r}: give a work id, an arXiv id or a survey citation key")
        if not ml_store.has_embedding(con, work_id, model_id):
            raise ClassifierError(f"work {work_id} has no {model_id} embedding: run `litmine embed` first")
        rows = ml_store.similar_works(con, work_id, model_id, limit)
        title = get_work(con, work_id).title
    click.echo(f"works most similar to {work_id} {title!r} ({model_id}):")
    for other, arxiv_id, year, other_title, cosine in rows:
        click.echo(f"{cosine:6.3f}  {other:>6}  {arxiv_id or '-':<12} {year or '':>4}  {other_title}")


@click.command()
@click.option("-m", "--method", "methods", multiple=True,
              help="Classifier to run (repeatable; default: zeroshot, supervised, llm if configured, ensemble).")
@click.option("--limit", type=int, help="Classify at most this many works per method (for a trial).")
def classify(methods: tuple[str, ...], limit: int | None) -> None:
    """Score every work for the survey's label sets (placement, derived, themes) with each classifier.

    Each label row records the classifier's name, version, parameters, model and run id. Works
    whose text is unchanged since the same classifier version scored them are skipped.

    \b
    Example:
      litmine classify
      litmine classify -m zeroshot -m supervised
      litmine query "select * from disagreements limit 5"
    """
    from litmine.classify import PLACEMENT, default_methods, get_method
    from litmine.pipeline import Run, classifier_env

    cfg = settings()
    with Run.open(cfg, " ".join(("classify", *methods)), _run_config(cfg)) as run:
        env = classifier_env(run.ctx)
        names = [get_method(PLACEMENT, name, env).name for name in list(methods) or default_methods(PLACEMENT, env)]  # unknown: fails here
        # reviewers' decisions still in the journal become human labels first, so training sees them
        decided = run.stage("decisions")
        if decided is not None and (decided.new or decided.failed):
            echo_counts(decided)
        for name in names:
            echo_counts(run.stage(f"classify-{name}", limit=limit))
    exit_status(run.report)


@click.command()
@click.option("-m", "--method", "methods", multiple=True,
              help="Classifier to evaluate (repeatable; default: zeroshot, supervised, llm if configured, ensemble).")
@click.option("--folds", default=5, show_default=True, help="Cross-validation folds.")
@click.option("--seed", default=0, show_default=True, help="Seed of the fold split and of the models.")
@click.option("--sample", type=int, help="Predict only this many survey works, drawn with the seed (for the LLM).")
@click.option("--repeats", default=10, show_default=True,
              help="Repeated stratified splits of the new papers' nested evaluation (0: skip it).")
@click.option("--new-papers-method", "new_papers_methods", multiple=True,
              help="Method of the new papers' evaluation, both roles where registered (repeatable; default: tuned, "
                   "ensemble; name:key=value;key=value passes parameters). bare is always beside it.")
@click.option("--new-papers-only", is_flag=True, help="Print the new papers' nested figures only (not the survey's works, "
              "not the cross-validation that follows).")
def evaluate(methods: tuple[str, ...], folds: int, seed: int, sample: int | None, repeats: int,
             new_papers_methods: tuple[str, ...], new_papers_only: bool) -> None:
    """Cross-validate each classifier on the labelled works and print every figure, per label and
    per label status (verified, silver-agree, silver-disagree), beside the bare library (`bare`:
    scikit-learn's balanced logistic regression on the same folds and vectors); primary-label
    figures (works with an abstract and title-only works apart) and the new papers of the seed's
    screening are printed too. The figures are stored in the table evaluations.

    First come the NEW PAPERS (the judged screening candidates): the methods screen and classify
    store (tuned, ensemble; or those given with --new-papers-method), each fitted on the training folds only as those
    commands fit it (its own choices, such as the scope threshold at LITMINE_SCOPE_TARGET_RECALL,
    made inside them), over --repeats stratified splits: scope recall, precision, precision at the target
    recall, AP, WSS@95 and placement top-1, top-3, macro-F1, each as mean, sd and bootstrap 95%
    interval beside the bare row; then the same on the survey's own works.

    \b
    Example:
      litmine evaluate
      litmine evaluate -m zeroshot --folds 10
      litmine evaluate --repeats 20 --new-papers-only
      litmine evaluate --new-papers-only --new-papers-method tuned --new-papers-method supervised
      litmine evaluate -m llm -m supervised --sample 60
      litmine query "select method, label_set, stratum, metric, value from evaluations where label_id = '*'"
    """
    from litmine.classify import PLACEMENT, default_methods, get_method, load_taxonomy
    from litmine.evaluation.evaluate import format_report
    from litmine.evaluation.newpapers import new_paper_sections
    from litmine.pipeline import Run, classifier_env

    cfg = settings()
    with Run.open(cfg, " ".join(("evaluate", *methods)), _run_config(cfg)) as run:
        env = classifier_env(run.ctx)
        names = list(methods) or default_methods(PLACEMENT, env)
        for name in names:
            get_method(PLACEMENT, name, env)  # an unknown name fails here, before any work
        store, run_id = run.store, run.run_id
        if repeats > 0:
            for line in new_paper_sections(store, env, cfg.scope_target_recall, repeats, folds, seed,
                                           survey=not new_papers_only, methods=list(new_papers_methods) or None):
                click.echo(line)
        if new_papers_only:
            return
        if run.stage("evaluate", methods=names, folds=folds, seed=seed, sample=sample) is not None:
            result, scope = run.ctx.results["evaluate"]
            click.echo(format_report(result, load_taxonomy(store)))
            for line in scope:  # scope: out-of-fold figures and the screening simulation
                click.echo(line)
    llm = env._built.get("llm")
    if llm is not None:
        click.echo(llm.usage())
    click.echo(f"stored as evaluation run {run_id}")
    exit_status(run.report)


@click.group()
def llm() -> None:
    """LLM backends for the llm classifier.

    \b
    Example:
      litmine llm list
    """


@llm.command("list")
def llm_list() -> None:
    """List the registered LLM backends and the one configured.

    \b
    Example:
      LITMINE_LLM_BACKEND=openai LITMINE_LLM_MODEL=gpt-4o-mini litmine llm list
    """
    from litmine.llm import available_backends

    cfg = settings()
    for name, ep in sorted(available_backends().items()):
        mark = "*" if name == cfg.llm_backend else " "
        click.echo(f"{mark} {name:<18} {ep.value}")
    if cfg.llm_backend:
        click.echo(f"configured: {cfg.llm_backend}, model {cfg.llm_model or '(none: set LITMINE_LLM_MODEL)'}"
                   + (f", {cfg.llm_base_url}" if cfg.llm_base_url else ""))
    else:
        click.echo("configured: none (set LITMINE_LLM_BACKEND and LITMINE_LLM_MODEL)")


def register(main: click.Group) -> None:
    for command in (embed, embed_tune, similar, classify, evaluate, llm):
        main.add_command(command)
