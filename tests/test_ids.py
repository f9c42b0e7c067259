"""arXiv identifiers: both schemes, versions kept, never an unsafe path."""

from __future__ import annotations

import pytest

from litmine.errors import InvalidArxivId
from litmine.ids import ArxivId, normalise_doi, parse_arxiv_id, safe_child


@pytest.mark.parametrize(
    "text, base, version",
    [
        ("2207.13243v6", "2207.13243", 6),
        ("2207.13243", "2207.13243", None),
        ("arXiv:2207.13243v2", "2207.13243", 2),
        ("https://arxiv.org/abs/2207.13243v6", "2207.13243", 6),
        ("http://arxiv.org/pdf/1606.03490v3.pdf", "1606.03490", 3),
        ("0704.0001", "0704.0001", None),
        ("hep-th/9901001", "hep-th/9901001", None),
        ("quant-ph/0201082v1", "quant-ph/0201082", 1),
        ("http://arxiv.org/abs/astro-ph/0601001v1", "astro-ph/0601001", 1),
        ("math.GT/0309136", "math.GT/0309136", None),
        ("MATH.gt/0309136v2", "math.GT/0309136", 2),
    ],
)
def test_parse_both_schemes_keeping_the_version(text, base, version):
    aid = parse_arxiv_id(text)
    assert (aid.base, aid.version) == (base, version)


@pytest.mark.parametrize("text", ["abc", "1234.1234567", "2213.00001", "hep-th/99010", "../../etc/passwd",
                                  "hep-th/../9901001", "2207.13243v", ""])
def test_invalid_ids_are_refused_with_a_named_error(text):
    with pytest.raises(InvalidArxivId, match="not an arXiv id"):
        parse_arxiv_id(text)


def test_file_names_stay_one_safe_component(tmp_path):
    assert ArxivId("hep-th/9901001", 2).filename() == "hep-th_9901001v2.pdf"
    assert ArxivId("2207.13243", 6).filename() == "2207.13243v6.pdf"
    assert ArxivId("math.GT/0309136").filename() == "math.GT_0309136.pdf"
    path = safe_child(tmp_path, ArxivId("hep-th/9901001", 1).filename())
    assert path.parent == tmp_path
    with pytest.raises(InvalidArxivId):
        ArxivId("../../x", 1).filename()
    for bad in ("..", ".hidden", "a/b.pdf", ""):
        with pytest.raises(InvalidArxivId):
            safe_child(tmp_path, bad)


def test_str_and_doi():
    assert str(parse_arxiv_id("2207.13243v6")) == "2207.13243v6"
    assert normalise_doi("https://doi.org/10.1109/ACCESS.2018.2870052") == "10.1109/access.2018.2870052"
    assert normalise_doi("not a doi") is None


@pytest.mark.parametrize("text, found", [
    ("Gulcehre and Bengio. Knowledge matters. CoRR, abs/1301.4083, 2013.", "1301.4083"),
    ("X. Author. A physics paper. arXiv:hep-th/9901001v2, 1999.", "hep-th/9901001v2"),
    ("Z. Author. A title. arXiv preprint arXiv:2304.14997, 2023.", "2304.14997"),
    ("See https://arxiv.org/abs/math.GT/0309136v2 for more.", "math.GT/0309136v2"),
    ("arXiv:1313.00001 (no month 13), then arXiv:2101.00001v2", "2101.00001v2"),
    ("A title. In Proceedings of ICML, 2019. doi:10.1000/1234.56789", None),
])
def test_an_id_cited_inside_text_is_found_and_parsed(text, found):
    from litmine.ids import find_arxiv_id

    aid = find_arxiv_id(text)
    assert (aid.versioned if aid else None) == found


@pytest.mark.parametrize("name, found", [
    ("1606.03490v3__mythos_of_model_interpretability.pdf", "1606.03490v3"),
    ("paper-2101.00001.pdf", "2101.00001"),
    ("12.1606.03490.pdf", None),
    ("report_2019001.pdf", None),
])
def test_an_id_a_file_is_named_by(name, found):
    from litmine.ids import arxiv_id_in_name

    aid = arxiv_id_in_name(name)
    assert (aid.versioned if aid else None) == found


def test_ids_are_read_only_in_ids_py():
    """One parser: no other module of litmine spells an arXiv id's pattern again."""
    from pathlib import Path

    import litmine

    shape = ("\\d{4}\\.\\d{4,5}", "\\d{7}")
    others = [p.name for p in Path(litmine.__file__).parent.rglob("*.py") if p.name != "ids.py"
              and any(s in p.read_text(encoding="utf-8") for s in shape)]
    assert others == []
