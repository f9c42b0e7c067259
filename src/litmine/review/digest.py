"""The digest a maintainer reads: the new in-scope works by the survey's placement set (the label
sets the seed declares: subsections and their parts, themes where there are some), what to review,
what the taxonomy lacks; Markdown and HTML with plots.

Only works decided in the survey's scope (view ``scope_decisions``) are listed, each with its
arXiv link, its placement's confidence and its themes. A work is placed by its most trusted labels
(a reviewer's decision, then the survey, then the first classifier of ``DECISION_ORDER``: the
ensemble, supervised, the LLM; see ``litmine.store.review.best_labels``). Out-of-scope and not yet
screened works are only counted, with the `litmine query` that lists them. The borderline list names the works a reviewer's decision
would settle best: scope probabilities near their method's threshold, scope methods that disagree,
classifiers that place a work in different subsections. Files go to
``DATA_DIR/digests/<since>_<until>/``: ``digest.md``, ``digest.html`` and ``plots/*.png``.
"""

from __future__ import annotations

import html as html_lib
import logging
import textwrap
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from litmine.config import Settings
from litmine.review.gaps import GapReport, gaps_in
from litmine.store import Store, utcnow
from litmine.store import review as db
from litmine.review.topics import topics_section

log = logging.getLogger(__name__)


@dataclass
class Group:
    label_id: str
    name: str
    parent: str | None
    works: list[dict] = field(default_factory=list)


@dataclass
class Digest:
    since: datetime
    until: datetime
    works: list[dict]
    taxonomy: list[Group]  # subsections in the survey's order
    themes: list[Group]
    unplaced: list[dict]  # works with no subsection label
    parts: dict[str, str]  # part id -> name
    gaps: GapReport | None = None  # clusters of new works far from every subsection
    months: dict[str, dict[str, int]] = field(default_factory=dict)  # subsection -> {YYYY-MM: works published}
    out_of_scope: list[dict] = field(default_factory=list)  # works decided out of the survey's scope: counted
    unscreened: list[dict] = field(default_factory=list)  # works no one has judged in or out of scope yet
    borderline: list[dict] = field(default_factory=list)  # works to review first, each with its "why"
    roles: dict = field(default_factory=dict)  # the survey seed's label sets: placement, derived, themes
    read_first: list[dict] = field(default_factory=list)  # the in-scope works to read, likeliest in scope first
    changed: list[dict] = field(default_factory=list)  # works an earlier digest reported, since flipped: with why
    states: dict[int, dict] = field(default_factory=dict)  # what this digest saw of each work (stored with it)

    @property
    def placement(self) -> str:
        return self.roles.get("placement") or "placement"

    @property
    def derived(self) -> str | None:
        return next(iter(self.roles.get("derived") or {}), None)

    @property
    def count(self) -> int:
        return len(self.works)

    @property
    def in_scope(self) -> int:
        return len(self.works) - len(self.out_of_scope) - len(self.unscreened)

    def query(self, decision: str) -> str:
        """The `litmine query` that lists this digest's out-of-scope (``'out'``) or unscreened (``NULL``) works."""
        where = "d.decision IS NULL" if decision == "NULL" else f"d.decision = '{decision}'"
        return ("SELECT d.work_id, d.arxiv_id, d.title, d.decided_by, d.probability FROM scope_decisions d "
                f"JOIN works w USING (work_id) WHERE {where} "
                f"AND w.created_at > TIMESTAMP '{self.since:%Y-%m-%d %H:%M:%S.%f}' "
                f"AND w.created_at <= TIMESTAMP '{self.until:%Y-%m-%d %H:%M:%S.%f}' AND w.metadata_source <> 'seed' "
                "AND w.work_id NOT IN (SELECT work_id FROM survey_references WHERE work_id IS NOT NULL) "
                "AND w.work_id NOT IN (SELECT work_id FROM screening_candidates) "
                "ORDER BY d.probability DESC NULLS LAST")


