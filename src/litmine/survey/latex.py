"""Survey labels from LaTeX: which section and subsection cite each bibliography entry.

An arXiv e-print is a tar (often gzipped) of ``.tex`` files with a ``.bib`` or ``.bbl``, or a
single gzipped ``.tex``. ``read_eprint`` finds the main file (the one with ``\\documentclass`` and
``\\begin{document}``), follows ``\\input``, ``\\include`` and ``\\subfile``, drops comments, numbers
``\\section`` and ``\\subsection`` as LaTeX does (starred ones are unnumbered; after ``\\appendix``
sections are lettered), and records for every ``\\cite``-like command (``\\cite``, ``\\citep``,
``\\citet``, ``\\citealp``, ``\\citeauthor``, ``\\parencite``, ``\\textcite``, ``\\autocite``,
``\\footcite``, ... with optional arguments and stars) the subsection, or the section outside any
subsection, it stands in. ``\\nocite`` cites nothing.

``apply_latex_labels`` makes those the survey's labels: ``survey_references.sections`` and the
``survey`` source's label assignments, status ``verified``, version ``latex:<sha256 prefix>``.
"""

from __future__ import annotations

import gzip
import io
import logging
import re
import tarfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from litmine.counts import Counts
from litmine.errors import LatexError
from litmine.hashing import sha256_hex
from litmine.store import Store
from litmine.store import labels as label_store
from litmine.store import survey as survey_store

log = logging.getLogger(__name__)

SOURCE = "survey"
_MAX_FILE_BYTES = 20 * 1024 * 1024
_INCLUDE = re.compile(r"\\(input|include|subfile)\s*\{([^}]+)\}")
_TOKENS = re.compile(
    r"\\(?P<kind>section|subsection)(?P<star>\*?)\s*(?:\[[^\]]*\])?\s*\{"
    r"|\\(?P<appendix>appendix)\b"
    r"|\\(?P<cite>[A-Za-z]*cite[A-Za-z]*)\*?\s*(?:\[[^\]]*\]\s*){0,2}\{(?P<keys>[^}]*)\}"
)
_NOT_CITES = {"nocite", "citestyle", "citename"}
_BBL_ITEM = re.compile(r"\\bibitem\s*(?:\[(?:[^\[\]]|\[[^\]]*\])*\])?\s*\{([^}]+)\}")
_BIB_ENTRY = re.compile(r"@(\w+)\s*\{\s*([^,\s]+)\s*,", re.I)


@dataclass
class BibEntry:
    key: str
    sections: list[str] = field(default_factory=list)  # citing section numbers, most citations first
    title: str | None = None


@dataclass
class LatexCitations:
    entries: list[BibEntry]
    sha256: str
    main_file: str
    section_titles: dict[str, str] = field(default_factory=dict)

    @property
    def cited(self) -> int:
        return sum(1 for e in self.entries if e.sections)


def read_eprint(path: Path) -> LatexCitations:
    """Read an e-print (tar, tar.gz, gzipped or plain .tex, or a folder) into citing sections."""
    files, digest = _load_files(Path(path))
    tex = {name: text for name, text in files.items() if name.endswith(".tex")}
    if not tex:
        raise LatexError("no .tex file in the e-print: give the survey's arXiv source (a tar of .tex files)", path=path)
    main = _main_file(tex, path)
    body = _expand(main, tex, path, [])
    numbers, titles = _cited_sections(body)
    keys = _bibliography_keys(files)
    for key in numbers:
        if key not in keys:
            keys[key] = None
    entries = []
    for key, title in keys.items():
        counts = numbers.get(key, Counter())
        order = sorted(counts, key=lambda n: (-counts[n], list(counts).index(n)))
        entries.append(BibEntry(key, order, title))
    log.info("%s: %d bibliography entries, %d cited in numbered sections", path, len(entries),
             sum(1 for e in entries if e.sections))
    return LatexCitations(entries, digest, main, titles)


