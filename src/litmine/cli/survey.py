"""`litmine survey`: the survey seed."""

from __future__ import annotations

import click

from litmine.cli.common import run_stage


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

    run_stage("survey load", "survey", seed_dir=Path(seed_dir) if seed_dir else None)


def register(main: click.Group) -> None:
    from litmine.cli.extract import labels_from_latex

    survey.add_command(labels_from_latex)
    main.add_command(survey)