@dataclass
class DigestReport:
    works: int
    folder: Path
    markdown: Path
    html: Path
    plots: list[Path]
    since: datetime | None = None  # where the digest's window began


BORDERLINE_SHOWN = 10  # the borderline list's length: scope first, then placement
READ_FIRST = 10  # the papers-to-read list's length


def confidence(decided_by: str | None, p: float | None, threshold: float | None = None) -> str:
    """Plain words for how sure litmine is that a work is in the survey's scope. A work decided in
    below 0.5 is in only because the scope threshold is set low to keep recall: the words say so."""
    if decided_by == "human":
        return "a reviewer's decision"
    if decided_by in ("survey", "screening"):
        return "the survey's own judgement"
    if p is None:
        return "no probability"
    if p >= 0.9:
        return "very likely"
    if p >= 0.7:
        return "likely"
    if p >= 0.5:
        return "uncertain, leaning in"
    if threshold is not None and threshold < 0.5 and p >= threshold:
        return f"a long shot, kept in so as to miss few (threshold {threshold:.2f})"
    if p >= 0.3:
        return "uncertain, leaning out"
    return "unlikely"


def _to_read(w: dict) -> bool:
    """A paper to read first: a reviewer or the survey put it in scope, or the scope method says 0.5 or more."""
    decision, decided_by, p = w.get("scope") or (None, None, None)
    return decided_by in ("human", "survey", "screening") or (p is not None and p >= 0.5)


def _rank(w: dict) -> tuple:
    """Most likely in scope first: a reviewer's or the survey's word, then by probability."""
    decision, decided_by, p = w.get("scope") or (None, None, None)
    return (decided_by not in ("human", "survey", "screening"), -(p if p is not None else 0.0), w["work_id"])


def build_digest(store: Store, since: datetime | None = None, until: datetime | None = None) -> Digest:
    """Read the works first stored after ``since`` (default: the end of the last digest; every work
    when there was none) and group them; no files written."""
    from litmine.survey.load import label_roles

    until = until or utcnow()
    with store.connect(read_only=True) as con:
        roles = label_roles(con)  # the survey seed's own label sets
        placement, themes_set = roles.get("placement"), roles.get("themes")
        derived = next(iter(roles.get("derived") or {}), None)
        since = since if since is not None else db.last_digest_end(con)
        works = db.new_works(con, since, until)
        if since is None:  # the first digest: every work so far
            since = min((w["created_at"] for w in works), default=until) - timedelta(microseconds=1)
        ids = [w["work_id"] for w in works]
        previous = db.digest_states(con)
        new_ids = set(ids)
        seen_before = [w for w in previous if w not in new_ids]
        scope = db.scope_of(con, ids + seen_before)
        inside = [w for w in ids if scope.get(w, (None,))[0] == "in"]
        inside_before = [w for w in seen_before if scope.get(w, (None,))[0] == "in"]
        by_sub = db.best_labels(con, placement, inside + inside_before) if placement else {}
        by_theme = db.best_labels(con, themes_set, inside) if themes_set else {}
        subsections = db.label_tree(con, placement) if placement else []
        parts = dict(db.label_names(con, derived)) if derived else {}
        themes = db.label_names(con, themes_set) if themes_set else []
        scope_votes = db.scope_votes(con, ids)
        placement_votes = db.placement_votes(con, placement, inside) if placement else {}
        scope_reviewer = db.reviewers(con, "scope", ids + seen_before)
        place_reviewer = db.reviewers(con, placement, inside + inside_before) if placement else {}
        states = {w: _state(scope.get(w), by_sub.get(w)) for w in ids}
        changed = []
        for w in seen_before:  # works an earlier digest reported: what flipped since, and why
            now_state, then = _state(scope.get(w), by_sub.get(w)), previous[w]
            why = _why_changed(then, now_state, scope_reviewer.get(w), place_reviewer.get(w), placement)
            if why:
                states[w] = now_state
                changed.append({**(db.work_summary(con, w) or {}), "work_id": w, "then": then, "now": now_state,
                                "why": why})
    theme_names = dict(themes)
    by_id = {w["work_id"]: {**w, "themes": [theme_names.get(t, t) for t, _, _ in by_theme.get(w["work_id"], [])],
                            "scope": scope.get(w["work_id"], (None, None, None)),
                            "threshold": _threshold(scope.get(w["work_id"]), scope_votes.get(w["work_id"], [])),
                            "reviewer": place_reviewer.get(w["work_id"]) or scope_reviewer.get(w["work_id"])}
             for w in works}
    taxonomy = [Group(label_id, name, parent) for label_id, name, parent in subsections]
    theme_groups = [Group(label_id, name, None) for label_id, name in themes]
    _fill(taxonomy, {w: by_sub[w] for w in inside if w in by_sub}, by_id)
    _fill(theme_groups, by_theme, by_id)
    for g in taxonomy + theme_groups:
        g.works.sort(key=_rank)
    unplaced = sorted((by_id[w] for w in inside if w not in by_sub), key=_rank)
    gaps = gaps_in(store, inside)
    out_of_scope = [{**by_id[w], "source": scope[w][1], "score": scope[w][2]} for w in ids
                    if scope.get(w, (None,))[0] == "out"]
    out_of_scope.sort(key=lambda w: -(w["score"] if w["score"] is not None else 1.0))
    unscreened = [by_id[w] for w in ids if scope.get(w, (None,))[0] is None]
    borderline = _borderline(by_id, scope_votes, placement_votes, by_sub)
    names = {label_id: name for label_id, name, _ in subsections}
    read_first = [{**by_id[w], "placed": [(label, names.get(label, label), source, score)
                                          for label, source, score in by_sub.get(w, [])]}
                  for w in sorted(inside, key=lambda w: _rank(by_id[w])) if _to_read(by_id[w])][:READ_FIRST]
    # The months end at the newest publication among the new works (a replayed or late backfill too).
    newest = max((w["published"] for w in works if w.get("published")), default=None) or until
    return Digest(since, until, works, taxonomy, theme_groups, unplaced, parts, gaps,
                  _months(store, newest, placement), out_of_scope, unscreened, borderline, roles,
                  read_first, changed, states)


