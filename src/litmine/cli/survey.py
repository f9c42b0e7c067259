"""`litmine survey`: the survey seed."""

from __future__ import annotations

import click

from litmine.cli.common import echo_counts, exit_status, settings


@click.group()
def survey() -> None:
    """The survey seed: its taxonomy, themes and labelled bibliography.

    \b
    Example:
      litmine survey load
    """


@survey.command("load")
@click.option("--seed-dir", type=click.Path(file_okay=False, path_type=None),
              help="Seed folder (default: LITMINE_SURVEY_DIR or the bundled survey).")
def load(seed_dir: str | None) -> None:
    """Load the survey seed into the database; loading twice changes nothing.

    \b
    Example:
      litmine survey load
    """
    from pathlib import Path

    from litmine.survey import load_survey

    from litmine.pipeline import Run

    cfg = settings()
    with Run.open(cfg, "survey load") as run:
        counts = run.call("survey", lambda ctx: load_survey(
            ctx.store, Path(seed_dir) if seed_dir else cfg.seed_dir, run_id=ctx.run_id))
    echo_counts(counts)
    exit_status(run.report)


def register(main: click.Group) -> None:
    from litmine.cli.extract import labels_from_latex

    survey.add_command(labels_from_latex)
    main.add_command(survey)
