"""`litmine fetch`: bring in papers from arXiv (the survey's references, the nightly query, OAI-PMH) and PDFs."""

from __future__ import annotations

import click

from litmine.cli.common import run_stage, settings


def _run(command: str, stage: str, **options) -> None:
    """Run the stage ``stage`` of the table with the command's options: ok, partial (some items
    failed) or failed; exits 1 when the stage failed as a whole."""
    cfg = settings()
    config = {"arxiv_api_url": cfg.arxiv_api_url, "arxiv_delay_seconds": cfg.arxiv_delay_seconds}
    run_stage(command, stage, config, **options)


@click.group()
def fetch() -> None:
    """Fetch papers and PDFs from arXiv, politely (one request every LITMINE_ARXIV_DELAY_SECONDS).

    \b
    Example:
      litmine fetch survey
      litmine fetch arxiv
      litmine fetch pdfs
    """


@fetch.command("survey")
@click.option("--refresh", is_flag=True, help="Resolve every reference again, not only unresolved ones.")
@click.option("--threshold", type=float, default=None, help="Lowest title-match score that links (default 0.8).")
def fetch_survey_cmd(refresh: bool, threshold: float | None) -> None:
    """Resolve the survey's references (and the seed's screening candidates) to arXiv records and store
    their metadata and abstracts.

    References with an arXiv id are fetched in batches by id; the others are searched by title and
    linked only when the match scores at least the threshold.

    \b
    Example:
      litmine survey load
      litmine fetch survey
    """
    _run("fetch survey", "fetch-survey", refresh=refresh, threshold=threshold)


@fetch.command("arxiv")
@click.option("--max-results", type=int, default=None, help="Stop after this many results (default: all).")
@click.option("--until", "until", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
              default=None, help="Take this (UTC) time as now: fetch what was submitted up to it (default: now).")
def fetch_arxiv_cmd(max_results: int | None, until) -> None:
    """Fetch the interpretability papers submitted since the last run.

    The query covers LITMINE_ARXIV_CATEGORIES and LITMINE_ARXIV_QUERY (default: litmine's
    interpretability terms); a first run looks back LITMINE_ARXIV_LOOKBACK_DAYS days.

    \b
    Example:
      litmine fetch arxiv
      LITMINE_ARXIV_CATEGORIES=cs.LG,cs.CL litmine fetch arxiv --max-results 200
      litmine fetch arxiv --until 2026-06-20
    """
    _run("fetch arxiv", "fetch-arxiv", max_results=max_results, until=until)


@fetch.command("oai")
@click.option("--from", "from_date", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First day (default: where the last harvest ended).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last day (default: today).")
@click.option("--set", "set_spec", default=None, help="OAI-PMH set, e.g. cs or physics:hep-th (default: all).")
def fetch_oai_cmd(from_date, until, set_spec: str | None) -> None:
    """Backfill in bulk over OAI-PMH (ListRecords with resumption tokens), arXiv's route for harvesters.

    \b
    Example:
      litmine fetch oai --set cs --from 2026-01-01 --until 2026-01-31
    """
    _run("fetch oai", "oai-pmh", set_spec=set_spec, from_date=from_date.date() if from_date else None,
         until=until.date() if until else None)


@fetch.command("pdfs")
@click.option("--limit", type=int, default=None, help="Download at most this many PDFs.")
@click.option("--retry-failed", is_flag=True, help="Try again the downloads that failed before.")
def fetch_pdfs_cmd(limit: int | None, retry_failed: bool) -> None:
    """Download the PDFs of arXiv works lacking their latest version into DATA_DIR/pdfs.

    Each PDF is checked (content type, size cap, %PDF and %%EOF), hashed, and renamed into place;
    a bad one is recorded with its reason and the run goes on.

    \b
    Example:
      litmine fetch pdfs --limit 50
    """
    _run("fetch pdfs", "pdfs", limit=limit, retry_failed=retry_failed)


def register(main: click.Group) -> None:
    main.add_command(fetch)
