"""The README's learning curve, from the shared silver labels (read in place, never copied).

    python scripts/learning_curve.py [--embedder sentence-transformers:all-MiniLM-L6-v2] [--out docs/learning_curve.png]

scope: the 180 papers of ../shared/survey/screening.csv both annotators called `in` or `out` (title and
abstract from the listings parquet); subsection: the survey's works with an abstract in
abstracts.jsonl and a verified or silver-agree subsection (2.1-5.7) in bibliography.csv, the first one
listed. The notebook computes the same curves from the database (`litmine.learning.learning_curves`).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
from pathlib import Path

from litmine.embed import DEFAULT_MODEL, get_embedder
from litmine.learning import curve, plot

SURVEY = Path(__file__).resolve().parents[2] / "shared" / "survey"
LISTINGS = SURVEY.parent / "fixtures" / "metadata" / "daily_arxiv_cs_2025-03_to_2026-07.parquet"
SUBSECTION = re.compile(r"^[2-5]\.\d$")


def scope_examples() -> tuple[list[str], list[bool]]:
    import pyarrow.parquet as pq

    rows = [r for r in csv.DictReader(open(SURVEY / "screening.csv", encoding="utf-8")) if r["scope"] in ("in", "out")]
    table = pq.read_table(LISTINGS, columns=["arxiv_id", "title", "abstract"]).to_pylist()
    text = {r["arxiv_id"]: f"{r['title']}. {r['abstract']}" for r in table}
    rows = [r for r in rows if r["arxiv_id"] in text]
    return [text[r["arxiv_id"]] for r in rows], [r["scope"] == "in" for r in rows]


def subsection_examples() -> tuple[list[str], list[str]]:
    abstracts = {}
    for line in open(SURVEY / "abstracts.jsonl", encoding="utf-8"):
        a = json.loads(line)
        abstracts[a["key"]] = f"{a.get('title_seen') or ''}. {a['abstract']}"
    texts, labels = [], []
    for r in csv.DictReader(open(SURVEY / "bibliography.csv", encoding="utf-8")):
        subs = [s for s in r["sections"].split(";") if SUBSECTION.match(s.strip())]
        if r["key"] in abstracts and subs and r["label_status"] in ("verified", "silver-agree"):
            texts.append(abstracts[r["key"]])
            labels.append(subs[0].strip())
    return texts, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", default=DEFAULT_MODEL)
    parser.add_argument("--out", default="docs/learning_curve.png")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    embedder = get_embedder(args.embedder)
    curves = []
    for task, (texts, labels) in (("scope", scope_examples()), ("subsection", subsection_examples())):
        vectors = list(embedder.embed(texts))
        c = curve(vectors, labels, task, repeats=args.repeats)
        curves.append(c)
        print(f"{task}: {len(labels)} labelled works, {len(set(labels))} classes")
        print("\n".join(c.rows()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    plot(curves, title=f"Learning curve from the silver labels ({args.embedder})").savefig(args.out, dpi=110)
    print(f"plot: {args.out}")


if __name__ == "__main__":
    main()
