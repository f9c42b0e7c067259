"""`litmine screen`: the scope decision (in or out of the survey) for every work."""

from __future__ import annotations

import click

from litmine.cli.common import echo_counts, open_store, settings


@click.command()
@click.option("-m", "--method", "methods", multiple=True,
              help="Scope method to run (repeatable; default: supervised, zeroshot, llm if configured, ensemble).")
def screen(methods: tuple[str, ...]) -> None:
    """Decide for every work whether it belongs in the survey: a calibrated probability per method.

    Trained on the survey's placed works, the seed's screening judgements and reviewers' scope
    decisions; the ensemble's decision is the one placement follows (view scope_decisions).

    \b
    Example:
      litmine screen
      litmine query "select decision, count(*) from scope_decisions group by 1"
    """
    from litmine.classify import env_from_settings
    from litmine.classify.scope import default_scope_methods, get_scope_method, screen_works
    from litmine.review import import_decisions

    cfg = settings()
    store = open_store(cfg)
    env = env_from_settings(cfg, store)
    names = list(methods) or default_scope_methods(env)
    run_id = store.start_run("screen " + " ".join(names))
    results = []
    try:
        decided = import_decisions(store, cfg, run_id=run_id)  # reviewers' scope decisions train this run
        if decided.new or decided.failed:
            echo_counts(decided)
        for name in names:
            results.append(screen_works(store, get_scope_method(name, env), run_id=run_id))
            echo_counts(results[-1])
    except BaseException as exc:
        store.finish_run(run_id, "failed", {c.stage: c.as_dict() for c in results}, error=str(exc) or type(exc).__name__)
        raise
    failed = any(c.failed for c in results)
    store.finish_run(run_id, "partial" if failed else "ok", {c.stage: c.as_dict() for c in results})


def register(main: click.Group) -> None:
    main.add_command(screen)
