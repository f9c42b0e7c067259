"""How right extraction is on the 28 real PDFs, against the truth read from them by hand.

Per PDF and in total: title exact, abstract match, reference entries found against the true
count, and how many of three known reference titles lie whole inside one entry (the entry was
split right) and, for litmine, come out of the parser as the entry's title. The same figures, on
the same files in the same run, for the alternatives:

- ``pymupdf4llm`` (PyMuPDF's own layout-to-Markdown tool), read plainly: the title is the first
  bold or heading line, the abstract the paragraph after "Abstract", the reference entries the list
  items or paragraphs under the "References" heading up to the next heading. Its layout mode
  (an ONNX model) is left off by default: ``--layout`` turns it on (about 1.7 s a page here).
- ``refextract`` (INSPIRE's reference extractor, the optional extra ``bench``) on PyMuPDF's text
  of the whole PDF: it finds and splits the reference section itself; it reads no title or abstract.
  It takes about 10 s a PDF here; ``--tools`` picks the tools to run.

Run: ``.venv/bin/python bench/extract_quality.py`` (truth: tests/extraction_truth.json). With
``--styles``: reference lists of the 50 style PDFs, tuning and held-out apart (bench/reference_quality.py). The
alternatives are slow (about 4 min for pymupdf4llm and 5 for refextract on two cores): ``--cache
DIR`` keeps their results, so they can be run in parts (``--only``) and printed together.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from difflib import SequenceMatcher
from pathlib import Path

from common import ROOT, SHARED, header

from litmine.pdf.references import normalize_title

FOLDER = SHARED / "fixtures" / "pdfs" / "real"
TRUTH = ROOT / "tests" / "extraction_truth.json"


def load_truth() -> list[dict]:
    return json.loads(TRUTH.read_text())["papers"]


# -- what each tool gives: {"title", "abstract", "references": [raw], "parsed_titles": [..] or None}


def run_litmine(path: Path) -> dict:
    from litmine.pdf.text import read_pdf

    r = read_pdf(path, 10_000)
    return {"title": r.title_guess, "abstract": r.abstract, "references": r.references,
            "parsed_titles": [c.title for c in r.citations]}


_MD_HEADING = re.compile(r"^(#+\s+|\*\*)(.+?)(\*\*)?\s*$")


def run_pymupdf4llm(path: Path) -> dict:
    import pymupdf4llm

    md = pymupdf4llm.to_markdown(str(path), show_progress=False)
    lines = [line.strip() for line in md.splitlines()]
    plain = [_plain(line) for line in lines]
    title = next((plain[i] for i, line in enumerate(lines) if _MD_HEADING.match(line) and len(plain[i]) > 10), None)
    abstract = None
    for i, text in enumerate(plain):
        if re.fullmatch(r"abstract[.:]?", text, re.I) or re.match(r"abstract\s*[.:—–-]\s*\S", text, re.I):
            rest = re.sub(r"^abstract\s*[.:—–-]?\s*", "", text, flags=re.I)
            paragraphs, j = [rest] if rest else [], i + 1
            while j < len(lines) and (not paragraphs or lines[j]) and not _MD_HEADING.match(lines[j]):
                if plain[j]:
                    paragraphs.append(plain[j])
                j += 1
            abstract = " ".join(paragraphs)
            break
    references: list[str] = []
    start = next((i for i, text in enumerate(plain) if re.fullmatch(r"(\d+\.?\s*)?(references|bibliography)", text, re.I)
                  and _MD_HEADING.match(lines[i])), None)
    if start is not None:
        entry: list[str] = []
        for line, text in zip(lines[start + 1:], plain[start + 1:]):
            if line.startswith("#"):
                break
            if not line or line.startswith(("- ", "* ")):
                if entry:
                    references.append(" ".join(entry))
                entry = [text] if line else []
            elif text:
                entry.append(text)
        if entry:
            references.append(" ".join(entry))
    return {"title": title, "abstract": abstract, "references": references, "parsed_titles": None}


def _plain(line: str) -> str:
    line = re.sub(r"^#+\s+|^[-*]\s+", "", line)
    line = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line)
    return " ".join(re.sub(r"[*_`]|<sup>.*?</sup>", "", line).split())


def run_refextract(path: Path) -> dict:
    import pymupdf
    from refextract import extract_references_from_string

    with pymupdf.open(path) as doc:
        text = "\n".join(page.get_text() for page in doc)
    refs = extract_references_from_string(text, is_only_references=False)
    return {"title": None, "abstract": None,
            "references": [" ".join(r.get("raw_ref", [])) for r in refs],
            "parsed_titles": [(r.get("title") or [None])[0] for r in refs]}


# -- scoring ------------------------------------------------------------------------------------


def title_exact(found: str | None, truth: str) -> bool:
    return bool(found) and normalize_title(found) == normalize_title(truth)


def abstract_match(found: str | None, start: str, end: str) -> bool:
    """The abstract begins with the truth's first words and ends with its last (a footnote mark
    such as a trailing '1' allowed), so one cut short or run on into the introduction fails."""
    text = normalize_title(found)
    tail = re.sub(r" ?\d$", "", text)
    return bool(text) and text.startswith(normalize_title(start)) and tail.endswith(normalize_title(end))


def titles_in_entries(entries: list[str], titles: list[str]) -> int:
    normalized = [" " + normalize_title(e) + " " for e in entries]
    return sum(any(f" {normalize_title(t)} " in e for e in normalized) for t in titles)


def titles_parsed(parsed: list[str | None], titles: list[str]) -> int:
    norms = [normalize_title(p) for p in parsed if p]
    return sum(any(SequenceMatcher(None, normalize_title(t), p).ratio() >= 0.9 for p in norms) for t in titles)


def within(found: int, true: int, share: float = 0.10) -> bool:
    return abs(found - true) <= share * true


TOOLS = {"litmine": run_litmine, "pymupdf4llm": run_pymupdf4llm, "refextract": run_refextract}


def _run(tool: str, path: Path, cache: Path | None, layout: bool) -> tuple[dict, float]:
    """(what the tool gave, seconds it took), from the cache when there."""
    stored = cache / f"{tool}{'-layout' if layout and tool == 'pymupdf4llm' else ''}__{path.stem}.json" if cache else None
    if stored and stored.exists():
        kept = json.loads(stored.read_text())
        return kept["result"], kept["seconds"]
    started = time.perf_counter()
    result = TOOLS[tool](path)
    seconds = time.perf_counter() - started
    if stored:
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps({"result": result, "seconds": seconds}))
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help="comma-separated, from: %(default)s (refextract takes about 10 s a PDF, pymupdf4llm 4)")
    parser.add_argument("--layout", action="store_true", help="pymupdf4llm with its layout model (slow)")
    parser.add_argument("--only", help="only PDFs whose file names start so (comma-separated: 1206,2308)")
    parser.add_argument("--cache", type=Path, help="keep the alternatives' results here (JSON), reused by the next "
                                                   "run, so slow tools can be run in parts; litmine always runs")
    parser.add_argument("--styles", action="store_true",
                        help="score reference lists on the 50 style PDFs instead (tests/reference_truth.json; "
                             "see bench/reference_quality.py)")
    parser.add_argument("--split", default="all", choices=("all", "tuning", "heldout"), help="with --styles")
    parser.add_argument("--before", type=Path, help="with --styles: the src folder of an earlier litmine, run "
                                                    "beside as litmine-before (counts, F1 and CPU per page)")
    parser.add_argument("--repeat", type=int, default=1, help="with --styles: litmine runs per file (CPU: the min)")
    args = parser.parse_args()
    tools = args.tools.split(",")
    unknown = set(tools) - set(TOOLS)
    if unknown:
        parser.error(f"unknown tool(s) {', '.join(sorted(unknown))}: choose from {', '.join(TOOLS)}")
    if args.styles:
        import reference_quality

        reference_quality.main(args)
        return
    import pymupdf4llm

    pymupdf4llm.use_layout(bool(args.layout))
    truth = [t for t in load_truth() if not args.only or t["file"].startswith(tuple(args.only.split(",")))]
    header(f"extraction quality: {len(truth)} PDFs of {FOLDER.relative_to(SHARED)} against {TRUTH.relative_to(ROOT)}"
           f"{' (pymupdf4llm with layout)' if args.layout else ''}")
    totals = {tool: {"title": 0, "abstract": 0, "refs10": 0, "exact": 0, "over": 0, "in_entry": 0, "parsed": 0,
                     "seconds": 0.0} for tool in tools}
    n_titles = sum(len(t["reference_titles"]) for t in truth)
    print(f"{'PDF':12} {'refs':>4} | " + " | ".join(f"{tool:^26}" for tool in tools))
    print(f"{'':12} {'true':>4} | " + " | ".join(f"{'title abs  refs  ok  ttl':^26}" for _ in tools))
    for t in truth:
        cells = []
        for tool in tools:
            got, seconds = _run(tool, FOLDER / t["file"], args.cache if tool != "litmine" else None, args.layout)
            tot = totals[tool]
            tot["seconds"] += seconds
            ok_title = title_exact(got["title"], t["title"])
            ok_abstract = abstract_match(got["abstract"], t["abstract_start"], t["abstract_end"])
            n = len(got["references"])
            ok_refs = within(n, t["references"])
            in_entry = titles_in_entries(got["references"], t["reference_titles"])
            parsed = titles_parsed(got["parsed_titles"], t["reference_titles"]) if got["parsed_titles"] else 0
            tot["title"] += ok_title
            tot["abstract"] += ok_abstract
            tot["refs10"] += ok_refs
            tot["exact"] += n == t["references"]
            tot["over"] += max(0, n - t["references"])
            tot["in_entry"] += in_entry
            tot["parsed"] += parsed
            mark = lambda ok, applies=True: ("yes" if ok else "NO") if applies else "-"  # noqa: E731
            cells.append(f"{mark(ok_title, tool != 'refextract'):>5} {mark(ok_abstract, tool != 'refextract'):>3} "
                         f"{n:>5} {mark(ok_refs):>3} {in_entry}/{len(t['reference_titles'])}"
                         f"{'' if got['parsed_titles'] is None else f' {parsed}'}".ljust(26))
        print(f"{t['file'][:12]:12} {t['references']:>4} | " + " | ".join(cells), flush=True)
    print()
    n = len(truth)
    print(f"{'total':12} | titles exact | abstracts | ref counts within 10% | exact | entries over true | "
          f"ref titles in one entry | parsed as title | seconds")
    for tool in tools:
        tot = totals[tool]
        has_text = tool != "refextract"
        title = f"{tot['title']}/{n}" if has_text else "-"
        abstract = f"{tot['abstract']}/{n}" if has_text else "-"
        parsed = f"{tot['parsed']}/{n_titles}" if tool != "pymupdf4llm" else "-"
        print(f"{tool:12} | {title:>12} | {abstract:>9} | {tot['refs10']:>18}/{n} | {tot['exact']:>2}/{n} | "
              f"{tot['over']:>17} | {tot['in_entry']:>20}/{n_titles} | {parsed:>15} | {tot['seconds']:7.1f}")


if __name__ == "__main__":
    main()
