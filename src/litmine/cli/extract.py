"""`litmine extract` (PDFs into text and reference lists) and `litmine survey labels-from-latex`."""

from __future__ import annotations

from pathlib import Path

import click

from litmine.cli.common import echo_counts, exit_status, run_stage, settings


@click.command()
@click.option("--pdf-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Also register every PDF under this folder (recursively, read in place) and extract it.")
@click.option("--limit", type=click.IntRange(min=1), help="Extract at most this many downloaded documents.")
@click.option("--workers", type=click.IntRange(min=1), help="Worker processes (default: LITMINE_EXTRACT_WORKERS).")
def extract(pdf_dir: Path | None, limit: int | None, workers: int | None) -> None:
    """Extract text, abstract, headings and reference lists from stored PDFs.

    Documents already extracted by this extractor version are skipped. Every file ends in a
    recorded state: ok, or encrypted, damaged, empty, no_text, too_large, not_pdf, missing,
    timeout or crashed, with the reason in documents.extract_error. References are linked to
    works by arXiv id, DOI or title (tables citations; views cited_by, connected_papers).

    \b
    Example:
      litmine extract
      litmine extract --pdf-dir ~/papers
      litmine query "select extract_status, count(*) from documents group by 1"
    """
    from litmine.pipeline import Run

    with Run.open(settings(), "extract" + (f" --pdf-dir {pdf_dir}" if pdf_dir else "")) as run:
        if pdf_dir is not None:  # the folder's PDFs, then every downloaded document
            echo_counts(run.stage("extract", pdf_dir=pdf_dir, workers=workers))
        echo_counts(run.stage("extract", limit=limit, workers=workers))
    exit_status(run.report)


@click.command("labels-from-latex")
@click.argument("eprint", type=click.Path(exists=True, dir_okay=True, path_type=Path))
@click.option("--survey-id", help="Survey whose references get the labels (default: the only one loaded).")
@click.option("--dry-run", is_flag=True, help="Print what the LaTeX says; change nothing.")
def labels_from_latex(eprint: Path, survey_id: str | None, dry_run: bool) -> None:
    """Label the survey's references with the sections that cite them, from its LaTeX source.

    EPRINT is the survey's arXiv e-print: a tar (or .tar.gz) of .tex files with a .bib or .bbl,
    a single (gzipped) .tex, or a folder. Every \\cite in a section or subsection names the
    references it cites there; \\input and \\include are followed. The derived sections replace
    the seed's inferred ones, with status 'verified' and source version 'latex:<sha256>'.

    \b
    Example:
      litmine survey labels-from-latex 2207.13243v6.tar.gz
    """
    from litmine.survey.latex import read_eprint

    citations = read_eprint(eprint)
    if dry_run:
        for entry in citations.entries:
            click.echo(f"{entry.key}\t{';'.join(entry.sections) or '-'}")
        click.echo(f"{len(citations.entries)} bibliography entries, {citations.cited} cited in a numbered section")
        return
    run_stage("survey labels-from-latex", "labels-from-latex", citations=citations, survey_id=survey_id)


def register(main: click.Group) -> None:
    main.add_command(extract)
