"""Reference lists in every common style: litmine and the alternatives scored against the hand-read
truth of the 50 style PDFs (tests/reference_truth.json), the tuning set and the 15 held-out apart.

For each tool, split and style: papers whose entry count is exact and within 10% of the true count,
and entry-level precision, recall and F1 of (first author, year, title) on the hand-read entries.
An entry is located by its title (the true title's first words found in one extracted entry); it is
right when the tool's first author holds the true surname, its year is the true year and its title
is at least 0.9 similar to the true one (lower case, punctuation dropped). Recall: right entries over
hand-read entries. Precision: right entries over the located entries the tool gave a title for.

The extraction stage's CPU cost per page (process time of ``read_pdf``, min of ``--repeat`` runs per
file) is printed for litmine and, with ``--before DIR`` (the ``src`` of an earlier commit, e.g.
``git archive <commit> src | tar -x -C DIR``), for that earlier litmine in the same run; its counts
and F1 are printed beside as ``litmine-before``.

Run: ``.venv/bin/python bench/extract_quality.py --styles [--split tuning] [--tools litmine,refextract]``
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import unicodedata
from difflib import SequenceMatcher
from pathlib import Path

from common import ROOT, SHARED, header

from litmine.pdf.references import normalize_title, parse_reference

FOLDER = SHARED / "fixtures" / "pdfs" / "styles"
TRUTH = ROOT / "tests" / "reference_truth.json"
STYLES = ("numbered", "natbib", "acl-aaai", "other")
_LOCATE_WORDS = 6


def load_truth() -> list[dict]:
    return json.loads(TRUTH.read_text())["papers"]


# -- what each tool gives: {"entries": [{"raw", "first_author", "year", "title"}], "pages", "cpu"}


def run_litmine(path: Path) -> dict:
    """litmine's extraction of one PDF, with the CPU time it took (this process)."""
    from litmine.pdf.text import read_pdf

    started = time.process_time()
    r = read_pdf(path, 10_000)
    cpu = time.process_time() - started
    return {"pages": r.pages, "cpu": cpu,
            "entries": [{"raw": c.raw, "first_author": (c.authors or [None])[0], "year": c.year, "title": c.title}
                        for c in r.citations]}


def run_before(path: Path, src: Path) -> dict:
    """The same, by the litmine whose ``src`` is ``src`` (an earlier commit), in a fresh process."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = ("import json, sys; sys.path.insert(0, sys.argv[2]); sys.path.insert(0, sys.argv[3]); "
            "import reference_quality as q; from pathlib import Path; "
            "print(json.dumps(q.run_litmine(Path(sys.argv[1]))))")
    out = subprocess.run([sys.executable, "-c", code, str(path), str(src), str(Path(__file__).parent)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_refextract(path: Path) -> dict:
    """refextract on PyMuPDF's text of the whole PDF (it finds the reference section itself)."""
    import pymupdf
    from refextract import extract_references_from_string

    with pymupdf.open(path) as doc:
        text = "\n".join(page.get_text() for page in doc)
        pages = doc.page_count
    refs = extract_references_from_string(text, is_only_references=False)
    entries = []
    for r in refs:
        year = next((int(y) for y in r.get("year", []) if re.fullmatch(r"\d{4}", str(y))), None)
        entries.append({"raw": " ".join(r.get("raw_ref", [])), "first_author": (r.get("author") or [None])[0],
                        "year": year, "title": (r.get("title") or [None])[0]})
    return {"pages": pages, "cpu": None, "entries": entries}


_LIST_ITEM = re.compile(r"^\s*(?:[-*]\s+|\d{1,3}\.\s+|\[\d{1,3}\]\s*)")


def run_pymupdf4llm(path: Path) -> dict:
    """pymupdf4llm's Markdown, its reference section (from a "References" heading to the next
    heading) split by a simple rule: a new entry at each list item or blank line. Its entries are
    parsed by litmine's ``parse_reference`` (it gives no fields)."""
    import pymupdf4llm

    pymupdf4llm.use_layout(False)  # its layout model takes about 1.7 s a page here
    md = pymupdf4llm.to_markdown(str(path), show_progress=False)
    lines = md.splitlines()
    start = next((i for i, line in enumerate(lines)
                  if re.fullmatch(r"(#+\s*|\*\*)?(\d+\.?\s*)?(references|bibliography)(\*\*)?\s*", line.strip(), re.I)), None)
    raws: list[str] = []
    if start is not None:
        entry: list[str] = []
        for line in lines[start + 1:]:
            if line.startswith("#"):
                break
            if not line.strip() or _LIST_ITEM.match(line):
                if entry:
                    raws.append(" ".join(entry))
                entry = [_LIST_ITEM.sub("", line).strip()] if line.strip() else []
            else:
                entry.append(line.strip())
        if entry:
            raws.append(" ".join(entry))
    raws = [re.sub(r"[*_`]", "", r) for r in raws if len(r) >= 20]
    entries = []
    for raw in raws:
        c = parse_reference(raw)
        entries.append({"raw": c.raw, "first_author": (c.authors or [None])[0], "year": c.year, "title": c.title})
    return {"pages": None, "cpu": None, "entries": entries}


# -- scoring ------------------------------------------------------------------------------------


