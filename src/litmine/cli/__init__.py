"""The ``litmine`` command: a thin layer over the library.

Each stage's commands live in their own module here and register themselves on ``main``; heavy
libraries (torch, sentence-transformers, pymupdf, prefect) are imported inside the commands, so
``litmine --help`` stays instant.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from litmine import __version__
from litmine.errors import LitmineError, RunInterrupted

# Modules whose ``register(main)`` adds commands. One line each; order is help order.
COMMAND_MODULES = [
    "litmine.cli.core",
    "litmine.cli.survey",
    "litmine.cli.fetch",
    "litmine.cli.extract",
    "litmine.cli.screen",
    "litmine.cli.classify",
    "litmine.cli.topics",
    "litmine.cli.flows",
]


class LitmineGroup(click.Group):
    """Turns litmine's own errors into one clear line and exit status 1, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # registration order, which follows the data flow

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LitmineError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except (KeyboardInterrupt, RunInterrupted):
            click.echo("Interrupted: whatever was committed is kept; run the same command again to finish.", err=True)
            ctx.exit(130)


@click.group(
    cls=LitmineGroup,
    epilog="Next: litmine run, then litmine status.",
)
@click.version_option(__version__, prog_name="litmine")
@click.option("-v", "--verbose", count=True, help="Log progress (-v) or everything (-vv) to stderr.")
def main(verbose: int) -> None:
    """litmine keeps the "Toward Transparent AI" interpretability survey current.

    It fetches papers from arXiv and the survey's bibliography, extracts and embeds their text,
    classifies them into the survey's taxonomy and themes, and keeps it all in one DuckDB file.

    \b
    Example:
      litmine run
      litmine query "select section, count(*) from survey_labels group by 1 order by 1"
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(main)