def _threshold(scope: tuple | None, votes: list[tuple]) -> float | None:
    """The deciding scope method's threshold (None for a reviewer, the survey or no vote)."""
    decided_by = (scope or (None, None, None))[1]
    return next((t for source, _, _, t in votes if source == decided_by), None)


def _state(scope: tuple | None, placed: list[tuple] | None) -> dict:
    decision, decided_by, p = scope or (None, None, None)
    placed = placed if decision == "in" else None
    return {"scope": decision, "scope_by": decided_by, "probability": p,
            "placement": ",".join(sorted({label for label, _, _ in placed})) if placed else None,
            "placement_by": ",".join(sorted({source for _, source, _ in placed})) if placed else None}


def _why_changed(then: dict, now: dict, scope_reviewer: str | None, place_reviewer: str | None,
                 placement: str | None) -> str | None:
    """Why a work's scope or placement flipped since a digest reported it; None when nothing flipped."""
    def because(was_by: str | None, by: str | None, reviewer: str | None, what: str) -> str:
        if by and "human" in by.split(","):
            return f"a reviewer's decision ({reviewer})" if reviewer else "a reviewer's decision"
        if was_by and "human" in was_by.split(","):
            return "a reviewer's decision was undone"
        if was_by == by:
            return f"the {what} models were retrained (new training data)"
        return f"now decided by {by} (was {was_by})"

    if then.get("scope") is not None and now["scope"] != then.get("scope"):
        return (f"scope {then['scope']} -> {now['scope'] or 'not screened'}: "
                + because(then.get("scope_by"), now["scope_by"], scope_reviewer, "scope"))
    if now["scope"] == "in" and then.get("scope") == "in" and now["placement"] != then.get("placement"):
        return (f"{placement} {then.get('placement') or 'none'} -> {now['placement'] or 'none'}: "
                + because(then.get("placement_by"), now["placement_by"], place_reviewer, "placement"))
    return None