def _fold(text: str | None) -> str:
    text = unicodedata.normalize("NFKD", text or "")
    return " ".join(re.sub(r"[^a-z]+", " ", "".join(c for c in text if not unicodedata.combining(c)).lower()).split())


def author_right(found: str | None, surname: str) -> bool:
    return bool(found) and f" {_fold(surname)} " in f" {_fold(found)} "


def title_right(found: str | None, truth: str) -> bool:
    a, b = normalize_title(found), normalize_title(truth)
    return bool(a) and SequenceMatcher(None, a, b).ratio() >= 0.9


def score_entries(entries: list[dict], truth_entries: list[dict]) -> tuple[int, int, int]:
    """(right, located with a title, hand-read) for one paper."""
    raws = [" " + normalize_title(e["raw"]) + " " for e in entries]
    right = located = 0
    for t in truth_entries:
        key = " " + " ".join(normalize_title(t["title"]).split()[:_LOCATE_WORDS]) + " "
        hits = [i for i, raw in enumerate(raws) if key in raw]
        if not hits:
            continue
        best = max(hits, key=lambda i: (title_right(entries[i]["title"], t["title"]), entries[i]["year"] == t["year"]))
        e = entries[best]
        located += bool(e["title"])
        right += (author_right(e["first_author"], t["first_author"]) and e["year"] == t["year"]
                  and title_right(e["title"], t["title"]))
    return right, located, len(truth_entries)


def within(found: int, true: int, share: float = 0.10) -> bool:
    return abs(found - true) <= share * true


def prf(right: int, located: int, total: int) -> tuple[float, float, float]:
    p = right / located if located else 0.0
    r = right / total if total else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def main(args) -> None:
    tools = args.tools.split(",")
    tools = ["litmine-before"] * bool(args.before) + [t for t in tools]
    truth = [t for t in load_truth() if args.split in ("all", t["split"])
             and (not args.only or t["file"].startswith(tuple(args.only.split(","))))]
    header(f"reference lists: {len(truth)} PDFs of {FOLDER.relative_to(SHARED)} against {TRUTH.relative_to(ROOT)}")
    runners = {"litmine": run_litmine, "refextract": run_refextract, "pymupdf4llm": run_pymupdf4llm,
               "litmine-before": lambda p: run_before(p, args.before)}
    rows: dict[str, dict[str, dict]] = {tool: {} for tool in tools}
    print(f"{'PDF':16} {'split':7} {'style':8} {'true':>4} | " + " | ".join(f"{tool:>18}" for tool in tools))
    for t in truth:
        cells = []
        for tool in tools:
            got = _cached(tool, FOLDER / t["file"], runners[tool], args)
            if tool.startswith("litmine") and args.repeat > 1:
                for _ in range(args.repeat - 1):
                    again = runners[tool](FOLDER / t["file"])
                    got["cpu"] = min(got["cpu"], again["cpu"])
            n = len(got["entries"])
            right, located, total = score_entries(got["entries"], t["entries"])
            rows[tool][t["file"]] = {"n": n, "right": right, "located": located, "total": total,
                                     "cpu": got.get("cpu"), "pages": got.get("pages")}
            cells.append(f"{n:>5} {'ok' if within(n, t['count']) else 'NO':>2} {right}/{total}".rjust(18))
        print(f"{t['file'][:16]:16} {t['split']:7} {t['style']:8} {t['count']:>4} | " + " | ".join(cells), flush=True)
    print()
    for split in ("tuning", "heldout"):
        papers = [t for t in truth if t["split"] == split]
        if not papers:
            continue
        print(f"-- {split}: {len(papers)} papers")
        print(f"{'tool':15} {'style':8} {'papers':>6} | {'counts exact':>12} | {'within 10%':>10} | "
              f"{'entry P':>7} {'R':>5} {'F1':>5}")
        for tool in tools:
            for style in (*STYLES, "all"):
                group = [t for t in papers if style in ("all", t["style"])]
                if not group:
                    continue
                got = [rows[tool][t["file"]] for t in group]
                exact = sum(g["n"] == t["count"] for g, t in zip(got, group))
                near = sum(within(g["n"], t["count"]) for g, t in zip(got, group))
                p, r, f = prf(sum(g["right"] for g in got), sum(g["located"] for g in got), sum(g["total"] for g in got))
                print(f"{tool:15} {style:8} {len(group):>6} | {exact:>8}/{len(group):<3} | {near:>6}/{len(group):<3} | "
                      f"{p:7.2f} {r:5.2f} {f:5.2f}")
        print()
    for tool in tools:
        if not tool.startswith("litmine"):
            continue
        cpu = sum(rows[tool][t["file"]]["cpu"] for t in truth)
        pages = sum(rows[tool][t["file"]]["pages"] for t in truth)
        print(f"CPU per page, {tool:15}: {1000 * cpu / pages:6.1f} ms ({cpu:.1f} s for {pages} pages, "
              f"min of {args.repeat} run(s) per file)")


def _cached(tool: str, path: Path, runner, args) -> dict:
    """A slow alternative's result from ``--cache`` when there; litmine always runs."""
    stored = args.cache / f"styles-{tool}__{path.stem}.json" if args.cache and not tool.startswith("litmine") else None
    if stored and stored.exists():
        return json.loads(stored.read_text())
    got = runner(path)
    if stored:
        stored.parent.mkdir(parents=True, exist_ok=True)
        stored.write_text(json.dumps(got))
    return got