def _load_files(path: Path) -> tuple[dict[str, str], str]:
    if path.is_dir():
        files = {str(p.relative_to(path).as_posix()): p.read_bytes() for p in path.rglob("*")
                 if p.is_file() and p.stat().st_size <= _MAX_FILE_BYTES}
        digest = sha256_hex(b"".join(k.encode() + v for k, v in sorted(files.items())))
        return {k: _decode(v) for k, v in files.items()}, digest
    data = path.read_bytes()
    digest = sha256_hex(data)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise LatexError(f"the gzip file is damaged: {exc}", path=path) from None
    try:
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            files = {}
            for member in tar.getmembers():
                if member.isfile() and member.size <= _MAX_FILE_BYTES:
                    name = PurePosixPath(member.name).as_posix().lstrip("./")
                    files[name] = _decode(tar.extractfile(member).read())
            return files, digest
    except tarfile.TarError:
        pass
    text = _decode(data)
    if "\\begin{document}" not in text and "\\section" not in text:
        raise LatexError("not a tar of LaTeX files nor a .tex file", path=path)
    return {"main.tex": text}, digest


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _main_file(tex: dict[str, str], where: Path) -> str:
    mains = [n for n, t in tex.items() if "\\documentclass" in _strip_comments(t)
             and "\\begin{document}" in _strip_comments(t)]
    if not mains:
        raise LatexError("no main .tex file (none has \\documentclass and \\begin{document})", path=where)
    return sorted(mains, key=lambda n: (n.count("/"), -len(tex[n])))[0]


def _strip_comments(text: str) -> str:
    return re.sub(r"(?<!\\)%.*", "", text)


def _expand(name: str, tex: dict[str, str], where: Path, stack: list[str]) -> str:
    """The file's text with comments removed and \\input/\\include/\\subfile replaced by the files."""
    if name in stack:
        raise LatexError(f"\\input loop: {' -> '.join([*stack, name])}", path=where)
    text = _strip_comments(tex[name])
    base = PurePosixPath(name).parent

    def include(m: re.Match) -> str:
        target = m.group(2).strip()
        for candidate in (base / target, PurePosixPath(target)):
            for suffix in ("", ".tex"):
                key = str(candidate) + suffix
                key = key[2:] if key.startswith("./") else key
                if key in tex:
                    return _expand(key, tex, where, [*stack, name])
        log.warning("%s: \\%s{%s} names no file in the e-print; skipped", name, m.group(1), target)
        return ""

    return _INCLUDE.sub(include, text)


def _cited_sections(body: str) -> tuple[dict[str, Counter], dict[str, str]]:
    """{key: Counter(section number)} and {section number: title}, walking the text in order."""
    start = body.find("\\begin{document}")
    body = body[start:] if start >= 0 else body
    section = subsection = 0
    appendix = False
    current: str | None = None
    cited: dict[str, Counter] = {}
    titles: dict[str, str] = {}
    for m in _TOKENS.finditer(body):
        if m.group("appendix"):
            appendix, section, subsection, current = True, 0, 0, None
        elif m.group("kind"):
            title = _braced(body, m.end())
            if m.group("star"):
                current = None if m.group("kind") == "section" else current
                continue
            if m.group("kind") == "section":
                section, subsection = section + 1, 0
                current = chr(ord("A") + section - 1) if appendix else str(section)
            else:
                if section == 0:
                    continue
                subsection += 1
                head = chr(ord("A") + section - 1) if appendix else str(section)
                current = f"{head}.{subsection}"
            titles[current] = title
        elif m.group("cite") and m.group("cite").lower() not in _NOT_CITES:
            for key in (k.strip() for k in m.group("keys").split(",")):
                if key:
                    counter = cited.setdefault(key, Counter())
                    if current:
                        counter[current] += 1
    return cited, titles


def _braced(text: str, start: int) -> str:
    """The text up to the brace closing the one just before ``start``."""
    depth, i = 1, start
    while i < len(text) and depth:
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        i += 1
    return " ".join(text[start:i - 1].split())


def _bibliography_keys(files: dict[str, str]) -> dict[str, str | None]:
    """{key: title} of every entry of the .bbl files, or else of the .bib files."""
    keys: dict[str, str | None] = {}
    bbl = [t for n, t in sorted(files.items()) if n.endswith(".bbl")]
    if bbl:
        for text in bbl:
            for m in _BBL_ITEM.finditer(_strip_comments(text)):
                keys.setdefault(m.group(1).strip(), None)
        return keys
    for name, text in sorted(files.items()):
        if not name.endswith(".bib"):
            continue
        for m in _BIB_ENTRY.finditer(text):
            if m.group(1).lower() in ("string", "preamble", "comment"):
                continue
            keys.setdefault(m.group(2), _bib_title(text, m.end()))
    return keys