def _borderline(works: dict[int, dict], scope_votes: dict, placement_votes: dict, placed: dict) -> list[dict]:
    """The works a reviewer should look at first, each with why: a scope decision taken by a method
    within 0.1 of its threshold or against another scope method (closest to the threshold first),
    then in-scope works the classifiers place in different subsections (least confident first)."""
    scope_rows = []
    for work_id, votes in scope_votes.items():
        decision, decided_by, p = works[work_id]["scope"]
        if decided_by not in {source for source, _, _, _ in votes}:
            continue  # a reviewer, the survey or the seed decided: nothing to settle
        deciding = next(v for v in votes if v[0] == decided_by)
        margin = abs(p - deciding[3]) if p is not None and deciding[3] is not None else None
        split = len({says for _, says, _, _ in votes}) > 1
        if not split and (margin is None or margin >= 0.1):
            continue
        why = [f"{decision} by {decided_by} at {p:.3f}"
               + (f", threshold {deciding[3]:.3f}" if deciding[3] is not None else "")]
        if split:
            why.append("; ".join(f"{source} says {'in' if says else 'out'}"
                                 + (f" ({score:.2f})" if score is not None else "")
                                 for source, says, score, _ in votes if source != decided_by))
        scope_rows.append((margin if margin is not None else 1.0, work_id, "scope: " + "; ".join(why)))
    place_rows = []
    for work_id, by_source in placement_votes.items():
        tops = {source: labels[0] for source, labels in by_source.items() if labels}
        if len({label for label, _ in tops.values()}) < 2 or any(s in ("human", "survey") for _, s, _ in placed.get(work_id, [])):
            continue
        confidence = max((score or 0.0) for _, score in tops.values())
        why = "; ".join(f"{source} places it in {label}" + (f" ({score:.2f})" if score is not None else "")
                        for source, (label, score) in sorted(tops.items()))
        place_rows.append((confidence, work_id, "placement: " + why))
    scope_rows, place_rows = sorted(scope_rows), sorted(place_rows)
    take = min(len(scope_rows), max(BORDERLINE_SHOWN // 2, BORDERLINE_SHOWN - len(place_rows)))
    rows = scope_rows[:take] + place_rows[:BORDERLINE_SHOWN - take]
    return [{**works[w], "why": why} for _, w, why in rows]


MONTHS_SHOWN = 12


def _months(store: Store, until: datetime, placement: str | None) -> dict[str, dict[str, int]]:
    """Works published in each of the last ``MONTHS_SHOWN`` months, by placement label (most trusted labels)."""
    if not placement:
        return {}
    first = until.year * 12 + until.month - 1 - (MONTHS_SHOWN - 1)
    start = datetime(first // 12, first % 12 + 1, 1)
    with store.connect(read_only=True) as con:
        months = db.work_months(con, start)
        labels = db.best_labels(con, placement, list(months))
    out: dict[str, dict[str, int]] = {}
    for work_id, assigned in labels.items():
        for label_id, _, _ in assigned:
            per = out.setdefault(label_id, {})
            per[months[work_id]] = per.get(months[work_id], 0) + 1
    return out


def _fill(groups: list[Group], labels: dict[int, list[tuple]], works: dict[int, dict]) -> None:
    index = {g.label_id: g for g in groups}
    for work_id, assigned in labels.items():
        for label_id, source, score in assigned:
            if label_id in index:
                index[label_id].works.append({**works[work_id], "source": source, "score": score})


def write_digest(store: Store, settings: Settings, since: datetime | None = None, until: datetime | None = None,
                 run_id: str | None = None) -> DigestReport:
    """Write ``digest.md``, ``digest.html`` and the plots of the works new since ``since`` (default:
    the last digest's end), then store the digest's window, the next digest's watermark."""
    import markdown

    digest = build_digest(store, since, until)
    folder = settings.digest_dir / f"{digest.since:%Y-%m-%d}_{digest.until:%Y-%m-%d}"
    base, n = folder, 1
    while (folder / "digest.md").exists():  # an earlier digest of the same days: keep it
        n += 1
        folder = base.with_name(f"{base.name}_{n}")
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    plots = _plots(digest, folder / "plots")
    text = render_markdown(digest, [p.relative_to(folder) for p in plots])
    text += "\n" + topics_section(store, folder / "plots")  # emerging topics (litmine.review.topics), from the latest topics run
    md_path = folder / "digest.md"
    _write(md_path, text)
    body = markdown.markdown(text, extensions=["tables"])
    title = html_lib.escape(f"litmine digest since {digest.since:%Y-%m-%d}")
    page = (f"<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
            "img{max-width:100%}</style></head>\n<body>\n" + body + "\n</body></html>\n")
    html_path = folder / "digest.html"
    _write(html_path, page)
    with store.transaction() as con:
        db.record_digest(con, digest.since, digest.until, digest.count, str(folder), run_id, digest.states)
    log.info("digest of %d works written to %s", digest.count, folder)
    return DigestReport(digest.count, folder, md_path, html_path, plots, digest.since)


def _write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _link(w: dict) -> str:
    return f"[arXiv:{w['arxiv_id']}](https://arxiv.org/abs/{w['arxiv_id']})" if w.get("arxiv_id") else f"work {w['work_id']}"


def _work_line(w: dict) -> str:
    """Title (year), arXiv link, who placed it and how sure, its scope probability in numbers and
    words, its themes."""
    year = f" ({w['year']})" if w.get("year") else ""
    how = w.get("source")
    if how == "human":
        how = f"reviewer {w['reviewer']}" if w.get("reviewer") else "a reviewer"
    elif how and w.get("score") is not None:
        how = f"{how} {w['score']:.2f}"
    line = f"- {_md(w['title'])}{year}, {_link(w)}" + (f" — by {how}" if how else "")
    decision, decided_by, p = w.get("scope") or (None, None, None)
    if decision == "in":
        line += "; in scope " + (f"{p:.2f} " if p is not None and decided_by != "human" else "") \
            + f"({confidence(decided_by, p, w.get('threshold'))})"
    if w.get("themes"):
        line += f"; themes: {_md(', '.join(w['themes']))}"
    return line


def _read_line(n: int, w: dict) -> str:
    decision, decided_by, p = w.get("scope") or (None, None, None)
    sure = confidence(decided_by, p, w.get("threshold")) + (f", {p:.2f}" if p is not None and decided_by != "human" else "")
    if decided_by == "human" and w.get("reviewer"):
        sure = f"a reviewer's decision ({_md(w['reviewer'])})"
    where = "; ".join(f"{label} {_md(name)}" + (f" (reviewer {_md(w['reviewer'])})" if source == "human"
                                                 and w.get("reviewer") else "")
                      for label, name, source, _ in w.get("placed", [])) or "not placed yet"
    year = f" ({w['year']})" if w.get("year") else ""
    return f"{n}. {_md(w['title'])}{year}, {_link(w)}: in scope {sure}; {where}"


def _md(text: str | None) -> str:
    return (text or "").replace("\n", " ").replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")


def render_markdown(digest: Digest, plots: list[Path]) -> str:
    out = [
        f"# litmine digest: {digest.in_scope} new works in the survey's scope",
        "",
        f"Works first seen from {digest.since:%Y-%m-%d %H:%M} to {digest.until:%Y-%m-%d %H:%M} UTC (the survey's own "
        f"references and screening candidates left out): {digest.count}; "
        f"in the survey's scope {digest.in_scope}, out of it {len(digest.out_of_scope)}, not yet screened "
        f"{len(digest.unscreened)}. In-scope works are placed by a reviewer's decision, else the survey, else the "
        "ensemble (else supervised, else the LLM; zero-shot only where no trained method ran; its score after "
        "\"by\"); \"in scope\" is the scope method's probability, in words: very likely (0.9 or more), likely "
        "(0.7), uncertain (0.3 to 0.7), unlikely; \"a long shot\": under 0.5 yet in, because the scope threshold "
        "is set low so as to miss few in-scope works. Papers to read first: in scope by a reviewer, the survey, "
        "or at 0.5 or more, most likely first.",
        "",
        f"## Papers to read first ({len(digest.read_first)})",
        "",
    ]
    rest = digest.in_scope - len(digest.read_first)
    if digest.read_first:
        out += [_read_line(n, w) for n, w in enumerate(digest.read_first, 1)] + [""]
    else:
        out += ["No new work likely in the survey's scope since the last digest.", ""]
    if rest > 0:
        out += [f"The other {rest} new in-scope works (less likely in scope) are listed by {digest.placement} below.", ""]
    for plot in plots:
        out += [f"![{plot.stem.replace('_', ' ')}]({plot.as_posix()})", ""]
    out += [f"## Changed since the last digest ({len(digest.changed)})", ""]
    if digest.changed:
        out += [f"- {_md(w.get('title'))}, {_link(w)}: {_md(w['why'])}" for w in digest.changed] + [""]
    else:
        out += ["No work an earlier digest reported changed its scope or placement.", ""]
    placement, derived = digest.placement, digest.derived
    out += [f"## New in-scope works by {placement}", ""]
    if derived:
        out += [f"| {derived} | {placement} | works |", "|---|---|---|"]
        for g in digest.taxonomy:
            out.append(f"| {_md(digest.parts.get(g.parent or '', g.parent or ''))} | {g.label_id} {_md(g.name)} "
                       f"| {len(g.works)} |")
        out.append(f"| | not placed | {len(digest.unplaced)} |")
    else:
        out += [f"| {placement} | works |", "|---|---|"]
        out += [f"| {g.label_id} {_md(g.name)} | {len(g.works)} |" for g in digest.taxonomy]
        out.append(f"| not placed | {len(digest.unplaced)} |")
    out.append("")
    for g in digest.taxonomy:
        if g.works:
            out += [f"### {g.label_id} {_md(g.name)} ({len(g.works)})", ""]
            out += [_work_line(w) for w in g.works] + [""]
    if digest.unplaced:
        out += [f"### Not yet placed ({len(digest.unplaced)})", ""]
        out += [_work_line(w) for w in digest.unplaced] + [""]
    out += [f"## Borderline: to review first ({len(digest.borderline)})", ""]
    if digest.borderline:
        out += ["A reviewer's decision settles these best (the review queue: `notebooks/review_queue.ipynb`, "
                "queue `screening` or `disagreements`).", ""]
        out += [f"- {_md(w['title'])}, {_link(w)}: {_md(w['why'])}" for w in digest.borderline] + [""]
    else:
        out += ["No scope decision near its threshold, and no in-scope work the classifiers place apart.", ""]
    themes_set = digest.roles.get("themes")
    if themes_set:
        out += [f"## By {themes_set}", "", f"| {themes_set} | in-scope works |", "|---|---|"]
        out += [f"| {_md(g.name)} | {len(g.works)} |" for g in digest.themes] + [""]
    out += _gaps_markdown(digest.gaps, placement)
    out += ["", f"## Out of the survey's scope ({len(digest.out_of_scope)})", "",
            "Kept in the database, never placed nor listed here. To list them, most likely in scope first:", "",
            f"    litmine query \"{digest.query('out')}\"", ""]
    if digest.unscreened:
        out += [f"## Not yet screened ({len(digest.unscreened)})", "",
                "No scope decision yet: `litmine screen` decides them. To list them:", "",
                f"    litmine query \"{digest.query('NULL')}\"", ""]
    return "\n".join(out)


def _gaps_markdown(report: GapReport | None, placement: str) -> list[str]:
    out = ["## What the taxonomy lacks", ""]
    if report is None or not report.gaps:
        far = 0 if report is None else report.far
        return out + [f"No group of new in-scope works far from every {placement} ({far} of "
                      f"{0 if report is None else report.candidates} works are far, none in a group of three or more).",
                      ""]
    out += [f"{report.far} of {report.candidates} new in-scope works sit far from every {placement} (their best "
            f"similarity to a {placement}'s centroid is below {report.threshold:.2f}, which 90% of the placed works reach "
            f"with their own). They group as:", ""]
    for n, gap in enumerate(report.gaps, 1):
        out += [f"### Group {n}: {gap.size} works; {_md(', '.join(gap.terms))}", "",
                f"Nearest {placement}: {gap.nearest_label} (similarity {gap.nearest_similarity:.2f}). Most central:", ""]
        out += [_work_line(w) for w in gap.papers[:5]] + [""]
    return out


def _plots(digest: Digest, folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []

    def bar(name: str, labels: list[str], values: list[int], title: str) -> None:
        labels = [textwrap.fill(label, 48) for label in labels]  # full labels, wrapped
        lines = sum(label.count("\n") + 1 for label in labels)
        fig, ax = plt.subplots(figsize=(10, max(2.5, 0.22 * lines + 0.12 * len(labels) + 1)))
        bars = ax.barh(labels[::-1], values[::-1], color="#4c72b0")
        ax.bar_label(bars, labels=[str(v) if v else "" for v in values[::-1]], padding=2)
        ax.set_xlabel("new works")
        ax.set_title(title)
        fig.tight_layout()
        path = folder / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        paths.append(path)

    placement = digest.placement
    bar(f"works_by_{placement}", [f"{g.label_id} {g.name}" for g in digest.taxonomy] + ["not placed"],
        [len(g.works) for g in digest.taxonomy] + [len(digest.unplaced)], f"New works by taxonomy {placement}")
    if digest.themes:
        bar("works_by_theme", [g.name for g in digest.themes], [len(g.works) for g in digest.themes],
            f"New works by {digest.roles.get('themes')}")
    if digest.months:
        paths.append(_plot_months(digest, folder))
    days = Counter((w.get("published") or w["created_at"]).date() for w in digest.works)
    fig, ax = plt.subplots(figsize=(8, 2.8))
    first, last = (min(days), max(days)) if days else (None, None)
    ordered = [first + timedelta(days=n) for n in range((last - first).days + 1)] if days else []  # empty days too
    bars = ax.bar([d.isoformat() for d in ordered], [days[d] for d in ordered], color="#55a868")
    ax.bar_label(bars, labels=[str(days[d]) if days[d] else "" for d in ordered], padding=2)
    ax.set_ylabel("new works")
    ax.set_title("New works by arXiv listing date (first version)")
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    path = folder / "works_by_listing_date.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    paths.append(path)
    return paths


def _plot_months(digest: Digest, folder: Path) -> Path:
    """Works published per month, by subsection: the eight busiest, the rest as 'other'."""
    import matplotlib.pyplot as plt

    present = sorted({m for per in digest.months.values() for m in per})
    months = []  # every month from the first to the last, the empty ones too
    if present:
        year, month = map(int, present[0].split("-"))
        while f"{year:04d}-{month:02d}" <= present[-1]:
            months.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    totals = sorted(digest.months, key=lambda label: (-sum(digest.months[label].values()), label))
    fig, ax = plt.subplots(figsize=(12, 4.5))
    for label in totals[:8]:
        name = next((g.name for g in digest.taxonomy if g.label_id == label), "")
        ax.plot(months, [digest.months[label].get(m, 0) for m in months], marker="o", label=textwrap.fill(f"{label} {name}", 36))
    if len(totals) > 8:
        ax.plot(months, [sum(digest.months[label].get(m, 0) for label in totals[8:]) for m in months],
                linestyle="--", color="grey", label="other")
    ax.set_ylabel("works published")
    ax.set_title(f"Works per {digest.placement} and month")
    ax.tick_params(axis="x", rotation=45)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    path = folder / f"works_by_{digest.placement}_per_month.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
