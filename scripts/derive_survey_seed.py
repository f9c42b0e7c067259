"""Derive litmine's survey seed (data/surveys/toward-transparent-ai/) from ../shared/survey/.

Run once when the shared survey files change; the output is committed. It carries facts (ids,
titles, structure) and the project's own descriptions and labels into litmine's generic seed
format (see `litmine.survey.load`). The abstracts (third-party text) are not carried, nor are the
screening candidates' titles: only their ids and the project's in/out judgements.

    .venv/bin/python scripts/derive_survey_seed.py ../shared/survey data/surveys/toward-transparent-ai
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

# The taxonomy file describes subsections but not the four parts; these one-line part
# descriptions are ours, summarising what the subsections under each part share.
PART_DESCRIPTIONS = {
    "2": "Methods and hazards concerning individual weights or weight matrices: which parameters matter for which task or behaviour.",
    "3": "Methods and hazards concerning individual neurons or units: what a neuron responds to, represents or causes.",
    "4": "Methods concerning groups of neurons and weights working together: sparse, modular or circuit-level structure.",
    "5": "Methods concerning a network's internal representations (activations, embeddings, tokens): what they encode and how it can be read out or shaped.",
}

# The project's own screening judgements (ids and labels only; titles and abstracts come from arXiv).
SCREENING_COLUMNS = ["arxiv_id", "listing_date", "scope", "subsection", "label_status", "annotator_a", "annotator_b"]

# The survey works' themes as two annotators chose them: a theme both chose is a positive, one neither
# chose a negative, one only one chose is left unknown (the project's own labels).
THEME_LABEL_COLUMNS = ["key", "positive", "negative", "label_status", "annotator_a", "annotator_b"]

REFERENCE_COLUMNS = [
    "ref", "key", "title", "authors", "year", "venue", "arxiv_id", "doi", "openalex_id",
    "metadata_confidence", "sections", "label_status", "annotator_a", "annotator_b",
]


# What the survey covers, in the project's own words (from the survey's framing in the authors'
# summary, ../shared/seed/linkpost.txt): the statement screening and the LLM prompts use.
SCOPE = {
    "statement": (
        "Inner interpretability of deep neural networks: methods, analyses, tools, benchmarks and critiques "
        "that explain internal parts of a network's computational graph (its weights, neurons, subnetworks "
        "or circuits, and latent representations), whether they act while the model is designed or trained "
        "(intrinsic), are applied to a trained model (post hoc), or show hazards that make inner parts "
        "misleading to interpret."
    ),
    "excludes": (
        "Methods that only explain a model's inputs or outputs (input-feature attribution, saliency over "
        "input pixels, SHAP, LIME) or the network as a whole; interpretable models built for an application "
        "domain; user studies of explanations; general machine learning that merely mentions interpretability."
    ),
    "in_scope_label_sets": ["subsection"],
}


def derive(src: Path, dst: Path) -> None:
    taxonomy = json.loads((src / "taxonomy.json").read_text(encoding="utf-8"))
    themes = json.loads((src / "themes.json").read_text(encoding="utf-8"))
    survey = taxonomy["survey"]

    parts, subsections = [], []
    for part in taxonomy["parts"]:
        parts.append({"id": part["number"], "name": part["title"], "description": PART_DESCRIPTIONS[part["number"]]})
        for sub in part["subsections"]:
            meta = {k: sub[k] for k in ("title_confidence", "note") if k in sub}
            subsections.append(
                {
                    "id": sub["number"],
                    "parent": part["number"],
                    "name": sub["title"],
                    "kind": sub["kind"],
                    "description": sub["description"],
                    **({"meta": meta} if meta else {}),
                }
            )
    sections = [
        {"id": number, "name": text.split(":")[0], "description": text}
        for number, text in taxonomy["other_sections"].items()
    ]
    theme_labels, theme_examples = [], {}
    for theme in themes["themes"]:
        theme_labels.append(
            {"id": theme["id"], "name": theme["name"], "description": theme["description"],
             "meta": {"grounded_in": theme["grounded_in"]}}
        )
        if theme.get("examples_from_seed"):
            theme_examples[theme["id"]] = theme["examples_from_seed"]

    seed = {
        "format": "litmine-survey/1",
        "id": "toward-transparent-ai",
        "title": survey["title"],
        "authors": survey["authors"],
        "arxiv_id": survey["arxiv_id"],
        "doi": survey["doi"],
        "venue": survey["venue"],
        "axes": taxonomy["axes"],
        "scope": SCOPE,
        "label_sets": [
            {"id": "part", "description": taxonomy["axes"]["part"], "multi_label": True, "labels": parts},
            {"id": "subsection", "parent_set": "part", "multi_label": True,
             "description": "the survey's subsections (2.1-5.7), each intrinsic, post hoc or a hazard",
             "labels": subsections},
            {"id": "section", "multi_label": True,
             "description": "the survey's other sections that cite works: introduction, discussion, future work",
             "labels": sections},
            {"id": "theme", "multi_label": True, "description": themes["about"], "labels": theme_labels,
             "examples": theme_examples},
        ],
        "references": {
            "file": "references.csv",
            "list_separator": ";",
            "sections_label_sets": ["subsection", "section"],
            "derived_label_sets": {"part": "subsection"},
            "label_files": [{"file": "theme_labels.csv", "label_set": "theme"}],
        },
        "screening": {"file": "screening.csv"},
    }
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "survey.json").write_text(json.dumps(seed, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    with (src / "bibliography.csv").open(encoding="utf-8", newline="") as fin, \
            (dst / "references.csv").open("w", encoding="utf-8", newline="") as fout:
        writer = csv.DictWriter(fout, REFERENCE_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in csv.DictReader(fin):
            writer.writerow({c: row[c] for c in REFERENCE_COLUMNS})

    with (src / "screening.csv").open(encoding="utf-8", newline="") as fin, \
            (dst / "screening.csv").open("w", encoding="utf-8", newline="") as fout:
        writer = csv.DictWriter(fout, SCREENING_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in csv.DictReader(fin):
            writer.writerow({c: row[c] for c in SCREENING_COLUMNS})

    derive_theme_labels(src / "theme_labels.csv", dst / "theme_labels.csv", [t["id"] for t in themes["themes"]])


def derive_theme_labels(src: Path, dst: Path, theme_ids: list[str]) -> None:
    """Each annotator's cell reads 'theme;theme (confidence)': agreed themes become ``positive``,
    themes neither chose ``negative``."""

    def chosen(cell: str) -> set[str]:
        names = cell.rsplit("(", 1)[0] if cell.rstrip().endswith(")") else cell
        return {t.strip() for t in names.split(";") if t.strip()}

    with src.open(encoding="utf-8", newline="") as fin, dst.open("w", encoding="utf-8", newline="") as fout:
        writer = csv.DictWriter(fout, THEME_LABEL_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in csv.DictReader(fin):
            a, b = chosen(row["annotator_a"]), chosen(row["annotator_b"])
            writer.writerow({"key": row["key"], "positive": ";".join(t for t in theme_ids if t in a & b),
                             "negative": ";".join(t for t in theme_ids if t not in a | b),
                             "label_status": row["label_status"], "annotator_a": row["annotator_a"],
                             "annotator_b": row["annotator_b"]})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    derive(Path(sys.argv[1]), Path(sys.argv[2]))