def _bib_title(text: str, start: int) -> str | None:
    """The title field of the .bib entry starting at ``start``: ``title = {...}`` or ``title = "..."``."""
    m = re.search(r"\btitle\s*=\s*([{\"])", text[start:start + 3000], re.I)
    if not m:
        return None
    begin = start + m.end()
    raw = _braced(text, begin) if m.group(1) == "{" else text[begin:text.find('"', begin)]
    return " ".join(raw.replace("{", "").replace("}", "").split()) or None


# -- into the database ---------------------------------------------------------------------------


def apply_latex_labels(store: Store, citations: LatexCitations, survey_id: str | None = None,
                       run_id: str | None = None) -> Counts:
    """Replace the survey references' sections and survey labels with those the LaTeX gives.

    Counts are of the survey's references: updated (labels changed), unchanged, and failed for
    LaTeX entries that name no reference of the survey (listed in the notes).
    """
    counts = Counts("labels-from-latex")
    version = "latex:" + citations.sha256[:12]
    with store.transaction() as con:
        survey_id = _survey_id(con, survey_id)
        refs = survey_store.reference_sections(con, survey_id)
        labels = survey_store.survey_labels(con, survey_id)
        # The label sets the seed's `sections` column uses, and the sets their parents are in.
        used = {x for _, secs in refs.values() for x in (secs or [])}
        section_sets = {s for s, label_id, _ in labels if label_id in used}
        set_of = {label_id: s for s, label_id, _ in labels if s in section_sets}
        parent_of = {label_id: parent for s, label_id, parent in labels if s in section_sets and parent}
        parent_sets = {s for s, label_id, _ in labels if label_id in set(parent_of.values())}
        parent_set_of = {label_id: s for s, label_id, _ in labels if s in parent_sets}
        unknown = []
        rows = label_store.LabelRows(con)  # one read of the survey's labels, one insert at the end
        for entry in citations.entries:
            if entry.key not in refs:
                unknown.append(entry.key)
                continue
            work_id, old_sections = refs[entry.key]
            sections = [n for n in entry.sections if n in set_of]
            wanted: dict[str, set[str]] = {s: set() for s in section_sets | parent_sets}
            for n in entry.sections:
                if n in set_of:
                    wanted[set_of[n]].add(n)
                    if n in parent_of:
                        wanted[parent_set_of[parent_of[n]]].add(parent_of[n])
                elif n in parent_set_of:  # cited in a part's own text, outside its subsections
                    wanted[parent_set_of[n]].add(n)
            changed = list(old_sections or []) != sections
            survey_store.set_verified_sections(con, survey_id, entry.key, sections)
            if work_id is not None:
                for set_id in sorted(wanted):
                    changed |= rows.set_source_labels(work_id, set_id, SOURCE, wanted[set_id], status="verified",
                                                      source_version=version, run_id=run_id)
            counts.add("updated" if changed else "unchanged")
        rows.flush()
    if unknown:
        counts.add("failed", len(unknown))
        counts.notes.append(f"{len(unknown)} LaTeX entries name no reference of {survey_id}: "
                            + ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else ""))
    missing = len(refs) - (len(citations.entries) - len(unknown))
    if missing > 0:
        counts.notes.append(f"{missing} references of {survey_id} are not in the LaTeX bibliography; left as they were")
    log.info("%s", counts)
    return counts


def _survey_id(con, survey_id: str | None) -> str:
    ids = survey_store.survey_ids(con)
    if survey_id:
        if survey_id not in ids:
            raise LatexError(f"no survey {survey_id!r} loaded; loaded: {', '.join(ids) or 'none'}")
        return survey_id
    if not ids:
        raise LatexError("no survey loaded: run `litmine survey load` first")
    if len(ids) > 1:
        raise LatexError(f"several surveys loaded ({', '.join(ids)}): choose one with --survey-id")
    return ids[0]
