"""`litmine screen`: the scope decision (in or out of the survey) for every work."""

from __future__ import annotations

import click

from litmine.cli.common import echo_counts, exit_status, settings


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
    from litmine.classify.method import SCOPE, get_method
    from litmine.pipeline import Run, classifier_env

    cfg = settings()
    with Run.open(cfg, " ".join(("screen", *methods))) as run:
        env = classifier_env(run.ctx)
        for name in methods:
            get_method(SCOPE, name, env)  # an unknown name fails here, before any work
        # reviewers' scope decisions train this run
        decided = run.stage("decisions")
        if decided is not None and (decided.new or decided.failed):
            echo_counts(decided)
        echo_counts(run.stage("screen", methods=list(methods)))
    exit_status(run.report)


def register(main: click.Group) -> None:
    main.add_command(screen)
