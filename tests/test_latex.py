"""Survey labels from a LaTeX e-print written here: sections, \\input, \\cite variants, .bib and .bbl."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from litmine.errors import LatexError
from litmine.survey.latex import apply_latex_labels, read_eprint
from litmine.store import labels as label_store
from litmine.store.works import WorkRecord, upsert_work

MAIN = r"""\documentclass{article}
% \cite{commented_out} must not count
\begin{document}
\begin{abstract}Interpretability matters \cite{intro_only}.\end{abstract}
\section{Introduction}
We survey inner interpretability \citep{olah2020zoom, bau2017network} and more~\citet[see][p.~3]{kim2018tcav}.
\section{Weights}
Part text before any subsection \citeauthor{frankle2019lottery}.
\subsection{Continual learning}
\input{sections/continual}
\subsection{Weight masking}
\include{sections/masking.tex}
\section*{Unnumbered aside}
Here \cite{aside_only} is cited in no numbered section.
\section{Neurons}
\subsection[short]{Individual neurons}
Neurons \parencite{bau2017network} and again \textcite{bau2017network}; \nocite{never_cited}
\appendix
\section{Extra}
\autocite*{appendix_ref}
\bibliography{refs}
\end{document}
"""
CONTINUAL = r"Masks per task \citep{kirkpatrick2017ewc,  frankle2019lottery }. % \cite{ignored}" + "\n"
MASKING = r"Masking weights \cite[Sec.~2]{frankle2019lottery}. 100\% sure \citealp{olah2020zoom}." + "\n"
BIB = """@article{olah2020zoom, title={Zoom In: An Introduction to Circuits}, year={2020}}
@inproceedings{bau2017network,
  title = {Network Dissection: Quantifying Interpretability of Deep Visual Representations},
}
@article{kim2018tcav, title="Interpretability Beyond Feature Attribution"}
@article{frankle2019lottery, title={The Lottery Ticket Hypothesis}}
@article{kirkpatrick2017ewc, title={Overcoming catastrophic forgetting in neural networks}}
@misc{never_cited, title={Never cited}}
@misc{intro_only, title={Only in the abstract}}
@misc{aside_only, title={Aside}}
@misc{appendix_ref, title={Appendix}}
"""


def make_eprint(tmp_path: Path, bib: str = BIB, bib_name: str = "refs.bib") -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, text in [("main.tex", MAIN), ("sections/continual.tex", CONTINUAL),
                           ("sections/masking.tex", MASKING), (bib_name, bib)]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path = tmp_path / "2207.13243v6.tar.gz"
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def test_sections_citing_each_entry(tmp_path):
    result = read_eprint(make_eprint(tmp_path))
    got = {e.key: e.sections for e in result.entries}
    assert got == {
        "olah2020zoom": ["1", "2.2"],
        "bau2017network": ["3.1", "1"],  # cited twice in 3.1, once in 1: most citations first
        "kim2018tcav": ["1"],
        "frankle2019lottery": ["2", "2.1", "2.2"],
        "kirkpatrick2017ewc": ["2.1"],
        "never_cited": [],
        "intro_only": [],
        "aside_only": [],
        "appendix_ref": ["A"],
    }
    assert "commented_out" not in got and "ignored" not in got
    assert result.section_titles["2.1"] == "Continual learning" and result.section_titles["3.1"] == "Individual neurons"
    assert result.main_file == "main.tex" and result.cited == 6
    titles = {e.key: e.title for e in result.entries}
    assert titles["bau2017network"] == "Network Dissection: Quantifying Interpretability of Deep Visual Representations"
    assert titles["kim2018tcav"] == "Interpretability Beyond Feature Attribution"


def test_bbl_entries_are_the_bibliography_when_present(tmp_path):
    bbl = "\\begin{thebibliography}{9}\n\\bibitem[Olah et~al.(2020)]{olah2020zoom} C. Olah.\n" \
          "\\bibitem{kim2018tcav} B. Kim.\n\\end{thebibliography}\n"
    result = read_eprint(make_eprint(tmp_path, bbl, "main.bbl"))
    keys = [e.key for e in result.entries]
    assert keys[:2] == ["olah2020zoom", "kim2018tcav"]  # the .bbl's entries, then keys cited but not in it
    assert "never_cited" not in keys


def test_bad_eprints_give_clear_errors(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"\x1f\x8bnot really gzip")
    with pytest.raises(LatexError, match="the gzip file is damaged"):
        read_eprint(junk)
    no_main = tmp_path / "dir"
    no_main.mkdir()
    (no_main / "part.tex").write_text("\\section{A} \\cite{x}")
    with pytest.raises(LatexError, match=r"no main .tex file \(none has \\documentclass"):
        read_eprint(no_main)


def _survey(store) -> dict[str, int]:
    """A two-part survey with sections 1, parts 2-3 and subsections 2.1, 2.2, 3.1, and its references."""
    works = {}
    with store.transaction() as con:
        con.execute("INSERT INTO surveys VALUES ('s', 'A survey', NULL, NULL, '{}', 'h', now())")
        for set_id in ("part", "subsection", "section"):
            label_store.upsert_label_set(con, set_id, "s", set_id, True)
        for i, (set_id, label_id, parent) in enumerate([("part", "2", None), ("part", "3", None),
                                                        ("subsection", "2.1", "2"), ("subsection", "2.2", "2"),
                                                        ("subsection", "3.1", "3"), ("section", "1", None)]):
            label_store.upsert_label(con, set_id, label_id, parent, label_id, None, "", i, {})
        for ref, (key, sections) in enumerate([("olah2020zoom", ["3.1"]), ("bau2017network", ["3.1"]),
                                               ("frankle2019lottery", ["2.2"]), ("unrelated", ["1"])], 1):
            work_id, _ = upsert_work(con, WorkRecord(title=key, metadata_source="seed"))
            works[key] = work_id
            con.execute("INSERT INTO survey_references (survey_id, ref, key, work_id, sections, label_status) "
                        "VALUES ('s', ?, ?, ?, ?, 'silver-agree')", [ref, key, work_id, sections])
            label_store.set_source_labels(con, work_id, "subsection" if "." in sections[0] else "section", "survey",
                                          set(sections), status="silver-agree", source_version="seed", run_id=None)
    return works


def test_apply_replaces_the_seed_labels(store, tmp_path):
    works = _survey(store)
    citations = read_eprint(make_eprint(tmp_path))
    counts = apply_latex_labels(store, citations)
    assert (counts.updated, counts.unchanged, counts.failed) == (3, 0, 6)
    with store.connect(read_only=True) as con:
        refs = dict(con.execute("SELECT key, sections FROM survey_references WHERE label_status = 'verified'").fetchall())
        labels = con.execute("SELECT work_id, label_set, label_id, assigned FROM latest_labels WHERE source = 'survey' "
                             "ORDER BY 1, 2, 3").fetchall()
        versions = {r[0] for r in con.execute("SELECT source_version FROM label_assignments WHERE status = 'verified'").fetchall()}
    assert refs == {"olah2020zoom": ["1", "2.2"], "bau2017network": ["3.1", "1"],
                    "frankle2019lottery": ["2.1", "2.2"]}
    olah, bau, frankle = works["olah2020zoom"], works["bau2017network"], works["frankle2019lottery"]
    assert [row for row in labels if row[0] == olah] == [
        (olah, "part", "2", True), (olah, "section", "1", True),
        (olah, "subsection", "2.2", True), (olah, "subsection", "3.1", False)]  # the seed's 3.1 withdrawn
    assert [row for row in labels if row[0] == frankle] == [
        (frankle, "part", "2", True), (frankle, "subsection", "2.1", True), (frankle, "subsection", "2.2", True)]
    assert (bau, "part", "3", True) in labels
    assert versions == {"latex:" + citations.sha256[:12]}
    again = apply_latex_labels(store, citations)
    assert (again.updated, again.unchanged) == (0, 3)


def test_cli_labels_from_latex(store, tmp_path):
    _survey(store)
    from litmine.cli import main

    result = CliRunner().invoke(main, ["survey", "labels-from-latex", str(make_eprint(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("labels-from-latex: 0 new, 3 updated, 0 unchanged, 6 failed (6 LaTeX entries "
                                    "name no reference of s: kim2018tcav, kirkpatrick2017ewc, never_cited")
    dry = CliRunner().invoke(main, ["survey", "labels-from-latex", "--dry-run", str(make_eprint(tmp_path))])
    assert "bau2017network\t3.1;1" in dry.output.splitlines()
    assert dry.output.splitlines()[-1] == "9 bibliography entries, 6 cited in a numbered section"
